package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
)

// InquiryStore is the support desk over inquiries (問い合わせ): status,
// assignee, tags and replies, and the rule that keeps customers with an
// unresolved inquiry out of campaigns.
type InquiryStore interface {
	ListInquiries(ctx context.Context, q InquiryQuery) ([]customer.InquiryDetail, int, error)
	Inquiry(ctx context.Context, id int64) (*customer.InquiryDetail, error)
	// UpdateInquiry changes status and assignee (nil leaves them).
	UpdateInquiry(ctx context.Context, id int64, status, assignee *string) (*customer.InquiryDetail, error)
	// AddInquiryReply records a staff reply; an open inquiry becomes
	// pending (waiting for the customer) unless keepStatus.
	AddInquiryReply(ctx context.Context, reply customer.InquiryReply, keepStatus bool) (int64, error)
	// SetInquiryTags replaces an inquiry's tags.
	SetInquiryTags(ctx context.Context, id int64, tags []string) error
	InquiryCounts(ctx context.Context) (InquiryCounts, error)

	InquirySettings(ctx context.Context) (InquirySettings, error)
	SetInquirySettings(ctx context.Context, s InquirySettings) error
	// CampaignExclusion is the condition that keeps customers with an
	// unresolved inquiry out of campaigns, for the campaign and journey
	// senders (docs/voice-of-customer.md); nil when switched off.
	CampaignExclusion(ctx context.Context) (*Exclusion, error)
	// ExcludedFromCampaigns filters a recipient list by that rule.
	ExcludedFromCampaigns(ctx context.Context, customerIDs []int64) (map[int64]bool, error)
}

// InquiryQuery selects inquiries, newest first.
type InquiryQuery struct {
	Status     string // open | pending | closed | unresolved (open or pending) | "" all
	Assignee   string // "-" for unassigned
	Tag        string
	CustomerID int64
	Limit      int
	Offset     int
}

// InquiryCounts counts inquiries for the desk.
type InquiryCounts struct {
	ByStatus   map[string]int64 `json:"by_status"`
	ByAssignee map[string]int64 `json:"by_assignee"` // unresolved, "" unassigned
	ByTag      map[string]int64 `json:"by_tag"`      // unresolved
}

// InquirySettings are the desk's settings.
type InquirySettings struct {
	// ExcludeFromCampaigns keeps customers with an open or pending inquiry
	// out of campaigns and journey sends (default on).
	ExcludeFromCampaigns bool `json:"exclude_from_campaigns"`
}

// SettingInquiries is the settings key of InquirySettings.
const SettingInquiries = "inquiries"

// Exclusion is a condition over customers aliased c that recipients must
// satisfy.
type Exclusion struct {
	// SQL is a boolean expression over customers c, without parameters.
	SQL         string `json:"sql"`
	Description string `json:"description"`
}

// unresolvedInquirySQL is true for customers without an open or pending
// inquiry.
const unresolvedInquirySQL = `NOT EXISTS (SELECT 1 FROM inquiries ci WHERE ci.customer_id = c.id AND ci.status IN ('open', 'pending'))`

const inquiryCols = `i.id, i.customer_id, i.channel, i.subject, i.body, i.status, i.assignee, i.created_at, i.updated_at, i.closed_at,
	c.last_name, c.first_name, c.email`

func scanInquiry(r rowScanner) (*customer.InquiryDetail, error) {
	var d customer.InquiryDetail
	var created, updated int64
	var closed sql.NullInt64
	var p customer.Profile
	if err := r.Scan(&d.ID, &d.CustomerID, &d.Channel, &d.Subject, &d.Body, &d.Status, &d.Assignee, &created, &updated, &closed,
		&p.LastName, &p.FirstName, &p.Email); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt, d.ClosedAt = fromMS(created), fromMS(updated), fromNullMS(closed)
	d.CustomerName = p.DisplayName()
	d.Tags = []string{}
	return &d, nil
}

