package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/errs"
)

// AnalyticsStore computes the analytics reports and keeps each customer's
// scores (RFM, CPM, predictions) up to date.
type AnalyticsStore interface {
	// AnalyticsConfig returns the saved RFM and CPM settings (defaults when unset).
	AnalyticsConfig(ctx context.Context) (analytics.RFMConfig, analytics.CPMConfig, error)
	// SetAnalyticsConfig validates and saves them; the next refresh rescores everyone.
	SetAnalyticsConfig(ctx context.Context, rfm analytics.RFMConfig, cpm analytics.CPMConfig) error
	// RefreshScores brings customer_scores up to date: customers whose orders
	// changed, then (once a day) everyone whose scores moved with the date.
	RefreshScores(ctx context.Context) (RefreshResult, error)
	// CustomerScores returns a customer's stored scores (nil without orders).
	CustomerScores(ctx context.Context, customerID int64) (*analytics.Scores, error)

	RFM(ctx context.Context, opt RFMOptions, each func(analytics.RFMRow) error) (*analytics.RFMReport, error)
	RFMMovement(ctx context.Context, from, to analytics.Day) (*analytics.MovementReport, error)
	CPM(ctx context.Context, asOf analytics.Day) (*analytics.CPMReport, error)
	Deciles(ctx context.Context, asOf analytics.Day, windowDays int) (*analytics.DecileReport, error)
	Cohorts(ctx context.Context, opt analytics.CohortOptions) (*analytics.CohortReport, error)
	KPI(ctx context.Context, opt analytics.KPIOptions) (*analytics.KPIReport, error)
	Basket(ctx context.Context, opt analytics.BasketOptions) (*analytics.BasketReport, error)
	Predict(ctx context.Context, opt analytics.PredictOptions, each func(analytics.PredictionRow) error) (*analytics.PredictReport, error)
	RefreshProductStats(ctx context.Context) error
	Replenishment(ctx context.Context, minIntervals int) (*analytics.ReplenishmentReport, error)
	ReplenishmentDue(ctx context.Context, opt analytics.DueOptions) (*analytics.DueReport, error)
	Recommendations(ctx context.Context, customerID int64, limit int) ([]analytics.Recommendation, error)
}

// Settings keys of the analytics configuration.
const (
	SettingRFM = "analytics.rfm"
	SettingCPM = "analytics.cpm"
)

// RefreshResult says what RefreshScores did.
type RefreshResult struct {
	Mode       string `json:"mode"` // full | roll | incremental
	AsOf       string `json:"as_of"`
	Recomputed int    `json:"recomputed"` // customers whose aggregates were recomputed
	Rescored   int64  `json:"rescored"`   // customers whose stored scores changed
}

// RFMOptions select an RFM report.
type RFMOptions struct {
	AsOf       analytics.Day
	WindowDays int                   // 0: the saved window
	Thresholds *analytics.Thresholds // nil: the saved thresholds
}

// AnalyticsConfig returns the saved RFM and CPM settings.
func (db *DB) AnalyticsConfig(ctx context.Context) (analytics.RFMConfig, analytics.CPMConfig, error) {
	raw, _, err := db.Setting(ctx, SettingRFM)
	if err != nil {
		return analytics.RFMConfig{}, analytics.CPMConfig{}, err
	}
	rc, err := analytics.ParseRFMConfig(raw)
	if err != nil {
		return rc, analytics.CPMConfig{}, fmt.Errorf("setting %s: %w", SettingRFM, err)
	}
	raw, _, err = db.Setting(ctx, SettingCPM)
	if err != nil {
		return rc, analytics.CPMConfig{}, err
	}
	cc, err := analytics.ParseCPMConfig(raw)
	if err != nil {
		return rc, cc, fmt.Errorf("setting %s: %w", SettingCPM, err)
	}
	return rc, cc, nil
}

