// Command analytics benchmarks enishi's analytics on a generated store
// (bench/sections/analytics.sh runs it beside DuckDB):
//
//	analytics gen    -db F | -database-url U  -customers N -orders M -truth T.json
//	analytics run    -db F | -database-url U  -truth T.json
//	analytics export -db F | -database-url U  -o orders.csv
//
// gen draws customers from known BG/NBD and Gamma-Gamma processes (gen.go)
// and loads them with bulk INSERTs; run times the analytics (medians of
// several runs) and checks that the fitted models recover the parameters
// the data was drawn from. Order lines are not generated (RFM and the
// models read orders only).
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/enishi-crm/enishi/bench/benchstore"
	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/storetest"
)

// Now is the benchmark's fixed clock: 2026-04-01 12:00 JST.
var Now = time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: analytics gen|run|export [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	path := fs.String("db", "", "SQLite file")
	url := fs.String("database-url", "", "PostgreSQL URL")
	customers := fs.Int("customers", 1_000_000, "customers to generate")
	orders := fs.Int("orders", 10_000_000, "orders to generate (about)")
	truth := fs.String("truth", "truth.json", "parameters the data was drawn from (written by gen, read by run)")
	runs := fs.Int("runs", 5, "runs of each measurement (the median is reported)")
	out := fs.String("o", "orders.csv", "export file")
	_ = fs.Parse(os.Args[2:])
	if os.Args[1] == "asof" {
		// The day run ends on (the RFM recompute moves the clock a day per
		// run), for the baseline to compute the same report.
		day := analytics.DayOf(Now) + analytics.Day(*runs)
		fmt.Printf("%d %d\n", int64(day), (day + 1).StartMS())
		return
	}
	ctx := context.Background()
	c := clock.NewManual(Now, true)
	db, err := benchstore.Open(ctx, *path, *url, c)
	check(err)
	defer db.Close()
	if p := os.Getenv("ENISHI_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	switch os.Args[1] {
	case "gen":
		gen(ctx, db, *customers, *orders, *truth)
	case "export":
		export(ctx, db, *out)
	case "run":
		run(ctx, db, c, *truth, *runs)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "analytics bench:", err)
		os.Exit(1)
	}
}

func timed(name string, fn func()) float64 {
	start := time.Now()
	fn()
	s := time.Since(start).Seconds()
	fmt.Printf("%s %.3f\n", name, s)
	return s
}

// medianOf runs fn n times (fn gets the run number) and prints the median
// seconds under name, with every run as a comment, and the median CPU
// seconds of this process under name_cpu (all of the work on SQLite, which
// runs in the process; only the client's share on PostgreSQL).
func medianOf(name string, n int, fn func(i int)) float64 {
	ts, cs := make([]float64, n), make([]float64, n)
	for i := range n {
		start, cpu := time.Now(), cpuSeconds()
		fn(i)
		ts[i], cs[i] = time.Since(start).Seconds(), cpuSeconds()-cpu
	}
	m := median(ts)
	fmt.Printf("%s %.3f\n# %s runs %s\n%s_cpu %.3f\n", name, m, name, fmtTimes(ts), name, median(cs))
	return m
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func median(ts []float64) float64 {
	s := slices.Clone(ts)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtTimes(ts []float64) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "%.3f ", t)
	}
	return strings.TrimSpace(b.String())
}

// export writes the orders the way DuckDB reads them.
func export(ctx context.Context, db *store.DB, path string) {
	f, err := os.Create(path)
	check(err)
	defer f.Close()
	w := csv.NewWriter(f)
	check(w.Write([]string{"customer_id", "ordered_at", "status", "total"}))
	rows, err := db.Read.QueryContext(ctx, `SELECT customer_id, ordered_at, status, total FROM orders`)
	check(err)
	defer rows.Close()
	for rows.Next() {
		var c, at, total int64
		var st string
		check(rows.Scan(&c, &at, &st, &total))
		check(w.Write([]string{strconv.FormatInt(c, 10), strconv.FormatInt(at, 10), st, strconv.FormatInt(total, 10)}))
	}
	check(rows.Err())
	w.Flush()
	check(w.Error())
}

