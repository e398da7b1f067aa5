package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/loyalty"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
)

// Customer returns one customer row as stored (merged rows included).
func (db *DB) Customer(ctx context.Context, id int64) (*customer.Customer, error) {
	c, err := scanCustomer(db.Read.QueryRowContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "customer", id)
	}
	return c, nil
}

// CustomerView assembles the customer 360. Asking for a merged customer
// returns the customer that absorbed it.
func (db *DB) CustomerView(ctx context.Context, id int64, opt ViewOptions) (*customer.View, error) {
	cid, err := canonical(ctx, db.Read, id)
	if err != nil {
		return nil, err
	}
	c, err := db.Customer(ctx, cid)
	if err != nil {
		return nil, err
	}
	now := db.Clock.Now()
	v := &customer.View{Customer: *c, DisplayName: c.DisplayName(), AOV: c.AOV()}
	if c.LastOrderAt != nil {
		d := clock.DaysBetween(*c.LastOrderAt, now)
		v.DaysSinceLastOrder = &d
	}
	if v.Identities, err = db.identities(ctx, cid); err != nil {
		return nil, err
	}
	if v.Consents, err = db.consents(ctx, cid); err != nil {
		return nil, err
	}
	if v.Tags, err = db.tags(ctx, cid); err != nil {
		return nil, err
	}
	if v.Merges, err = db.Merges(ctx, cid); err != nil {
		return nil, err
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_a, customer_b, via_kind, via_source, via_value, status, created_at
		FROM merge_candidates WHERE status = 'pending' AND (customer_a = $1 OR customer_b = $1) ORDER BY id`, cid)
	if err != nil {
		return nil, err
	}
	v.MergeCandidates, err = scanCandidates(rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	if v.Timeline, v.TimelineNext, err = db.timeline(ctx, cid, opt); err != nil {
		return nil, err
	}
	if v.Scores, err = db.CustomerScores(ctx, cid); err != nil {
		return nil, err
	}
	return v, nil
}

func (db *DB) identities(ctx context.Context, cid int64) ([]customer.Identity, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, origin_customer_id, kind, source, value, weak, created_at
		FROM identities WHERE customer_id = $1 ORDER BY created_at, kind, source, value`, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customer.Identity{}
	for rows.Next() {
		var it customer.Identity
		var kind string
		var created int64
		if err := rows.Scan(&it.CustomerID, &it.OriginCustomerID, &kind, &it.Source, &it.Value, &it.Weak, &created); err != nil {
			return nil, err
		}
		it.Kind = identity.Kind(kind)
		it.CreatedAt = fromMS(created)
		out = append(out, it)
	}
	return out, rows.Err()
}

// consents returns the current consent per channel (the latest record).
func (db *DB) consents(ctx context.Context, cid int64) ([]customer.Consent, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT channel, granted, method, source, wording_version, actor, recorded_at
		FROM consent_records WHERE customer_id = $1 ORDER BY channel, recorded_at DESC, id DESC`, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []customer.Consent{}
	for rows.Next() {
		var c customer.Consent
		var at int64
		if err := rows.Scan(&c.Channel, &c.Granted, &c.Method, &c.Source, &c.WordingVersion, &c.Actor, &at); err != nil {
			return nil, err
		}
		c.RecordedAt = fromMS(at)
		if len(out) == 0 || out[len(out)-1].Channel != c.Channel {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

func (db *DB) tags(ctx context.Context, cid int64) ([]string, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT DISTINCT tag FROM customer_tags WHERE customer_id = $1 ORDER BY tag`, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// timelineCursor is "millis.kind.id" of the last item of the previous page.
// The timeline is ordered by time, then kind, then id, all descending.
type timelineCursor struct {
	at   int64
	kind string
	id   int64
}

func parseCursor(s string) (timelineCursor, error) {
	if s == "" {
		return timelineCursor{at: 1<<62 - 1}, nil
	}
	p := strings.Split(s, ".")
	if len(p) != 3 {
		return timelineCursor{}, errs.Errorf(errs.Invalid, "bad timeline cursor %q", s)
	}
	at, err1 := strconv.ParseInt(p[0], 10, 64)
	id, err2 := strconv.ParseInt(p[2], 10, 64)
	if err1 != nil || err2 != nil {
		return timelineCursor{}, errs.Errorf(errs.Invalid, "bad timeline cursor %q", s)
	}
	return timelineCursor{at: at, kind: p[1], id: id}, nil
}

// timeline merges the newest items of each kind into one page, newest first.
func (db *DB) timeline(ctx context.Context, cid int64, opt ViewOptions) ([]customer.TimelineItem, string, error) {
	limit := opt.TimelineLimit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	cur, err := parseCursor(opt.TimelineBefore)
	if err != nil {
		return nil, "", err
	}
	type source struct {
		kind  string
		atCol string
		query string
		scan  func(*sql.Rows) (customer.TimelineItem, error)
	}
	sources := []source{
		{"order", "ordered_at", `SELECT id, ordered_at, external_id, status, channel, total, source FROM orders WHERE customer_id = $1 AND %s ORDER BY ordered_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at, total int64
				var ext, status, ch, src string
				err := r.Scan(&it.ID, &at, &ext, &status, &ch, &total, &src)
				it.At, it.Title, it.Amount, it.Channel = fromMS(at), ext, &total, ch
				it.Detail = map[string]any{"status": status, "source": src}
				return it, err
			}},
		{"event", "occurred_at", `SELECT id, occurred_at, name, sku, properties, source FROM events WHERE customer_id = $1 AND source <> 'enishi.surveys' AND %s ORDER BY occurred_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var props []byte
				var sku, src string
				err := r.Scan(&it.ID, &at, &it.Title, &sku, &props, &src)
				it.At = fromMS(at)
				it.Detail = map[string]any{"source": src}
				if sku != "" {
					it.Detail["sku"] = sku
				}
				var p map[string]any
				if json.Unmarshal(props, &p) == nil && len(p) > 0 {
					it.Detail["properties"] = p
				}
				return it, err
			}},
		{"message", "created_at", `SELECT id, created_at, subject, channel, status, purpose, error, source FROM messages WHERE customer_id = $1 AND %s ORDER BY created_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var status, purpose, errText, source string
				err := r.Scan(&it.ID, &at, &it.Title, &it.Channel, &status, &purpose, &errText, &source)
				it.At = fromMS(at)
				it.Detail = map[string]any{"status": status, "purpose": purpose}
				if errText != "" {
					it.Detail["error"] = errText
				}
				if source != "" {
					it.Detail["source"] = source
				}
				return it, err
			}},
		{"inquiry", "created_at", `SELECT id, created_at, subject, channel, status, body FROM inquiries WHERE customer_id = $1 AND %s ORDER BY created_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var status, body string
				err := r.Scan(&it.ID, &at, &it.Title, &it.Channel, &status, &body)
				it.At = fromMS(at)
				it.Detail = map[string]any{"status": status, "body": body}
				return it, err
			}},
		{"review", "reviewed_at", `SELECT id, reviewed_at, title, sku, product_name, rating, body, source FROM reviews WHERE customer_id = $1 AND %s ORDER BY reviewed_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var sku, name, body, src string
				var rating int
				err := r.Scan(&it.ID, &at, &it.Title, &sku, &name, &rating, &body, &src)
				it.At = fromMS(at)
				it.Detail = map[string]any{"sku": sku, "product_name": name, "rating": rating, "body": body, "source": src}
				return it, err
			}},
		{"survey", "submitted_at", `SELECT id, submitted_at, title, survey_id, channel FROM (SELECT r.id, r.customer_id, r.submitted_at, s.title, r.survey_id, r.channel
			FROM survey_responses r JOIN surveys s ON s.id = r.survey_id) x WHERE customer_id = $1 AND %s ORDER BY submitted_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at, survey int64
				err := r.Scan(&it.ID, &at, &it.Title, &survey, &it.Channel)
				it.At = fromMS(at)
				it.Detail = map[string]any{"survey_id": survey}
				return it, err
			}},
		{"note", "created_at", `SELECT id, created_at, author, body FROM notes WHERE customer_id = $1 AND %s ORDER BY created_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var author, body string
				err := r.Scan(&it.ID, &at, &author, &body)
				it.At, it.Title = fromMS(at), body
				it.Detail = map[string]any{"author": author}
				return it, err
			}},
		{"consent", "recorded_at", `SELECT id, recorded_at, channel, granted, method, source FROM consent_records WHERE customer_id = $1 AND %s ORDER BY recorded_at DESC, id DESC`,
			func(r *sql.Rows) (customer.TimelineItem, error) {
				var it customer.TimelineItem
				var at int64
				var granted bool
				var method, src string
				err := r.Scan(&it.ID, &at, &it.Channel, &granted, &method, &src)
				it.At = fromMS(at)
				it.Title = map[bool]string{true: "opt_in", false: "opt_out"}[granted]
				it.Detail = map[string]any{"granted": granted, "method": method, "source": src}
				return it, err
			}},
	}
	var items []customer.TimelineItem
	for _, s := range sources {
		// Items at the cursor's instant sort by kind, then id (see before).
		cond := s.atCol + " < $2"
		switch {
		case s.kind < cur.kind:
			cond = s.atCol + " <= $2"
		case s.kind == cur.kind:
			cond = "(" + s.atCol + " < $2 OR (" + s.atCol + " = $2 AND id < $3))"
		}
		if opt.TimelineBefore == "" {
			cond = s.atCol + " <= $2"
		}
		args := []any{cid, cur.at}
		if strings.Contains(cond, "$3") {
			args = append(args, cur.id)
		}
		args = append(args, limit+1)
		rows, err := db.Read.QueryContext(ctx, fmt.Sprintf(s.query, cond)+" LIMIT $"+itoa(len(args)), args...)
		if err != nil {
			return nil, "", fmt.Errorf("timeline %s: %w", s.kind, err)
		}
		for rows.Next() {
			it, err := s.scan(rows)
			if err != nil {
				rows.Close()
				return nil, "", err
			}
			it.Kind = s.kind
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", err
		}
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if !a.At.Equal(b.At) {
			return a.At.After(b.At)
		}
		if a.Kind != b.Kind {
			return a.Kind > b.Kind
		}
		return a.ID > b.ID
	})
	next := ""
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		next = fmt.Sprintf("%d.%s.%d", ms(last.At), last.Kind, last.ID)
	}
	if err := db.attachLines(ctx, items); err != nil {
		return nil, "", err
	}
	if items == nil {
		items = []customer.TimelineItem{}
	}
	return items, next, nil
}

// attachLines adds the line items to the order entries of a timeline page.
func (db *DB) attachLines(ctx context.Context, items []customer.TimelineItem) error {
	byID := map[int64]*customer.TimelineItem{}
	var ids []any
	for i := range items {
		if items[i].Kind == "order" {
			byID[items[i].ID] = &items[i]
			ids = append(ids, items[i].ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT order_id, line_no, sku, product_name, category, quantity, unit_price, amount
		FROM order_lines WHERE order_id IN (`+list(len(ids), 1)+`) ORDER BY order_id, line_no`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var oid int64
		var l order.Line
		if err := rows.Scan(&oid, &l.LineNo, &l.SKU, &l.ProductName, &l.Category, &l.Quantity, &l.UnitPrice, &l.Amount); err != nil {
			return err
		}
		it := byID[oid]
		lines, _ := it.Detail["lines"].([]order.Line)
		it.Detail["lines"] = append(lines, l)
	}
	return rows.Err()
}

