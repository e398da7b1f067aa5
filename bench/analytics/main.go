// Command analytics benchmarks enishi's analytics on a generated store
// (bench/sections/analytics.sh runs it beside DuckDB):
//
//	analytics gen  -db F | -database-url U  -customers N -orders M
//	analytics run  -db F | -database-url U
//	analytics export -db F -o orders.csv
//
// gen fills an empty store directly with bulk SQL (INSERT … SELECT over a
// recursive CTE on SQLite, generate_series on PostgreSQL): going through
// the importer would take hours for 10M orders. Customers get ids 1…N and
// orders spread over three years before the benchmark's clock, skewed so
// that low ids buy more often; 2% are cancelled. Order lines are not
// generated (RFM and the models read orders only).
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/analytics"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
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
	orders := fs.Int("orders", 10_000_000, "orders to generate")
	out := fs.String("o", "orders.csv", "export file")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	c := clock.NewManual(Now, true)
	var db *store.DB
	var err error
	if *url != "" {
		db, err = postgres.Open(ctx, *url, c)
	} else {
		db, err = sqlite.Open(*path, c)
	}
	check(err)
	defer db.Close()
	check(db.Migrate(ctx))
	switch os.Args[1] {
	case "gen":
		gen(ctx, db, *customers, *orders)
	case "export":
		export(ctx, db, *out)
	case "run":
		run(ctx, db, c)
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

func gen(ctx context.Context, db *store.DB, customers, orders int) {
	now := Now.UnixMilli()
	span := int64(3 * 365 * 86_400_000)
	var seq string
	if db.Backend() == "postgres" {
		seq = "generate_series(1, %d) AS s(i)"
	} else {
		seq = "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g) AS s"
	}
	rnd := "(abs(random()) %% %d)" // SQLite: 64-bit random
	if db.Backend() == "postgres" {
		rnd = "floor(random() * %d)::bigint"
	}
	r := func(n int64) string { return fmt.Sprintf(rnd, n) }
	timed("gen_customers", func() {
		_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO customers (id, email, created_at, updated_at)
			SELECT i, 'u' || i || '@example.com', %d, %d FROM `+seq, now-span, now-span, customers))
		check(err)
	})
	// Skew: customer = 1 + floor(N · u · v) for two uniforms u, v.
	timed("gen_orders", func() {
		_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO orders (id, source, external_id, customer_id, origin_customer_id, ordered_at, status,
			channel, total, content_hash, created_at, updated_at)
			SELECT i, 'bench', 'o' || i, c, c, %d - %s, CASE WHEN %s = 0 THEN 'cancelled' ELSE 'paid' END, 'own_ec', 500 + 100 * %s, i, %d, %d
			FROM (SELECT i, 1 + (%s * %s) / %d AS c FROM `+seq+`) x`,
			now, r(span), r(50), r(200), now, now, r(int64(customers)), r(int64(customers)), customers, orders))
		check(err)
	})
	timed("gen_aggregates", func() {
		_, err := db.Write.ExecContext(ctx, `UPDATE customers SET order_count = a.n, total_spent = a.s, first_order_at = a.f, last_order_at = a.l
			FROM (SELECT customer_id, count(*) AS n, sum(total) AS s, min(ordered_at) AS f, max(ordered_at) AS l FROM orders WHERE status = 'paid' GROUP BY customer_id) a
			WHERE customers.id = a.customer_id`)
		check(err)
	})
	if db.Backend() == "postgres" {
		for _, t := range []string{"customers", "orders"} {
			_, err := db.Write.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'), (SELECT max(id) FROM `+t+`))`)
			check(err)
			_, err = db.Write.ExecContext(ctx, `ANALYZE `+t)
			check(err)
		}
	} else {
		_, err := db.Write.ExecContext(ctx, `ANALYZE`)
		check(err)
	}
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

func run(ctx context.Context, db *store.DB, c *clock.Manual) {
	var res store.RefreshResult
	var err error
	timed("rebuild_from_orders", func() {
		res, err = db.RefreshScores(ctx)
		check(err)
	})
	fmt.Printf("# rebuild: %+v\n", res)
	// The daily recompute: the date moves, every customer is rescored.
	c.Set(Now.Add(24 * time.Hour))
	timed("rfm_recompute_all", func() {
		res, err = db.RefreshScores(ctx)
		check(err)
	})
	fmt.Printf("# recompute: %+v\n", res)
	today := analytics.DayOf(c.Now())
	fmt.Printf("as_of_day %d\nend_ms %d\n", int64(today), (today + 1).StartMS())
	var rep *analytics.RFMReport
	timed("rfm_report", func() {
		rep, err = db.RFM(ctx, store.RFMOptions{AsOf: today}, nil)
		check(err)
	})
	fmt.Printf("# segments %v customers %d\n", rep.Segments, rep.Customers)
	// 1,000 new orders through the importer, then the incremental rescore.
	var batch []order.Order
	for i := 0; i < 1000; i++ {
		id, err := identity.EmailID(fmt.Sprintf("u%d@example.com", 1+i*997))
		check(err)
		b := customer.Record{Identifiers: []identity.Identifier{id}}
		batch = append(batch, storetest.Order("bench", fmt.Sprintf("new%d", i), c.Now().Add(-time.Hour), b, "SKU-1", 1, 2000+i))
	}
	timed("incremental_1000_orders", func() {
		_, err := db.ImportOrders(ctx, batch)
		check(err)
		res, err = db.RefreshScores(ctx)
		check(err)
	})
	fmt.Printf("# incremental: %+v\n", res)
	var p *analytics.PredictReport
	timed("predict_total", func() {
		p, err = db.Predict(ctx, analytics.PredictOptions{CalibrationEnd: today, Unit: analytics.Week, HorizonMonths: 12}, nil)
		check(err)
	})
	fmt.Printf("bgnbd_fit %.3f\n", p.FitSeconds)
	fmt.Printf("# bgnbd r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.1f customers=%d\n", p.BGNBD.R, p.BGNBD.Alpha, p.BGNBD.A, p.BGNBD.B, p.BGNBDLogLik, p.Customers)
}