func run(ctx context.Context, db *store.DB, c *clock.Manual, truthFile string, runs int) {
	var t Truth
	raw, err := os.ReadFile(truthFile)
	check(err)
	check(json.Unmarshal(raw, &t))
	var res store.RefreshResult
	refresh := func() {
		res, err = db.RefreshScores(ctx)
		check(err)
	}
	// First run (or a new window): aggregates rebuilt from every order.
	timed("rebuild_from_orders", refresh)
	fmt.Printf("# rebuild: %+v\n", res)
	// The models, on the day the data was drawn up to (so that the fit can
	// be compared with the parameters it was drawn from).
	var p *analytics.PredictReport
	var fits []float64
	medianOf("predict_total", min(runs, 3), func(int) {
		p, err = db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: analytics.DayOf(Now), Unit: analytics.Week, HorizonMonths: 12}, nil)
		check(err)
		fits = append(fits, p.FitSeconds)
	})
	fmt.Printf("bgnbd_fit %.3f\n# bgnbd_fit runs %s\n", median(fits), fmtTimes(fits))
	b, g := p.BGNBD, p.GammaGamma
	fmt.Printf("# BG/NBD fitted r=%.3f alpha=%.3f a=%.3f b=%.3f (LL %.1f, %d customers); drawn from r=%.3f alpha=%.3f a=%.3f b=%.3f\n",
		b.R, b.Alpha, b.A, b.B, p.BGNBDLogLik, p.Customers, t.R, t.Alpha, t.A, t.B)
	fmt.Printf("# Gamma-Gamma fitted p=%.3f q=%.3f v=%.1f; drawn from p=%g q=%g v=%g\n", g.P, g.Q, g.V, t.P, t.Q, t.Gamma)
	worst := 0.0
	for _, d := range [][2]float64{{b.R, t.R}, {b.Alpha, t.Alpha}, {b.A, t.A}, {b.B, t.B}} {
		worst = math.Max(worst, math.Abs(d[0]/d[1]-1))
	}
	fmt.Printf("bgnbd_max_rel_error %.3f\n", worst)
	// The daily recompute: the date moves, every customer is rescored.
	medianOf("rfm_recompute_all", runs, func(i int) {
		c.Set(Now.AddDate(0, 0, i+1))
		refresh()
	})
	fmt.Printf("# recompute: %+v\n", res)
	// New thresholds: every customer rescored from the kept aggregates.
	rc, cc, err := db.AnalyticsConfig(ctx)
	check(err)
	medianOf("rfm_rescore_new_thresholds", runs, func(i int) {
		r := rc
		if i%2 == 0 {
			r.Thresholds.Monetary = []int64{120000, 60000, 35000, 12000}
		}
		check(db.SetAnalyticsConfig(ctx, r, cc))
		refresh()
	})
	fmt.Printf("# rescore: %+v\n", res)
	check(db.SetAnalyticsConfig(ctx, rc, cc)) // back to the defaults for the report
	refresh()
	today := analytics.DayOf(c.Now())
	fmt.Printf("as_of_day %d\nend_ms %d\n", int64(today), (today + 1).StartMS())
	var rep *analytics.RFMReport
	medianOf("rfm_report", runs, func(int) {
		rep, err = db.RFM(ctx, store.RFMOptions{AsOf: today}, nil)
		check(err)
	})
	fmt.Printf("segments %s\n", segmentCounts(rep.Segments))
	fmt.Printf("# customers %d prospects %d\n", rep.Customers, rep.Prospects)
	// The other reports on the same store (enishi alone, one run each).
	for _, r := range []struct {
		name string
		fn   func() error
	}{
		{"report_cpm", func() error { _, err := db.CPM(ctx, today); return err }},
		{"report_decile", func() error { _, err := db.Deciles(ctx, today, 365); return err }},
		{"report_cohort", func() error {
			_, err := db.Cohorts(ctx, analytics.CohortOptions{Metric: "repeat_rate", Months: 12, AsOf: today})
			return err
		}},
		{"report_kpi", func() error {
			_, err := db.KPI(ctx, analytics.KPIOptions{From: today - 89, To: today, F2Days: 90, Today: today})
			return err
		}},
		{"report_rfm_movement", func() error { _, err := db.RFMMovement(ctx, today-90, today); return err }},
	} {
		timed(r.name, func() { check(r.fn()) })
	}
	// 1,000 new orders of existing customers through the importer, then
	// the incremental rescore; each run with other customers.
	seq := 0
	medianOf("incremental_1000_orders", runs, func(run int) {
		var batch []order.Order
		for i := range 1000 {
			seq++
			cid := 1 + (seq*7919)%t.Customers
			id, err := identity.EmailID(fmt.Sprintf("u%d@example.com", cid))
			check(err)
			b := customer.Record{Identifiers: []identity.Identifier{id}}
			batch = append(batch, storetest.Order("bench", fmt.Sprintf("new%d", seq), c.Now().Add(-time.Hour), b, "SKU-1", 1, 2000+i))
		}
		_, err := db.ImportOrders(ctx, batch)
		check(err)
		refresh()
	})
	fmt.Printf("# incremental: %+v\n", res)
}

// segmentCounts formats counts as name:n sorted by name (as the DuckDB
// baseline prints them, so the two can be compared).
func segmentCounts(m map[string]int64) string {
	var names []string
	for k, n := range m {
		if n > 0 {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s:%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