// SearchCustomers finds active customers by name (kanji or kana, either kana
// script), e-mail or phone. An empty query lists everyone, newest first.
// The total is -1 when the query asks for none (NoTotal).
func (db *DB) SearchCustomers(ctx context.Context, q customer.Query) ([]customer.Summary, int, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	where := `status = 'active'`
	args := []any{}
	if term := customer.SearchTerm(q.Q); term != "" {
		if id, err := strconv.ParseInt(strings.TrimPrefix(q.Q, "#"), 10, 64); err == nil && strings.HasPrefix(q.Q, "#") {
			where += ` AND id = $1`
			args = append(args, id)
		} else {
			where += ` AND search_text LIKE $1 ESCAPE '\'`
			args = append(args, "%"+likeEscape(term)+"%")
		}
	}
	if q.Prefecture != "" {
		args = append(args, q.Prefecture)
		where += ` AND prefecture = $` + itoa(len(args))
	}
	if q.Tag != "" {
		args = append(args, q.Tag)
		where += ` AND id IN (SELECT customer_id FROM customer_tags WHERE tag = $` + itoa(len(args)) + `)`
	}
	if q.BeforeID > 0 {
		args = append(args, q.BeforeID)
		where += ` AND id < $` + itoa(len(args))
	}
	switch q.Buyers {
	case "":
	case customer.OnlyBuyers:
		where += ` AND order_count > 0`
	case customer.OnlyProspects:
		where += ` AND order_count = 0`
	default:
		return nil, 0, errs.FieldErrorf("buyers", "%q is not buyers or prospects", q.Buyers)
	}
	total := -1
	if !q.NoTotal {
		if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE `+where, args...).Scan(&total); err != nil {
			return nil, 0, err
		}
	}
	n := len(args)
	rows, err := db.Read.QueryContext(ctx, `SELECT `+summaryCols+` FROM customers c WHERE `+where+
		` ORDER BY id DESC LIMIT $`+itoa(n+1)+` OFFSET $`+itoa(n+2), append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	out, err := scanSummaries(rows)
	return out, total, err
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CustomerOrders returns a customer's orders with lines, newest first.
func (db *DB) CustomerOrders(ctx context.Context, customerID int64, limit int) ([]order.Order, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, source, external_id, customer_id, ordered_at, status, channel, shop_id, currency,
		total, discount, shipping, tax, points_used, coupon_code FROM orders WHERE customer_id = $1 ORDER BY ordered_at DESC, id DESC LIMIT $2`,
		customerID, limit)
	if err != nil {
		return nil, err
	}
	var out []order.Order
	idx := map[int64]int{}
	var ids []any
	for rows.Next() {
		var o order.Order
		var at int64
		var status string
		if err := rows.Scan(&o.ID, &o.Source, &o.ExternalID, &o.CustomerID, &at, &status, &o.Channel, &o.ShopID, &o.Currency,
			&o.Total, &o.Discount, &o.Shipping, &o.Tax, &o.PointsUsed, &o.CouponCode); err != nil {
			rows.Close()
			return nil, err
		}
		o.OrderedAt, o.Status = fromMS(at), order.Status(status)
		idx[o.ID] = len(out)
		ids = append(ids, o.ID)
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return out, err
	}
	lrows, err := db.Read.QueryContext(ctx, `SELECT order_id, line_no, sku, product_name, category, quantity, unit_price, amount
		FROM order_lines WHERE order_id IN (`+list(len(ids), 1)+`) ORDER BY order_id, line_no`, ids...)
	if err != nil {
		return nil, err
	}
	defer lrows.Close()
	for lrows.Next() {
		var oid int64
		var l order.Line
		if err := lrows.Scan(&oid, &l.LineNo, &l.SKU, &l.ProductName, &l.Category, &l.Quantity, &l.UnitPrice, &l.Amount); err != nil {
			return nil, err
		}
		o := &out[idx[oid]]
		o.Lines = append(o.Lines, l)
	}
	return out, lrows.Err()
}

