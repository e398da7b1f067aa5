// Command duckdb is the baseline of the analytics benchmark: DuckDB
// (through its Go bindings, kept in this separate module so that enishi's
// binary stays pure Go) computes the same RFM report — recency, frequency
// and monetary per customer over the window, the default scores and
// segments, counted by segment — from the orders exported to CSV, which
// it first converts to Parquet. The query runs -runs times on all cores
// and the median is printed, with the segment counts (the section checks
// them against enishi's).
//
//	duckdb -csv orders.csv -as-of-day N -end-ms N -window 365 -runs 5
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	in := flag.String("csv", "orders.csv", "orders exported by bench/analytics export")
	end := flag.Int64("end-ms", 0, "end of the as-of day (ms, exclusive)")
	day := flag.Int64("as-of-day", 0, "as-of day number (Tokyo days since 1970-01-01)")
	window := flag.Int("window", 365, "RFM window in days")
	runs := flag.Int("runs", 5, "runs of the query (the median is reported)")
	subs := flag.String("subscriptions", "", "contracts exported by bench/subscriptions (subscription mode)")
	dels := flag.String("deliveries", "", "deliveries exported by bench/subscriptions")
	flag.Parse()
	db, err := sql.Open("duckdb", "")
	check(err)
	defer db.Close()
	if *subs != "" {
		subscriptionRetention(db, *subs, *dels)
		return
	}
	pq := parquet(db, *in)
	start := (*day-int64(*window)+1)*86400000 - 9*3600000
	q := fmt.Sprintf(`WITH c AS (
		SELECT customer_id, %d - max((ordered_at + 32400000) // 86400000) AS rec,
		       count(*) FILTER (WHERE ordered_at >= %d) AS f, coalesce(sum(total) FILTER (WHERE ordered_at >= %d), 0) AS m
		FROM read_parquet('%s') WHERE status = 'paid' AND ordered_at < %d GROUP BY customer_id),
	s AS (SELECT CASE WHEN rec <= 30 THEN 5 WHEN rec <= 60 THEN 4 WHEN rec <= 90 THEN 3 WHEN rec <= 180 THEN 2 ELSE 1 END AS r,
		CASE WHEN f >= 10 THEN 5 WHEN f >= 7 THEN 4 WHEN f >= 4 THEN 3 WHEN f >= 2 THEN 2 ELSE 1 END AS f,
		CASE WHEN m >= 100000 THEN 5 WHEN m >= 50000 THEN 4 WHEN m >= 30000 THEN 3 WHEN m >= 10000 THEN 2 ELSE 1 END AS m FROM c)
	SELECT CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'vip' WHEN r >= 3 AND f >= 3 AND m >= 3 THEN 'loyal'
		WHEN r >= 3 AND f >= 2 AND m >= 2 THEN 'growing' WHEN r >= 4 AND f = 1 THEN 'new' WHEN r = 2 AND f >= 2 THEN 'at_risk'
		WHEN r = 1 THEN 'dormant' ELSE 'other' END AS segment, count(*) FROM s GROUP BY 1 ORDER BY 1`,
		*day, start, start, pq, *end)
	var times, cpus []float64
	var out string
	for range *runs {
		t, cpu := time.Now(), cpuSeconds()
		rows, err := db.Query(q)
		check(err)
		out = ""
		for rows.Next() {
			var seg string
			var n int64
			check(rows.Scan(&seg, &n))
			out += fmt.Sprintf(" %s:%d", seg, n)
		}
		check(rows.Err())
		rows.Close()
		times = append(times, time.Since(t).Seconds())
		cpus = append(cpus, cpuSeconds()-cpu)
	}
	fmt.Printf("segments%s\n", out)
	for i := range times {
		fmt.Printf("duckdb_rfm_run %.3f\nduckdb_rfm_cpu_run %.3f\n", times[i], cpus[i])
	}
	fmt.Printf("# duckdb_rfm runs %v\n", times)
	sort.Float64s(times)
	fmt.Printf("duckdb_rfm %.3f\n", times[len(times)/2])
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// parquet converts a CSV file to Parquet beside it (once) and returns its path.
func parquet(db *sql.DB, csv string) string {
	pq := strings.TrimSuffix(csv, filepath.Ext(csv)) + ".parquet"
	if _, err := os.Stat(pq); err != nil {
		start := time.Now()
		_, err := db.Exec(fmt.Sprintf(`COPY (SELECT * FROM read_csv('%s', header = true)) TO '%s' (FORMAT parquet)`, csv, pq))
		check(err)
		fmt.Printf("# %s written in %.1fs\n", filepath.Base(pq), time.Since(start).Seconds())
	}
	return pq
}

func subscriptionRetention(db *sql.DB, subs, dels string) {
	sp, dp := parquet(db, subs), parquet(db, dels)
	q := fmt.Sprintf(`WITH d AS (SELECT subscription_id, count(*) AS n, sum(amount) AS amount FROM read_parquet('%s') GROUP BY subscription_id)
		SELECT strftime(make_timestamp((s.started_at + 32400000) * 1000), '%%Y%%m') AS cohort, coalesce(d.n, 0) AS deliveries, s.cancelled,
		       count(*) AS n, sum(coalesce(d.amount, 0)) AS revenue
		FROM read_parquet('%s') s LEFT JOIN d ON d.subscription_id = s.id GROUP BY 1, 2, 3`, dp, sp)
	best := 1e9
	var cells, contracts int64
	for i := 0; i < 3; i++ {
		t := time.Now()
		rows, err := db.Query(q)
		check(err)
		cells, contracts = 0, 0
		for rows.Next() {
			var cohort string
			var deliveries, cancelled, n, revenue int64
			check(rows.Scan(&cohort, &deliveries, &cancelled, &n, &revenue))
			cells++
			contracts += n
		}
		check(rows.Err())
		rows.Close()
		best = min(best, time.Since(t).Seconds())
	}
	fmt.Printf("# %d cells over %d contracts\n", cells, contracts)
	fmt.Printf("duckdb_retention %.3f\n", best)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "duckdb bench:", err)
		os.Exit(1)
	}
}
