package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/errs"
)

// fresh reports whether the stored summaries are current for as-of day
// asOf and the saved window: state at that day, same configuration, and
// nothing queued.
func (db *DB) fresh(ctx context.Context, asOf analytics.Day, window int) (*analyticsState, bool, error) {
	rc, cc, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return nil, false, err
	}
	st, err := db.loadState(ctx, db.Read)
	if err != nil || st == nil {
		return st, false, err
	}
	if st.day != asOf || !st.follows(rc, cc) || window != rc.WindowDays {
		return st, false, nil
	}
	var dirty int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM analytics_dirty LIMIT 1) d`).Scan(&dirty); err != nil {
		return st, false, err
	}
	return st, dirty == 0, nil
}

// eachSummary streams every customer's summary as of asOf with the given
// window: from customer_scores when they are fresh, else aggregated from
// orders. PurchaseDays and FirstDaySpent are only filled from the former.
func (db *DB) eachSummary(ctx context.Context, asOf analytics.Day, window int, fn func(analytics.Summary) error) error {
	_, ok, err := db.fresh(ctx, asOf, window)
	if err != nil {
		return err
	}
	var q string
	var args []any
	if ok {
		q = `SELECT customer_id, orders, spent, first_day, last_day, win_orders, win_spent FROM customer_scores ORDER BY customer_id`
	} else {
		q = `SELECT customer_id, count(*), sum(total), min(ordered_at), max(ordered_at),
			sum(CASE WHEN ordered_at >= $2 THEN 1 ELSE 0 END), sum(CASE WHEN ordered_at >= $2 THEN total ELSE 0 END)
			FROM orders WHERE status = 'paid' AND ordered_at < $1 GROUP BY customer_id ORDER BY customer_id`
		args = []any{(asOf + 1).StartMS(), (asOf - analytics.Day(window) + 1).StartMS()}
	}
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s analytics.Summary
		var first, last int64
		if err := rows.Scan(&s.CustomerID, &s.Orders, &s.Spent, &first, &last, &s.WinOrders, &s.WinSpent); err != nil {
			return err
		}
		if ok {
			s.FirstDay, s.LastDay = analytics.Day(first), analytics.Day(last)
		} else {
			s.FirstDay, s.LastDay = analytics.DayOfMS(first), analytics.DayOfMS(last)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

// RFM computes the RFM report as of opt.AsOf and streams each customer's
// scored row to each (which may be nil).
func (db *DB) RFM(ctx context.Context, opt RFMOptions, each func(analytics.RFMRow) error) (*analytics.RFMReport, error) {
	rc, _, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return nil, err
	}
	window := opt.WindowDays
	if window == 0 {
		window = rc.WindowDays
	}
	if window < 1 || window > 3660 {
		return nil, errs.FieldErrorf("window", "must be between 1 and 3660 days")
	}
	th := rc.Thresholds
	if opt.Thresholds != nil {
		th = *opt.Thresholds
	}
	seg := analytics.Segmenter(rc.Segments)
	var rep *analytics.RFMReport
	st, fresh, err := db.fresh(ctx, opt.AsOf, window)
	if err != nil {
		return nil, err
	}
	if fresh && th.Method == analytics.MethodFixed && sameThresholds(th, rc.Thresholds) {
		// The stored scores are this report. (Stored quintile cut points are
		// the ones of the day's first refresh; the report computes them anew.)
		rep = analytics.NewRFMReport(opt.AsOf.String(), window, st.thresholds, seg)
		if err := db.storedRFM(ctx, rep, opt.AsOf, each); err != nil {
			return nil, fmt.Errorf("rfm: %w", err)
		}
	} else {
		var facts []analytics.RFMFacts
		err = db.eachSummary(ctx, opt.AsOf, window, func(s analytics.Summary) error {
			facts = append(facts, s.Facts(opt.AsOf))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rfm: %w", err)
		}
		if th.Method == analytics.MethodQuintile && len(th.Recency) == 0 {
			th = quintilesOf(facts)
		}
		rep = analytics.NewRFMReport(opt.AsOf.String(), window, th, seg)
		for _, f := range facts {
			row := analytics.Score(f, th, seg)
			rep.Add(row)
			if each != nil {
				if err := each(row); err != nil {
					return nil, err
				}
			}
		}
	}
	var active int64
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE status = 'active' AND created_at < $1`,
		(opt.AsOf + 1).StartMS()).Scan(&active); err != nil {
		return nil, err
	}
	rep.Prospects = max(0, active-rep.Customers)
	return rep, nil
}

