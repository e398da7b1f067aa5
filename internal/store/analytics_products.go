package store

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
)

// RefreshProductStats recomputes what is learned per product: the
// replenishment cycle (median days between repeat purchases of the SKU by
// the same customer, same-day purchases merged) and the pairs of products
// bought in the same order (kept when at least two orders have both).
func (db *DB) RefreshProductStats(ctx context.Context) error {
	type stat struct {
		orders    int64
		intervals []int64
	}
	stats := map[string]*stat{}
	var cur *stat
	var curSKU string
	var lastCust, lastOrder int64 = -1, -1
	var lastDay analytics.Day
	// One SKU's lines at a time, by customer and time.
	err := db.queryEach(ctx, `SELECT l.sku, o.customer_id, o.id, o.ordered_at FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE o.status = 'paid' AND l.sku <> '' ORDER BY l.sku, o.customer_id, o.ordered_at, o.id`, nil,
		func(scan func(...any) error) error {
			var sku string
			var cust, oid, at int64
			if err := scan(&sku, &cust, &oid, &at); err != nil {
				return err
			}
			if cur == nil || sku != curSKU {
				cur = &stat{}
				stats[sku], curSKU, lastCust, lastOrder = cur, sku, -1, -1
			}
			if oid != lastOrder {
				cur.orders++
			}
			d := analytics.DayOfMS(at)
			if cust == lastCust && oid != lastOrder && d > lastDay {
				cur.intervals = append(cur.intervals, int64(d-lastDay))
			}
			if cust != lastCust || d > lastDay {
				lastDay = d
			}
			lastCust, lastOrder = cust, oid
			return nil
		})
	if err != nil {
		return fmt.Errorf("product cycles: %w", err)
	}
	skus := analytics.SortedKeys(stats)
	now := ms(db.Clock.Now())
	return db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM product_stats`); err != nil {
			return err
		}
		_, err := db.insertMany(ctx, tx, `INSERT INTO product_stats (sku, orders, intervals, median_days, computed_at)`, 5, "", len(skus),
			func(i int, args []any) []any {
				s := stats[skus[i]]
				slices.Sort(s.intervals)
				return append(args, skus[i], s.orders, int64(len(s.intervals)), analytics.Median(s.intervals), now)
			})
		if err != nil {
			return fmt.Errorf("write product stats: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM product_pairs`); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO product_pairs (sku_a, sku_b, orders)
			SELECT a.sku, b.sku, count(DISTINCT a.order_id) FROM order_lines a
			JOIN order_lines b ON b.order_id = a.order_id AND a.sku < b.sku
			JOIN orders o ON o.id = a.order_id
			WHERE o.status = 'paid' AND a.sku <> ''
			GROUP BY a.sku, b.sku HAVING count(DISTINCT a.order_id) >= 2`)
		if err != nil {
			return fmt.Errorf("write product pairs: %w", err)
		}
		return nil
	})
}

// cycleSQL gives each product its cycle: the merchant's replenishment_days,
// else the learned median once it rests on $1 intervals.
const cycleSQL = `SELECT p.sku, p.name, coalesce(s.intervals, 0) AS intervals, coalesce(s.median_days, 0) AS median_days, p.replenishment_days,
	CASE WHEN p.replenishment_days > 0 THEN p.replenishment_days WHEN coalesce(s.intervals, 0) >= $1 THEN s.median_days ELSE 0 END AS cycle
	FROM products p LEFT JOIN product_stats s ON s.sku = p.sku`

// Replenishment lists the products with a replenishment cycle.
func (db *DB) Replenishment(ctx context.Context, minIntervals int) (*analytics.ReplenishmentReport, error) {
	if minIntervals <= 0 {
		minIntervals = 5
	}
	rep := &analytics.ReplenishmentReport{MinIntervals: minIntervals, Products: []analytics.Cycle{}}
	err := db.queryEach(ctx, `SELECT * FROM (`+cycleSQL+`) c WHERE cycle > 0 ORDER BY intervals DESC, sku`, []any{minIntervals},
		func(scan func(...any) error) error {
			var c analytics.Cycle
			if err := scan(&c.SKU, &c.Name, &c.Intervals, &c.MedianDays, &c.SetDays, &c.CycleDays); err != nil {
				return err
			}
			rep.Products = append(rep.Products, c)
			return nil
		})
	return rep, err
}

// ReplenishmentDue lists customers whose last purchase of a product plus
// its cycle falls between as-of − overdue days and as-of + lead days.
func (db *DB) ReplenishmentDue(ctx context.Context, opt analytics.DueOptions) (*analytics.DueReport, error) {
	if opt.LeadDays < 0 || opt.OverdueDays < 0 {
		return nil, errs.FieldErrorf("lead", "lead and overdue days cannot be negative")
	}
	if opt.MinIntervals <= 0 {
		opt.MinIntervals = 5
	}
	if opt.Limit <= 0 {
		opt.Limit = 1000
	}
	rep := &analytics.DueReport{AsOf: opt.AsOf.String(), LeadDays: opt.LeadDays, OverdueDays: opt.OverdueDays, Due: []analytics.Due{}}
	err := db.queryEach(ctx, `SELECT o.customer_id, l.sku, c.name, max(o.ordered_at), c.cycle FROM order_lines l
		JOIN orders o ON o.id = l.order_id JOIN (`+cycleSQL+`) c ON c.sku = l.sku
		WHERE o.status = 'paid' AND c.cycle > 0 AND o.ordered_at < $2
		GROUP BY o.customer_id, l.sku, c.name, c.cycle`, []any{opt.MinIntervals, (opt.AsOf + 1).StartMS()},
		func(scan func(...any) error) error {
			var d analytics.Due
			var last int64
			if err := scan(&d.CustomerID, &d.SKU, &d.Name, &last, &d.CycleDays); err != nil {
				return err
			}
			lastDay := analytics.DayOfMS(last)
			due := lastDay + analytics.Day(d.CycleDays)
			d.DaysUntilDue = int64(due - opt.AsOf)
			if d.DaysUntilDue > int64(opt.LeadDays) || -d.DaysUntilDue > int64(opt.OverdueDays) {
				return nil
			}
			d.LastPurchase, d.DueDate = lastDay.String(), due.String()
			rep.Due = append(rep.Due, d)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("replenishment due: %w", err)
	}
	sort.Slice(rep.Due, func(i, j int) bool {
		a, b := rep.Due[i], rep.Due[j]
		if a.DaysUntilDue != b.DaysUntilDue {
			return a.DaysUntilDue < b.DaysUntilDue
		}
		if a.CustomerID != b.CustomerID {
			return a.CustomerID < b.CustomerID
		}
		return a.SKU < b.SKU
	})
	if len(rep.Due) > opt.Limit {
		rep.Due = rep.Due[:opt.Limit]
	}
	return rep, nil
}

// Recommendation weights: a product viewed but not bought scores
// viewedBase plus viewedPerView per view (up to five views), comparable
// to a co-purchase confidence of that size.
const (
	viewedBase    = 0.2
	viewedPerView = 0.1
	viewedDays    = 90
)

// Recommendations suggests products a customer has not bought: those often
// bought in the same order as what they bought (summing the confidence
// orders-with-both / orders-with-theirs over their products), and those
// they viewed in the last 90 days.
func (db *DB) Recommendations(ctx context.Context, customerID int64, limit int) ([]analytics.Recommendation, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	bought := map[string]bool{}
	err = db.queryEach(ctx, `SELECT DISTINCT l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE o.customer_id = $1 AND o.status = 'paid' AND l.sku <> ''`, []any{cid}, func(scan func(...any) error) error {
		var s string
		err := scan(&s)
		bought[s] = true
		return err
	})
	if err != nil {
		return nil, err
	}
	type cand struct {
		co, viewed float64
	}
	cands := map[string]*cand{}
	get := func(sku string) *cand {
		c := cands[sku]
		if c == nil {
			c = &cand{}
			cands[sku] = c
		}
		return c
	}
	skus := make([]any, 0, len(bought))
	for _, s := range analytics.SortedKeys(bought) {
		skus = append(skus, s)
	}
	err = db.chunk(len(skus), 2, func(lo, hi int) error {
		in := list(hi-lo, 1)
		return db.queryEach(ctx, `SELECT pp.sku_a, pp.sku_b, pp.orders, sa.orders, sb.orders FROM product_pairs pp
			JOIN product_stats sa ON sa.sku = pp.sku_a JOIN product_stats sb ON sb.sku = pp.sku_b
			WHERE pp.sku_a IN (`+in+`) OR pp.sku_b IN (`+in+`)`, skus[lo:hi], func(scan func(...any) error) error {
			var a, b string
			var n, na, nb int64
			if err := scan(&a, &b, &n, &na, &nb); err != nil {
				return err
			}
			if bought[a] && !bought[b] && na > 0 {
				get(b).co += float64(n) / float64(na)
			}
			if bought[b] && !bought[a] && nb > 0 {
				get(a).co += float64(n) / float64(nb)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("recommendations: co-purchases: %w", err)
	}
	since := ms(db.Clock.Now()) - viewedDays*86_400_000
	err = db.queryEach(ctx, `SELECT sku, count(*) FROM events WHERE customer_id = $1 AND name = $2 AND sku <> '' AND occurred_at >= $3 GROUP BY sku`,
		[]any{cid, event.ProductViewed, since}, func(scan func(...any) error) error {
			var s string
			var n int64
			if err := scan(&s, &n); err != nil {
				return err
			}
			if !bought[s] {
				get(s).viewed = viewedBase + viewedPerView*float64(min(n, 5))
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("recommendations: views: %w", err)
	}
	out := make([]analytics.Recommendation, 0, len(cands))
	for sku, c := range cands {
		r := analytics.Recommendation{SKU: sku, Score: c.co + c.viewed, Reason: "co_purchase"}
		if c.viewed > c.co {
			r.Reason = "viewed"
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].SKU < out[j].SKU
	})
	if len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		p, err := db.Product(ctx, out[i].SKU)
		if err == nil {
			out[i].Name, out[i].Price, out[i].URL, out[i].ImageURL = p.Name, p.Price, p.URL, p.ImageURL
		} else if !errs.Is(err, errs.NotFound) {
			return nil, err
		}
	}
	return out, nil
}