// activeCustomer resolves id to the customer holding it and checks it exists.
func (db *DB) activeCustomer(ctx context.Context, tx *Tx, id int64) (int64, error) {
	return canonical(ctx, tx, id)
}

// AddNote adds a staff note to a customer's timeline.
func (db *DB) AddNote(ctx context.Context, customerID int64, author, body string) (int64, error) {
	body = strings.TrimSpace(body)
	if body == "" {
		return 0, errs.FieldErrorf("body", "a note cannot be empty")
	}
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := db.activeCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO notes (customer_id, origin_customer_id, author, body, created_at) VALUES ($1, $1, $2, $3, $4) RETURNING id`,
			cid, author, body, ms(db.Clock.Now())).Scan(&id)
	})
	return id, err
}

// AddInquiry logs an inquiry (問い合わせ) on a customer's timeline.
func (db *DB) AddInquiry(ctx context.Context, inq customer.Inquiry) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var err error
		id, err = db.insertInquiry(ctx, tx, inq, "")
		return err
	})
	if err == nil {
		db.notifyChanged()
	}
	return id, err
}

// insertInquiry validates and writes an inquiry, filed under the customer
// now holding inq.CustomerID.
func (db *DB) insertInquiry(ctx context.Context, tx *Tx, inq customer.Inquiry, externalID string) (int64, error) {
	if strings.TrimSpace(inq.Subject) == "" && strings.TrimSpace(inq.Body) == "" {
		return 0, errs.FieldErrorf("subject", "an inquiry needs a subject or a body")
	}
	if inq.Status == "" {
		inq.Status = customer.InquiryOpen
	}
	switch inq.Status {
	case customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed:
	default:
		return 0, errs.FieldErrorf("status", "%q is not open, pending or closed", inq.Status)
	}
	at := inq.CreatedAt
	if at.IsZero() {
		at = db.Clock.Now()
	}
	cid, err := db.activeCustomer(ctx, tx, inq.CustomerID)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO inquiries (customer_id, origin_customer_id, channel, subject, body, status, assignee, external_id, created_at, updated_at)
		VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id`,
		cid, inq.Channel, inq.Subject, inq.Body, inq.Status, inq.Assignee, externalID, ms(at)).Scan(&id)
	if err != nil {
		return 0, err
	}
	// Open inquiries count in segments (open_inquiries) and in the
	// campaign exclusion.
	return id, db.markChanged(ctx, tx, []int64{cid}, db.Clock.Now())
}

