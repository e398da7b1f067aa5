package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// SubscriptionStore keeps subscription contracts (定期購入), their
// deliveries and history, and computes the subscription reports and the
// cancellation-risk scores.
type SubscriptionStore interface {
	// ImportSubscriptions applies contract updates (import rows, webhook
	// events) in one transaction: new contracts are filed under their
	// subscriber (identity resolution), known ones updated, and what
	// happened (skips, pauses, cancellations, deliveries) recorded in the
	// history and as events on the customer's timeline. Applying the same
	// update again changes nothing.
	ImportSubscriptions(ctx context.Context, ups []subscription.Update) (BatchResult, error)
	Subscription(ctx context.Context, id int64) (*SubscriptionDetail, error)
	ListSubscriptions(ctx context.Context, q SubscriptionQuery) ([]subscription.Contract, int, error)
	CustomerSubscriptions(ctx context.Context, customerID int64) ([]subscription.Contract, error)

	// Trigger queries for journeys (docs/subscriptions.md).
	SubscriptionsDue(ctx context.Context, daysBefore int) ([]SubscriptionHit, error)
	SubscriptionsCancelledDaysAgo(ctx context.Context, days int) ([]SubscriptionHit, error)
	SubscriptionsAtDelivery(ctx context.Context, deliveries int) ([]SubscriptionHit, error)

	SubscriptionRetention(ctx context.Context, opt subscription.RetentionOptions) (*subscription.RetentionReport, error)
	SubscriptionCancellations(ctx context.Context, opt subscription.CancellationOptions) (*subscription.CancellationReport, error)
	SubscriptionMRR(ctx context.Context, from, to int) (*subscription.MRRReport, error)

	// RefreshSubscriptionRisk fits the cancellation-risk model on the
	// shop's history and scores every live contract.
	RefreshSubscriptionRisk(ctx context.Context) (*RiskRefresh, error)
	SubscriptionRiskModel(ctx context.Context) (*subscription.Model, error)
}

// SubscriptionDetail is a contract with its deliveries and history.
type SubscriptionDetail struct {
	subscription.Contract
	DeliveryList []subscription.Delivery `json:"delivery_list"`
	History      []subscription.Change   `json:"history"`
}

// SubscriptionQuery selects contracts for a list.
type SubscriptionQuery struct {
	Status     string // one status, or "live" (not cancelled); "" all
	CustomerID int64
	SKU        string
	Plan       string
	RiskTier   string // high | medium | low
	Limit      int
	Offset     int
}

// SubscriptionHit is a contract a trigger query found.
type SubscriptionHit struct {
	CustomerID     int64      `json:"customer_id"`
	SubscriptionID int64      `json:"subscription_id"`
	ExternalID     string     `json:"external_id"`
	SKU            string     `json:"sku"`
	ProductName    string     `json:"product_name"`
	Status         string     `json:"status"`
	Deliveries     int        `json:"deliveries"`
	NextDeliveryAt *time.Time `json:"next_delivery_at,omitempty"`
	CancelledAt    *time.Time `json:"cancelled_at,omitempty"`
	CancelReason   string     `json:"cancel_reason,omitempty"`
}

const subCols = `id, source, external_id, customer_id, origin_customer_id, sku, product_name, plan, cycle_unit, cycle_count, quantity, price,
	status, started_at, next_delivery_at, stated_deliveries, deliveries, skips, pauses, cancelled_at, cancel_reason, inferred,
	cancel_risk, risk_tier, risk_reasons, risk_at, created_at, updated_at`

// subRow is a stored contract with what the writer needs beside it.
type subRow struct {
	c         subscription.Contract
	origin    int64
	stated    int
	linkedMax int // highest delivery number linked
}