// ListInquiries lists inquiries (see InquiryStore).
func (db *DB) ListInquiries(ctx context.Context, q InquiryQuery) ([]customer.InquiryDetail, int, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	conds := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	switch q.Status {
	case "":
	case "unresolved":
		conds = append(conds, "i.status IN ('open', 'pending')")
	case customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed:
		conds = append(conds, "i.status = "+arg(q.Status))
	default:
		return nil, 0, errs.FieldErrorf("status", "%q is not open, pending, closed or unresolved", q.Status)
	}
	switch q.Assignee {
	case "":
	case "-":
		conds = append(conds, "i.assignee = ''")
	default:
		conds = append(conds, "i.assignee = "+arg(q.Assignee))
	}
	if q.Tag != "" {
		conds = append(conds, "EXISTS (SELECT 1 FROM inquiry_tags t WHERE t.inquiry_id = i.id AND t.tag = "+arg(q.Tag)+")")
	}
	if q.CustomerID != 0 {
		cid, err := canonical(ctx, db.Read, q.CustomerID)
		if err != nil {
			return nil, 0, err
		}
		conds = append(conds, "i.customer_id = "+arg(cid))
	}
	where := strings.Join(conds, " AND ")
	var total int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM inquiries i WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	lim, off := arg(limit), arg(max(q.Offset, 0))
	rows, err := db.Read.QueryContext(ctx, `SELECT `+inquiryCols+` FROM inquiries i JOIN customers c ON c.id = i.customer_id WHERE `+where+
		` ORDER BY i.created_at DESC, i.id DESC LIMIT `+lim+` OFFSET `+off, args...)
	if err != nil {
		return nil, 0, err
	}
	out := []customer.InquiryDetail{}
	idx := map[int64]int{}
	var ids []any
	for rows.Next() {
		d, err := scanInquiry(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		idx[d.ID] = len(out)
		ids = append(ids, d.ID)
		out = append(out, *d)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return out, total, err
	}
	trows, err := db.Read.QueryContext(ctx, `SELECT inquiry_id, tag FROM inquiry_tags WHERE inquiry_id IN (`+list(len(ids), 1)+`) ORDER BY tag`, ids...)
	if err != nil {
		return nil, 0, err
	}
	defer trows.Close()
	for trows.Next() {
		var id int64
		var tag string
		if err := trows.Scan(&id, &tag); err != nil {
			return nil, 0, err
		}
		out[idx[id]].Tags = append(out[idx[id]].Tags, tag)
	}
	return out, total, trows.Err()
}

// Inquiry returns an inquiry with its tags and replies.
func (db *DB) Inquiry(ctx context.Context, id int64) (*customer.InquiryDetail, error) {
	d, err := scanInquiry(db.Read.QueryRowContext(ctx, `SELECT `+inquiryCols+` FROM inquiries i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1`, id))
	if err != nil {
		return nil, notFound(err, "inquiry", id)
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT tag FROM inquiry_tags WHERE inquiry_id = $1 ORDER BY tag`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		d.Tags = append(d.Tags, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT id, author, body, channel, created_at FROM inquiry_replies WHERE inquiry_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	d.Replies = []customer.InquiryReply{}
	for rows.Next() {
		r := customer.InquiryReply{InquiryID: id}
		var at int64
		if err := rows.Scan(&r.ID, &r.Author, &r.Body, &r.Channel, &at); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMS(at)
		d.Replies = append(d.Replies, r)
	}
	return d, rows.Err()
}

func validInquiryStatus(s string) error {
	switch s {
	case customer.InquiryOpen, customer.InquiryPending, customer.InquiryClosed:
		return nil
	}
	return errs.FieldErrorf("status", "%q is not open, pending or closed", s)
}

// UpdateInquiry changes an inquiry's status and assignee.
func (db *DB) UpdateInquiry(ctx context.Context, id int64, status, assignee *string) (*customer.InquiryDetail, error) {
	if status == nil && assignee == nil {
		return nil, errs.Errorf(errs.Invalid, "give a status or an assignee")
	}
	if status != nil {
		if err := validInquiryStatus(*status); err != nil {
			return nil, err
		}
	}
	if assignee != nil {
		a := strings.TrimSpace(*assignee)
		if utf8.RuneCountInString(a) > 200 {
			return nil, errs.FieldErrorf("assignee", "at most 200 characters")
		}
		assignee = &a
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM inquiries WHERE id = $1`, id).Scan(&cur); err != nil {
			return notFound(err, "inquiry", id)
		}
		now := ms(db.Clock.Now())
		if status != nil && *status != cur {
			var closed any
			if *status == customer.InquiryClosed {
				closed = now
			}
			if _, err := tx.ExecContext(ctx, `UPDATE inquiries SET status = $1, closed_at = $2, updated_at = $3 WHERE id = $4`, *status, closed, now, id); err != nil {
				return err
			}
		}
		if assignee != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE inquiries SET assignee = $1, updated_at = $2 WHERE id = $3`, *assignee, now, id); err != nil {
				return err
			}
		}
		return db.inquiryChanged(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	db.notifyChanged()
	return db.Inquiry(ctx, id)
}

// AddInquiryReply records a reply (see InquiryStore).
func (db *DB) AddInquiryReply(ctx context.Context, r customer.InquiryReply, keepStatus bool) (int64, error) {
	r.Body = strings.TrimSpace(r.Body)
	if r.Body == "" {
		return 0, errs.FieldErrorf("body", "a reply cannot be empty")
	}
	if utf8.RuneCountInString(r.Body) > 20000 {
		return 0, errs.FieldErrorf("body", "at most 20000 characters")
	}
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var status string
		var cust, origin int64
		if err := tx.QueryRowContext(ctx, `SELECT status, customer_id, origin_customer_id FROM inquiries WHERE id = $1`, r.InquiryID).Scan(&status, &cust, &origin); err != nil {
			return notFound(err, "inquiry", r.InquiryID)
		}
		now := ms(db.Clock.Now())
		if err := tx.QueryRowContext(ctx, `INSERT INTO inquiry_replies (inquiry_id, customer_id, origin_customer_id, author, body, channel, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.InquiryID, cust, origin, r.Author, r.Body, r.Channel, now).Scan(&id); err != nil {
			return err
		}
		next := status
		if !keepStatus && status == customer.InquiryOpen {
			next = customer.InquiryPending
		}
		if _, err := tx.ExecContext(ctx, `UPDATE inquiries SET status = $1, updated_at = $2 WHERE id = $3`, next, now, r.InquiryID); err != nil {
			return err
		}
		return db.inquiryChanged(ctx, tx, r.InquiryID)
	})
	if err == nil {
		db.notifyChanged()
	}
	return id, err
}

