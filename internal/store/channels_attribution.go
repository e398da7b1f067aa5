package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/tracking"
)

// attributeOrders credits each paid order of an import batch to the last
// message the buyer clicked (within the click window) or opened (within
// the open window) before ordering. It runs after ImportOrders commits;
// it is idempotent, so re-importing the batch (or `enishi attribution
// rebuild`) redoes it.
func (db *DB) attributeOrders(ctx context.Context, orders []order.Order) error {
	var paid []attrOrder
	for i := range orders {
		o := &orders[i]
		if o.ID != 0 && o.CustomerID != 0 {
			paid = append(paid, attrOrder{id: o.ID, customer: o.CustomerID, at: o.OrderedAt, paid: o.Status == order.Paid})
		}
	}
	if len(paid) == 0 {
		return nil
	}
	set, err := channel.LoadSettings(ctx, db)
	if err != nil {
		return err
	}
	if err := db.attribute(ctx, paid, set.Windows()); err != nil {
		return fmt.Errorf("orders were saved, but attributing them to messages failed (run `enishi attribution rebuild`): %w", err)
	}
	return nil
}

type attrOrder struct {
	id, customer int64
	at           time.Time
	paid         bool
}

func (db *DB) attribute(ctx context.Context, orders []attrOrder, w tracking.Windows) error {
	lo, hi := orders[0].at, orders[0].at
	custs := map[int64]bool{}
	var ids []any
	for _, o := range orders {
		lo, hi = minTime(lo, o.at), maxTime(hi, o.at)
		if !custs[o.customer] {
			custs[o.customer] = true
			ids = append(ids, o.customer)
		}
	}
	lo = lo.Add(-max(w.Click, w.Open))
	touches := map[int64][]tracking.Touch{}
	err := db.chunk(len(ids), 1, func(a, b int) error {
		cond, args := db.Dialect.InList("customer_id", 3, ids[a:b])
		rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, message_id, kind, occurred_at FROM message_events
			WHERE occurred_at >= $1 AND occurred_at <= $2 AND kind IN ('open', 'click') AND machine = FALSE AND `+cond,
			append([]any{ms(lo), ms(hi)}, args...)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var cust, msg, at int64
			var kind string
			if err := rows.Scan(&cust, &msg, &kind, &at); err != nil {
				return err
			}
			touches[cust] = append(touches[cust], tracking.Touch{MessageID: msg, Kind: kind, At: fromMS(at)})
		}
		return rows.Err()
	})
	if err != nil || len(touches) == 0 {
		return err
	}
	now := ms(db.Clock.Now())
	return db.inTx(ctx, func(tx *Tx) error {
		for _, o := range orders {
			t, ok := tracking.Attribute(touches[o.customer], o.at, w)
			if !ok || !o.paid {
				if _, err := tx.execCached(ctx, db, `DELETE FROM order_attributions WHERE order_id = $1`, []any{o.id}); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.execCached(ctx, db, `INSERT INTO order_attributions (order_id, message_id, touch, touched_at, attributed_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO UPDATE SET message_id = excluded.message_id, touch = excluded.touch,
				touched_at = excluded.touched_at, attributed_at = excluded.attributed_at`,
				[]any{o.id, t.MessageID, t.Kind, ms(t.At), now}); err != nil {
				return err
			}
		}
		return nil
	})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// ReattributeOrders redoes attribution for every order placed since a
// time (after changing the windows, or if an import's attribution step
// failed), and returns how many orders it looked at.
func (db *DB) ReattributeOrders(ctx context.Context, since time.Time) (int, error) {
	set, err := channel.LoadSettings(ctx, db)
	if err != nil {
		return 0, err
	}
	total := 0
	after := int64(0)
	for {
		rows, err := db.Read.QueryContext(ctx, `SELECT id, customer_id, ordered_at, status FROM orders WHERE ordered_at >= $1 AND id > $2 ORDER BY id LIMIT 1000`,
			ms(since), after)
		if err != nil {
			return total, err
		}
		var batch []attrOrder
		for rows.Next() {
			var o attrOrder
			var at int64
			var status string
			if err := rows.Scan(&o.id, &o.customer, &at, &status); err != nil {
				rows.Close()
				return total, err
			}
			o.at, o.paid = fromMS(at), status == string(order.Paid)
			batch = append(batch, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, err
		}
		if len(batch) == 0 {
			return total, nil
		}
		if err := db.attribute(ctx, batch, set.Windows()); err != nil {
			return total, err
		}
		total += len(batch)
		after = batch[len(batch)-1].id
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// OrderAttribution returns the message an order is credited to.
func (db *DB) OrderAttribution(ctx context.Context, orderID int64) (*channel.Attribution, error) {
	var a channel.Attribution
	var at int64
	err := db.Read.QueryRowContext(ctx, `SELECT a.order_id, a.message_id, a.touch, a.touched_at, m.source, m.channel FROM order_attributions a
		JOIN messages m ON m.id = a.message_id WHERE a.order_id = $1`, orderID).Scan(&a.OrderID, &a.MessageID, &a.Touch, &at, &a.Source, &a.Channel)
	if err != nil {
		return nil, notFound(err, "attribution of order", orderID)
	}
	a.TouchedAt = fromMS(at)
	return &a, nil
}

// SavePushSubscription stores a browser's subscription (by endpoint),
// filed under the customer, or under the customer the anonymous id is
// linked to, when known.
func (db *DB) SavePushSubscription(ctx context.Context, sub channel.PushSubscription) (int64, error) {
	if !strings.HasPrefix(sub.Endpoint, "https://") || sub.P256dh == "" || sub.Auth == "" {
		return 0, errs.Errorf(errs.Invalid, "a push subscription needs an https endpoint and its p256dh and auth keys")
	}
	if sub.CustomerID == 0 && sub.AnonymousID != "" {
		id, err := db.CustomerByAnonymousID(ctx, sub.AnonymousID)
		if err != nil && errs.Code(err) != errs.NotFound {
			return 0, err
		}
		sub.CustomerID = id
	}
	now := ms(db.Clock.Now())
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var cust any
		if sub.CustomerID != 0 {
			active, err := activeIDs(ctx, db, tx, []int64{sub.CustomerID})
			if err != nil {
				return err
			}
			if c, ok := active[sub.CustomerID]; ok {
				cust = c
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO push_subscriptions (customer_id, origin_customer_id, anonymous_id, endpoint, p256dh, auth, user_agent, created_at, updated_at)
			VALUES ($1, $1, $2, $3, $4, $5, $6, $7, $7)
			ON CONFLICT (endpoint) DO UPDATE SET customer_id = coalesce(excluded.customer_id, push_subscriptions.customer_id),
			origin_customer_id = coalesce(excluded.origin_customer_id, push_subscriptions.origin_customer_id),
			anonymous_id = excluded.anonymous_id, p256dh = excluded.p256dh, auth = excluded.auth, user_agent = excluded.user_agent, updated_at = excluded.updated_at
			RETURNING id`, cust, sub.AnonymousID, sub.Endpoint, sub.P256dh, sub.Auth, sub.UserAgent, now).Scan(&id)
	})
	return id, err
}

