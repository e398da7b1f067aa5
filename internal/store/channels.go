package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// ChannelStore is what the channels capability stores: sends recorded
// exactly once per key, their events, the suppression list, templates,
// rate-limit buckets, push subscriptions, on-site campaigns and revenue
// attribution. It implements channel.Store.
type ChannelStore interface {
	channel.Store
	SaveTemplate(ctx context.Context, t *content.Template) (int64, error)
	Templates(ctx context.Context) ([]content.Template, error)
	DeleteTemplate(ctx context.Context, id int64) error
	CustomerSends(ctx context.Context, customerID int64, limit int) ([]channel.Record, error)
	SavePushSubscription(ctx context.Context, sub channel.PushSubscription) (int64, error)
	DeletePushSubscription(ctx context.Context, endpoint string) error
	CustomerByAnonymousID(ctx context.Context, anonymousID string) (int64, error)
	PendingOnsite(ctx context.Context, customerID int64, limit int) ([]channel.Record, error)
	SaveOnsiteCampaign(ctx context.Context, c channel.OnsiteCampaign) (int64, error)
	OnsiteCampaigns(ctx context.Context, activeAt time.Time) ([]channel.OnsiteCampaign, error)
	ReattributeOrders(ctx context.Context, since time.Time) (int, error)
	OrderAttribution(ctx context.Context, orderID int64) (*channel.Attribution, error)
}

var _ ChannelStore = (*DB)(nil)

const sendCols = `id, coalesce(send_key, ''), customer_id, channel, purpose, template_id, source, subject, address, status, provider, provider_id,
	attempts, error, vars, created_at, sent_at, next_attempt_at, delivered_at, opened_at, clicked_at, bounced_at, unsubscribed_at`

func scanSend(r rowScanner) (*channel.Record, error) {
	var rec channel.Record
	var ch, purpose, vars string
	var created int64
	var sent, next, delivered, opened, clicked, bounced, unsub sql.NullInt64
	err := r.Scan(&rec.ID, &rec.Key, &rec.CustomerID, &ch, &purpose, &rec.TemplateID, &rec.Source, &rec.Subject, &rec.Address, &rec.Status,
		&rec.Provider, &rec.ProviderID, &rec.Attempts, &rec.Error, &vars, &created, &sent, &next, &delivered, &opened, &clicked, &bounced, &unsub)
	if err != nil {
		return nil, err
	}
	rec.Channel, rec.Purpose = message.Channel(ch), message.Purpose(purpose)
	if vars != "" && vars != "null" && vars != "{}" {
		rec.Vars = json.RawMessage(vars)
	}
	rec.CreatedAt = fromMS(created)
	rec.SentAt, rec.NextAttemptAt, rec.DeliveredAt = fromNullMS(sent), fromNullMS(next), fromNullMS(delivered)
	rec.OpenedAt, rec.ClickedAt, rec.BouncedAt, rec.UnsubscribedAt = fromNullMS(opened), fromNullMS(clicked), fromNullMS(bounced), fromNullMS(unsub)
	return &rec, nil
}