func scanSub(r rowScanner, extra ...any) (*subRow, error) {
	var (
		s                         subRow
		unit, status, reasons     string
		started, created, updated int64
		next, cancelled, riskAt   sql.NullInt64
		risk                      sql.NullFloat64
		tier                      string
	)
	c := &s.c
	dest := []any{&c.ID, &c.Source, &c.ExternalID, &c.CustomerID, &s.origin, &c.SKU, &c.ProductName, &c.Plan, &unit, &c.Cycle.Count,
		&c.Quantity, &c.Price, &status, &started, &next, &s.stated, &c.Deliveries, &c.Skips, &c.Pauses, &cancelled, &c.CancelReason,
		&c.Inferred, &risk, &tier, &reasons, &riskAt, &created, &updated}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	c.Cycle.Unit, c.Status = subscription.Unit(unit), subscription.Status(status)
	c.StartedAt, c.CreatedAt, c.UpdatedAt = fromMS(started), fromMS(created), fromMS(updated)
	c.NextDeliveryAt, c.CancelledAt = fromNullMS(next), fromNullMS(cancelled)
	if risk.Valid && c.Status.Live() {
		c.Risk = &subscription.Risk{Probability: risk.Float64, Tier: tier, Reasons: []subscription.Reason{}}
		_ = json.Unmarshal([]byte(reasons), &c.Risk.Reasons)
		if riskAt.Valid {
			c.Risk.ComputedAt = fromMS(riskAt.Int64)
		}
	}
	return &s, nil
}

// subWriter applies updates inside one transaction.
type subWriter struct {
	db   *DB
	tx   *Tx
	r    *resolver
	now  time.Time
	seen map[string]*subRow // by source + "\x00" + external id
	res  *BatchResult
}

func subKey(source, ext string) string { return source + "\x00" + ext }

// ImportSubscriptions applies contract updates (see SubscriptionStore).
func (db *DB) ImportSubscriptions(ctx context.Context, ups []subscription.Update) (BatchResult, error) {
	var res BatchResult
	var r *resolver
	var w *subWriter
	err := db.inTx(ctx, func(tx *Tx) error {
		res = BatchResult{CustomerIDs: make([]int64, len(ups))}
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		var buyers []*customer.Record
		for i := range ups {
			if !ups[i].Buyer.Empty() {
				buyers = append(buyers, &ups[i].Buyer)
			}
		}
		if err := r.prefetch(ctx, buyers); err != nil {
			return err
		}
		w = &subWriter{db: db, tx: tx, r: r, now: db.Clock.Now(), seen: map[string]*subRow{}, res: &res}
		if err := w.load(ctx, ups); err != nil {
			return err
		}
		for i := range ups {
			cid, err := w.apply(ctx, &ups[i], 0, 0, len(ups)-i)
			if err != nil {
				return err
			}
			res.CustomerIDs[i] = cid
		}
		if err := r.finish(ctx); err != nil {
			return err
		}
		for i, id := range res.CustomerIDs {
			res.CustomerIDs[i] = r.current(id)
		}
		res.NewCustomers, res.Merges, res.Candidates, res.Suppressed = r.result.NewCustomers, r.result.Merges, r.result.Candidates, r.result.Suppressed
		if res.Inserted+res.Updated == 0 {
			return nil
		}
		return db.markChanged(ctx, tx, res.CustomerIDs, w.now)
	})
	if err != nil {
		return BatchResult{}, err
	}
	r.committed()
	if res.Inserted+res.Updated > 0 {
		db.notifyChanged()
	}
	return res, nil
}

