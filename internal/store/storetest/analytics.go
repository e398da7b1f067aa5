package storetest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
)

func analyticsCases() []Case {
	return []Case{
		{"RFMAgreesWithIndependentComputation", testRFMIndependent},
		{"StoredScoresFollowImportsMergesAndDays", testStoredScores},
		{"StoredScoresFollowEachDayAndNewSettings", testScoresDayByDay},
		{"CPMDecileCohortKPIAgreeWithIndependentComputation", testAggregatesIndependent},
		{"BasketPairsAndPathsAgreeWithIndependentComputation", testBasketIndependent},
		{"PredictFitsAndSavesScores", testPredict},
		{"ReplenishmentCyclesDueListsAndRecommendations", testReplenishmentAndRecs},
	}
}

// genOrders imports a deterministic history: n customers over two years,
// with cancelled and refunded orders, several channels, same-day repeats
// and a small catalogue.
func genOrders(t *testing.T, db *store.DB, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	channels := []string{order.ChannelOwnEC, order.ChannelRakuten, order.ChannelAmazon}
	var orders []order.Order
	seq := 0
	for c := 0; c < n; c++ {
		b := Buyer(t, "shop", fmt.Sprintf("c%d", c), fmt.Sprintf("u%d@example.com", c), "")
		k := 1 + int(r.ExpFloat64()*2.5)
		at := T0.Add(-time.Duration(r.IntN(730*24)) * time.Hour)
		for i := 0; i < k && at.Before(T0); i++ {
			seq++
			var lines []any
			for j := 0; j < 1+r.IntN(3); j++ {
				lines = append(lines, fmt.Sprintf("SKU-%d", 1+r.IntN(8)), 1+r.IntN(2), 1000*(1+r.IntN(20)))
			}
			o := Order("shop", fmt.Sprintf("o%d", seq), at, b, lines...)
			o.Channel = channels[r.IntN(len(channels))]
			switch r.IntN(12) {
			case 0:
				o.Status = order.Cancelled
			case 1:
				o.Status = order.Refunded
			}
			orders = append(orders, o)
			if r.IntN(8) == 0 {
				at = at.Add(time.Hour) // a second order the same day
			} else {
				at = at.Add(time.Duration(1+r.IntN(120*24)) * time.Hour)
			}
		}
	}
	if _, err := db.ImportOrders(ctx, orders); err != nil {
		t.Fatal(err)
	}
}

// paidOrder is an order as the independent computations read it.
type paidOrder struct {
	customer, id int64
	day          analytics.Day
	at, total    int64
	channel      string
}

// paidOrders reads paid orders with plain SQL, sorted by customer and time.
func paidOrders(t *testing.T, db *store.DB) map[int64][]paidOrder {
	t.Helper()
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, id, ordered_at, total, channel FROM orders WHERE status = 'paid'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]paidOrder{}
	for rows.Next() {
		var o paidOrder
		if err := rows.Scan(&o.customer, &o.id, &o.at, &o.total, &o.channel); err != nil {
			t.Fatal(err)
		}
		o.day = analytics.Day((o.at + 9*3600000) / 86400000)
		out[o.customer] = append(out[o.customer], o)
	}
	for _, os := range out {
		sort.Slice(os, func(i, j int) bool { return os[i].at < os[j].at || os[i].at == os[j].at && os[i].id < os[j].id })
	}
	return out
}

// expectRFM scores one customer straight from the definitions.
func expectRFM(os []paidOrder, asOf analytics.Day, window int) (row analytics.RFMRow, ok bool) {
	var last analytics.Day = -1
	for _, o := range os {
		if o.day > asOf {
			continue
		}
		last = max(last, o.day)
		if o.day > asOf-analytics.Day(window) {
			row.Frequency++
			row.Monetary += o.total
		}
	}
	if last < 0 {
		return row, false
	}
	row.RecencyDays = int64(asOf - last)
	rd := row.RecencyDays
	switch {
	case rd <= 30:
		row.R = 5
	case rd <= 60:
		row.R = 4
	case rd <= 90:
		row.R = 3
	case rd <= 180:
		row.R = 2
	default:
		row.R = 1
	}
	switch f := row.Frequency; {
	case f >= 10:
		row.F = 5
	case f >= 7:
		row.F = 4
	case f >= 4:
		row.F = 3
	case f >= 2:
		row.F = 2
	default:
		row.F = 1
	}
	switch m := row.Monetary; {
	case m >= 100000:
		row.M = 5
	case m >= 50000:
		row.M = 4
	case m >= 30000:
		row.M = 3
	case m >= 10000:
		row.M = 2
	default:
		row.M = 1
	}
	r, f, m := row.R, row.F, row.M
	switch {
	case r >= 4 && f >= 4 && m >= 4:
		row.Segment = "vip"
	case r >= 3 && f >= 3 && m >= 3:
		row.Segment = "loyal"
	case r >= 3 && f >= 2 && m >= 2:
		row.Segment = "growing"
	case r >= 4 && f == 1:
		row.Segment = "new"
	case r == 2 && f >= 2:
		row.Segment = "at_risk"
	case r == 1:
		row.Segment = "dormant"
	default:
		row.Segment = "other"
	}
	return row, true
}