// storedRFM fills rep from the stored scores (current as of asOf): counted
// by segment and R×F alone when no rows are wanted (from the index on
// segment, r, f), else row by row.
func (db *DB) storedRFM(ctx context.Context, rep *analytics.RFMReport, asOf analytics.Day, each func(analytics.RFMRow) error) error {
	if each == nil {
		return db.queryEach(ctx, `SELECT segment, r, f, count(*) FROM customer_scores GROUP BY segment, r, f`, nil, func(scan func(...any) error) error {
			var seg string
			var r, f int
			var n int64
			if err := scan(&seg, &r, &f, &n); err != nil {
				return err
			}
			rep.AddCount(r, f, seg, n)
			return nil
		})
	}
	return db.queryEach(ctx, `SELECT customer_id, $1 - last_day, win_orders, win_spent, r, f, m, segment FROM customer_scores ORDER BY customer_id`,
		[]any{int64(asOf)}, func(scan func(...any) error) error {
			var row analytics.RFMRow
			if err := scan(&row.CustomerID, &row.RecencyDays, &row.Frequency, &row.Monetary, &row.R, &row.F, &row.M, &row.Segment); err != nil {
				return err
			}
			rep.Add(row)
			return each(row)
		})
}

func quintilesOf(facts []analytics.RFMFacts) analytics.Thresholds {
	r, f, m := make([]int64, len(facts)), make([]int64, len(facts)), make([]int64, len(facts))
	for i, x := range facts {
		r[i], f[i], m[i] = x.RecencyDays, x.Frequency, x.Monetary
	}
	return analytics.QuintileThresholds(r, f, m)
}

// RFMMovement counts customers by their segment at from and at to, with
// the saved window, thresholds and segments.
func (db *DB) RFMMovement(ctx context.Context, from, to analytics.Day) (*analytics.MovementReport, error) {
	if to <= from {
		return nil, errs.FieldErrorf("to", "must be after from")
	}
	rc, _, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return nil, err
	}
	w := analytics.Day(rc.WindowDays)
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id,
		max(CASE WHEN ordered_at < $1 THEN ordered_at END),
		sum(CASE WHEN ordered_at < $1 AND ordered_at >= $2 THEN 1 ELSE 0 END),
		sum(CASE WHEN ordered_at < $1 AND ordered_at >= $2 THEN total ELSE 0 END),
		max(ordered_at),
		sum(CASE WHEN ordered_at >= $4 THEN 1 ELSE 0 END),
		sum(CASE WHEN ordered_at >= $4 THEN total ELSE 0 END)
		FROM orders WHERE status = 'paid' AND ordered_at < $3 GROUP BY customer_id ORDER BY customer_id`,
		(from + 1).StartMS(), (from - w + 1).StartMS(), (to + 1).StartMS(), (to - w + 1).StartMS())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var a, b []analytics.RFMFacts
	var had []bool
	for rows.Next() {
		var cid, f1, m1, last2, f2, m2 int64
		var last1 *int64
		if err := rows.Scan(&cid, &last1, &f1, &m1, &last2, &f2, &m2); err != nil {
			return nil, err
		}
		fa := analytics.RFMFacts{CustomerID: cid, Frequency: f1, Monetary: m1}
		if last1 != nil {
			fa.RecencyDays = int64(from - analytics.DayOfMS(*last1))
		}
		a, had = append(a, fa), append(had, last1 != nil)
		b = append(b, analytics.RFMFacts{CustomerID: cid, RecencyDays: int64(to - analytics.DayOfMS(last2)), Frequency: f2, Monetary: m2})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	thA, thB := rc.Thresholds, rc.Thresholds
	if rc.Thresholds.Method == analytics.MethodQuintile {
		var known []analytics.RFMFacts
		for i := range a {
			if had[i] {
				known = append(known, a[i])
			}
		}
		thA, thB = quintilesOf(known), quintilesOf(b)
	}
	seg := analytics.Segmenter(rc.Segments)
	rep := analytics.NewMovementReport(from.String(), to.String(), rc.WindowDays, seg)
	for i := range b {
		sa := analytics.SegmentNone
		if had[i] {
			sa = analytics.Score(a[i], thA, seg).Segment
		}
		rep.Add(sa, analytics.Score(b[i], thB, seg).Segment)
	}
	return rep, nil
}

// CPM classifies every customer with a paid order by as-of into the ten
// CPM groups with the saved thresholds.
func (db *DB) CPM(ctx context.Context, asOf analytics.Day) (*analytics.CPMReport, error) {
	rc, cc, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return nil, err
	}
	rep := analytics.NewCPMReport(asOf.String(), cc)
	err = db.eachSummary(ctx, asOf, rc.WindowDays, func(s analytics.Summary) error {
		rep.Add(cc.Group(s.Orders, s.Spent, int64(s.LastDay-s.FirstDay), int64(asOf-s.LastDay)), s.Spent)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cpm: %w", err)
	}
	rep.Finish()
	return rep, nil
}

// Deciles ranks the customers who bought in the window by spend.
func (db *DB) Deciles(ctx context.Context, asOf analytics.Day, window int) (*analytics.DecileReport, error) {
	if window < 1 {
		return nil, errs.FieldErrorf("window", "must be at least 1 day")
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT sum(total) AS s FROM orders WHERE status = 'paid' AND ordered_at >= $1 AND ordered_at < $2
		GROUP BY customer_id ORDER BY s DESC`, (asOf - analytics.Day(window) + 1).StartMS(), (asOf + 1).StartMS())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var spends []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		spends = append(spends, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return analytics.Deciles(asOf.String(), window, spends), nil
}

