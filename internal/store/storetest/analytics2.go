package storetest

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/store"
)

func testAggregatesIndependent(t *testing.T, db *store.DB, _ *clock.Manual) {
	genOrders(t, db, 150, 3)
	orders := paidOrders(t, db)
	today := analytics.DayOf(T0)

	// CPM.
	cpm, err := db.CPM(ctx, today-30)
	if err != nil {
		t.Fatal(err)
	}
	wantCPM := map[string]int64{}
	for _, os := range orders {
		if os[0].day <= today-30 {
			wantCPM[expectCPM(os, today-30, analytics.DefaultCPMConfig())]++
		}
	}
	for _, g := range cpm.Groups {
		if g.Customers != wantCPM[g.Group] {
			t.Errorf("CPM %s = %d, want %d", g.Group, g.Customers, wantCPM[g.Group])
		}
	}
	if len(cpm.Groups) != 10 {
		t.Errorf("CPM has %d groups", len(cpm.Groups))
	}

	// Deciles over the last 365 days.
	dec, err := db.Deciles(ctx, today, 365)
	if err != nil {
		t.Fatal(err)
	}
	var spends []int64
	var revenue int64
	for _, os := range orders {
		var s int64
		var any bool
		for _, o := range os {
			if o.day > today-365 && o.day <= today {
				s += o.total
				any = true
			}
		}
		if any {
			spends = append(spends, s)
			revenue += s
		}
	}
	slices.Sort(spends)
	slices.Reverse(spends)
	if dec.Customers != int64(len(spends)) || dec.Revenue != revenue {
		t.Fatalf("deciles: %d customers %d yen, want %d, %d", dec.Customers, dec.Revenue, len(spends), revenue)
	}
	for i, d := range dec.Deciles {
		lo, hi := i*len(spends)/10, (i+1)*len(spends)/10
		// Group i holds ranks r with r*10/n == i.
		var want int64
		var n int64
		for r, s := range spends {
			if r*10/len(spends) == i {
				want += s
				n++
			}
		}
		_, _ = lo, hi
		if d.Revenue != want || d.Customers != n {
			t.Errorf("decile %d: %d customers %d yen, want %d, %d", i+1, d.Customers, d.Revenue, n, want)
		}
	}

	// Cohorts: revenue by months since the first order, 2-month repurchase.
	co, err := db.Cohorts(ctx, analytics.CohortOptions{Metric: analytics.MetricRevenue, Months: 12, AsOf: today})
	if err != nil {
		t.Fatal(err)
	}
	month := func(d analytics.Day) int { t := d.Start().In(clock.Tokyo); return t.Year()*12 + int(t.Month()) - 1 }
	type cell struct{ cohort, k int }
	wantRev := map[cell]int64{}
	size := map[int]int64{}
	mature2, rep2 := map[int]int64{}, map[int]int64{}
	for _, os := range orders {
		cm := month(os[0].day)
		size[cm]++
		for _, o := range os {
			if k := month(o.day) - cm; k <= 12 {
				wantRev[cell{cm, k}] += o.total
			}
		}
		end := analytics.DayOf(os[0].day.Start().In(clock.Tokyo).AddDate(0, 2, 0))
		if end <= today {
			mature2[cm]++
			if len(os) > 1 && os[1].day < end {
				rep2[cm]++
			}
		}
	}
	if len(co.Cohorts) != len(size) {
		t.Fatalf("%d cohorts, want %d", len(co.Cohorts), len(size))
	}
	for _, c := range co.Cohorts {
		var y, m int
		if _, err := fmtSscanf(c.Cohort, &y, &m); err != nil {
			t.Fatal(err)
		}
		cm := y*12 + m - 1
		if c.Customers != size[cm] {
			t.Errorf("cohort %s size %d, want %d", c.Cohort, c.Customers, size[cm])
		}
		for k, v := range c.Values {
			if v != nil && int64(*v) != wantRev[cell{cm, k}] {
				t.Errorf("cohort %s month %d revenue %v, want %d", c.Cohort, k, *v, wantRev[cell{cm, k}])
			}
			if v == nil && cm+k <= month(today) {
				t.Errorf("cohort %s month %d is empty", c.Cohort, k)
			}
		}
		if mature2[cm] > 0 {
			if c.Repurchase2m == nil || math.Abs(*c.Repurchase2m-float64(rep2[cm])/float64(mature2[cm])) > 1e-12 {
				t.Errorf("cohort %s 2-month repurchase %v, want %d/%d", c.Cohort, c.Repurchase2m, rep2[cm], mature2[cm])
			}
		} else if c.Repurchase2m != nil {
			t.Errorf("cohort %s has a 2-month repurchase rate before 2 months passed", c.Cohort)
		}
	}

	// KPI over the last 180 days, overall and by channel.
	from, to := today-179, today
	kpi, err := db.KPI(ctx, analytics.KPIOptions{From: from, To: to, Today: today})
	if err != nil {
		t.Fatal(err)
	}
	var rev, n, newRev, custs, f2Buyers, f2Conv int64
	byChannel := map[string]int64{}
	for _, os := range orders {
		bought := false
		for i, o := range os {
			if o.day >= from && o.day <= to {
				rev += o.total
				n++
				byChannel[o.channel] += o.total
				bought = true
				if i == 0 {
					newRev += o.total
				}
			}
		}
		if bought {
			custs++
		}
		if os[0].day >= from && os[0].day <= to {
			f2Buyers++
			if len(os) > 1 && os[1].at-os[0].at <= 90*86400000 {
				f2Conv++
			}
		}
	}
	if kpi.Revenue != rev || kpi.Orders != n || kpi.NewRevenue != newRev || kpi.RepeatRevenue != rev-newRev || kpi.Customers != custs {
		t.Errorf("kpi = rev %d orders %d new %d repeat %d customers %d; want %d %d %d %d %d",
			kpi.Revenue, kpi.Orders, kpi.NewRevenue, kpi.RepeatRevenue, kpi.Customers, rev, n, newRev, rev-newRev, custs)
	}
	if kpi.F2.FirstTimeBuyers != f2Buyers || kpi.F2.Converted != f2Conv {
		t.Errorf("F2 = %d/%d, want %d/%d", kpi.F2.Converted, kpi.F2.FirstTimeBuyers, f2Conv, f2Buyers)
	}
	for ch, want := range byChannel {
		if kpi.Channels[ch] == nil || kpi.Channels[ch].Revenue != want {
			t.Errorf("channel %s revenue = %+v, want %d", ch, kpi.Channels[ch], want)
		}
	}
	if kpi.F2.Band == "" || math.Abs(kpi.AOV-float64(rev)/float64(n)) > 1e-9 {
		t.Errorf("kpi band %q aov %v", kpi.F2.Band, kpi.AOV)
	}
}