// DeletePushSubscription removes a subscription (the browser unsubscribed
// or the push service said it is gone).
func (db *DB) DeletePushSubscription(ctx context.Context, endpoint string) error {
	_, err := db.Write.ExecContext(ctx, `DELETE FROM push_subscriptions WHERE endpoint = $1`, endpoint)
	return err
}

// CustomerByAnonymousID returns the customer a browser's anonymous id is
// linked to.
func (db *DB) CustomerByAnonymousID(ctx context.Context, anonymousID string) (int64, error) {
	var id int64
	err := db.Read.QueryRowContext(ctx, `SELECT i.customer_id FROM identities i JOIN customers c ON c.id = i.customer_id AND c.status = 'active'
		WHERE i.kind = 'anonymous' AND i.value = $1 ORDER BY i.created_at DESC LIMIT 1`, anonymousID).Scan(&id)
	if err != nil {
		return 0, notFound(err, "visitor", "")
	}
	return id, nil
}

// PendingOnsite lists on-site messages sent to a customer and not shown yet.
func (db *DB) PendingOnsite(ctx context.Context, customerID int64, limit int) ([]channel.Record, error) {
	return db.sendList(ctx, `SELECT `+sendCols+` FROM messages WHERE customer_id = $1 AND channel = 'onsite' AND status = 'sent'
		ORDER BY created_at, id LIMIT $2`, customerID, limit)
}