// RecordConsent appends a consent record for a customer.
func (db *DB) RecordConsent(ctx context.Context, customerID int64, c customer.Consent) error {
	if !validChannel(c.Channel) {
		return errs.FieldErrorf("channel", "%q is not a consent channel (%s)", c.Channel, strings.Join(customer.ConsentChannels, ", "))
	}
	if c.RecordedAt.IsZero() {
		c.RecordedAt = db.Clock.Now()
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := db.activeCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO consent_records (customer_id, origin_customer_id, channel, granted, method, source, wording_version, actor, recorded_at)
			VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8)`, cid, c.Channel, c.Granted, c.Method, c.Source, c.WordingVersion, c.Actor, ms(c.RecordedAt))
		if err != nil {
			return err
		}
		return db.markChanged(ctx, tx, []int64{cid}, db.Clock.Now())
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

func validChannel(ch string) bool {
	for _, c := range customer.ConsentChannels {
		if c == ch {
			return true
		}
	}
	return false
}

// AddTags tags a customer; tags it already has are kept once.
func (db *DB) AddTags(ctx context.Context, customerID int64, tags []string) error {
	err := db.inTx(ctx, func(tx *Tx) error {
		cid, err := db.activeCustomer(ctx, tx, customerID)
		if err != nil {
			return err
		}
		for _, t := range tags {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO customer_tags (customer_id, origin_customer_id, tag, created_at) VALUES ($1, $1, $2, $3)
				ON CONFLICT (origin_customer_id, tag) DO NOTHING`, cid, t, ms(db.Clock.Now())); err != nil {
				return err
			}
		}
		return db.markChanged(ctx, tx, []int64{cid}, db.Clock.Now())
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