func fmtSscanf(s string, y, m *int) (int, error) {
	var err error
	tm, err := time.Parse("2006-01", s)
	*y, *m = tm.Year(), int(tm.Month())
	return 2, err
}

// paidLines reads the distinct SKUs of each paid order.
func paidLines(t *testing.T, db *store.DB) (map[int64][]string, []paidOrder) {
	t.Helper()
	rows, err := db.Read.QueryContext(ctx, `SELECT DISTINCT l.order_id, l.sku FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.status = 'paid'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var id int64
		var sku string
		if err := rows.Scan(&id, &sku); err != nil {
			t.Fatal(err)
		}
		out[id] = append(out[id], sku)
	}
	return out, nil
}

func testBasketIndependent(t *testing.T, db *store.DB, _ *clock.Manual) {
	genOrders(t, db, 100, 4)
	lines, _ := paidLines(t, db)
	orders := paidOrders(t, db)
	today := analytics.DayOf(T0)
	rep, err := db.Basket(ctx, analytics.BasketOptions{From: today - 3650, To: today, MinOrders: 1, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	pairs, items := map[[2]string]int64{}, map[string]int64{}
	for _, skus := range lines {
		for _, a := range skus {
			items[a]++
			for _, b := range skus {
				if a < b {
					pairs[[2]string{a, b}]++
				}
			}
		}
	}
	if rep.Orders != int64(len(lines)) || len(rep.Pairs) != len(pairs) {
		t.Fatalf("basket: %d orders %d pairs, want %d, %d", rep.Orders, len(rep.Pairs), len(lines), len(pairs))
	}
	for _, p := range rep.Pairs {
		want := pairs[[2]string{p.A, p.B}]
		lift := (float64(want) / float64(items[p.A])) / (float64(items[p.B]) / float64(len(lines)))
		if p.Orders != want || math.Abs(p.Lift-lift) > 1e-9 || math.Abs(p.Support-float64(want)/float64(len(lines))) > 1e-12 {
			t.Errorf("pair %s+%s: %+v, want %d orders, lift %v", p.A, p.B, p, want, lift)
		}
	}
	// Paths: what first-time buyers of each SKU bought in their second order.
	buyers, next := map[string]int64{}, map[[2]string]int64{}
	for _, os := range orders {
		for _, a := range lines[os[0].id] {
			buyers[a]++
			if len(os) > 1 {
				for _, b := range lines[os[1].id] {
					next[[2]string{a, b}]++
				}
			}
		}
	}
	for _, p := range rep.Paths {
		if p.Buyers != buyers[p.First] {
			t.Errorf("path %s: %d buyers, want %d", p.First, p.Buyers, buyers[p.First])
		}
		for _, nx := range p.Next {
			if nx.Customers != next[[2]string{p.First, nx.SKU}] {
				t.Errorf("path %s→%s: %d, want %d", p.First, nx.SKU, nx.Customers, next[[2]string{p.First, nx.SKU}])
			}
		}
	}
	if len(rep.Paths) != len(buyers) {
		t.Errorf("%d paths, want %d", len(rep.Paths), len(buyers))
	}
}

func testPredict(t *testing.T, db *store.DB, _ *clock.Manual) {
	genOrders(t, db, 300, 5)
	today := analytics.DayOf(T0)
	// From orders (nothing stored yet) and from stored summaries: the same fit.
	var rows []analytics.PredictionRow
	a, err := db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: today, Unit: analytics.Week, HorizonMonths: 12}, func(r analytics.PredictionRow) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: today, Unit: analytics.Week, HorizonMonths: 12, Save: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(a.BGNBDLogLik-b.BGNBDLogLik) > 1e-6 || math.Abs(a.BGNBD.R-b.BGNBD.R) > 1e-6 || !b.Saved {
		t.Fatalf("fits differ: %+v vs %+v", a, b)
	}
	// x, t_x and T straight from the orders (same-day orders merged).
	orders := paidOrders(t, db)
	for _, r := range rows {
		os := orders[r.CustomerID]
		days := map[analytics.Day]bool{}
		for _, o := range os {
			days[o.day] = true
		}
		first, last := os[0].day, os[len(os)-1].day
		if r.X != float64(len(days)-1) || math.Abs(r.Tx-float64(last-first)/7) > 1e-12 || math.Abs(r.T-float64(today-first)/7) > 1e-12 {
			t.Errorf("customer %d: x %v t_x %v T %v; want %d, %v, %v", r.CustomerID, r.X, r.Tx, r.T, len(days)-1, float64(last-first)/7, float64(today-first)/7)
		}
		if r.PAlive < 0 || r.PAlive > 1 || r.ExpectedPurchases < 0 || r.CLV < 0 {
			t.Errorf("customer %d: %+v", r.CustomerID, r.Prediction)
		}
	}
	if a.Customers != int64(len(orders)) || len(rows) != len(orders) {
		t.Errorf("predicted %d customers, want %d", a.Customers, len(orders))
	}
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customer_scores WHERE p_alive IS NOT NULL AND churn_tier <> ''`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(orders) {
		t.Errorf("%d customers have stored predictions, want %d", n, len(orders))
	}
	// New orders of a customer are predicted with the saved model.
	cid := rows[0].CustomerID
	if _, err := db.ImportOrders(ctx, []order.Order{Order("shop", "p1", T0.Add(-time.Minute), Buyer(t, "shop", "new-one", "p1@example.com", ""), "SKU-1", 1, 500)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RefreshScores(ctx); err != nil {
		t.Fatal(err)
	}
	v := view(t, db, cid)
	if v.Scores == nil || v.Scores.PAlive == nil || v.Scores.ChurnTier == "" || v.Scores.NextOrderDate == nil {
		t.Fatalf("scores in the 360 = %+v", v.Scores)
	}
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM customer_scores WHERE p_alive IS NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d customers without a prediction (%v)", n, err)
	}
	raw, _ := json.Marshal(b)
	if !json.Valid(raw) {
		t.Fatal("report is not JSON")
	}
	if _, err := db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: today - 1, Unit: analytics.Week, Save: true}, nil); err == nil {
		t.Fatal("saving a prediction calibrated yesterday was accepted")
	}
}