// SaveOnsiteCampaign creates or updates an on-site campaign.
func (db *DB) SaveOnsiteCampaign(ctx context.Context, c channel.OnsiteCampaign) (int64, error) {
	switch c.Audience {
	case "":
		c.Audience = "all"
	case "all", "identified", "anonymous":
	default:
		return 0, errs.FieldErrorf("audience", "all, identified or anonymous")
	}
	if strings.TrimSpace(c.Name) == "" {
		return 0, errs.FieldErrorf("name", "required")
	}
	if _, err := db.Template(ctx, c.TemplateID); err != nil {
		return 0, err
	}
	now := ms(db.Clock.Now())
	var starts, ends any
	if c.StartsAt != nil {
		starts = ms(*c.StartsAt)
	}
	if c.EndsAt != nil {
		ends = ms(*c.EndsAt)
	}
	id := c.ID
	err := db.inTx(ctx, func(tx *Tx) error {
		if id == 0 {
			return tx.QueryRowContext(ctx, `INSERT INTO onsite_campaigns (name, template_id, audience, segment_id, active, starts_at, ends_at, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id`, c.Name, c.TemplateID, c.Audience, c.SegmentID, c.Active, starts, ends, now).Scan(&id)
		}
		res, err := tx.ExecContext(ctx, `UPDATE onsite_campaigns SET name = $2, template_id = $3, audience = $4, segment_id = $5, active = $6,
			starts_at = $7, ends_at = $8, updated_at = $9 WHERE id = $1`, id, c.Name, c.TemplateID, c.Audience, c.SegmentID, c.Active, starts, ends, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.NotFound, "on-site campaign %d not found", id)
		}
		return nil
	})
	return id, err
}

// OnsiteCampaigns lists on-site campaigns; with a non-zero activeAt, only
// those active then.
func (db *DB) OnsiteCampaigns(ctx context.Context, activeAt time.Time) ([]channel.OnsiteCampaign, error) {
	q := `SELECT id, name, template_id, audience, segment_id, active, starts_at, ends_at, created_at, updated_at FROM onsite_campaigns`
	var args []any
	if !activeAt.IsZero() {
		q += ` WHERE active = TRUE AND (starts_at IS NULL OR starts_at <= $1) AND (ends_at IS NULL OR ends_at > $1)`
		args = append(args, ms(activeAt))
	}
	rows, err := db.Read.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []channel.OnsiteCampaign{}
	for rows.Next() {
		var c channel.OnsiteCampaign
		var starts, ends sql.NullInt64
		var created, updated int64
		if err := rows.Scan(&c.ID, &c.Name, &c.TemplateID, &c.Audience, &c.SegmentID, &c.Active, &starts, &ends, &created, &updated); err != nil {
			return nil, err
		}
		c.StartsAt, c.EndsAt, c.CreatedAt, c.UpdatedAt = fromNullMS(starts), fromNullMS(ends), fromMS(created), fromMS(updated)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Recommend gives message templates the analytics recommendations
// (channel.Recommender), as merge fields.
func (db *DB) Recommend(ctx context.Context, customerID int64, n int) ([]content.Product, error) {
	recs, err := db.Recommendations(ctx, customerID, n)
	if err != nil {
		return nil, err
	}
	out := make([]content.Product, len(recs))
	for i, r := range recs {
		out[i] = content.Product{SKU: r.SKU, Name: r.Name, Price: r.Price, URL: r.URL, ImageURL: r.ImageURL}
	}
	return out, nil
}