// SetAnalyticsConfig saves the RFM and CPM settings.
func (db *DB) SetAnalyticsConfig(ctx context.Context, rc analytics.RFMConfig, cc analytics.CPMConfig) error {
	if err := rc.Validate(); err != nil {
		return err
	}
	if err := cc.Validate(); err != nil {
		return err
	}
	a, _ := json.Marshal(rc)
	b, _ := json.Marshal(cc)
	return db.inTx(ctx, func(tx *Tx) error {
		for k, v := range map[string]string{SettingRFM: string(a), SettingCPM: string(b)} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, k, v, ms(db.Clock.Now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// markScoresDirty queues customers whose orders changed for rescoring. It
// is called in the transaction that changed them (imports, merges), so a
// committed change is never missed.
func (db *DB) markScoresDirty(ctx context.Context, tx *Tx, ids []int64) error {
	seen := make(map[int64]bool, len(ids))
	uniq := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id != 0 && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	_, err := db.insertMany(ctx, tx, `INSERT INTO analytics_dirty (customer_id)`, 1, `ON CONFLICT (customer_id) DO NOTHING`, len(uniq),
		func(i int, args []any) []any { return append(args, uniq[i]) })
	if err != nil {
		return fmt.Errorf("queue customers for rescoring: %w", err)
	}
	return nil
}

// analyticsState is the row of analytics_state. Every row of
// customer_scores is as of day, with the aggregates over a window of
// window days and the scores from thresholds and the settings of hash.
type analyticsState struct {
	day        analytics.Day
	window     int                  // 0 while the aggregates are being rebuilt
	hash       string               // configHash of the segment rules and CPM settings
	thresholds analytics.Thresholds // resolved (quintile cut points computed)
	model      *analytics.Model
	rolled     int64 // scores changed by roll (not saved)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func (db *DB) loadState(ctx context.Context, q querier) (*analyticsState, error) {
	var st analyticsState
	var day int64
	var th, model string
	err := q.QueryRowContext(ctx, `SELECT as_of_day, window_days, config_hash, thresholds, model FROM analytics_state WHERE id = 1`).
		Scan(&day, &st.window, &st.hash, &th, &model)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st.day = analytics.Day(day)
	if err := json.Unmarshal([]byte(th), &st.thresholds); err != nil {
		return nil, fmt.Errorf("analytics state thresholds: %w", err)
	}
	if model != "" {
		st.model = &analytics.Model{}
		if err := json.Unmarshal([]byte(model), st.model); err != nil {
			return nil, fmt.Errorf("analytics state model: %w", err)
		}
	}
	return &st, nil
}

func (db *DB) saveState(ctx context.Context, tx *Tx, st *analyticsState) error {
	th, _ := json.Marshal(st.thresholds)
	model := ""
	if st.model != nil {
		b, _ := json.Marshal(st.model)
		model = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO analytics_state (id, as_of_day, window_days, config_hash, thresholds, model, updated_at)
		VALUES (1, $1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET as_of_day = excluded.as_of_day, window_days = excluded.window_days, config_hash = excluded.config_hash,
		thresholds = excluded.thresholds, model = excluded.model, updated_at = excluded.updated_at`,
		int64(st.day), st.window, st.hash, string(th), model, ms(db.Clock.Now()))
	return err
}

// configHash identifies the segment rules and the CPM settings, each in
// its own half, so that a change of one rescores only what depends on it
// (the window and the thresholds are kept in the state as they are).
func configHash(rc analytics.RFMConfig, cc analytics.CPMConfig) string {
	half := func(v any) string {
		b, _ := json.Marshal(v)
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:8])
	}
	return half(rc.Segments) + "." + half(cc)
}

// follows reports whether the stored scores were computed with the
// settings rc and cc (quintile cut points being the ones of st.day).
func (st *analyticsState) follows(rc analytics.RFMConfig, cc analytics.CPMConfig) bool {
	return st.window == rc.WindowDays && st.hash == configHash(rc, cc) && st.thresholds.Method == rc.Thresholds.Method &&
		(rc.Thresholds.Method == analytics.MethodQuintile || sameThresholds(st.thresholds, rc.Thresholds))
}

// sameThresholds reports whether a and b set the same scores.
func sameThresholds(a, b analytics.Thresholds) bool {
	return a.Method == b.Method && slices.Equal(a.Recency, b.Recency) && slices.Equal(a.Frequency, b.Frequency) && slices.Equal(a.Monetary, b.Monetary)
}

// today is the Tokyo date of the store's clock.
func (db *DB) today() analytics.Day { return analytics.DayOf(db.Clock.Now()) }

// RefreshScores brings stored scores up to date (see AnalyticsStore).
//
// The kept per-customer aggregates (orders, spend, first and last day, and
// orders and spend in the window) change only when a customer's orders
// change or an order leaves the window; those customers are queued and
// recomputed from their orders. Everything else is rescored in SQL from
// the aggregates, and only where a score can have changed:
//   - a new window (or the first run, or a clock set back) rebuilds the
//     aggregates from every order and scores everyone;
//   - other new settings, or quintile cut points that moved, rescore
//     everyone from the aggregates;
//   - a new day with the same cut points rescores only the customers whose
//     recency crosses a recency cut point or the CPM dormancy boundary:
//     nothing else in a score depends on the date.
func (db *DB) RefreshScores(ctx context.Context) (RefreshResult, error) {
	rc, cc, err := db.AnalyticsConfig(ctx)
	if err != nil {
		return RefreshResult{}, err
	}
	today := db.today()
	res := RefreshResult{AsOf: today.String()}
	st, err := db.loadState(ctx, db.Write)
	if err != nil {
		return res, err
	}
	hash := configHash(rc, cc)
	var test scoreTest // scores that may differ from the stored ones, for everyone
	switch {
	case st == nil || st.window != rc.WindowDays || today < st.day:
		res.Mode = "full"
		var model *analytics.Model
		if st != nil {
			model = st.model
		}
		st = &analyticsState{day: today, hash: hash, thresholds: rc.Thresholds, model: model}
		// Rows are written with their scores, except with quintile cut
		// points, known only once every row is in: they score 0 until then.
		var sc *scorer
		if rc.Thresholds.Method == analytics.MethodQuintile {
			test = scoreTest{r: true}
		} else {
			sc = newScorer(st, rc, cc)
		}
		if res.Recomputed, err = db.rebuildSummaries(ctx, st, rc.WindowDays, sc); err != nil {
			return res, err
		}
		if sc != nil {
			res.Rescored = int64(res.Recomputed)
		}
	case !st.follows(rc, cc):
		res.Mode = "full"
		oldSeg, oldCPM, _ := strings.Cut(st.hash, ".")
		newSeg, newCPM, _ := strings.Cut(hash, ".")
		test = scoreTest{segment: oldSeg != newSeg, cpm: oldCPM != newCPM}
	case today > st.day:
		res.Mode = "roll"
	default:
		res.Mode = "incremental"
	}
	prev := st.day
	if res.Mode == "roll" {
		rolled, err := db.roll(ctx, st, rc, cc, today)
		if err != nil {
			return res, err
		}
		if !rolled { // another refresh moved the day first
			return db.RefreshScores(ctx)
		}
	} else if today > prev {
		// Orders that left the window, or were dated after the old as-of day.
		oldStart, newStart := (prev - analytics.Day(rc.WindowDays) + 1).StartMS(), (today - analytics.Day(rc.WindowDays) + 1).StartMS()
		err = db.inTx(ctx, func(tx *Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO analytics_dirty (customer_id)
				SELECT DISTINCT customer_id FROM orders WHERE status = 'paid' AND
				((ordered_at >= $1 AND ordered_at < $2) OR (ordered_at >= $3 AND ordered_at < $4))
				ON CONFLICT (customer_id) DO NOTHING`, oldStart, newStart, (prev + 1).StartMS(), (today + 1).StartMS())
			return err
		})
		if err != nil {
			return res, fmt.Errorf("queue customers whose window moved: %w", err)
		}
		st.day = today
	}
	n, err := db.recomputeDirty(ctx, st, rc, cc)
	if err != nil {
		return res, err
	}
	res.Recomputed += n
	if res.Mode == "incremental" {
		res.Rescored = int64(n)
		return res, nil
	}
	if res.Mode == "roll" {
		res.Rescored = st.rolled + int64(n)
		if rc.Thresholds.Method != analytics.MethodQuintile {
			return res, nil
		}
	}
	th := rc.Thresholds
	if th.Method == analytics.MethodQuintile {
		if th, err = db.storedQuintiles(ctx, st.day); err != nil {
			return res, err
		}
	}
	test.r = test.r || !slices.Equal(th.Recency, st.thresholds.Recency)
	test.f = !slices.Equal(th.Frequency, st.thresholds.Frequency)
	test.m = !slices.Equal(th.Monetary, st.thresholds.Monetary)
	if test != (scoreTest{}) && today > prev { // everyone is visited anyway
		test.r, test.cpm = true, true
	}
	st.thresholds, st.hash, st.window = th, hash, rc.WindowDays
	err = db.inTx(ctx, func(tx *Tx) error {
		var n int64
		if test != (scoreTest{}) {
			n, err = db.rescore(ctx, tx, st, rc, cc, test, "", nil)
		} else if res.Mode != "roll" {
			var ids []int64
			ids, err = db.rescoreCrossing(ctx, tx, st, rc, cc, prev)
			n = int64(len(ids))
		}
		res.Rescored += n
		if err != nil {
			return err
		}
		return db.saveState(ctx, tx, st)
	})
	return res, err
}

// roll moves the stored aggregates and scores from st.day to today (a
// later day) with the same settings, in one transaction that also moves
// the state's day, so that it is applied exactly once (a concurrent
// refresh that moved the day first makes it return false):
//   - orders that left the window are subtracted from their customers'
//     window aggregates, found through the index on ordered_at and never
//     reading anyone's whole history, and those customers rescored in
//     the same UPDATE (and marked in the change feed, as any customer
//     whose aggregates were recomputed);
//   - customers with orders dated after the old day up to today are
//     queued, to be recomputed from their orders by recomputeDirty;
//   - customers whose recency crossed a cut point or the dormancy
//     boundary are rescored (rescoreCrossing), and marked in the change
//     feed when their scores changed. Nobody else's scores can move.
//
// Quintile cut points are recomputed by the caller once the queue is
// done; the state is saved without them meanwhile, so that a refresh
// after a crash in between recomputes them and rescores everyone.
func (db *DB) roll(ctx context.Context, st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig, today analytics.Day) (bool, error) {
	prev, w := st.day, analytics.Day(rc.WindowDays)
	// Orders in [leaveLo, leaveHi) were in the old window and are not in
	// the new one; those from prev+1 on were never counted (queued).
	leaveLo, leaveHi := (prev - w + 1).StartMS(), min((today-w+1).StartMS(), (prev+1).StartMS())
	rolled := true
	err := db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE analytics_state SET as_of_day = $1 WHERE id = 1 AND as_of_day = $2`, int64(today), int64(prev))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			rolled = false
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO analytics_dirty (customer_id)
			SELECT DISTINCT customer_id FROM orders WHERE status = 'paid' AND ordered_at >= $1 AND ordered_at < $2
			ON CONFLICT (customer_id) DO NOTHING`, (prev + 1).StartMS(), (today + 1).StartMS()); err != nil {
			return fmt.Errorf("queue customers with new orders: %w", err)
		}
		var changed []int64
		if leaveLo < leaveHi {
			// One write per customer: the new window aggregates and the
			// scores computed from them. All of them go to the change feed.
			st.day = today
			s := newScoreSQLOver(st.thresholds, rc.Segments, cc, "(customer_scores.win_orders - d.lo)", "(customer_scores.win_spent - d.ls)")
			ids, err := db.queryIDs(ctx, tx, db.updateScores()+` customer_scores SET win_orders = customer_scores.win_orders - d.lo,
				win_spent = customer_scores.win_spent - d.ls, r = `+s.r+`, f = `+s.f+`, m = `+s.m+`, segment = `+s.segmentOf(s.r, s.f, s.m)+`, cpm = `+s.cpm+`
				FROM (SELECT customer_id AS lc, count(*) AS lo, sum(total) AS ls FROM orders WHERE status = 'paid' AND ordered_at >= $2 AND ordered_at < $3
				GROUP BY customer_id) AS d WHERE customer_scores.customer_id = d.lc RETURNING customer_scores.customer_id`, int64(today), leaveLo, leaveHi)
			if err != nil {
				return fmt.Errorf("orders leaving the window: %w", err)
			}
			changed = append(changed, ids...)
		}
		st.day = today
		ids, err := db.rescoreCrossing(ctx, tx, st, rc, cc, prev)
		if err != nil {
			return err
		}
		changed = append(changed, ids...)
		slices.Sort(changed)
		changed = slices.Compact(changed)
		st.rolled = int64(len(changed))
		if err := db.markChanged(ctx, tx, changed, db.Clock.Now()); err != nil {
			return err
		}
		saved := *st
		if rc.Thresholds.Method == analytics.MethodQuintile {
			saved.thresholds = analytics.Thresholds{} // to be recomputed
		}
		return db.saveState(ctx, tx, &saved)
	})
	if err != nil || !rolled {
		st.day = prev
		return false, err
	}
	if st.rolled > 0 {
		db.notifyChanged()
	}
	return true, nil
}