// inquiryChanged marks an inquiry's customer in the change feed: segments
// look at open inquiries and their tags.
func (db *DB) inquiryChanged(ctx context.Context, tx *Tx, id int64) error {
	var cid int64
	if err := tx.QueryRowContext(ctx, `SELECT customer_id FROM inquiries WHERE id = $1`, id).Scan(&cid); err != nil {
		return err
	}
	return db.markChanged(ctx, tx, []int64{cid}, db.Clock.Now())
}

// SetInquiryTags replaces an inquiry's tags.
func (db *DB) SetInquiryTags(ctx context.Context, id int64, tags []string) error {
	seen := map[string]bool{}
	var clean []string
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t == "" || seen[t] {
			continue
		}
		if utf8.RuneCountInString(t) > 50 {
			return errs.FieldErrorf("tags", "%q: a tag has at most 50 characters", t)
		}
		seen[t] = true
		clean = append(clean, t)
	}
	if len(clean) > 20 {
		return errs.FieldErrorf("tags", "at most 20 tags")
	}
	sort.Strings(clean)
	err := db.inTx(ctx, func(tx *Tx) error {
		var cust, origin int64
		if err := tx.QueryRowContext(ctx, `SELECT customer_id, origin_customer_id FROM inquiries WHERE id = $1`, id).Scan(&cust, &origin); err != nil {
			return notFound(err, "inquiry", id)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM inquiry_tags WHERE inquiry_id = $1`, id); err != nil {
			return err
		}
		now := ms(db.Clock.Now())
		for _, t := range clean {
			if _, err := tx.ExecContext(ctx, `INSERT INTO inquiry_tags (inquiry_id, customer_id, origin_customer_id, tag, created_at) VALUES ($1, $2, $3, $4, $5)`,
				id, cust, origin, t, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE inquiries SET updated_at = $1 WHERE id = $2`, now, id); err != nil {
			return err
		}
		return db.markChanged(ctx, tx, []int64{cust}, db.Clock.Now())
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

// InquiryCounts counts inquiries by status, and unresolved ones by
// assignee and tag.
func (db *DB) InquiryCounts(ctx context.Context) (InquiryCounts, error) {
	out := InquiryCounts{ByStatus: map[string]int64{}, ByAssignee: map[string]int64{}, ByTag: map[string]int64{}}
	for _, q := range []struct {
		sql string
		m   map[string]int64
	}{
		{`SELECT status, count(*) FROM inquiries GROUP BY status`, out.ByStatus},
		{`SELECT assignee, count(*) FROM inquiries WHERE status IN ('open', 'pending') GROUP BY assignee`, out.ByAssignee},
		{`SELECT t.tag, count(*) FROM inquiry_tags t JOIN inquiries i ON i.id = t.inquiry_id WHERE i.status IN ('open', 'pending') GROUP BY t.tag`, out.ByTag},
	} {
		rows, err := db.Read.QueryContext(ctx, q.sql)
		if err != nil {
			return out, err
		}
		for rows.Next() {
			var k string
			var n int64
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return out, err
			}
			q.m[k] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// InquirySettings returns the desk's settings (defaults when unset).
func (db *DB) InquirySettings(ctx context.Context) (InquirySettings, error) {
	s := InquirySettings{ExcludeFromCampaigns: true}
	raw, ok, err := db.Setting(ctx, SettingInquiries)
	if err != nil || !ok {
		return s, err
	}
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, errs.Errorf(errs.Invalid, "stored inquiry settings are not valid JSON: %v", err)
	}
	return s, nil
}

// SetInquirySettings saves the desk's settings.
func (db *DB) SetInquirySettings(ctx context.Context, s InquirySettings) error {
	b, _ := json.Marshal(s)
	return db.SetSetting(ctx, SettingInquiries, string(b))
}

// CampaignExclusion returns the exclusion condition (see InquiryStore).
func (db *DB) CampaignExclusion(ctx context.Context) (*Exclusion, error) {
	s, err := db.InquirySettings(ctx)
	if err != nil || !s.ExcludeFromCampaigns {
		return nil, err
	}
	return &Exclusion{SQL: unresolvedInquirySQL, Description: "customers with an open or pending inquiry are left out (setting inquiries.exclude_from_campaigns)"}, nil
}

// ExcludedFromCampaigns returns which of the customers the rule leaves out.
func (db *DB) ExcludedFromCampaigns(ctx context.Context, ids []int64) (map[int64]bool, error) {
	out := map[int64]bool{}
	ex, err := db.CampaignExclusion(ctx)
	if err != nil || ex == nil || len(ids) == 0 {
		return out, err
	}
	vals := make([]any, len(ids))
	for i, id := range ids {
		vals[i] = id
	}
	err = db.chunk(len(vals), 1, func(lo, hi int) error {
		cond, args := db.Dialect.InList("c.id", 1, vals[lo:hi])
		rows, err := db.Read.QueryContext(ctx, `SELECT c.id FROM customers c WHERE `+cond+` AND NOT (`+ex.SQL+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	return out, err
}