func (db *DB) sendList(ctx context.Context, q string, args ...any) ([]channel.Record, error) {
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []channel.Record{}
	for rows.Next() {
		r, err := scanSend(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// activeIDs maps customer ids to the active customer holding them now
// (following merges); erased and unknown ids are left out.
func activeIDs(ctx context.Context, db *DB, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	pending := map[int64][]int64{} // id to look up → the requested ids that lead to it
	for _, id := range ids {
		pending[id] = append(pending[id], id)
	}
	for depth := 0; len(pending) > 0 && depth < 64; depth++ {
		look := make([]any, 0, len(pending))
		for id := range pending {
			look = append(look, id)
		}
		next := map[int64][]int64{}
		err := db.chunk(len(look), 1, func(lo, hi int) error {
			cond, args := db.Dialect.InList("id", 1, look[lo:hi])
			rows, err := q.QueryContext(ctx, `SELECT id, status, merged_into FROM customers WHERE `+cond, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var status string
				var into sql.NullInt64
				if err := rows.Scan(&id, &status, &into); err != nil {
					return err
				}
				switch {
				case status == string(customer.Active):
					for _, req := range pending[id] {
						out[req] = id
					}
				case into.Valid:
					next[into.Int64] = append(next[into.Int64], pending[id]...)
				}
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
		pending = next
	}
	return out, nil
}

// ClaimSends implements channel.Store.
func (db *DB) ClaimSends(ctx context.Context, claims []channel.Claim, now time.Time) ([]channel.Claimed, error) {
	out := make([]channel.Claimed, len(claims))
	err := db.inTx(ctx, func(tx *Tx) error {
		ids := make([]int64, len(claims))
		for i, c := range claims {
			ids[i] = c.CustomerID
		}
		active, err := activeIDs(ctx, db, tx, ids)
		if err != nil {
			return fmt.Errorf("look up customers: %w", err)
		}
		nowMS := ms(now)
		inserted := make([]bool, len(claims))
		for i, c := range claims {
			cid, ok := active[c.CustomerID]
			if !ok {
				continue
			}
			vars := string(c.Vars)
			if vars == "" || vars == "null" {
				vars = "{}"
			}
			res, err := tx.execCached(ctx, db, `INSERT INTO messages (customer_id, origin_customer_id, channel, purpose, subject, status, created_at,
				send_key, template_id, source, vars, updated_at, next_attempt_at) VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $6, $11)
				ON CONFLICT (send_key) DO NOTHING`,
				[]any{cid, string(c.Channel), string(c.Purpose), c.Subject, c.Status, nowMS, c.Key, c.TemplateID, c.Source, vars, msPtr(c.NextAt)})
			if err != nil {
				return fmt.Errorf("record send %s: %w", c.Key, err)
			}
			n, _ := res.RowsAffected()
			inserted[i] = n == 1
		}
		stale := nowMS - (10 * time.Minute).Milliseconds()
		type row struct {
			cl       channel.Claimed
			next     sql.NullInt64
			upd      int64
			ch       string
			resolved bool
		}
		rows := map[string]*row{}
		var keys []any
		for _, c := range claims {
			if _, ok := active[c.CustomerID]; ok && rows[c.Key] == nil {
				rows[c.Key] = &row{}
				keys = append(keys, c.Key)
			}
		}
		err = db.chunk(len(keys), 1, func(lo, hi int) error {
			cond, args := db.Dialect.InList("send_key", 1, keys[lo:hi])
			rs, err := tx.QueryContext(ctx, `SELECT send_key, id, status, attempts, provider_id, next_attempt_at, updated_at, channel FROM messages WHERE `+cond, args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			for rs.Next() {
				var k string
				var r row
				if err := rs.Scan(&k, &r.cl.MessageID, &r.cl.Status, &r.cl.Attempts, &r.cl.ProviderID, &r.next, &r.upd, &r.ch); err != nil {
					return err
				}
				r.resolved = true
				*rows[k] = r
			}
			return rs.Err()
		})
		if err != nil {
			return fmt.Errorf("read sends: %w", err)
		}
		taken := map[string]bool{}
		for i, c := range claims {
			if _, ok := active[c.CustomerID]; !ok {
				out[i] = channel.Claimed{Status: channel.ReasonInactive}
				continue
			}
			r := rows[c.Key]
			if !r.resolved {
				return fmt.Errorf("send %s was not recorded", c.Key)
			}
			cl := r.cl
			cl.New = inserted[i] && !taken[c.Key]
			if !inserted[i] && !taken[c.Key] {
				due := (cl.Status == channel.StatusRetry || cl.Status == channel.StatusScheduled) && r.next.Valid && r.next.Int64 <= nowMS
				stuck := cl.Status == channel.StatusSending && r.ch == string(message.LINE) && r.upd < stale
				if due || stuck {
					res, err := tx.ExecContext(ctx, `UPDATE messages SET status = 'sending', updated_at = $2 WHERE id = $1 AND status = $3`, cl.MessageID, nowMS, cl.Status)
					if err != nil {
						return err
					}
					n, _ := res.RowsAffected()
					cl.New = n == 1
				}
			}
			if cl.New {
				taken[c.Key] = true
			}
			out[i] = cl
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateSends implements channel.Store.
func (db *DB) UpdateSends(ctx context.Context, ups []channel.Update) error {
	if len(ups) == 0 {
		return nil
	}
	now := ms(db.Clock.Now())
	return db.inTx(ctx, func(tx *Tx) error {
		for _, u := range ups {
			attempt := 0
			if u.Attempt {
				attempt = 1
			}
			var delivered any
			if u.Status == channel.StatusDelivered {
				delivered = now
			}
			_, err := tx.execCached(ctx, db, `UPDATE messages SET status = $2,
				address = CASE WHEN $3 <> '' THEN $3 ELSE address END,
				subject = CASE WHEN $4 <> '' THEN $4 ELSE subject END,
				provider = CASE WHEN $5 <> '' THEN $5 ELSE provider END,
				provider_id = CASE WHEN $6 <> '' THEN $6 ELSE provider_id END,
				error = $7, attempts = attempts + $8, next_attempt_at = $9,
				sent_at = coalesce($10, sent_at), delivered_at = coalesce($11, delivered_at), updated_at = $12
				WHERE id = $1`, []any{u.MessageID, u.Status, u.Address, u.Subject, u.Provider, u.ProviderID, u.Error, attempt, msPtr(u.NextAt),
				msPtr(u.SentAt), delivered, now})
			if err != nil {
				return fmt.Errorf("record send %d: %w", u.MessageID, err)
			}
		}
		return nil
	})
}

// SendRecord implements channel.Store.
func (db *DB) SendRecord(ctx context.Context, id int64) (*channel.Record, error) {
	r, err := scanSend(db.Read.QueryRowContext(ctx, `SELECT `+sendCols+` FROM messages WHERE id = $1`, id))
	return r, notFound(err, "message", id)
}

// SendRecordByKey implements channel.Store.
func (db *DB) SendRecordByKey(ctx context.Context, key string) (*channel.Record, error) {
	r, err := scanSend(db.Read.QueryRowContext(ctx, `SELECT `+sendCols+` FROM messages WHERE send_key = $1`, key))
	return r, notFound(err, "message with key", key)
}

// SendRecordByProviderID implements channel.Store.
func (db *DB) SendRecordByProviderID(ctx context.Context, provider, providerID string) (*channel.Record, error) {
	r, err := scanSend(db.Read.QueryRowContext(ctx, `SELECT `+sendCols+` FROM messages WHERE provider = $1 AND provider_id = $2
		ORDER BY id DESC LIMIT 1`, provider, providerID))
	return r, notFound(err, "message with provider id", providerID)
}

// DueSends implements channel.Store.
func (db *DB) DueSends(ctx context.Context, now, stale time.Time, limit int) ([]channel.Record, error) {
	return db.sendList(ctx, `SELECT `+sendCols+` FROM messages
		WHERE (status IN ('retry', 'scheduled') AND next_attempt_at <= $1) OR (status = 'sending' AND updated_at < $2)
		ORDER BY coalesce(next_attempt_at, updated_at), id LIMIT $3`, ms(now), ms(stale), limit)
}

// CustomerSends lists a customer's sends, newest first.
func (db *DB) CustomerSends(ctx context.Context, customerID int64, limit int) ([]channel.Record, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return db.sendList(ctx, `SELECT `+sendCols+` FROM messages WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, customerID, limit)
}

// Recipients implements channel.Store.
func (db *DB) Recipients(ctx context.Context, ch message.Channel, ids []int64) (map[int64]*channel.Recipient, error) {
	active, err := activeIDs(ctx, db, db.Read, ids)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*channel.Recipient{}
	var look []any
	for _, cid := range active {
		if byID[cid] == nil {
			byID[cid] = &channel.Recipient{}
			look = append(look, cid)
		}
	}
	each := func(q string, extra []any, scan func(*sql.Rows) error) error {
		return db.chunk(len(look), 1, func(lo, hi int) error {
			cond, args := db.Dialect.InList("x.customer_id", len(extra)+1, look[lo:hi])
			rows, err := db.Read.QueryContext(ctx, strings.Replace(q, "COND", cond, 1), append(extra, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := scan(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
	err = db.chunk(len(look), 1, func(lo, hi int) error {
		cond, args := db.Dialect.InList("id", 1, look[lo:hi])
		rows, err := db.Read.QueryContext(ctx, `SELECT `+customerCols+` FROM customers WHERE `+cond, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanCustomer(rows)
			if err != nil {
				return err
			}
			byID[c.ID].Customer = *c
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	if cc := channel.ConsentChannel(ch); cc != "" {
		err = each(`SELECT x.customer_id, x.granted, x.method, x.source, x.wording_version, x.actor, x.recorded_at FROM consent_records x
			WHERE x.channel = $1 AND COND ORDER BY x.customer_id, x.recorded_at, x.id`, []any{cc}, func(r *sql.Rows) error {
			var cid, at int64
			var c customer.Consent
			if err := r.Scan(&cid, &c.Granted, &c.Method, &c.Source, &c.WordingVersion, &c.Actor, &at); err != nil {
				return err
			}
			c.Channel, c.RecordedAt = cc, fromMS(at)
			byID[cid].Consent = &c
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load consents: %w", err)
		}
	}
	switch ch {
	case message.LINE:
		set, err := channel.LoadSettings(ctx, db)
		if err != nil {
			return nil, err
		}
		err = each(`SELECT x.customer_id, x.source, x.value FROM identities x WHERE x.kind = 'line' AND COND ORDER BY x.customer_id, x.created_at`, nil,
			func(r *sql.Rows) error {
				var cid int64
				var src, v string
				if err := r.Scan(&cid, &src, &v); err != nil {
					return err
				}
				if set.LINE.ProviderID == "" || src == set.LINE.ProviderID || src == "" {
					byID[cid].LINEUserID = v
				}
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("load LINE ids: %w", err)
		}
	case message.Push:
		err = each(`SELECT x.customer_id, x.id, x.anonymous_id, x.endpoint, x.p256dh, x.auth, x.user_agent, x.created_at FROM push_subscriptions x
			WHERE COND ORDER BY x.customer_id, x.updated_at DESC`, nil, func(r *sql.Rows) error {
			var p channel.PushSubscription
			var at int64
			if err := r.Scan(&p.CustomerID, &p.ID, &p.AnonymousID, &p.Endpoint, &p.P256dh, &p.Auth, &p.UserAgent, &at); err != nil {
				return err
			}
			p.CreatedAt = fromMS(at)
			byID[p.CustomerID].Push = append(byID[p.CustomerID].Push, p)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load push subscriptions: %w", err)
		}
	}
	err = each(`SELECT x.customer_id, x.id, x.ordered_at, x.total, x.external_id, l.product_name, l.sku, coalesce(p.url, '')
		FROM customers c JOIN orders x ON x.customer_id = c.id AND x.ordered_at = c.last_order_at AND x.status = 'paid'
		JOIN order_lines l ON l.order_id = x.id
		LEFT JOIN products p ON p.sku = l.sku AND l.sku <> ''
		WHERE COND ORDER BY x.customer_id, x.id DESC, l.line_no`, nil, func(r *sql.Rows) error {
		var cid, oid, at, total int64
		var p content.Purchase
		if err := r.Scan(&cid, &oid, &at, &total, &p.OrderRef, &p.Product, &p.SKU, &p.URL); err != nil {
			return err
		}
		if byID[cid].LastPurchase == nil {
			p.At, p.Amount = fromMS(at), total
			byID[cid].LastPurchase = &p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load last purchases: %w", err)
	}
	out := make(map[int64]*channel.Recipient, len(ids))
	for req, cid := range active {
		out[req] = byID[cid]
	}
	return out, nil
}

// normalizeAddress folds e-mail addresses to lower case.
func normalizeAddress(ch message.Channel, a string) string {
	a = strings.TrimSpace(a)
	if ch == message.Email {
		return strings.ToLower(a)
	}
	return a
}

// Suppressed implements channel.Store.
func (db *DB) Suppressed(ctx context.Context, ch message.Channel, addresses []string) (map[string]string, error) {
	out := map[string]string{}
	look := make([]any, 0, len(addresses))
	orig := map[string][]string{}
	for _, a := range addresses {
		n := normalizeAddress(ch, a)
		if len(orig[n]) == 0 {
			look = append(look, n)
		}
		orig[n] = append(orig[n], a)
	}
	err := db.chunk(len(look), 1, func(lo, hi int) error {
		cond, args := db.Dialect.InList("address", 2, look[lo:hi])
		rows, err := db.Read.QueryContext(ctx, `SELECT address, reason FROM suppressions WHERE channel = $1 AND `+cond, append([]any{string(ch)}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a, reason string
			if err := rows.Scan(&a, &reason); err != nil {
				return err
			}
			for _, o := range orig[a] {
				out[o] = reason
			}
		}
		return rows.Err()
	})
	return out, err
}

// suppressionRank orders reasons: a stronger reason replaces a weaker one.
var suppressionRank = map[string]int{channel.SuppressUnsubscribed: 1, channel.SuppressComplained: 2, channel.SuppressBounced: 3, channel.SuppressManual: 4}

// Suppress implements channel.Store: it adds an address, or strengthens
// its reason, and reports whether anything changed.
func (db *DB) Suppress(ctx context.Context, s channel.Suppression) (bool, error) {
	if suppressionRank[s.Reason] == 0 {
		return false, errs.FieldErrorf("reason", "%q is not unsubscribed, bounced, complained or manual", s.Reason)
	}
	s.Address = normalizeAddress(s.Channel, s.Address)
	if s.Address == "" {
		return false, errs.FieldErrorf("address", "required")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = db.Clock.Now()
	}
	changed := false
	err := db.inTx(ctx, func(tx *Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT reason FROM suppressions WHERE channel = $1 AND address = $2`, string(s.Channel), s.Address).Scan(&cur)
		switch {
		case isNoRows(err):
			_, err = tx.ExecContext(ctx, `INSERT INTO suppressions (channel, address, reason, detail, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				string(s.Channel), s.Address, s.Reason, s.Detail, s.Actor, ms(s.CreatedAt))
			changed = err == nil
			return err
		case err != nil:
			return err
		case suppressionRank[s.Reason] > suppressionRank[cur]:
			_, err = tx.ExecContext(ctx, `UPDATE suppressions SET reason = $3, detail = $4, actor = $5, created_at = $6 WHERE channel = $1 AND address = $2`,
				string(s.Channel), s.Address, s.Reason, s.Detail, s.Actor, ms(s.CreatedAt))
			changed = err == nil
			return err
		}
		return nil
	})
	return changed, err
}

// Unsuppress implements channel.Store.
func (db *DB) Unsuppress(ctx context.Context, ch message.Channel, address string) error {
	address = normalizeAddress(ch, address)
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM soft_bounces WHERE channel = $1 AND address = $2`, string(ch), address); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address = $2`, string(ch), address)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "%s is not on the %s suppression list", address, ch)
		}
		return nil
	})
}

// Suppressions implements channel.Store: a page of the list, newest first.
func (db *DB) Suppressions(ctx context.Context, ch message.Channel, reason string, limit, offset int) ([]channel.Suppression, int, error) {
	where, args := "channel = $1", []any{string(ch)}
	if reason != "" {
		where += " AND reason = $2"
		args = append(args, reason)
	}
	var total int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM suppressions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	n := len(args)
	rows, err := db.Read.QueryContext(ctx, fmt.Sprintf(`SELECT channel, address, reason, detail, actor, created_at FROM suppressions WHERE %s
		ORDER BY created_at DESC, address LIMIT $%d OFFSET $%d`, where, n+1, n+2), append(args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []channel.Suppression{}
	for rows.Next() {
		var s channel.Suppression
		var ch string
		var at int64
		if err := rows.Scan(&ch, &s.Address, &s.Reason, &s.Detail, &s.Actor, &at); err != nil {
			return nil, 0, err
		}
		s.Channel, s.CreatedAt = message.Channel(ch), fromMS(at)
		out = append(out, s)
	}
	return out, total, rows.Err()
}

// CountSoftBounce implements channel.Store.
func (db *DB) CountSoftBounce(ctx context.Context, ch message.Channel, address string, at time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO soft_bounces (channel, address, count, last_at) VALUES ($1, $2, 1, $3)
			ON CONFLICT (channel, address) DO UPDATE SET count = soft_bounces.count + 1, last_at = excluded.last_at RETURNING count`,
			string(ch), normalizeAddress(ch, address), ms(at)).Scan(&n)
	})
	return n, err
}

// CustomersByAddress implements channel.Store.
func (db *DB) CustomersByAddress(ctx context.Context, ch message.Channel, address string) ([]int64, error) {
	kind := map[message.Channel]string{message.Email: "email", message.SMS: "phone", message.LINE: "line"}[ch]
	if kind == "" {
		return nil, errs.Errorf(errs.Invalid, "customers cannot be found by a %s address", ch)
	}
	return queryIDs(ctx, db.Read, `SELECT DISTINCT i.customer_id FROM identities i JOIN customers c ON c.id = i.customer_id AND c.status = 'active'
		WHERE i.kind = $1 AND i.value = $2 ORDER BY i.customer_id`, kind, normalizeAddress(ch, address))
}

// AddSendEvent implements channel.Store.
func (db *DB) AddSendEvent(ctx context.Context, e channel.Event) (bool, error) {
	if e.At.IsZero() {
		e.At = db.Clock.Now()
	}
	first := false
	err := db.inTx(ctx, func(tx *Tx) error {
		var cust, origin int64
		var status string
		err := tx.QueryRowContext(ctx, `SELECT customer_id, origin_customer_id, status FROM messages WHERE id = $1`, e.MessageID).Scan(&cust, &origin, &status)
		if err != nil {
			return notFound(err, "message", e.MessageID)
		}
		if _, err := tx.execCached(ctx, db, `INSERT INTO message_events (message_id, customer_id, origin_customer_id, kind, machine, url, detail, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, []any{e.MessageID, cust, origin, e.Kind, e.Machine, e.URL, e.Detail, ms(e.At)}); err != nil {
			return err
		}
		var set string
		switch e.Kind {
		case channel.EventOpen:
			if !e.Machine {
				set = "opened_at = $2"
			}
		case channel.EventClick:
			set = "clicked_at = $2, opened_at = coalesce(opened_at, $2)"
		case channel.EventUnsubscribe:
			set = "unsubscribed_at = $2"
		case channel.EventComplaint:
			set = "complained_at = $2"
		case channel.EventBounce:
			kind, _, _ := strings.Cut(e.Detail, " ")
			set = "bounced_at = $2, bounce_kind = $3"
			if kind == channel.BounceHard {
				set += ", status = 'bounced'"
			}
			// A hard bounce after a soft one of the same message replaces it.
			res, err := tx.ExecContext(ctx, `UPDATE messages SET `+set+` WHERE id = $1 AND (bounced_at IS NULL OR (bounce_kind <> 'hard' AND $3 = 'hard'))`,
				e.MessageID, ms(e.At), kind)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			first = n == 1
			return nil
		case channel.EventDelivered, channel.EventShown:
			set = "delivered_at = $2, status = CASE WHEN status IN ('sent', 'sending') THEN 'delivered' ELSE status END"
		case channel.EventFailed:
			set = "status = 'failed', error = $3"
			res, err := tx.ExecContext(ctx, `UPDATE messages SET `+set+` WHERE id = $1`, e.MessageID, ms(e.At), e.Detail)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			first = n == 1
			return nil
		}
		if set == "" {
			return nil
		}
		col := strings.SplitN(set, " ", 2)[0]
		res, err := tx.execCached(ctx, db, `UPDATE messages SET `+set+` WHERE id = $1 AND `+col+` IS NULL`, []any{e.MessageID, ms(e.At)})
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		first = n == 1
		return nil
	})
	return first, err
}

// TakeTokens implements channel.Store: an atomic token bucket shared by
// every process, as one row updated under optimistic concurrency (the
// update only applies if the row is unchanged since it was read).
func (db *DB) TakeTokens(ctx context.Context, bucket string, n int, perMinute, burst float64, now time.Time) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	capMilli := int64(burst * 1000)
	for attempt := 0; attempt < 20; attempt++ {
		var tokens, at int64
		err := db.Write.QueryRowContext(ctx, `SELECT tokens, updated_at FROM rate_buckets WHERE name = $1`, bucket).Scan(&tokens, &at)
		if isNoRows(err) {
			if _, err := db.Write.ExecContext(ctx, `INSERT INTO rate_buckets (name, tokens, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
				bucket, capMilli, ms(now)); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		nowMS := max(ms(now), at)
		avail := min(capMilli, tokens+int64(float64(nowMS-at)*perMinute/60))
		got := min(int64(n), avail/1000)
		res, err := db.Write.ExecContext(ctx, `UPDATE rate_buckets SET tokens = $2, updated_at = $3 WHERE name = $1 AND tokens = $4 AND updated_at = $5`,
			bucket, avail-got*1000, nowMS, tokens, at)
		if err != nil {
			return 0, err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			return int(got), nil
		}
	}
	return 0, errs.Errorf(errs.Unavailable, "rate limit bucket %s is contended; try again", bucket)
}

// SaveTemplate stores a template (new when ID is 0), bumping its version.
// The caller checks it first (content.Engine.Check).
func (db *DB) SaveTemplate(ctx context.Context, t *content.Template) (int64, error) {
	body, err := json.Marshal(t.Variants)
	if err != nil {
		return 0, err
	}
	now := db.Clock.Now()
	err = db.inTx(ctx, func(tx *Tx) error {
		if t.ID == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO templates (name, purpose, body, version, updated_by, created_at, updated_at)
				VALUES ($1, $2, $3, 1, $4, $5, $5) RETURNING id, version`, t.Name, string(t.Purpose), string(body), t.UpdatedBy, ms(now)).Scan(&t.ID, &t.Version)
		}
		err := tx.QueryRowContext(ctx, `UPDATE templates SET name = $2, purpose = $3, body = $4, version = version + 1, updated_by = $5, updated_at = $6
			WHERE id = $1 RETURNING version`, t.ID, t.Name, string(t.Purpose), string(body), t.UpdatedBy, ms(now)).Scan(&t.Version)
		return notFound(err, "template", t.ID)
	})
	if err != nil {
		return 0, err
	}
	t.UpdatedAt = now
	return t.ID, nil
}

const templateCols = `id, name, purpose, body, version, updated_by, created_at, updated_at`

func scanTemplate(r rowScanner) (*content.Template, error) {
	var t content.Template
	var purpose, body string
	var created, updated int64
	if err := r.Scan(&t.ID, &t.Name, &purpose, &body, &t.Version, &t.UpdatedBy, &created, &updated); err != nil {
		return nil, err
	}
	t.Purpose, t.CreatedAt, t.UpdatedAt = message.Purpose(purpose), fromMS(created), fromMS(updated)
	if err := json.Unmarshal([]byte(body), &t.Variants); err != nil {
		return nil, fmt.Errorf("template %d: stored body is not JSON: %w", t.ID, err)
	}
	return &t, nil
}

// Template implements channel.Store.
func (db *DB) Template(ctx context.Context, id int64) (*content.Template, error) {
	t, err := scanTemplate(db.Read.QueryRowContext(ctx, `SELECT `+templateCols+` FROM templates WHERE id = $1`, id))
	return t, notFound(err, "template", id)
}

// Templates lists templates by name.
func (db *DB) Templates(ctx context.Context) ([]content.Template, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+templateCols+` FROM templates ORDER BY name, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []content.Template{}
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, rows.Err()
}

// DeleteTemplate removes a template; one that was ever sent is kept (its
// sends refer to it), with a Conflict error.
func (db *DB) DeleteTemplate(ctx context.Context, id int64) error {
	return db.inTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE template_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.Errorf(errs.Conflict, "template %d was used by %d sends and cannot be deleted; rename it instead", id, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM templates WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return errs.Errorf(errs.NotFound, "template %d not found", id)
		}
		return nil
	})
}

// SendStats implements channel.Store: per source and channel, for the
// sources that start with prefix.
func (db *DB) SendStats(ctx context.Context, prefix string) ([]channel.SourceStats, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT source, channel,
		sum(CASE WHEN status IN ('sent', 'delivered', 'bounced') THEN 1 ELSE 0 END),
		sum(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END),
		sum(CASE WHEN bounced_at IS NOT NULL AND bounce_kind <> 'soft' THEN 1 ELSE 0 END),
		sum(CASE WHEN bounce_kind = 'soft' THEN 1 ELSE 0 END),
		sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
		sum(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END),
		sum(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END),
		sum(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END),
		sum(CASE WHEN unsubscribed_at IS NOT NULL THEN 1 ELSE 0 END),
		sum(CASE WHEN complained_at IS NOT NULL THEN 1 ELSE 0 END)
		FROM messages WHERE substr(source, 1, length($1)) = $1 GROUP BY source, channel ORDER BY source, channel`, prefix)
	if err != nil {
		return nil, err
	}
	var out []channel.SourceStats
	idx := map[string]int{}
	for rows.Next() {
		var s channel.SourceStats
		if err := rows.Scan(&s.Source, &s.Channel, &s.Sent, &s.Delivered, &s.Bounced, &s.SoftBounced, &s.Failed, &s.Blocked, &s.Opened, &s.Clicked, &s.Unsubscribed, &s.Complained); err != nil {
			rows.Close()
			return nil, err
		}
		idx[s.Source+"\x00"+s.Channel] = len(out)
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	extra := func(q string, apply func(s *channel.SourceStats, a, b int64)) error {
		rows, err := db.Read.QueryContext(ctx, q, prefix)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var src, ch string
			var a, b int64
			if err := rows.Scan(&src, &ch, &a, &b); err != nil {
				return err
			}
			if i, ok := idx[src+"\x00"+ch]; ok {
				apply(&out[i], a, b)
			}
		}
		return rows.Err()
	}
	if err := extra(`SELECT m.source, m.channel, count(DISTINCT e.message_id), 0 FROM message_events e JOIN messages m ON m.id = e.message_id
		WHERE e.kind = 'open' AND e.machine = TRUE AND m.opened_at IS NULL AND substr(m.source, 1, length($1)) = $1 GROUP BY m.source, m.channel`,
		func(s *channel.SourceStats, a, _ int64) { s.MachineOpened = a }); err != nil {
		return nil, err
	}
	if err := extra(`SELECT m.source, m.channel, count(*), coalesce(sum(o.total), 0) FROM order_attributions a
		JOIN messages m ON m.id = a.message_id JOIN orders o ON o.id = a.order_id AND o.status = 'paid'
		WHERE substr(m.source, 1, length($1)) = $1 GROUP BY m.source, m.channel`,
		func(s *channel.SourceStats, a, b int64) { s.Conversions, s.Revenue = a, b }); err != nil {
		return nil, err
	}
	return out, nil
}