// Cohorts builds the first-order-month cohort table.
func (db *DB) Cohorts(ctx context.Context, opt analytics.CohortOptions) (*analytics.CohortReport, error) {
	switch opt.Metric {
	case analytics.MetricRepeatRate, analytics.MetricRevenue, analytics.MetricLTV:
	default:
		return nil, errs.FieldErrorf("metric", "%q is not repeat_rate, revenue or ltv", opt.Metric)
	}
	if opt.Months < 1 || opt.Months > 120 {
		return nil, errs.FieldErrorf("months", "must be between 1 and 120")
	}
	rep := analytics.NewCohortReport(opt)
	err := db.eachCustomerPurchases(ctx, db.Read, `ordered_at < $1`, []any{(opt.AsOf + 1).StartMS()}, func(_ int64, ps []analytics.Purchase) error {
		rep.Add(ps)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cohort: %w", err)
	}
	rep.Finish()
	return rep, nil
}

// KPI computes the headline figures of a period.
func (db *DB) KPI(ctx context.Context, opt analytics.KPIOptions) (*analytics.KPIReport, error) {
	if opt.To < opt.From {
		return nil, errs.FieldErrorf("to", "must not be before from")
	}
	if opt.F2Days <= 0 {
		opt.F2Days = 90
	}
	if opt.Today == 0 {
		opt.Today = db.today()
	}
	rep := analytics.NewKPIReport(opt)
	// Orders after To matter only for F2 conversions.
	end := (opt.To + analytics.Day(opt.F2Days) + 1).StartMS()
	err := db.eachCustomerPurchases(ctx, db.Read, `ordered_at < $1`, []any{end}, func(cid int64, ps []analytics.Purchase) error {
		rep.Add(cid, ps)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kpi: %w", err)
	}
	rep.Finish()
	return rep, nil
}

// firstSecond ranks each customer's paid orders; n = 1 is the first.
const firstSecond = `WITH ranked AS (SELECT id, customer_id, ordered_at,
		ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at, id) AS n FROM orders WHERE status = 'paid'),
	firsts AS (SELECT DISTINCT r.customer_id, l.sku FROM ranked r JOIN order_lines l ON l.order_id = r.id
		WHERE r.n = 1 AND l.sku <> '' AND r.ordered_at >= $1 AND r.ordered_at < $2),
	seconds AS (SELECT DISTINCT r.customer_id, l.sku FROM ranked r JOIN order_lines l ON l.order_id = r.id WHERE r.n = 2 AND l.sku <> '')`

// Basket finds products bought together and first-to-second purchase paths.
func (db *DB) Basket(ctx context.Context, opt analytics.BasketOptions) (*analytics.BasketReport, error) {
	if opt.To < opt.From {
		return nil, errs.FieldErrorf("to", "must not be before from")
	}
	if opt.MinOrders <= 0 {
		opt.MinOrders = 2
	}
	if opt.Limit <= 0 {
		opt.Limit = 50
	}
	lo, hi := opt.From.StartMS(), (opt.To + 1).StartMS()
	rep := &analytics.BasketReport{From: opt.From.String(), To: opt.To.String(), Pairs: []analytics.Pair{}, Paths: []analytics.Path{}}
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE status = 'paid' AND ordered_at >= $1 AND ordered_at < $2`, lo, hi).
		Scan(&rep.Orders); err != nil {
		return nil, err
	}
	items := map[string]int64{}
	err := db.queryEach(ctx, `SELECT l.sku, count(DISTINCT l.order_id) FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE o.status = 'paid' AND o.ordered_at >= $1 AND o.ordered_at < $2 AND l.sku <> '' GROUP BY l.sku`, []any{lo, hi},
		func(scan func(...any) error) error {
			var sku string
			var n int64
			if err := scan(&sku, &n); err != nil {
				return err
			}
			items[sku] = n
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("basket items: %w", err)
	}
	err = db.queryEach(ctx, `SELECT a.sku, b.sku, count(DISTINCT a.order_id) AS n FROM order_lines a
		JOIN order_lines b ON b.order_id = a.order_id AND a.sku < b.sku
		JOIN orders o ON o.id = a.order_id
		WHERE o.status = 'paid' AND o.ordered_at >= $1 AND o.ordered_at < $2 AND a.sku <> ''
		GROUP BY a.sku, b.sku HAVING count(DISTINCT a.order_id) >= $3 ORDER BY n DESC, a.sku, b.sku LIMIT $4`,
		[]any{lo, hi, opt.MinOrders, opt.Limit}, func(scan func(...any) error) error {
			var p analytics.Pair
			if err := scan(&p.A, &p.B, &p.Orders); err != nil {
				return err
			}
			p.Support = float64(p.Orders) / float64(rep.Orders)
			p.Confidence = float64(p.Orders) / float64(items[p.A])
			p.ConfidenceBA = float64(p.Orders) / float64(items[p.B])
			p.Lift = p.Confidence / (float64(items[p.B]) / float64(rep.Orders))
			rep.Pairs = append(rep.Pairs, p)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("basket pairs: %w", err)
	}
	paths := map[string]*analytics.Path{}
	err = db.queryEach(ctx, firstSecond+` SELECT f.sku, count(*), count(s2.customer_id) FROM firsts f
		LEFT JOIN (SELECT DISTINCT customer_id FROM seconds) s2 ON s2.customer_id = f.customer_id GROUP BY f.sku`, []any{lo, hi},
		func(scan func(...any) error) error {
			p := &analytics.Path{Next: []analytics.PathNext{}}
			if err := scan(&p.First, &p.Buyers, &p.SecondBuyers); err != nil {
				return err
			}
			paths[p.First] = p
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("basket paths: %w", err)
	}
	err = db.queryEach(ctx, firstSecond+` SELECT f.sku, s.sku, count(*) AS n FROM firsts f JOIN seconds s ON s.customer_id = f.customer_id
		GROUP BY f.sku, s.sku ORDER BY f.sku, n DESC, s.sku`, []any{lo, hi},
		func(scan func(...any) error) error {
			var a string
			var nx analytics.PathNext
			if err := scan(&a, &nx.SKU, &nx.Customers); err != nil {
				return err
			}
			p := paths[a]
			if len(p.Next) < 5 {
				nx.Share = float64(nx.Customers) / float64(p.Buyers)
				p.Next = append(p.Next, nx)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("basket paths: %w", err)
	}
	for _, p := range paths {
		rep.Paths = append(rep.Paths, *p)
	}
	sort.Slice(rep.Paths, func(i, j int) bool {
		a, b := rep.Paths[i], rep.Paths[j]
		if a.Buyers != b.Buyers {
			return a.Buyers > b.Buyers
		}
		return a.First < b.First
	})
	if len(rep.Paths) > opt.Limit {
		rep.Paths = rep.Paths[:opt.Limit]
	}
	return rep, nil
}

// queryEach runs a read query and calls fn with a scanner per row.
func (db *DB) queryEach(ctx context.Context, q string, args []any, fn func(scan func(...any) error) error) error {
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Predict fits BG/NBD and Gamma-Gamma on the customers' histories up to
// the end of calibration and scores every customer. With Save (calibration
// ending today), the model and each customer's prediction are stored.
func (db *DB) Predict(ctx context.Context, opt analytics.PredictOptions, each func(analytics.PredictionRow) error) (*analytics.PredictReport, error) {
	if opt.HorizonMonths <= 0 {
		opt.HorizonMonths = 12
	}
	if opt.Discount < 0 || opt.Discount >= 1 {
		return nil, errs.FieldErrorf("discount", "a monthly rate between 0 and 1 (e.g. 0.01)")
	}
	if opt.Save {
		if opt.CalibrationEnd != db.today() {
			return nil, errs.FieldErrorf("calibration-end", "predictions are saved only when calibration ends today")
		}
		if _, err := db.RefreshScores(ctx); err != nil {
			return nil, err
		}
	}
	rc, _, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return nil, err
	}
	var ss []analytics.Summary
	_, fast, err := db.fresh(ctx, opt.CalibrationEnd, rc.WindowDays)
	if err != nil {
		return nil, err
	}
	if fast {
		err = db.queryEach(ctx, `SELECT customer_id, orders, spent, first_day, last_day, purchase_days, first_day_spent FROM customer_scores ORDER BY customer_id`, nil,
			func(scan func(...any) error) error {
				var s analytics.Summary
				if err := scan(&s.CustomerID, &s.Orders, &s.Spent, &s.FirstDay, &s.LastDay, &s.PurchaseDays, &s.FirstDaySpent); err != nil {
					return err
				}
				ss = append(ss, s)
				return nil
			})
	} else {
		err = db.eachCustomerPurchases(ctx, db.Read, `ordered_at < $1`, []any{(opt.CalibrationEnd + 1).StartMS()}, func(cid int64, ps []analytics.Purchase) error {
			if s, ok := analytics.Summarise(cid, ps, opt.CalibrationEnd, 1); ok {
				ss = append(ss, s)
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("predict: read histories: %w", err)
	}
	rfts := make([]analytics.RFT, len(ss))
	for i, s := range ss {
		rfts[i] = s.RFT(opt.CalibrationEnd, opt.Unit)
	}
	start := time.Now()
	model, err := analytics.FitModel(rfts, opt.CalibrationEnd, opt.Unit)
	if err != nil {
		return nil, err
	}
	rep := analytics.NewPredictReport(model, opt, time.Since(start))
	err = model.PredictAll(ss, opt.CalibrationEnd, opt.HorizonMonths, opt.Discount, func(i int, p analytics.Prediction) error {
		rep.Add(p)
		if each != nil {
			return each(analytics.PredictionRow{CustomerID: ss[i].CustomerID, RFT: rfts[i], Prediction: p})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Finish()
	if opt.Save {
		if err := db.savePredictions(ctx, model, ss, opt.CalibrationEnd); err != nil {
			return nil, err
		}
		rep.Saved = true
	}
	return rep, nil
}

// savePredictions stores the model and each customer's prediction.
func (db *DB) savePredictions(ctx context.Context, m analytics.Model, ss []analytics.Summary, day analytics.Day) error {
	st, err := db.loadState(ctx, db.Write)
	if err != nil {
		return err
	}
	if st == nil {
		return errs.Errorf(errs.Conflict, "scores have not been computed yet")
	}
	st.model = &m
	for lo := 0; lo < len(ss); lo += 4096 {
		batch := ss[lo:min(lo+4096, len(ss))]
		ps := predictions(&m, batch, day)
		err := db.inTx(ctx, func(tx *Tx) error { return db.writeSummaries(ctx, tx, batch, ps, nil, upsertPredictions) })
		if err != nil {
			return fmt.Errorf("save predictions: %w", err)
		}
	}
	return db.inTx(ctx, func(tx *Tx) error { return db.saveState(ctx, tx, st) })
}

// MaintainAnalytics is the periodic job of a running server: rescore
// customers whose orders changed, roll the date once a day, and refit the
// models and product statistics when the stored ones are from an earlier day.
func (db *DB) MaintainAnalytics(ctx context.Context) error {
	if _, err := db.RefreshScores(ctx); err != nil {
		return err
	}
	st, err := db.loadState(ctx, db.Read)
	if err != nil || st == nil {
		return err
	}
	today := db.today()
	if st.model != nil && st.model.CalibrationEnd == today.String() {
		return nil
	}
	unit := analytics.Week
	if st.model != nil {
		unit = st.model.Unit
	}
	if err := db.RefreshProductStats(ctx); err != nil {
		return err
	}
	_, err = db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: today, Unit: unit, Save: true}, nil)
	if errs.Is(err, errs.Invalid) { // too little history to fit yet
		return nil
	}
	return err
}
