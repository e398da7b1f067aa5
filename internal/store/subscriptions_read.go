package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// Subscription returns a contract with its deliveries and history.
func (db *DB) Subscription(ctx context.Context, id int64) (*SubscriptionDetail, error) {
	s, err := scanSub(db.Read.QueryRowContext(ctx, `SELECT `+subCols+` FROM subscriptions WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "subscription", id)
	}
	d := &SubscriptionDetail{Contract: s.c, DeliveryList: []subscription.Delivery{}, History: []subscription.Change{}}
	rows, err := db.Read.QueryContext(ctx, `SELECT d.number, d.delivered_at, d.amount, coalesce(d.order_id, 0), coalesce(o.external_id, '')
		FROM subscription_deliveries d LEFT JOIN orders o ON o.id = d.order_id WHERE d.subscription_id = $1 ORDER BY d.number`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var x subscription.Delivery
		var at int64
		if err := rows.Scan(&x.Number, &at, &x.Amount, &x.OrderID, &x.OrderRef); err != nil {
			rows.Close()
			return nil, err
		}
		x.DeliveredAt = fromMS(at)
		d.DeliveryList = append(d.DeliveryList, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT id, kind, at, delivery_number, reason FROM subscription_changes WHERE subscription_id = $1 ORDER BY at, id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		ch := subscription.Change{SubscriptionID: id}
		var kind string
		var at int64
		if err := rows.Scan(&ch.ID, &kind, &at, &ch.DeliveryNumber, &ch.Reason); err != nil {
			return nil, err
		}
		ch.Kind, ch.At = subscription.ChangeKind(kind), fromMS(at)
		d.History = append(d.History, ch)
	}
	return d, rows.Err()
}

// ListSubscriptions lists contracts, newest first.
func (db *DB) ListSubscriptions(ctx context.Context, q SubscriptionQuery) ([]subscription.Contract, int, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	var conds []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	switch q.Status {
	case "":
	case "live":
		conds = append(conds, "status <> 'cancelled'")
	default:
		if _, err := subscription.ParseStatus(q.Status); err != nil {
			return nil, 0, &errs.Error{Code: errs.Invalid, Field: "status", Message: errs.Message(err)}
		}
		st, _ := subscription.ParseStatus(q.Status)
		conds = append(conds, "status = "+arg(string(st)))
	}
	if q.CustomerID != 0 {
		cid, err := canonical(ctx, db.Read, q.CustomerID)
		if err != nil {
			return nil, 0, err
		}
		conds = append(conds, "customer_id = "+arg(cid))
	}
	if q.SKU != "" {
		conds = append(conds, "sku = "+arg(q.SKU))
	}
	if q.Plan != "" {
		conds = append(conds, "plan = "+arg(q.Plan))
	}
	switch q.RiskTier {
	case "":
	case subscription.TierHigh, subscription.TierMedium, subscription.TierLow:
		conds = append(conds, "status <> 'cancelled' AND risk_tier = "+arg(q.RiskTier))
	default:
		return nil, 0, errs.FieldErrorf("risk", "%q is not high, medium or low", q.RiskTier)
	}
	where := "1 = 1"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	var total int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM subscriptions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := "id DESC"
	if q.RiskTier != "" {
		order = "cancel_risk DESC, id"
	}
	lim, off := arg(limit), arg(max(q.Offset, 0))
	rows, err := db.Read.QueryContext(ctx, `SELECT `+subCols+` FROM subscriptions WHERE `+where+` ORDER BY `+order+` LIMIT `+lim+` OFFSET `+off, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []subscription.Contract{}
	for rows.Next() {
		s, err := scanSub(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, s.c)
	}
	return out, total, rows.Err()
}

// CustomerSubscriptions lists a customer's contracts (live first).
func (db *DB) CustomerSubscriptions(ctx context.Context, customerID int64) ([]subscription.Contract, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+subCols+` FROM subscriptions WHERE customer_id = $1
		ORDER BY CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END, started_at DESC, id DESC`, cid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []subscription.Contract{}
	for rows.Next() {
		s, err := scanSub(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s.c)
	}
	return out, rows.Err()
}

const hitCols = `customer_id, id, external_id, sku, product_name, status, deliveries, next_delivery_at, cancelled_at, cancel_reason`

func scanHits(rows *sql.Rows) ([]SubscriptionHit, error) {
	defer rows.Close()
	out := []SubscriptionHit{}
	for rows.Next() {
		var h SubscriptionHit
		var next, cancelled sql.NullInt64
		if err := rows.Scan(&h.CustomerID, &h.SubscriptionID, &h.ExternalID, &h.SKU, &h.ProductName, &h.Status, &h.Deliveries,
			&next, &cancelled, &h.CancelReason); err != nil {
			return nil, err
		}
		h.NextDeliveryAt, h.CancelledAt = fromNullMS(next), fromNullMS(cancelled)
		out = append(out, h)
	}
	return out, rows.Err()
}

// SubscriptionsDue lists live, unpaused contracts whose next delivery is
// daysBefore days from today (Asia/Tokyo): the "N days before the next
// delivery" trigger. A contract is found on exactly one day per scheduled
// delivery.
func (db *DB) SubscriptionsDue(ctx context.Context, daysBefore int) ([]SubscriptionHit, error) {
	if daysBefore < 0 || daysBefore > 365 {
		return nil, errs.FieldErrorf("days", "must be from 0 to 365")
	}
	day := dayNumber(db.Clock.Now()) + int64(daysBefore)
	rows, err := db.Read.QueryContext(ctx, `SELECT `+hitCols+` FROM subscriptions
		WHERE next_delivery_day = $1 AND status IN ('active', 'skipped') ORDER BY customer_id, id`, day)
	if err != nil {
		return nil, err
	}
	return scanHits(rows)
}

// SubscriptionsCancelledDaysAgo lists contracts cancelled on the Tokyo day
// days before today and still cancelled: the 定期解約から〇日 trigger.
func (db *DB) SubscriptionsCancelledDaysAgo(ctx context.Context, days int) ([]SubscriptionHit, error) {
	if days < 0 || days > 3650 {
		return nil, errs.FieldErrorf("days", "must be from 0 to 3650")
	}
	day := dayNumber(db.Clock.Now()) - int64(days)
	start := day*86_400_000 - 9*3_600_000
	rows, err := db.Read.QueryContext(ctx, `SELECT `+hitCols+` FROM subscriptions
		WHERE status = 'cancelled' AND cancelled_at >= $1 AND cancelled_at < $2 ORDER BY customer_id, id`, start, start+86_400_000)
	if err != nil {
		return nil, err
	}
	return scanHits(rows)
}

// SubscriptionsAtDelivery lists live contracts that have received exactly
// deliveries deliveries: with 1, the subscribers between their 1st and 2nd
// delivery (the 離脱防止 window before the 3rd is deliveries 1 and 2).
func (db *DB) SubscriptionsAtDelivery(ctx context.Context, deliveries int) ([]SubscriptionHit, error) {
	if deliveries < 0 || deliveries > 10000 {
		return nil, errs.FieldErrorf("deliveries", "must be from 0 to 10000")
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+hitCols+` FROM subscriptions
		WHERE deliveries = $1 AND status <> 'cancelled' ORDER BY customer_id, id`, deliveries)
	if err != nil {
		return nil, err
	}
	return scanHits(rows)
}

// subFilter builds the WHERE clause of the report queries.
func subFilter(from, to time.Time, col, sku, plan string) (string, []any) {
	conds := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	if !from.IsZero() {
		conds = append(conds, col+" >= "+arg(ms(from)))
	}
	if !to.IsZero() {
		conds = append(conds, col+" < "+arg(ms(to)))
	}
	if sku != "" {
		conds = append(conds, "sku = "+arg(sku))
	}
	if plan != "" {
		conds = append(conds, "plan = "+arg(plan))
	}
	return strings.Join(conds, " AND "), args
}

// SubscriptionRetention computes the retention (継続率) report.
func (db *DB) SubscriptionRetention(ctx context.Context, opt subscription.RetentionOptions) (*subscription.RetentionReport, error) {
	var key, label string
	switch opt.By {
	case "", subscription.ByCohort:
		opt.By, key, label = subscription.ByCohort, "CAST(start_month AS TEXT)", "''"
	case subscription.ByProduct:
		key, label = "sku", "max(product_name)"
	case subscription.ByPlan:
		key, label = "plan", "''"
	case subscription.ByNone:
		key, label = "''", "''"
	default:
		return nil, errs.FieldErrorf("by", "%q is not cohort, product, plan or none", opt.By)
	}
	if opt.MaxDelivery == 0 {
		opt.MaxDelivery = 12
	}
	if opt.MaxDelivery < 2 || opt.MaxDelivery > 120 {
		return nil, errs.FieldErrorf("deliveries", "must be from 2 to 120")
	}
	where, args := subFilter(opt.From, opt.To, "started_at", opt.SKU, opt.Plan)
	// Revenue: linked deliveries' amounts, plus price × the deliveries the
	// cart counted without an order.
	groupBy := "deliveries, CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END"
	if key != "''" {
		groupBy = key + ", " + groupBy
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+key+`, `+label+`, deliveries, CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END, count(*),
		sum(delivered_amount + (deliveries - delivered_count) * price), sum(price)
		FROM subscriptions WHERE `+where+` GROUP BY `+groupBy, args...)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	defer rows.Close()
	var cells []subscription.RetentionCell
	for rows.Next() {
		var c subscription.RetentionCell
		var cancelled int
		if err := rows.Scan(&c.Key, &c.Label, &c.Deliveries, &cancelled, &c.Count, &c.Revenue, &c.Price); err != nil {
			return nil, err
		}
		c.Cancelled = cancelled == 1
		if opt.By == subscription.ByCohort {
			var ym int
			fmt.Sscan(c.Key, &ym)
			c.Key = subscription.MonthLabel(ym)
		}
		cells = append(cells, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return subscription.BuildRetention(opt, cells), nil
}

// SubscriptionCancellations computes the cancellation report.
func (db *DB) SubscriptionCancellations(ctx context.Context, opt subscription.CancellationOptions) (*subscription.CancellationReport, error) {
	now := db.Clock.Now()
	if opt.To.IsZero() {
		opt.To = time.UnixMilli((dayNumber(now)+1)*86_400_000 - 9*3_600_000).UTC()
	}
	if opt.From.IsZero() {
		opt.From = opt.To.AddDate(0, 0, -90)
	}
	if !opt.From.Before(opt.To) {
		return nil, errs.FieldErrorf("from", "must be before to")
	}
	rep := &subscription.CancellationReport{From: opt.From.In(tokyoLoc).Format("2006-01-02"), To: opt.To.Add(-time.Millisecond).In(tokyoLoc).Format("2006-01-02")}
	where, args := subFilter(opt.From, opt.To, "cancelled_at", opt.SKU, opt.Plan)
	where = "status = 'cancelled' AND " + where
	rows, err := db.Read.QueryContext(ctx, `SELECT cancel_reason, count(*) FROM subscriptions WHERE `+where+` GROUP BY cancel_reason`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rc subscription.ReasonCount
		if err := rows.Scan(&rc.Reason, &rc.Count); err != nil {
			rows.Close()
			return nil, err
		}
		rep.Cancellations += rc.Count
		if rc.Reason == "" {
			rc.Reason = subscription.NoReason
		}
		rep.Reasons = append(rep.Reasons, rc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = db.Read.QueryContext(ctx, `SELECT deliveries, count(*) FROM subscriptions WHERE `+where+` GROUP BY deliveries`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var dc subscription.DeliveryCount
		if err := rows.Scan(&dc.Deliveries, &dc.Count); err != nil {
			rows.Close()
			return nil, err
		}
		rep.ByDelivery = append(rep.ByDelivery, dc)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Skips and deliveries in the period; subscribers live in it and who of
	// them skipped or paused. Without a product or plan filter, changes and
	// deliveries are counted without joining their contracts.
	sf, sargs := subFilter(time.Time{}, time.Time{}, "", opt.SKU, opt.Plan)
	n := len(sargs)
	p1, p2 := "$"+itoa(n+1), "$"+itoa(n+2)
	join, where := "", ""
	if opt.SKU != "" || opt.Plan != "" {
		join, where = " JOIN subscriptions s ON s.id = x.subscription_id", " AND "+prefixed(sf, "s.")
	}
	q := `SELECT
		(SELECT count(*) FROM subscription_changes x` + join + ` WHERE x.kind = 'skipped' AND x.at >= ` + p1 + ` AND x.at < ` + p2 + where + `),
		(SELECT count(*) FROM subscription_deliveries x` + join + ` WHERE x.delivered_at >= ` + p1 + ` AND x.delivered_at < ` + p2 + where + `),
		(SELECT count(*) FROM subscriptions s WHERE s.started_at < ` + p2 + ` AND (s.cancelled_at IS NULL OR s.cancelled_at >= ` + p1 + `) AND ` + prefixed(sf, "s.") + `),
		(SELECT count(DISTINCT x.subscription_id) FROM subscription_changes x` + join + ` WHERE x.kind = 'skipped' AND x.at >= ` + p1 + ` AND x.at < ` + p2 + where + `),
		(SELECT count(DISTINCT x.subscription_id) FROM subscription_changes x` + join + ` WHERE x.kind = 'paused' AND x.at >= ` + p1 + ` AND x.at < ` + p2 + where + `),
		(SELECT count(*) FROM subscriptions s WHERE s.status = 'paused' AND ` + prefixed(sf, "s.") + `)`
	err = db.Read.QueryRowContext(ctx, q, append(sargs, ms(opt.From), ms(opt.To))...).Scan(&rep.Skips, &rep.Deliveries, &rep.Subscribers, &rep.Skippers, &rep.Pausers, &rep.PausedNow)
	if err != nil {
		return nil, fmt.Errorf("skip and pause rates: %w", err)
	}
	subscription.FinishCancellations(rep, opt.Limit)
	return rep, nil
}

var tokyoLoc = time.FixedZone("JST", 9*3600)

// prefixed qualifies the sku/plan columns of a subFilter condition.
func prefixed(cond, p string) string {
	return strings.NewReplacer("sku =", p+"sku =", "plan =", p+"plan =").Replace(cond)
}

// SubscriptionMRR computes MRR and churn for months from..to (YYYYMM).
func (db *DB) SubscriptionMRR(ctx context.Context, from, to int) (*subscription.MRRReport, error) {
	if from > to {
		return nil, errs.FieldErrorf("from", "must not be after to")
	}
	if months := (to/100-from/100)*12 + to%100 - from%100; months > 120 {
		return nil, errs.FieldErrorf("from", "at most 120 months at a time")
	}
	end := subscription.MonthStart(subscription.NextMonth(to)).UnixMilli()
	var cs []subscription.MRRContract
	idx := map[int64]int{}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, price, cycle_unit, cycle_count, started_at, coalesce(cancelled_at, 0)
		FROM subscriptions WHERE started_at < $1 ORDER BY id`, end)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c subscription.MRRContract
		var unit string
		if err := rows.Scan(&c.ID, &c.Price, &unit, &c.Cycle.Count, &c.Started, &c.Cancelled); err != nil {
			rows.Close()
			return nil, err
		}
		c.Cycle.Unit = subscription.Unit(unit)
		idx[c.ID] = len(cs)
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Pause intervals from the history: a pause runs until the next resume,
	// reactivation or cancellation.
	rows, err = db.Read.QueryContext(ctx, `SELECT subscription_id, kind, at FROM subscription_changes
		WHERE kind IN ('paused', 'resumed', 'reactivated', 'cancelled') ORDER BY subscription_id, at, id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, at int64
		var kind string
		if err := rows.Scan(&id, &kind, &at); err != nil {
			rows.Close()
			return nil, err
		}
		i, ok := idx[id]
		if !ok {
			continue
		}
		c := &cs[i]
		open := len(c.Pauses) > 0 && c.Pauses[len(c.Pauses)-1][1] == 0
		switch {
		case kind == "paused" && !open:
			c.Pauses = append(c.Pauses, [2]int64{at, 0})
		case kind != "paused" && open:
			c.Pauses[len(c.Pauses)-1][1] = at
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Delivered revenue per month, summed by the database over each
	// month's range of the delivered_at index.
	revenue := map[int]int64{}
	for ym := from; ym <= to; ym = subscription.NextMonth(ym) {
		var sum int64
		if err := db.Read.QueryRowContext(ctx, `SELECT coalesce(sum(amount), 0) FROM subscription_deliveries WHERE delivered_at >= $1 AND delivered_at < $2`,
			subscription.MonthStart(ym).UnixMilli(), subscription.MonthStart(subscription.NextMonth(ym)).UnixMilli()).Scan(&sum); err != nil {
			return nil, err
		}
		revenue[ym] = sum
	}
	return subscription.BuildMRR(from, to, db.Clock.Now(), cs, revenue), nil
}