func testReplenishmentAndRecs(t *testing.T, db *store.DB, _ *clock.Manual) {
	// Supplement bought every ~30 days by several customers; a serum once.
	var os []order.Order
	intervals := []int64{}
	for c := 0; c < 6; c++ {
		b := Buyer(t, "shop", string(rune('a'+c)), "", "")
		at := T0.AddDate(0, 0, -200)
		for i := 0; i < 4; i++ {
			os = append(os, Order("shop", "r"+string(rune('a'+c))+string(rune('0'+i)), at, b, "SUPP", 1, 3000, "CUP", 1, 500))
			gap := 28 + c + i
			if i < 3 {
				intervals = append(intervals, int64(gap))
			}
			at = at.AddDate(0, 0, gap)
		}
	}
	// The last customer's last purchase was ~(30) days ago: due now.
	due := Buyer(t, "shop", "due", "due@example.com", "")
	os = append(os, Order("shop", "d1", T0.AddDate(0, 0, -31), due, "SUPP", 1, 3000, "SERUM", 1, 8000))
	os = append(os, Order("shop", "x1", T0.AddDate(0, 0, -5), Buyer(t, "shop", "x", "", ""), "SERUM", 1, 8000, "MASK", 1, 2000))
	os = append(os, Order("shop", "x2", T0.AddDate(0, 0, -4), Buyer(t, "shop", "y", "", ""), "SERUM", 1, 8000, "MASK", 1, 2000))
	res := must[store.BatchResult](t)(db.ImportOrders(ctx, os))
	if _, err := db.ImportProducts(ctx, []product.Product{{SKU: "MASK", Name: "シートマスク", Price: 2000, URL: "https://shop.example/mask"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RefreshProductStats(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := db.Replenishment(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(intervals)
	if len(rep.Products) != 2 || rep.Products[0].SKU != "CUP" || rep.Products[1].SKU != "SUPP" {
		t.Fatalf("replenishment = %+v", rep.Products)
	}
	for _, p := range rep.Products {
		if p.Intervals != int64(len(intervals)) || p.MedianDays != analytics.Median(intervals) || p.CycleDays != p.MedianDays {
			t.Errorf("%s: %+v, want %d intervals median %d", p.SKU, p, len(intervals), analytics.Median(intervals))
		}
	}
	today := analytics.DayOf(T0)
	dueRep, err := db.ReplenishmentDue(ctx, analytics.DueOptions{AsOf: today, LeadDays: 7, OverdueDays: 14, MinIntervals: 5})
	if err != nil {
		t.Fatal(err)
	}
	dueID := res.CustomerIDs[len(res.CustomerIDs)-3]
	found := false
	for _, d := range dueRep.Due {
		if d.CustomerID == dueID && d.SKU == "SUPP" {
			found = true
			if d.DaysUntilDue != analytics.Median(intervals)-31 {
				t.Errorf("due in %d days, want %d", d.DaysUntilDue, analytics.Median(intervals)-31)
			}
		}
		if d.DaysUntilDue > 7 || d.DaysUntilDue < -14 {
			t.Errorf("listed outside the window: %+v", d)
		}
	}
	if !found {
		t.Fatalf("customer due for SUPP not listed: %+v", dueRep.Due)
	}
	// The due customer bought SERUM; SERUM buyers also bought MASK; they
	// viewed CUP.
	if _, err := db.ImportEvents(ctx, []event.Event{{Type: "track", Name: event.ProductViewed, OccurredAt: T0.Add(-time.Hour), Source: "web",
		MessageID: "v1", SKU: "CUP", Actor: Buyer(t, "shop", "due", "", "")}}); err != nil {
		t.Fatal(err)
	}
	recs, err := db.Recommendations(ctx, dueID, 5)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]analytics.Recommendation{}
	for _, r := range recs {
		got[r.SKU] = r
	}
	if got["MASK"].Reason != "co_purchase" || got["MASK"].Name != "シートマスク" || got["CUP"].Reason == "" {
		t.Fatalf("recommendations = %+v", recs)
	}
	if _, ok := got["SUPP"]; ok {
		t.Errorf("recommended a product the customer bought: %+v", recs)
	}
	// MASK: 2 orders with SERUM of 3 SERUM orders.
	if math.Abs(got["MASK"].Score-2.0/3.0) > 1e-9 {
		t.Errorf("MASK score = %v, want 2/3", got["MASK"].Score)
	}
}