// load reads the stored contracts the updates name.
func (w *subWriter) load(ctx context.Context, ups []subscription.Update) error {
	bySource := map[string][]any{}
	for _, u := range ups {
		bySource[u.Source] = append(bySource[u.Source], u.ExternalID)
	}
	for src, ext := range bySource {
		err := w.db.chunk(len(ext), 1, func(lo, hi int) error {
			cond, args := w.db.Dialect.InList("external_id", 2, ext[lo:hi])
			rows, err := w.tx.QueryContext(ctx, `SELECT `+subCols+`, (SELECT coalesce(max(number), 0) FROM subscription_deliveries d WHERE d.subscription_id = s.id)
				FROM subscriptions s WHERE source = $1 AND `+cond, append([]any{src}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var lm int
				s, err := scanSub(rows, &lm)
				if err != nil {
					return err
				}
				s.linkedMax = lm
				w.seen[subKey(s.c.Source, s.c.ExternalID)] = s
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("look up subscriptions: %w", err)
		}
	}
	return nil
}

// pendingChange is a change to record, with its idempotence key.
type pendingChange struct {
	subscription.Change
	key string
}

// apply applies one update. cust and origin, when set, are the subscriber
// already resolved (a delivery order's buyer); otherwise u.Buyer is.
func (w *subWriter) apply(ctx context.Context, u *subscription.Update, cust, origin int64, remaining int) (int64, error) {
	u.Source, u.ExternalID = strings.TrimSpace(u.Source), strings.TrimSpace(u.ExternalID)
	if u.Source == "" {
		return 0, errs.FieldErrorf("source", "a subscription needs the source it comes from")
	}
	if u.ExternalID == "" {
		return 0, errs.FieldErrorf("subscription_id", "required")
	}
	if u.At.IsZero() {
		u.At = w.now
	}
	if u.EventID != "" {
		var one int
		err := w.tx.queryRowCached(ctx, w.db, `SELECT 1 FROM subscription_webhook_events WHERE source = $1 AND event_id = $2`, u.Source, u.EventID).Scan(&one)
		if err == nil {
			w.res.Unchanged++
			if s := w.seen[subKey(u.Source, u.ExternalID)]; s != nil {
				return s.c.CustomerID, nil
			}
			return 0, nil
		}
		if !isNoRows(err) {
			return 0, err
		}
	}
	row := w.seen[subKey(u.Source, u.ExternalID)]
	isNew := row == nil
	var old subscription.Contract
	if isNew {
		row = &subRow{c: subscription.Contract{Source: u.Source, ExternalID: u.ExternalID}}
	} else {
		old = row.c
	}
	c := row.c
	if !u.Buyer.Empty() {
		if u.Buyer.SeenAt.IsZero() {
			u.Buyer.SeenAt = u.At
			if u.StartedAt != nil {
				u.Buyer.SeenAt = *u.StartedAt
			}
		}
		id, org, err := w.r.resolve(ctx, &u.Buyer, remaining)
		if err != nil {
			return 0, fmt.Errorf("subscription %s: %w", u.ExternalID, err)
		}
		if cust == 0 {
			cust, origin = id, org
		}
	}
	if isNew {
		if cust == 0 {
			return 0, errs.Errorf(errs.Invalid, "subscription %s is new to enishi and names no customer (customer id, email or phone)", u.ExternalID)
		}
		c.CustomerID, row.origin = cust, origin
	}
	if u.OriginOrder != "" {
		if err := w.originOrder(ctx, u, &c); err != nil {
			return 0, err
		}
	}
	if isNew && u.StartedAt == nil && u.Delivery != nil {
		// A contract first seen through a delivery started with its first
		// delivery (one cycle before each later one).
		cy := subscription.Cycle{Unit: subscription.Months, Count: 1}
		if u.Cycle != nil {
			cy = *u.Cycle
		}
		st := cy.Add(u.Delivery.DeliveredAt, -(max(u.Delivery.Number, 1) - 1))
		u.StartedAt = &st
	}
	if u.Deliveries != nil {
		row.stated = *u.Deliveries
	}
	if err := u.Apply(&c); err != nil {
		return 0, fmt.Errorf("subscription %s: %w", u.ExternalID, err)
	}

	// What happened, by comparing before and after.
	var changes []pendingChange
	add := func(k subscription.ChangeKind, at time.Time, n int, reason, key string) {
		changes = append(changes, pendingChange{subscription.Change{Kind: k, At: at.UTC(), DeliveryNumber: n, Reason: reason}, key})
	}
	deliveries := max(row.stated, row.linkedMax)
	if isNew {
		add(subscription.Created, c.StartedAt, 0, "", "created")
	}
	if old.Status != c.Status {
		switch {
		case c.Status == subscription.Cancelled:
			at := *c.CancelledAt
			add(subscription.CancelledK, at, deliveries, c.CancelReason, "cancel:"+strconv.FormatInt(ms(at), 10))
		case old.Status == subscription.Cancelled:
			add(subscription.Reactivated, u.At, deliveries, "", "reactivate:"+strconv.FormatInt(ms(u.At), 10))
		case c.Status == subscription.Paused:
			add(subscription.PausedKind, u.At, deliveries, "", "pause:"+strconv.FormatInt(ms(u.At), 10))
		case old.Status == subscription.Paused:
			add(subscription.Resumed, u.At, deliveries, "", "resume:"+strconv.FormatInt(ms(u.At), 10))
		}
	}
	becameSkipped := c.Status == subscription.Skipped && old.Status != subscription.Skipped
	newSkips := c.Skips - old.Skips
	if isNew {
		newSkips = 0 // a new contract's stated skips happened before enishi knew it, at unknown times
	}
	if newSkips == 0 && (u.Kind == subscription.SkippedOne || becameSkipped) {
		c.Skips++
		newSkips = 1
	}
	for k := c.Skips - newSkips + 1; k <= c.Skips; k++ {
		add(subscription.SkippedOne, u.At, deliveries, "", "skip:"+strconv.Itoa(k))
	}
	if u.Kind == subscription.SkippedOne && u.NextDeliveryAt == nil && old.NextDeliveryAt != nil {
		next := c.Cycle.Next(*old.NextDeliveryAt)
		c.NextDeliveryAt = &next
	}
	if !isNew {
		for k := max(old.Deliveries, row.linkedMax) + 1; k <= row.stated; k++ {
			add(subscription.Delivered, u.At, k, "", "delivery:"+strconv.Itoa(k))
		}
	}
	if d := u.Delivery; d != nil {
		if d.Number == 0 {
			d.Number = row.linkedMax + 1
		}
		if d.Amount < 0 {
			d.Amount = c.Price
		}
		add(subscription.Delivered, d.DeliveredAt, d.Number, "", "delivery:"+strconv.Itoa(d.Number))
		if c.Status.Live() && u.NextDeliveryAt == nil && d.Number >= deliveries {
			next := c.Cycle.Next(d.DeliveredAt)
			if c.NextDeliveryAt == nil || next.After(*c.NextDeliveryAt) {
				c.NextDeliveryAt = &next
			}
		}
	}
	if c.Status == subscription.Cancelled {
		c.NextDeliveryAt = nil
	}

	// Write the contract, its delivery, its history.
	changed := isNew || !sameContract(&old, &c)
	if isNew {
		c.CreatedAt = w.now
	}
	if changed {
		c.UpdatedAt = w.now
	}
	if err := w.writeContract(ctx, row, &c, isNew); err != nil {
		return 0, fmt.Errorf("subscription %s: %w", u.ExternalID, err)
	}
	if d := u.Delivery; d != nil {
		if err := w.writeDelivery(ctx, c.ID, d); err != nil {
			return 0, err
		}
		row.linkedMax = max(row.linkedMax, d.Number)
		changed = true
	}
	if u.Delivery != nil || (u.Deliveries != nil && !isNew) || isNew {
		if err := w.db.refreshSubscriptionCounts(ctx, w.tx, c.ID, &c); err != nil {
			return 0, err
		}
	}
	for _, ch := range changes {
		inserted, err := w.writeChange(ctx, &c, row.origin, ch)
		if err != nil {
			return 0, err
		}
		if inserted {
			changed = true
			if ch.Kind == subscription.PausedKind {
				c.Pauses++
				if _, err := w.tx.execCachedArgs(ctx, w.db, `UPDATE subscriptions SET pauses = pauses + 1 WHERE id = $1`, c.ID); err != nil {
					return 0, err
				}
			}
		}
	}
	if u.EventID != "" {
		if _, err := w.tx.execCachedArgs(ctx, w.db, `INSERT INTO subscription_webhook_events (source, event_id, applied_at) VALUES ($1, $2, $3)
			ON CONFLICT (source, event_id) DO NOTHING`, u.Source, u.EventID, ms(w.now)); err != nil {
			return 0, err
		}
	}
	switch {
	case isNew:
		w.res.Inserted++
	case changed:
		w.res.Updated++
	default:
		w.res.Unchanged++
	}
	row.c = c
	w.seen[subKey(c.Source, c.ExternalID)] = row
	return c.CustomerID, nil
}

// sameContract reports whether the stored fields of two contracts agree.
func sameContract(a, b *subscription.Contract) bool {
	eqT := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	return a.SKU == b.SKU && a.ProductName == b.ProductName && a.Plan == b.Plan && a.Cycle == b.Cycle && a.Quantity == b.Quantity &&
		a.Price == b.Price && a.Status == b.Status && a.StartedAt.Equal(b.StartedAt) && eqT(a.NextDeliveryAt, b.NextDeliveryAt) &&
		a.Deliveries == b.Deliveries && a.Skips == b.Skips && eqT(a.CancelledAt, b.CancelledAt) && a.CancelReason == b.CancelReason &&
		a.Inferred == b.Inferred
}

// originOrder takes a contract's product and price from the order that
// started it, when the update does not say, and links it as delivery 1.
func (w *subWriter) originOrder(ctx context.Context, u *subscription.Update, c *subscription.Contract) error {
	var id, total, at int64
	err := w.tx.queryRowCached(ctx, w.db, `SELECT id, total, ordered_at FROM orders WHERE source = $1 AND external_id = $2`, u.Source, u.OriginOrder).
		Scan(&id, &total, &at)
	if isNoRows(err) {
		if c.SKU == "" && c.ProductName == "" && u.SKU == nil && u.ProductName == nil {
			// The origin order is not here (yet): a name until the cart or an
			// update says what is delivered.
			name := "定期契約 " + u.ExternalID
			u.ProductName = &name
		}
		return nil
	}
	if err != nil {
		return err
	}
	if c.SKU == "" && c.ProductName == "" && u.SKU == nil && u.ProductName == nil {
		var sku, name string
		var price int64
		err := w.tx.queryRowCached(ctx, w.db, `SELECT sku, product_name, unit_price FROM order_lines WHERE order_id = $1 ORDER BY line_no LIMIT 1`, id).
			Scan(&sku, &name, &price)
		if err != nil && !isNoRows(err) {
			return err
		}
		u.SKU, u.ProductName = &sku, &name
		if c.Price == 0 && u.Price == nil && price > 0 {
			u.Price = &price
		}
	}
	if c.Price == 0 && u.Price == nil {
		u.Price = &total
	}
	if u.Delivery == nil {
		u.Delivery = &subscription.Delivery{Number: 1, DeliveredAt: fromMS(at), Amount: total, OrderID: id}
		if u.StartedAt == nil && c.StartedAt.IsZero() {
			st := fromMS(at)
			u.StartedAt = &st
		}
	}
	return nil
}

func nextDay(t *time.Time) any {
	if t == nil {
		return nil
	}
	return int64(dayNumber(*t))
}

// dayNumber is the Tokyo day number of t (days since 1970-01-01 JST).
func dayNumber(t time.Time) int64 {
	v := ms(t) + 9*3_600_000
	d := v / 86_400_000
	if v%86_400_000 < 0 {
		d--
	}
	return d
}

func (w *subWriter) writeContract(ctx context.Context, row *subRow, c *subscription.Contract, isNew bool) error {
	args := []any{c.SKU, c.ProductName, c.Plan, string(c.Cycle.Unit), c.Cycle.Count, c.Quantity, c.Price, string(c.Status),
		ms(c.StartedAt), subscription.CohortMonth(c.StartedAt), msPtrP(c.NextDeliveryAt), nextDay(c.NextDeliveryAt), row.stated,
		c.Skips, msPtrP(c.CancelledAt), c.CancelReason, c.Inferred, ms(c.UpdatedAt)}
	if isNew {
		return w.tx.queryRowCached(ctx, w.db, `INSERT INTO subscriptions (sku, product_name, plan, cycle_unit, cycle_count, quantity, price, status,
			started_at, start_month, next_delivery_at, next_delivery_day, stated_deliveries, skips, cancelled_at, cancel_reason, inferred, updated_at,
			source, external_id, customer_id, origin_customer_id, deliveries, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $13, $23) RETURNING id`,
			append(args, c.Source, c.ExternalID, c.CustomerID, row.origin, ms(c.CreatedAt))...).Scan(&c.ID)
	}
	_, err := w.tx.execCachedArgs(ctx, w.db, `UPDATE subscriptions SET sku = $1, product_name = $2, plan = $3, cycle_unit = $4, cycle_count = $5, quantity = $6,
		price = $7, status = $8, started_at = $9, start_month = $10, next_delivery_at = $11, next_delivery_day = $12, stated_deliveries = $13,
		skips = $14, cancelled_at = $15, cancel_reason = $16, inferred = $17, updated_at = $18,
		deliveries = CASE WHEN deliveries > $13 THEN deliveries ELSE $13 END WHERE id = $19`, append(args, c.ID)...)
	return err
}

func (w *subWriter) writeDelivery(ctx context.Context, id int64, d *subscription.Delivery) error {
	var oid any
	if d.OrderID != 0 {
		oid = d.OrderID
	} else if d.OrderRef != "" {
		var total int64
		var found int64
		err := w.tx.queryRowCached(ctx, w.db, `SELECT o.id, o.total FROM orders o JOIN subscriptions s ON s.source = o.source
			WHERE s.id = $1 AND o.external_id = $2`, id, d.OrderRef).Scan(&found, &total)
		switch {
		case err == nil:
			oid, d.OrderID = found, found
		case !isNoRows(err):
			return err
		}
	}
	_, err := w.tx.execCachedArgs(ctx, w.db, `INSERT INTO subscription_deliveries (subscription_id, number, order_id, delivered_at, amount) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (subscription_id, number) DO UPDATE SET order_id = coalesce(excluded.order_id, subscription_deliveries.order_id),
		delivered_at = excluded.delivered_at, amount = excluded.amount`, id, d.Number, oid, ms(d.DeliveredAt), d.Amount)
	if err != nil {
		return fmt.Errorf("write delivery %d of subscription %d: %w", d.Number, id, err)
	}
	return nil
}

// refreshSubscriptionCounts recounts a contract's deliveries from its
// linked deliveries and what the cart stated, and reads them back into c.
func (db *DB) refreshSubscriptionCounts(ctx context.Context, tx *Tx, id int64, c *subscription.Contract) error {
	err := tx.queryRowCached(ctx, db, `UPDATE subscriptions SET deliveries = CASE WHEN d.mx > stated_deliveries THEN d.mx ELSE stated_deliveries END,
		delivered_count = d.n, delivered_amount = d.amount
		FROM (SELECT count(*) AS n, coalesce(max(number), 0) AS mx, coalesce(sum(amount), 0) AS amount FROM subscription_deliveries WHERE subscription_id = $1) AS d
		WHERE id = $1 RETURNING deliveries`, id).Scan(&c.Deliveries)
	if err != nil {
		return fmt.Errorf("recount deliveries of subscription %d: %w", id, err)
	}
	return nil
}

// writeChange records a change once (by its key) and, when new, the
// matching event on the customer's timeline. It reports whether it was new.
func (w *subWriter) writeChange(ctx context.Context, c *subscription.Contract, origin int64, ch pendingChange) (bool, error) {
	var id int64
	err := w.tx.queryRowCached(ctx, w.db, `INSERT INTO subscription_changes (subscription_id, customer_id, origin_customer_id, kind, at, delivery_number, reason, dedupe_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (subscription_id, dedupe_key) DO NOTHING RETURNING id`,
		c.ID, c.CustomerID, origin, string(ch.Kind), ms(ch.At), ch.DeliveryNumber, ch.Reason, ch.key).Scan(&id)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record subscription change: %w", err)
	}
	name := ch.Kind.EventName()
	if name == "" {
		return true, nil
	}
	props := map[string]any{"subscription_id": c.ExternalID, "subscription_source": c.Source, "sku": c.SKU, "product_name": c.ProductName,
		"plan": c.Plan, "delivery_number": ch.DeliveryNumber, "status": string(c.Status)}
	if ch.Reason != "" {
		props["reason"] = ch.Reason
	}
	if c.NextDeliveryAt != nil {
		props["next_delivery_at"] = c.NextDeliveryAt.Format(time.RFC3339)
	}
	b, _ := json.Marshal(props)
	_, err = w.tx.execCachedArgs(ctx, w.db, `INSERT INTO events (customer_id, origin_customer_id, anonymous_id, type, name, occurred_at, received_at, source, message_id, sku, properties)
		VALUES ($1, $2, '', 'track', $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source, message_id) DO NOTHING`,
		c.CustomerID, origin, name, ms(ch.At), ms(w.now), subscription.EventSource, fmt.Sprintf("sub:%d:%s", c.ID, ch.key), c.SKU, string(b))
	if err != nil {
		return false, fmt.Errorf("record subscription event: %w", err)
	}
	return true, nil
}

// linkOrderDeliveries files the orders of a batch that deliver a
// subscription (order.SubscriptionID) as its deliveries, creating the
// contract from the order when the cart has not reported it yet. A
// cancelled order is no delivery: its link is removed.
func (db *DB) linkOrderDeliveries(ctx context.Context, tx *Tx, r *resolver, orders []order.Order, upserts []int, origins []int64) error {
	var ups []int
	for _, i := range upserts {
		if orders[i].SubscriptionID != "" {
			ups = append(ups, i)
		}
	}
	if len(ups) == 0 {
		return nil
	}
	res := BatchResult{}
	w := &subWriter{db: db, tx: tx, r: r, now: db.Clock.Now(), seen: map[string]*subRow{}, res: &res}
	updates := make([]subscription.Update, len(ups))
	for j, i := range ups {
		updates[j] = subscription.Update{Source: orders[i].Source, ExternalID: orders[i].SubscriptionID}
	}
	if err := w.load(ctx, updates); err != nil {
		return err
	}
	for j, i := range ups {
		o := &orders[i]
		u := &updates[j]
		var linked sql.NullInt64
		var sid int64
		err := tx.queryRowCached(ctx, db, `SELECT subscription_id, number FROM subscription_deliveries WHERE order_id = $1`, o.ID).Scan(&sid, &linked)
		if err != nil && !isNoRows(err) {
			return err
		}
		if o.Status == order.Cancelled {
			if err == nil {
				if _, err := tx.ExecContext(ctx, `DELETE FROM subscription_deliveries WHERE order_id = $1`, o.ID); err != nil {
					return err
				}
				var c subscription.Contract
				if err := db.refreshSubscriptionCounts(ctx, tx, sid, &c); err != nil {
					return err
				}
				if s := w.seen[subKey(o.Source, o.SubscriptionID)]; s != nil {
					s.c.Deliveries = c.Deliveries
					s.linkedMax = 0
				}
			}
			continue
		}
		n := o.DeliveryNumber
		if n == 0 && linked.Valid {
			n = int(linked.Int64)
		}
		u.Kind, u.At = subscription.Delivered, o.OrderedAt
		u.Delivery = &subscription.Delivery{Number: n, DeliveredAt: o.OrderedAt, Amount: o.Total, OrderID: o.ID}
		if w.seen[subKey(o.Source, o.SubscriptionID)] == nil {
			// Not reported by the cart yet: the order says what it can.
			var sku, name string
			var price int64 = o.Total
			if len(o.Lines) > 0 {
				sku, name = o.Lines[0].SKU, o.Lines[0].ProductName
				if o.Lines[0].UnitPrice > 0 {
					price = o.Lines[0].UnitPrice * o.Lines[0].Quantity
				}
			}
			if sku == "" && name == "" {
				name = "定期便 " + o.SubscriptionID
			}
			cy := subscription.Cycle{Unit: subscription.Months, Count: 1}
			u.SKU, u.ProductName, u.Price, u.Cycle, u.Inferred = &sku, &name, &price, &cy, true
		}
		if _, err := w.apply(ctx, u, o.CustomerID, origins[i], 1); err != nil {
			return fmt.Errorf("order %s: %w", o.ExternalID, err)
		}
	}
	return nil
}

// queryRowCached runs a one-row query through a statement prepared once
// per transaction (see execCached): contract updates run the same few
// statements for every row of a batch.
func (tx *Tx) queryRowCached(ctx context.Context, db *DB, q string, args ...any) *sql.Row {
	q, args = db.Dialect.Rebind(q, args)
	if !db.Dialect.PrepareStatements() {
		return tx.Tx.QueryRowContext(ctx, q, args...)
	}
	st, ok := tx.stmts[q]
	if !ok {
		var err error
		if st, err = tx.Tx.PrepareContext(ctx, q); err != nil {
			return tx.Tx.QueryRowContext(ctx, q, args...) // reports the error through the row
		}
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[q] = st
	}
	return st.QueryRowContext(ctx, args...)
}

// execCachedArgs is execCached with variadic arguments.
func (tx *Tx) execCachedArgs(ctx context.Context, db *DB, q string, args ...any) (sql.Result, error) {
	return tx.execCached(ctx, db, q, args)
}
