package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
)

const dayMS = 24 * 3600 * 1000

// ScanScheduled enrolls the customers a date-driven trigger matches on a
// Tokyo day, and records the day as scanned, in one transaction. A day
// already scanned (by this or another process) enrolls nobody.
func (db *DB) ScanScheduled(ctx context.Context, j *journey.Journey, day time.Time) (int, error) {
	d := tokyoDay(day)
	n := 0
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		if _, err := tx.ExecContext(ctx, `UPDATE journeys SET updated_at = updated_at WHERE id = $1`, j.ID); err != nil {
			return err
		}
		var scanned int64
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT scan_day, status FROM journeys WHERE id = $1`, j.ID).Scan(&scanned, &status); err != nil {
			return notFound(err, "journey", j.ID)
		}
		if scanned >= d || status != journey.Enabled {
			return nil
		}
		cands, err := db.scheduledCandidates(ctx, tx, j, dayFromNumber(d))
		if err != nil {
			return err
		}
		now := db.Clock.Now()
		if n, err = db.enrollTx(ctx, tx, j, cands, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE journeys SET scan_day = $1 WHERE id = $2`, d, j.ID)
		return err
	})
	return n, err
}

// scheduledCandidates finds who a scheduled trigger matches on day
// (midnight in Tokyo).
func (db *DB) scheduledCandidates(ctx context.Context, tx *Tx, j *journey.Journey, day time.Time) ([]journey.Candidate, error) {
	t := j.Trigger
	date := day.In(clock.Tokyo).Format("2006-01-02")
	target := day.AddDate(0, 0, -t.OffsetDays) // the date counted from: offset -3 fires 3 days before it
	var q string
	var args []any
	trigger := map[string]any{"type": t.Type, "date": date}
	keyOf := func(cid int64, extra string) string {
		return "day:" + date + ":" + strconv.FormatInt(cid, 10) + extra
	}
	switch t.Type {
	case journey.TriggerDate:
		switch t.Date {
		case "birthday":
			md := []any{target.Format("01-02")}
			if target.Format("01-02") == "02-28" && !isLeap(target.Year()) {
				md = append(md, "02-29") // leap-day birthdays are kept on the 28th
			}
			cond, inArgs := db.Dialect.InList("substr(birthday, 6, 5)", 1, md)
			q, args = `SELECT id FROM customers WHERE status = 'active' AND length(birthday) = 10 AND `+cond, inArgs
		case "first_order", "signup":
			col := "first_order_at"
			if t.Date == "signup" {
				col = "created_at"
			}
			// Anniversaries: the same month and day in an earlier year.
			var ranges []string
			for y := target.Year() - 1; y >= target.Year()-30; y-- {
				d := time.Date(y, target.Month(), target.Day(), 0, 0, 0, 0, clock.Tokyo)
				if d.Month() != target.Month() {
					continue // 29 February in a year without it
				}
				args = append(args, ms(d), ms(d)+dayMS)
				ranges = append(ranges, fmt.Sprintf("(%s >= $%d AND %s < $%d)", col, len(args)-1, col, len(args)))
			}
			q = `SELECT id FROM customers WHERE status = 'active' AND (` + strings.Join(ranges, " OR ") + `)`
		case "attribute":
			expr := db.Dialect.JSONText("attributes", "$1")
			if t.Annual {
				q, args = `SELECT id FROM customers WHERE status = 'active' AND substr(`+expr+`, 6, 5) = $2 AND `+expr+` < $3`,
					[]any{t.Attribute, target.Format("01-02"), target.Format("2006-01-02")}
			} else {
				q, args = `SELECT id FROM customers WHERE status = 'active' AND `+expr+` = $2`, []any{t.Attribute, target.Format("2006-01-02")}
			}
		}
	case journey.TriggerDaysSinceOrder:
		from := day.AddDate(0, 0, -t.Days)
		q, args = `SELECT id FROM customers WHERE status = 'active' AND last_order_at >= $1 AND last_order_at < $2`, []any{ms(from), ms(from) + dayMS}
		trigger["days"] = t.Days
	case journey.TriggerDaysSinceEvent:
		from := day.AddDate(0, 0, -t.Days)
		q, args = `SELECT DISTINCT e.customer_id FROM events e WHERE e.name = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3
			AND e.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM events l WHERE l.customer_id = e.customer_id AND l.name = $1 AND l.occurred_at >= $3)`,
			[]any{t.Event, ms(from), ms(from) + dayMS}
		trigger["event"], trigger["days"] = t.Event, t.Days
	case journey.TriggerReplenishment:
		return db.replenishmentCandidates(ctx, tx, j, day, date)
	case journey.TriggerCouponUnused:
		return db.couponUnusedCandidates(ctx, tx, j, day, date)
	default:
		return nil, errs.Errorf(errs.Invalid, "trigger %s is not scheduled", t.Type)
	}
	ids, err := queryIDs(ctx, tx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", t.Type, err)
	}
	trig := journey.Context{Trigger: trigger}.JSON()
	cands := make([]journey.Candidate, len(ids))
	for i, id := range ids {
		cands[i] = journey.Candidate{CustomerID: id, Key: keyOf(id, ""), TriggerJSON: trig}
	}
	return cands, nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// replenishmentCandidates: customers whose last purchase of a product with
// a replenishment cycle (products.replenishment_days, else the cycle
// analytics learned in product_stats) was cycle − lead days before day,
// with no purchase of it since.
func (db *DB) replenishmentCandidates(ctx context.Context, tx *Tx, j *journey.Journey, day time.Time, date string) ([]journey.Candidate, error) {
	lead := int64(j.Trigger.LeadDays)
	// A product's cycle: set by the shop, else learned by analytics
	// (product_stats, the median days between repeat purchases).
	const cycle = `COALESCE(NULLIF(p.replenishment_days, 0), ps.median_days, 0)`
	var maxCycle int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(`+cycle+`), 0) FROM products p LEFT JOIN product_stats ps ON ps.sku = p.sku`).Scan(&maxCycle); err != nil {
		return nil, err
	}
	if maxCycle == 0 {
		return nil, nil
	}
	d := ms(day)
	rows, err := tx.QueryContext(ctx, `SELECT o.customer_id, l.sku, max(p.name), `+cycle+`, max(o.ordered_at)
		FROM orders o JOIN order_lines l ON l.order_id = o.id JOIN products p ON p.sku = l.sku LEFT JOIN product_stats ps ON ps.sku = p.sku
		WHERE o.status = 'paid' AND `+cycle+` > 0 AND o.ordered_at >= $1
		GROUP BY o.customer_id, l.sku, `+cycle+`
		HAVING max(o.ordered_at) >= $2 - (`+cycle+` - $3) * $4 AND max(o.ordered_at) < $2 - (`+cycle+` - $3 - 1) * $4
		ORDER BY o.customer_id, l.sku`, d-(maxCycle+1)*dayMS, d, lead, int64(dayMS))
	if err != nil {
		return nil, fmt.Errorf("scan replenishment: %w", err)
	}
	defer rows.Close()
	var out []journey.Candidate
	for rows.Next() {
		var cid, cycle, last int64
		var sku, name string
		if err := rows.Scan(&cid, &sku, &name, &cycle, &last); err != nil {
			return nil, err
		}
		out = append(out, journey.Candidate{CustomerID: cid, Key: "replenish:" + sku + ":" + date + ":" + strconv.FormatInt(cid, 10),
			Trigger: map[string]any{"type": journey.TriggerReplenishment, "sku": sku, "product_name": name, "cycle_days": cycle,
				"last_bought_at": fromMS(last).Format(time.RFC3339)}})
	}
	return out, rows.Err()
}

// couponUnusedCandidates: coupons issued (loyalty's "Coupon Issued"
// events) exactly N days before day whose code no paid order used since.
func (db *DB) couponUnusedCandidates(ctx context.Context, tx *Tx, j *journey.Journey, day time.Time, date string) ([]journey.Candidate, error) {
	from := ms(day.AddDate(0, 0, -j.Trigger.Days))
	code := db.Dialect.JSONText("e.properties", "$4")
	rows, err := tx.QueryContext(ctx, `SELECT e.id, e.customer_id, COALESCE(`+code+`, '') FROM events e
		WHERE e.name = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND e.customer_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = e.customer_id AND o.status = 'paid' AND o.coupon_code <> ''
			AND o.coupon_code = COALESCE(`+code+`, '') AND o.ordered_at >= e.occurred_at)
		ORDER BY e.id`, journey.EventCouponIssued, from, from+dayMS, "code")
	if err != nil {
		return nil, fmt.Errorf("scan unused coupons: %w", err)
	}
	defer rows.Close()
	var out []journey.Candidate
	for rows.Next() {
		var eid, cid int64
		var c string
		if err := rows.Scan(&eid, &cid, &c); err != nil {
			return nil, err
		}
		out = append(out, journey.Candidate{CustomerID: cid, Key: "coupon:" + strconv.FormatInt(eid, 10),
			Trigger: map[string]any{"type": journey.TriggerCouponUnused, "coupon_code": c, "event_id": eid, "days": j.Trigger.Days}})
	}
	return out, rows.Err()
}

// Product signal kinds.
const (
	SignalBackInStock = "back_in_stock"
	SignalPriceDrop   = "price_drop"
)

// RecordProductSignal records a product event for journeys.
func (db *DB) RecordProductSignal(ctx context.Context, sku, kind string, oldPrice, newPrice int64) (int64, error) {
	if kind != SignalBackInStock && kind != SignalPriceDrop {
		return 0, errs.FieldErrorf("kind", "back_in_stock or price_drop")
	}
	if _, err := db.Product(ctx, sku); err != nil {
		return 0, err
	}
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO product_signals (sku, kind, old_price, new_price, at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		sku, kind, oldPrice, newPrice, ms(db.Clock.Now())).Scan(&id)
	if err == nil {
		db.notifyChanged()
	}
	return id, err
}

// EnrollProductSignals enrolls, for each unprocessed product signal, the
// customers who favorited the product within the journey's window (and did
// not buy it since) into the journeys listening to that kind of signal,
// then marks the signal processed, in one transaction per signal.
func (db *DB) EnrollProductSignals(ctx context.Context, js []journey.Journey) (int, error) {
	total := 0
	for {
		did := false
		err := db.inTx(ctx, func(tx *Tx) error {
			var id, oldPrice, newPrice, at int64
			var sku, kind string
			err := tx.QueryRowContext(ctx, `SELECT id, sku, kind, old_price, new_price, at FROM product_signals WHERE processed_at IS NULL
				ORDER BY id LIMIT 1`+db.Dialect.SkipLocked()).Scan(&id, &sku, &kind, &oldPrice, &newPrice, &at)
			if isNoRows(err) {
				return nil
			}
			if err != nil {
				return err
			}
			did = true
			now := db.Clock.Now()
			name := ""
			_ = tx.QueryRowContext(ctx, `SELECT name FROM products WHERE sku = $1`, sku).Scan(&name)
			for i := range js {
				j := &js[i]
				if j.Trigger.Type != kind {
					continue
				}
				since := ms(now.AddDate(0, 0, -j.Trigger.WithinDays))
				ids, err := queryIDs(ctx, tx, `SELECT DISTINCT e.customer_id FROM events e WHERE e.name = $1 AND e.sku = $2 AND e.occurred_at >= $3
					AND e.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders o JOIN order_lines l ON l.order_id = o.id
						WHERE o.customer_id = e.customer_id AND o.status = 'paid' AND l.sku = $2 AND o.ordered_at >= e.occurred_at)
					ORDER BY e.customer_id`, journey.EventFavorited, sku, since)
				if err != nil {
					return err
				}
				cands := make([]journey.Candidate, len(ids))
				for k, cid := range ids {
					cands[k] = journey.Candidate{CustomerID: cid, Key: "product:" + strconv.FormatInt(id, 10) + ":" + strconv.FormatInt(cid, 10),
						Trigger: map[string]any{"type": kind, "sku": sku, "product_name": name, "old_price": oldPrice, "new_price": newPrice}}
				}
				n, err := db.enrollTx(ctx, tx, j, cands, now)
				if err != nil {
					return err
				}
				total += n
			}
			_, err = tx.ExecContext(ctx, `UPDATE product_signals SET processed_at = $1 WHERE id = $2`, ms(now), id)
			return err
		})
		if err != nil || !did {
			return total, err
		}
	}
}
