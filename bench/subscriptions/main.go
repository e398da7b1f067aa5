// Command subscriptions benchmarks the retention-by-delivery report (継続率)
// on a generated subscription book (bench/sections/subscriptions.sh runs it
// beside DuckDB):
//
//	subscriptions gen    -db F | -database-url U  -subscriptions N -deliveries M
//	subscriptions run    -db F | -database-url U
//	subscriptions export -db F -dir DIR   (subscriptions.csv, deliveries.csv)
//
// gen fills an empty store with bulk SQL: going through the importer would
// take an hour for millions of delivery orders. Each contract has its own
// customer; deliveries per contract fall off like a D2C book (many stop
// after one or two, a long tail stays a year and more), scaled so that
// the book has about M deliveries; 60% of contracts are cancelled. The
// deliveries table holds one row per delivery; the contracts keep their
// delivered count and revenue forward, as the store does on every write.
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/bench/benchstore"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription"
)

// Now is the benchmark's fixed clock: 2026-04-01 12:00 JST.
var Now = time.Date(2026, 4, 1, 3, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: subscriptions gen|run|export [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	path := fs.String("db", "", "SQLite file")
	url := fs.String("database-url", "", "PostgreSQL URL")
	subs := fs.Int("subscriptions", 200_000, "contracts to generate")
	deliveries := fs.Int("deliveries", 2_000_000, "deliveries to generate (about)")
	dir := fs.String("dir", ".", "where export writes its CSV files")
	prof := fs.String("cpuprofile", "", "write a CPU profile of the command here")
	_ = fs.Parse(os.Args[2:])
	if *prof != "" {
		f, err := os.Create(*prof)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	c := clock.NewManual(Now, true)
	db, err := benchstore.Open(ctx, *path, *url, c)
	check(err)
	defer db.Close()
	switch os.Args[1] {
	case "gen":
		gen(ctx, db, *subs, *deliveries)
	case "run":
		run(ctx, db)
	case "export":
		export(ctx, db, *dir)
	default:
		fmt.Fprintln(os.Stderr, "usage: subscriptions gen|run|export [flags]")
		os.Exit(2)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "subscriptions bench:", err)
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

const month = int64(30 * 86_400_000)

func gen(ctx context.Context, db *store.DB, subs, deliveries int) {
	now := Now.UnixMilli()
	pg := db.Backend() == "postgres"
	seq := "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g) AS s"
	rnd := "(abs(random()) %% %d)" // SQLite: 64-bit random
	if pg {
		seq = "generate_series(1, %d) AS s(i)"
		rnd = "floor(random() * %d)::bigint"
	}
	r := func(n int64) string { return fmt.Sprintf(rnd, n) }
	// deliveries = 1 + ⌊u·v·k / 10⁶⌋ for whole u, v uniform in [0, 30):
	// mostly few, a long tail; k puts the mean near deliveries / subs
	// (E[u·v] = 14.5², and flooring takes about ½ off).
	mean := float64(deliveries) / float64(subs)
	k := int64((mean - 0.5) / (14.5 * 14.5) * 1e6)
	timed("gen_customers", func() {
		_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO customers (id, email, created_at, updated_at)
			SELECT i, 's' || i || '@example.jp', %d, %d FROM `+seq, now, now, subs))
		check(err)
	})
	skus := []string{"SP-001", "SP-001", "SK-005", "SP-007", "FD-004"}
	plans := []string{"定期便 通常", "初回限定 980円", "定期便 通常", "定期便 通常", "隔月便"}
	skuCase, planCase := "CASE i % 5", "CASE i % 5"
	for j := range skus {
		skuCase += fmt.Sprintf(" WHEN %d THEN '%s'", j, skus[j])
		planCase += fmt.Sprintf(" WHEN %d THEN '%s'", j, plans[j])
	}
	skuCase += " END"
	planCase += " END"
	// Tokyo month of started_at as YYYYMM, for start_month.
	ym := `CAST(strftime('%Y%m', (x.started + 32400000) / 1000, 'unixepoch') AS INTEGER)`
	if pg {
		ym = `CAST(to_char(to_timestamp((x.started + 32400000) / 1000.0) AT TIME ZONE 'UTC', 'YYYYMM') AS BIGINT)`
	}
	timed("gen_subscriptions", func() {
		_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO subscriptions (id, source, external_id, customer_id, origin_customer_id, sku, product_name, plan,
			cycle_unit, cycle_count, quantity, price, status, started_at, start_month, stated_deliveries, deliveries, delivered_count, delivered_amount,
			cancelled_at, cancel_reason, created_at, updated_at)
			SELECT i, 'bench', 'S' || i, i, i, %s, %s, %s, 'month', 1, 1, 2916, CASE WHEN x.c < 6 THEN 'cancelled' ELSE 'active' END,
				x.started, %s, 0, x.n, x.n, x.n * 2916, CASE WHEN x.c < 6 THEN x.started + x.n * %d - %d ELSE NULL END,
				CASE WHEN x.c < 6 THEN CASE i %% 4 WHEN 0 THEN '商品が余っている' WHEN 1 THEN '価格が高い' WHEN 2 THEN '効果を実感できない' ELSE '' END ELSE '' END, %d, %d
			FROM (SELECT i, n, %s AS c, %d - (n - 1) * %d - %s AS started
			      FROM (SELECT i, 1 + (%s * %s * %d) / 1000000 AS n FROM `+seq+`) y) x`,
			skuCase, skuCase, planCase, ym, month, month/3, now, now, r(10), now, month, r(24*month), r(30), r(30), k, subs))
		check(err)
	})
	timed("gen_deliveries", func() {
		_, err := db.Write.ExecContext(ctx, fmt.Sprintf(`INSERT INTO subscription_deliveries (subscription_id, number, order_id, delivered_at, amount)
			SELECT s.id, n.i, NULL, s.started_at + (n.i - 1) * %d, 2916 FROM subscriptions s JOIN (SELECT i FROM `+seq+`) n ON n.i <= s.deliveries`,
			month, 64))
		check(err)
	})
	if pg {
		_, err := db.Write.ExecContext(ctx, `ANALYZE subscriptions; ANALYZE subscription_deliveries`)
		check(err)
	}
	var n, d int64
	check(db.Read.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM subscription_deliveries)`).Scan(&n, &d))
	fmt.Printf("# %d subscriptions, %d deliveries\n", n, d)
	fmt.Printf("subscriptions %d\ndeliveries %d\n", n, d)
}

func best(name string, runs int, fn func()) {
	b := 1e9
	for i := 0; i < runs; i++ {
		start := time.Now()
		fn()
		b = min(b, time.Since(start).Seconds())
	}
	fmt.Printf("%s %.3f\n", name, b)
}

func run(ctx context.Context, db *store.DB) {
	var rep *subscription.RetentionReport
	best("retention_by_cohort", 3, func() {
		var err error
		rep, err = db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByCohort})
		check(err)
	})
	best("retention_by_product", 3, func() {
		_, err := db.SubscriptionRetention(ctx, subscription.RetentionOptions{By: subscription.ByProduct})
		check(err)
	})
	// The same histogram counted from the delivery rows instead of the
	// contracts' kept counts: what keeping them forward saves.
	best("retention_from_deliveries", 3, func() {
		rows, err := db.Read.QueryContext(ctx, `SELECT s.start_month, coalesce(d.n, 0), CASE WHEN s.status = 'cancelled' THEN 1 ELSE 0 END, count(*), sum(coalesce(d.amount, 0))
			FROM subscriptions s LEFT JOIN (SELECT subscription_id, count(*) AS n, sum(amount) AS amount FROM subscription_deliveries GROUP BY subscription_id) d
			ON d.subscription_id = s.id GROUP BY 1, 2, 3`)
		check(err)
		for rows.Next() {
		}
		check(rows.Err())
		rows.Close()
	})
	best("cancellation_report", 3, func() {
		_, err := db.SubscriptionCancellations(ctx, subscription.CancellationOptions{From: Now.AddDate(-1, 0, 0), To: Now})
		check(err)
	})
	best("mrr_12_months", 1, func() {
		_, err := db.SubscriptionMRR(ctx, subscription.CohortMonth(Now.AddDate(0, -11, 0)), subscription.CohortMonth(Now))
		check(err)
	})
	t := rep.Total
	fmt.Printf("# %d subscriptions, %d cohorts; retention 2nd %.1f%% 3rd %.1f%% 6th %.1f%% 12th %.1f%%; avg deliveries %.2f, LTV ¥%.0f\n",
		t.Subscriptions, len(rep.Groups), 100*val(t.Retention[1]), 100*val(t.Retention[2]), 100*val(t.Retention[5]), 100*val(t.Retention[11]),
		t.AvgDeliveries, t.LTV)
	fmt.Printf("# reached %v\n", t.Reached)
}

func val(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// export writes the contracts and deliveries for the DuckDB baseline.
func export(ctx context.Context, db *store.DB, dir string) {
	write := func(name, q string, header []string) {
		f, err := os.Create(filepath.Join(dir, name))
		check(err)
		defer f.Close()
		w := csv.NewWriter(f)
		check(w.Write(header))
		rows, err := db.Read.QueryContext(ctx, q)
		check(err)
		defer rows.Close()
		vals := make([]int64, len(header))
		ptrs := make([]any, len(header))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rec := make([]string, len(header))
		for rows.Next() {
			check(rows.Scan(ptrs...))
			for i, v := range vals {
				rec[i] = strconv.FormatInt(v, 10)
			}
			check(w.Write(rec))
		}
		check(rows.Err())
		w.Flush()
		check(w.Error())
	}
	timed("export", func() {
		write("subscriptions.csv", `SELECT id, started_at, CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END, price, CASE sku WHEN 'SP-001' THEN 1 WHEN 'SK-005' THEN 2 WHEN 'SP-007' THEN 3 ELSE 4 END
			FROM subscriptions ORDER BY id`, []string{"id", "started_at", "cancelled", "price", "product"})
		write("deliveries.csv", `SELECT subscription_id, number, delivered_at, amount FROM subscription_deliveries ORDER BY subscription_id, number`,
			[]string{"subscription_id", "number", "delivered_at", "amount"})
	})
}