func checkRFM(t *testing.T, db *store.DB, asOf analytics.Day, window int) {
	t.Helper()
	orders := paidOrders(t, db)
	got := map[int64]analytics.RFMRow{}
	rep, err := db.RFM(ctx, store.RFMOptions{AsOf: asOf, WindowDays: window}, func(r analytics.RFMRow) error {
		got[r.CustomerID] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	segs := map[string]int64{}
	var grid [5][5]int64
	var n int64
	for cid, os := range orders {
		want, ok := expectRFM(os, asOf, window)
		if !ok {
			continue
		}
		n++
		segs[want.Segment]++
		grid[want.R-1][want.F-1]++
		g := got[cid]
		if g.RecencyDays != want.RecencyDays || g.Frequency != want.Frequency || g.Monetary != want.Monetary ||
			g.R != want.R || g.F != want.F || g.M != want.M || g.Segment != want.Segment {
			t.Errorf("as of %s customer %d: got %+v, want %+v", asOf, cid, g, want)
		}
	}
	if int64(len(got)) != n {
		t.Errorf("as of %s: %d rows, want %d", asOf, len(got), n)
	}
	// Without rows the report may be counted another way (from the stored
	// scores when they are current): it must be the same report.
	counts, err := db.RFM(ctx, store.RFMOptions{AsOf: asOf, WindowDays: window}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*analytics.RFMReport{rep, counts} {
		if r.Customers != n || r.GridRF != grid {
			t.Errorf("as of %s: customers %d, want %d; grid %v, want %v", asOf, r.Customers, n, r.GridRF, grid)
		}
		for _, s := range []string{"vip", "loyal", "growing", "new", "at_risk", "dormant", "other"} {
			if r.Segments[s] != segs[s] {
				t.Errorf("as of %s: segment %s = %d, want %d", asOf, s, r.Segments[s], segs[s])
			}
		}
	}
	if !reflect.DeepEqual(rep, counts) {
		t.Errorf("as of %s: report with rows %+v, without %+v", asOf, rep, counts)
	}
}

func testRFMIndependent(t *testing.T, db *store.DB, _ *clock.Manual) {
	genOrders(t, db, 120, 1)
	today := analytics.DayOf(T0)
	checkRFM(t, db, today, 365)     // before any refresh: from orders
	checkRFM(t, db, today-100, 365) // a past date
	checkRFM(t, db, today, 90)      // another window
	if _, err := db.RefreshScores(ctx); err != nil {
		t.Fatal(err)
	}
	checkRFM(t, db, today, 365) // from the stored summaries
	// Quintile thresholds split customers into fifths of recency.
	q := analytics.Thresholds{Method: analytics.MethodQuintile}
	rep, err := db.RFM(ctx, store.RFMOptions{AsOf: today, Thresholds: &q}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Thresholds.Recency) != 4 || rep.Thresholds.Recency[0] > rep.Thresholds.Recency[3] {
		t.Fatalf("quintile thresholds = %+v", rep.Thresholds)
	}
	var top int64
	for f := range 5 {
		top += rep.GridRF[4][f]
	}
	if d := float64(top) / float64(rep.Customers); d < 0.15 || d > 0.3 {
		t.Errorf("R=5 share with quintiles = %.2f, want about 0.2", d)
	}
	// Movement: every customer of the later date is counted once.
	mv, err := db.RFMMovement(ctx, today-90, today)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, row := range mv.Matrix {
		for _, n := range row {
			total += n
		}
	}
	now, _ := db.RFM(ctx, store.RFMOptions{AsOf: today}, nil)
	then, _ := db.RFM(ctx, store.RFMOptions{AsOf: today - 90}, nil)
	if total != now.Customers || mv.Customers != now.Customers {
		t.Errorf("movement counts %d customers, RFM today %d", total, now.Customers)
	}
	for s, n := range now.Segments {
		var col int64
		for _, a := range mv.Segments {
			col += mv.Matrix[a][s]
		}
		if col != n {
			t.Errorf("movement column %s = %d, RFM today %d", s, col, n)
		}
	}
	for s, n := range then.Segments {
		var row int64
		for _, v := range mv.Matrix[s] {
			row += v
		}
		if row != n {
			t.Errorf("movement row %s = %d, RFM 90 days ago %d", s, row, n)
		}
	}
}

// checkStored compares customer_scores with the independent computation.
func checkStored(t *testing.T, db *store.DB, asOf analytics.Day) {
	t.Helper()
	orders := paidOrders(t, db)
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, r, f, m, segment, cpm FROM customer_scores`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	cpm := analytics.DefaultCPMConfig()
	for rows.Next() {
		var cid int64
		var r, f, m int
		var seg, group string
		if err := rows.Scan(&cid, &r, &f, &m, &seg, &group); err != nil {
			t.Fatal(err)
		}
		seen++
		want, ok := expectRFM(orders[cid], asOf, 365)
		if !ok {
			t.Errorf("customer %d has scores but no paid order", cid)
			continue
		}
		if r != want.R || f != want.F || m != want.M || seg != want.Segment {
			t.Errorf("stored scores of %d = %d%d%d %s, want %d%d%d %s", cid, r, f, m, seg, want.R, want.F, want.M, want.Segment)
		}
		if g := expectCPM(orders[cid], asOf, cpm); group != g {
			t.Errorf("stored CPM of %d = %s, want %s", cid, group, g)
		}
	}
	want := 0
	for _, os := range orders {
		if _, ok := expectRFM(os, asOf, 365); ok {
			want++
		}
	}
	if seen != want {
		t.Errorf("%d customers have stored scores, want %d", seen, want)
	}
}

// checkStoredWith compares customer_scores with scores computed from
// independently aggregated facts under the given settings (quintile cut
// points computed from those facts).
func checkStoredWith(t *testing.T, db *store.DB, asOf analytics.Day, rc analytics.RFMConfig, cc analytics.CPMConfig) {
	t.Helper()
	orders := paidOrders(t, db)
	facts := map[int64]analytics.RFMFacts{}
	var rec, freq, mon []int64
	for cid, os := range orders {
		if row, ok := expectRFM(os, asOf, rc.WindowDays); ok {
			row.CustomerID = cid
			facts[cid] = row.RFMFacts
			rec, freq, mon = append(rec, row.RecencyDays), append(freq, row.Frequency), append(mon, row.Monetary)
		}
	}
	th := rc.Thresholds
	if th.Method == analytics.MethodQuintile {
		th = analytics.QuintileThresholds(rec, freq, mon)
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, r, f, m, segment, cpm, $1 - last_day, win_orders, win_spent FROM customer_scores`, int64(asOf))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var got analytics.RFMRow
		var group string
		if err := rows.Scan(&got.CustomerID, &got.R, &got.F, &got.M, &got.Segment, &group, &got.RecencyDays, &got.Frequency, &got.Monetary); err != nil {
			t.Fatal(err)
		}
		seen++
		f, ok := facts[got.CustomerID]
		if !ok {
			t.Errorf("as of %s: customer %d has scores but no paid order", asOf, got.CustomerID)
			continue
		}
		if got.RFMFacts != f {
			t.Errorf("as of %s: stored aggregates of %d = %+v, want %+v", asOf, got.CustomerID, got.RFMFacts, f)
		}
		want := analytics.Score(f, th, analytics.Segmenter(rc.Segments))
		if got.R != want.R || got.F != want.F || got.M != want.M || got.Segment != want.Segment {
			t.Errorf("as of %s: stored scores of %d = %d%d%d %s, want %d%d%d %s (%+v)", asOf, got.CustomerID,
				got.R, got.F, got.M, got.Segment, want.R, want.F, want.M, want.Segment, f)
		}
		if g := expectCPM(orders[got.CustomerID], asOf, cc); group != g {
			t.Errorf("as of %s: stored CPM of %d = %s, want %s", asOf, got.CustomerID, group, g)
		}
	}
	if seen != len(facts) {
		t.Errorf("as of %s: %d customers have stored scores, want %d", asOf, seen, len(facts))
	}
}

// testScoresDayByDay moves the clock a day at a time, then a week at a
// time, through every recency cut point and the CPM dormancy boundary,
// then changes the settings: the stored scores must always be the ones
// computed from scratch, though a new day rescores only the customers
// whose recency crossed a boundary, and new cut points or segments do not
// rebuild the aggregates.
func testScoresDayByDay(t *testing.T, db *store.DB, c *clock.Manual) {
	genOrders(t, db, 150, 3)
	rc, cc := analytics.DefaultRFMConfig(), analytics.DefaultCPMConfig()
	must[store.RefreshResult](t)(db.RefreshScores(ctx))
	day := analytics.DayOf(T0)
	checkStoredWith(t, db, day, rc, cc)
	settings := func(what string, rebuild bool) {
		t.Helper()
		if err := db.SetAnalyticsConfig(ctx, rc, cc); err != nil {
			t.Fatal(err)
		}
		res := must[store.RefreshResult](t)(db.RefreshScores(ctx))
		if res.Mode != "full" || (res.Recomputed > 0) != rebuild {
			t.Fatalf("refresh after %s = %+v", what, res)
		}
		checkStoredWith(t, db, day, rc, cc)
	}
	// Each setting alone, since a change rescores only what depends on it.
	rc.Thresholds.Monetary = []int64{60000, 30000, 15000, 5000}
	settings("new monetary cut points", false)
	rc.Thresholds.Frequency = []int64{6, 4, 3, 2}
	settings("new frequency cut points", false)
	rc.Thresholds.Recency = []int64{14, 45, 120, 365}
	settings("new recency cut points", false)
	rc.Segments = append([]analytics.SegmentRule{{Name: "champion", R: analytics.Range{Min: 4}, F: analytics.Range{Min: 2}}}, rc.Segments...)
	settings("new segments", false)
	cc.DormantDays = 120
	settings("a new dormancy", false)
	cc.SpendYen = 20000
	settings("a new CPM spend threshold", false)
	// Days pass with these settings, then with the defaults.
	last := 0
	for d := 1; d <= 400; d += map[bool]int{true: 1, false: 7}[d < 45] {
		if d == 20 { // orders arrive on the way
			b := Buyer(t, "shop", "c7", "u7@example.com", "")
			must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{Order("shop", "late", T0.AddDate(0, 0, d), b, "SKU-1", 3, 9000)}))
		}
		if d == 100 {
			rc, cc = analytics.DefaultRFMConfig(), analytics.DefaultCPMConfig()
			if err := db.SetAnalyticsConfig(ctx, rc, cc); err != nil {
				t.Fatal(err)
			}
		}
		c.Set(T0.AddDate(0, 0, d))
		if res := must[store.RefreshResult](t)(db.RefreshScores(ctx)); res.Mode != map[bool]string{true: "full", false: "roll"}[d == 100] {
			t.Fatalf("day %d: refresh = %+v", d, res)
		}
		checkStoredWith(t, db, day+analytics.Day(d), rc, cc)
		if t.Failed() {
			t.FailNow()
		}
		last = d
	}
	// A jump longer than the window, every counted order leaving it, seen
	// by two refreshes at once: the window moves exactly once.
	last += 500
	c.Set(T0.AddDate(0, 0, last))
	var wg sync.WaitGroup
	modes := make([]string, 2)
	for i := range modes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := db.RefreshScores(ctx)
			if err != nil {
				t.Error(err)
			}
			modes[i] = res.Mode
		}()
	}
	wg.Wait()
	if slices.Sort(modes); modes[1] != "roll" || (modes[0] != "roll" && modes[0] != "incremental") {
		t.Fatalf("a jump of 500 days: refreshes = %v", modes)
	}
	checkStoredWith(t, db, day+analytics.Day(last), rc, cc)
	day += analytics.Day(last)
	rc.Thresholds = analytics.Thresholds{Method: analytics.MethodQuintile}
	settings("quintile cut points", false)
	for d := 1; d <= 3; d++ {
		c.Set(T0.AddDate(0, 0, last+d))
		must[store.RefreshResult](t)(db.RefreshScores(ctx))
		checkStoredWith(t, db, day+analytics.Day(d), rc, cc)
	}
	day += 3
	// A refresh that stopped between moving the day and recomputing the
	// quintile cut points leaves none in the state (and scores as of the
	// old ones, here stale): the next refresh recomputes them and rescores.
	if _, err := db.Write.ExecContext(ctx, `UPDATE analytics_state SET thresholds = '{}'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, `UPDATE customer_scores SET r = 0, segment = ''`); err != nil {
		t.Fatal(err)
	}
	if res := must[store.RefreshResult](t)(db.RefreshScores(ctx)); res.Mode != "full" {
		t.Fatalf("refresh after an interrupted roll = %+v", res)
	}
	checkStoredWith(t, db, day, rc, cc)
	rc.WindowDays = 180
	settings("a new window", true)
}

func expectCPM(os []paidOrder, asOf analytics.Day, c analytics.CPMConfig) string {
	var n, spent int64
	first, last := analytics.Day(1<<40), analytics.Day(-1)
	for _, o := range os {
		if o.day <= asOf {
			n++
			spent += o.total
			first, last = min(first, o.day), max(last, o.day)
		}
	}
	stage := "first"
	tenure := int64(last - first)
	if n > 1 {
		switch {
		case spent < c.SpendYen && tenure < int64(c.TenureDays):
			stage = "novice"
		case spent < c.SpendYen:
			stage = "steady"
		case tenure < int64(c.TenureDays):
			stage = "trendy"
		default:
			stage = "loyal"
		}
	}
	if int64(asOf-last) >= int64(c.DormantDays) {
		return stage + "_lapsed"
	}
	return stage + "_active"
}

func testStoredScores(t *testing.T, db *store.DB, c *clock.Manual) {
	genOrders(t, db, 80, 2)
	res, err := db.RefreshScores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "full" || res.Recomputed == 0 {
		t.Fatalf("first refresh = %+v", res)
	}
	checkStored(t, db, analytics.DayOf(T0))
	if res, _ := db.RefreshScores(ctx); res.Mode != "incremental" || res.Recomputed != 0 {
		t.Fatalf("idle refresh = %+v", res)
	}
	// New orders: a new customer and a big repeat order make them dirty.
	a := Buyer(t, "shop", "c3", "u3@example.com", "")
	newbie := Buyer(t, "shop", "zz", "newbie@example.com", "")
	if _, err := db.ImportOrders(ctx, []order.Order{
		Order("shop", "n1", T0.Add(-time.Hour), a, "SKU-1", 10, 20000),
		Order("shop", "n2", T0.Add(-time.Hour), newbie, "SKU-2", 1, 3000),
	}); err != nil {
		t.Fatal(err)
	}
	res, err = db.RefreshScores(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != "incremental" || res.Recomputed != 2 {
		t.Fatalf("refresh after 2 orders = %+v", res)
	}
	checkStored(t, db, analytics.DayOf(T0))
	v := view(t, db, newbieID(t, db))
	if v.Scores == nil || v.Scores.Segment != "new" || v.Scores.R != 5 || v.Scores.F != 1 {
		t.Fatalf("new customer's scores in the 360 = %+v", v.Scores)
	}
	// A merge moves orders: both customers are rescored.
	ids := must[store.BatchResult](t)(db.ImportOrders(ctx, []order.Order{
		Order("shop", "m1", T0.Add(-2*time.Hour), Buyer(t, "shop", "c5", "", ""), "SKU-1", 1, 100),
	})).CustomerIDs
	if _, err := db.MergeCustomers(ctx, ids[0], newbieID(t, db), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RefreshScores(ctx); err != nil {
		t.Fatal(err)
	}
	checkStored(t, db, analytics.DayOf(T0))
	// Days pass: recency and the window move for everyone.
	for _, d := range []int{1, 40, 200} {
		c.Set(T0.AddDate(0, 0, d))
		res, err = db.RefreshScores(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Mode != "roll" {
			t.Fatalf("refresh after %d days = %+v", d, res)
		}
		checkStored(t, db, analytics.DayOf(T0)+analytics.Day(d))
		checkRFM(t, db, analytics.DayOf(T0)+analytics.Day(d), 365)
	}
	// Changed settings rescore everyone.
	rc, cc, _ := db.AnalyticsConfig(ctx)
	cc.DormantDays = 30
	if err := db.SetAnalyticsConfig(ctx, rc, cc); err != nil {
		t.Fatal(err)
	}
	if res, _ := db.RefreshScores(ctx); res.Mode != "full" {
		t.Fatalf("refresh after new settings = %+v", res)
	}
	var lapsed int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customer_scores WHERE cpm LIKE '%_lapsed'`).Scan(&lapsed); err != nil {
		t.Fatal(err)
	}
	if lapsed == 0 {
		t.Fatal("no lapsed customers after lowering dormant days to 30")
	}
	rc.Segments = []analytics.SegmentRule{{Name: "x", R: analytics.Range{Min: 6}}}
	if err := db.SetAnalyticsConfig(ctx, rc, cc); err == nil {
		t.Fatal("a segment with R ≥ 6 was accepted")
	}
}

func newbieID(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var id int64
	if err := db.Read.QueryRowContext(ctx, `SELECT id FROM customers WHERE email = 'newbie@example.com'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