// rescoreCrossing rescores, after the as-of day moved from prev to st.day
// with the same cut points, the customers whose recency crossed a recency
// cut point c (last_day in [prev−c, day−c)) or the CPM dormancy boundary D
// (last_day in [prev−D+1, day−D+1)): with their aggregates unchanged,
// nobody else's scores can have changed.
func (db *DB) rescoreCrossing(ctx context.Context, tx *Tx, st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig, prev analytics.Day) ([]int64, error) {
	type span struct{ lo, hi analytics.Day }
	var spans []span
	for _, c := range st.thresholds.Recency {
		spans = append(spans, span{prev - analytics.Day(c), st.day - analytics.Day(c)})
	}
	d := analytics.Day(cc.DormantDays)
	spans = append(spans, span{prev - d + 1, st.day - d + 1})
	var ids []int64
	for _, sp := range spans {
		got, err := db.rescoreReturning(ctx, tx, st, rc, cc, scoreTest{r: true, cpm: true}, `last_day >= $2 AND last_day < $3`, []any{int64(sp.lo), int64(sp.hi)})
		if err != nil {
			return ids, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// rebuildSummaries recomputes every customer's summary from orders,
// streaming them customer by customer from a read snapshot and writing in
// batches. Changes committed meanwhile are queued as dirty and picked up
// by the incremental pass that follows. The state is saved without a
// window until the caller has scored everyone, so an interrupted rebuild
// starts over.
func (db *DB) rebuildSummaries(ctx context.Context, st *analyticsState, window int, sc *scorer) (int, error) {
	err := db.inTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM analytics_dirty`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_scores`); err != nil {
			return err
		}
		return db.saveState(ctx, tx, st)
	})
	if err != nil {
		return 0, fmt.Errorf("reset scores: %w", err)
	}
	var batch []analytics.Summary
	n := 0
	flush := func() error {
		b := batch
		batch = batch[:0]
		return db.inTx(ctx, func(tx *Tx) error { return db.writeSummaries(ctx, tx, b, predictions(st.model, b, st.day), sc, "") })
	}
	err = db.eachCustomerPurchases(ctx, db.Read, `ordered_at < $1`, []any{(st.day + 1).StartMS()}, func(cid int64, ps []analytics.Purchase) error {
		if s, ok := analytics.Summarise(cid, ps, st.day, window); ok {
			batch = append(batch, s)
			n++
			if len(batch) >= 4096 {
				return flush()
			}
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("rebuild customer scores: %w", err)
	}
	return n, nil
}

// writeSummaries writes summaries with their scores (from sc; nil: 0 until
// rescore fills them in) and predictions ps (nil: none) into
// customer_scores: inserted, or on an existing row as tail says
// (upsertSummary, upsertPredictions; "" when there is none).
func (db *DB) writeSummaries(ctx context.Context, tx *Tx, ss []analytics.Summary, ps []analytics.Prediction, sc *scorer, tail string) error {
	_, err := db.insertMany(ctx, tx, `INSERT INTO customer_scores (customer_id, orders, spent, first_day, last_day, purchase_days, first_day_spent,
		win_orders, win_spent, r, f, m, segment, cpm, p_alive, expected_purchases, expected_aov, clv, churn_tier, next_order_day)`, 20, tail, len(ss),
		func(i int, args []any) []any {
			s := &ss[i]
			args = append(args, s.CustomerID, s.Orders, s.Spent, int64(s.FirstDay), int64(s.LastDay), s.PurchaseDays, s.FirstDaySpent, s.WinOrders, s.WinSpent)
			if sc == nil {
				args = append(args, 0, 0, 0, "", "")
			} else {
				row, cpm := sc.score(s)
				args = append(args, row.R, row.F, row.M, row.Segment, cpm)
			}
			if ps == nil {
				return append(args, nil, nil, nil, nil, "", nil)
			}
			p := &ps[i]
			return append(args, p.PAlive, p.ExpectedPurchases, p.ExpectedAOV, p.CLV, p.ChurnTier, int64(p.NextOrderDay))
		})
	return err
}

// Tails of writeSummaries for existing rows: replace the summary, scores
// and predictions, or the predictions only.
const (
	upsertSummary = `ON CONFLICT (customer_id) DO UPDATE SET orders = excluded.orders, spent = excluded.spent, first_day = excluded.first_day,
		last_day = excluded.last_day, purchase_days = excluded.purchase_days, first_day_spent = excluded.first_day_spent,
		win_orders = excluded.win_orders, win_spent = excluded.win_spent, r = excluded.r, f = excluded.f, m = excluded.m,
		segment = excluded.segment, cpm = excluded.cpm, ` + predictionColumns
	upsertPredictions = `ON CONFLICT (customer_id) DO UPDATE SET ` + predictionColumns
	predictionColumns = `p_alive = excluded.p_alive, expected_purchases = excluded.expected_purchases,
		expected_aov = excluded.expected_aov, clv = excluded.clv, churn_tier = excluded.churn_tier, next_order_day = excluded.next_order_day`
)

// scorer computes stored scores in Go as of day, exactly as rescore does
// in SQL, so that rows written from Go need no second write.
type scorer struct {
	day analytics.Day
	th  analytics.Thresholds
	seg analytics.Segmenter
	cc  analytics.CPMConfig
}

func newScorer(st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig) *scorer {
	return &scorer{day: st.day, th: st.thresholds, seg: analytics.Segmenter(rc.Segments), cc: cc}
}

func (sc *scorer) score(s *analytics.Summary) (analytics.RFMRow, string) {
	row := analytics.Score(s.Facts(sc.day), sc.th, sc.seg)
	return row, sc.cc.Group(s.Orders, s.Spent, int64(s.LastDay-s.FirstDay), int64(sc.day-s.LastDay))
}

// predictions are the stored predictions of ss as of day (nil without a model).
func predictions(m *analytics.Model, ss []analytics.Summary, day analytics.Day) []analytics.Prediction {
	if m == nil {
		return nil
	}
	ps := make([]analytics.Prediction, len(ss))
	_ = m.PredictAll(ss, day, PredictionMonths, 0, func(i int, p analytics.Prediction) error {
		ps[i] = p
		return nil
	})
	return ps
}

// PredictionMonths is the horizon of the stored predictions (expected
// purchases and CLV over the next 12 months, undiscounted).
const PredictionMonths = 12

// recomputeDirty recomputes the summaries and scores of queued customers,
// a batch per transaction; reading their orders inside the transaction
// means no change can slip between the read and the dequeue.
func (db *DB) recomputeDirty(ctx context.Context, st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig) (int, error) {
	total := 0
	for {
		n := 0
		err := db.inTx(ctx, func(tx *Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT customer_id FROM analytics_dirty ORDER BY customer_id LIMIT 2000`)
			if err != nil {
				return err
			}
			var ids []any
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
				return err
			}
			n = len(ids)
			var ss []analytics.Summary
			in, inArgs := db.Dialect.InList("customer_id", 2, ids)
			err = db.eachCustomerPurchases(ctx, tx, `ordered_at < $1 AND `+in, append([]any{(st.day + 1).StartMS()}, inArgs...),
				func(cid int64, ps []analytics.Purchase) error {
					if s, ok := analytics.Summarise(cid, ps, st.day, rc.WindowDays); ok {
						ss = append(ss, s)
					}
					return nil
				})
			if err != nil {
				return err
			}
			// Customers left without a paid order (cancelled, merged away)
			// lose their row; the others' rows are updated in place, which
			// leaves untouched the indexes whose columns did not change.
			kept := make(map[int64]bool, len(ss))
			for _, s := range ss {
				kept[s.CustomerID] = true
			}
			var gone []any
			for _, id := range ids {
				if !kept[id.(int64)] {
					gone = append(gone, id)
				}
			}
			if len(gone) > 0 {
				in, inArgs := db.Dialect.InList("customer_id", 1, gone)
				if _, err := tx.ExecContext(ctx, `DELETE FROM customer_scores WHERE `+in, inArgs...); err != nil {
					return err
				}
			}
			if err := db.writeSummaries(ctx, tx, ss, predictions(st.model, ss, st.day), newScorer(st, rc, cc), upsertSummary); err != nil {
				return err
			}
			// Segments over scores see the new ones at once (the change feed).
			changed := make([]int64, len(ids))
			for i, id := range ids {
				changed[i] = id.(int64)
			}
			if err := db.markChanged(ctx, tx, changed, db.Clock.Now()); err != nil {
				return err
			}
			in, inArgs = db.Dialect.InList("customer_id", 1, ids)
			_, err = tx.ExecContext(ctx, `DELETE FROM analytics_dirty WHERE `+in, inArgs...)
			return err
		})
		if n > 0 {
			db.notifyChanged()
		}
		if err != nil {
			return total, fmt.Errorf("rescore changed customers: %w", err)
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// scoreSQL holds the SQL expressions of the scores over customer_scores
// columns, with $1 the as-of day: r, f, m from the aggregates; segment
// from those (segmentOf over any three score expressions) and cpm. Cut
// points and names are validated numbers and identifiers, so they are
// written as literals.
type scoreSQL struct {
	r, f, m, cpm string
	rules        []analytics.SegmentRule
}

func newScoreSQL(t analytics.Thresholds, segs []analytics.SegmentRule, cc analytics.CPMConfig) scoreSQL {
	return newScoreSQLOver(t, segs, cc, "win_orders", "win_spent")
}

// newScoreSQLOver is newScoreSQL with the window aggregates given as SQL
// expressions (the values an UPDATE is about to set).
func newScoreSQLOver(t analytics.Thresholds, segs []analytics.SegmentRule, cc analytics.CPMConfig, winOrders, winSpent string) scoreSQL {
	band := func(val string, cuts []int64, op string) string {
		var b strings.Builder
		b.WriteString("CASE")
		for i, c := range cuts {
			fmt.Fprintf(&b, " WHEN %s %s %d THEN %d", val, op, c, 5-i)
		}
		b.WriteString(" ELSE 1 END")
		return b.String()
	}
	// The ten CPM groups as whole literals: no string is built per row.
	stage := func(state string) string {
		return fmt.Sprintf(`CASE WHEN orders <= 1 THEN '%[1]s_%[7]s' WHEN spent < %[2]d THEN (CASE WHEN last_day - first_day < %[3]d THEN '%[4]s_%[7]s' ELSE '%[5]s_%[7]s' END)
			WHEN last_day - first_day < %[3]d THEN '%[6]s_%[7]s' ELSE '%[8]s_%[7]s' END`,
			analytics.CPMFirst, cc.SpendYen, cc.TenureDays, analytics.CPMNovice, analytics.CPMSteady, analytics.CPMTrendy, state, analytics.CPMLoyal)
	}
	return scoreSQL{
		r:     band("($1 - last_day)", t.Recency, "<="),
		f:     band(winOrders, t.Frequency, ">="),
		m:     band(winSpent, t.Monetary, ">="),
		cpm:   fmt.Sprintf("CASE WHEN $1 - last_day >= %d THEN %s ELSE %s END", cc.DormantDays, stage(analytics.CPMLapsed), stage(analytics.CPMActive)),
		rules: segs,
	}
}

// segmentOf is the segment of scores r, f and m (SQL expressions): the
// first rule whose ranges hold.
func (s scoreSQL) segmentOf(r, f, m string) string {
	var seg strings.Builder
	seg.WriteString("CASE")
	for _, rule := range s.rules {
		var conds []string
		for _, p := range []struct {
			expr string
			rg   analytics.Range
		}{{r, rule.R}, {f, rule.F}, {m, rule.M}} {
			if p.rg.Min > 0 {
				conds = append(conds, fmt.Sprintf("(%s) >= %d", p.expr, p.rg.Min))
			}
			if p.rg.Max > 0 {
				conds = append(conds, fmt.Sprintf("(%s) <= %d", p.expr, p.rg.Max))
			}
		}
		if len(conds) == 0 {
			conds = []string{"1 = 1"}
		}
		fmt.Fprintf(&seg, " WHEN %s THEN '%s'", strings.Join(conds, " AND "), rule.Name)
	}
	fmt.Fprintf(&seg, " ELSE '%s' END", analytics.SegmentOther)
	return seg.String()
}

// scoreTest says which stored scores may be out of date: those whose
// inputs or settings changed. Testing only those keeps a pass over every
// customer cheap when, say, only the monetary cut points changed.
type scoreTest struct{ r, f, m, cpm, segment bool }

// rescore scores the rows matching where (SQL over customer_scores with
// parameters from $2; "" for every row) from their aggregates, writing only
// rows where a score that test names changes; it returns how many. The
// test evaluates each named score once; the segment, which nests r, f and
// m, is computed from the stored r, f, m when tested and in full only for
// rows that change.
func (db *DB) rescore(ctx context.Context, tx *Tx, st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig, test scoreTest, where string, args []any) (int64, error) {
	q := db.updateScores() + rescoreSQL(st, rc, cc, test, where)
	res, err := tx.ExecContext(ctx, q, append([]any{int64(st.day)}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("rescore: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// rescoreReturning is rescore returning the ids of the rows it changed.
func (db *DB) rescoreReturning(ctx context.Context, tx *Tx, st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig, test scoreTest, where string, args []any) ([]int64, error) {
	q := db.updateScores() + rescoreSQL(st, rc, cc, test, where) + ` RETURNING customer_id`
	ids, err := db.queryIDs(ctx, tx, q, append([]any{int64(st.day)}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("rescore: %w", err)
	}
	return ids, nil
}

// queryIDs runs q (a statement returning one id per row) and collects the ids.
func (db *DB) queryIDs(ctx context.Context, tx *Tx, q string, args ...any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// updateScores begins an UPDATE of customer_scores. On SQLite it is
// UPDATE OR FAIL: a failing statement still fails (and its transaction is
// rolled back), but SQLite need not copy every page the statement changes
// into a statement journal to undo it alone, which is most of the cost of
// updating thousands of rows inside a transaction.
func (db *DB) updateScores() string {
	if db.Backend() == "sqlite" {
		return `UPDATE OR FAIL`
	}
	return `UPDATE`
}

// rescoreSQL is the UPDATE of rescore after its first word.
func rescoreSQL(st *analyticsState, rc analytics.RFMConfig, cc analytics.CPMConfig, test scoreTest, where string) string {
	s := newScoreSQL(st.thresholds, rc.Segments, cc)
	var conds []string
	for _, c := range []struct {
		on         bool
		col, score string
	}{{test.r, "r", s.r}, {test.f, "f", s.f}, {test.m, "m", s.m}, {test.cpm, "cpm", s.cpm}, {test.segment, "segment", s.segmentOf("r", "f", "m")}} {
		if c.on {
			conds = append(conds, c.col+` <> `+c.score)
		}
	}
	q := ` customer_scores SET r = ` + s.r + `, f = ` + s.f + `, m = ` + s.m + `, segment = ` + s.segmentOf(s.r, s.f, s.m) +
		`, cpm = ` + s.cpm + ` WHERE (` + strings.Join(conds, " OR ") + `)`
	if where != "" {
		q += ` AND ` + where
	}
	return q
}

// storedQuintiles computes quintile cut points from the stored summaries.
func (db *DB) storedQuintiles(ctx context.Context, day analytics.Day) (analytics.Thresholds, error) {
	var rec, freq, mon []int64
	rows, err := db.Write.QueryContext(ctx, `SELECT $1 - last_day, win_orders, win_spent FROM customer_scores`, int64(day))
	if err != nil {
		return analytics.Thresholds{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var r, f, m int64
		if err := rows.Scan(&r, &f, &m); err != nil {
			return analytics.Thresholds{}, err
		}
		rec, freq, mon = append(rec, r), append(freq, f), append(mon, m)
	}
	return analytics.QuintileThresholds(rec, freq, mon), rows.Err()
}

// eachCustomerPurchases streams paid orders matching where (over orders,
// with args), one customer at a time in order of time, so that memory holds
// one customer's orders, never all of them.
func (db *DB) eachCustomerPurchases(ctx context.Context, q querier, where string, args []any, fn func(cid int64, ps []analytics.Purchase) error) error {
	rows, err := q.QueryContext(ctx, `SELECT customer_id, id, ordered_at, total, channel FROM orders
		WHERE status = 'paid' AND `+where+` ORDER BY customer_id, ordered_at, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cur int64 = -1
	var ps []analytics.Purchase
	for rows.Next() {
		var cid int64
		var p analytics.Purchase
		if err := rows.Scan(&cid, &p.OrderID, &p.AtMS, &p.Total, &p.Channel); err != nil {
			return err
		}
		if cid != cur {
			if cur >= 0 {
				if err := fn(cur, ps); err != nil {
					return err
				}
			}
			cur, ps = cid, ps[:0]
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if cur >= 0 {
		return fn(cur, ps)
	}
	return nil
}

// CustomerScores returns a customer's stored scores.
func (db *DB) CustomerScores(ctx context.Context, customerID int64) (*analytics.Scores, error) {
	cid, err := canonical(ctx, db.Read, customerID)
	if err != nil {
		return nil, err
	}
	var sc analytics.Scores
	var day sql.NullInt64
	var pAlive, exp, aov, clv sql.NullFloat64
	var lastDay int64
	err = db.Read.QueryRowContext(ctx, `SELECT s.r, s.f, s.m, s.segment, s.cpm, s.p_alive, s.expected_purchases, s.expected_aov, s.clv,
		s.churn_tier, s.next_order_day, s.last_day, s.win_orders, s.win_spent, st.as_of_day
		FROM customer_scores s CROSS JOIN analytics_state st WHERE s.customer_id = $1`, cid).
		Scan(&sc.R, &sc.F, &sc.M, &sc.Segment, &sc.CPM, &pAlive, &exp, &aov, &clv, &sc.ChurnTier, &day, &lastDay, &sc.Frequency, &sc.Monetary, &sc.AsOfDay)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sc.AsOf = sc.AsOfDay.String()
	sc.RecencyDays = int64(sc.AsOfDay) - lastDay
	sc.CPMLabel = analytics.CPMLabel(sc.CPM)
	if pAlive.Valid {
		sc.PAlive, sc.ExpectedPurchases12m, sc.ExpectedAOV, sc.CLV12m = &pAlive.Float64, &exp.Float64, &aov.Float64, &clv.Float64
	}
	if day.Valid {
		s := analytics.Day(day.Int64).String()
		sc.NextOrderDate = &s
	}
	return &sc, nil
}

func itoa64s(n int64) string { return strconv.FormatInt(n, 10) }

var _ = errs.Invalid