const productCols = "id, sku, name, category, price, replenishment_days, url, image_url, created_at, updated_at"

func scanProduct(r rowScanner) (*product.Product, error) {
	var p product.Product
	var c, u int64
	if err := r.Scan(&p.ID, &p.SKU, &p.Name, &p.Category, &p.Price, &p.ReplenishmentDays, &p.URL, &p.ImageURL, &c, &u); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt = fromMS(c), fromMS(u)
	return &p, nil
}

// Product returns a product by SKU.
func (db *DB) Product(ctx context.Context, sku string) (*product.Product, error) {
	p, err := scanProduct(db.Read.QueryRowContext(ctx, `SELECT `+productCols+` FROM products WHERE sku = $1`, sku))
	if err != nil {
		return nil, notFound(err, "product", sku)
	}
	return p, nil
}

// Stats returns the headline counts.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM customers WHERE status = 'active'),
		(SELECT count(*) FROM orders),
		(SELECT count(*) FROM order_lines),
		(SELECT count(*) FROM products),
		(SELECT count(*) FROM events)`).Scan(&s.Customers, &s.Orders, &s.LineItems, &s.Products, &s.Events)
	return s, err
}

// Setting returns a setting's value and whether it is set.
func (db *DB) Setting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.Read.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&v)
	if isNoRows(err) {
		return "", false, nil
	}
	return v, err == nil, err
}

// SetSetting stores a setting.
func (db *DB) SetSetting(ctx context.Context, key, value string) error {
	if key == loyalty.ProgramSetting {
		return db.setLoyaltyProgramJSON(ctx, value)
	}
	_, err := db.Write.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, value, ms(db.Clock.Now()))
	return err
}
