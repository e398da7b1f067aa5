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
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	in := flag.String("csv", "orders.csv", "orders exported by bench/analytics export")
	end := flag.Int64("end-ms", 0, "end of the as-of day (ms, exclusive)")
	day := flag.Int64("as-of-day", 0, "as-of day number (Tokyo days since 1970-01-01)")
	window := flag.Int("window", 365, "RFM window in days")
	runs := flag.Int("runs", 5, "runs of the query (the median is reported)")
	flag.Parse()
	db, err := sql.Open("duckdb", "")
	check(err)
	defer db.Close()
	pq := strings.TrimSuffix(*in, filepath.Ext(*in)) + ".parquet"
	if _, err := os.Stat(pq); err != nil {
		start := time.Now()
		_, err := db.Exec(fmt.Sprintf(`COPY (SELECT * FROM read_csv('%s', header = true)) TO '%s' (FORMAT parquet)`, *in, pq))
		check(err)
		fmt.Printf("# parquet written in %.1fs\n", time.Since(start).Seconds())
	}
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
	var times []float64
	var out string
	for range *runs {
		t := time.Now()
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
	}
	fmt.Printf("segments%s\n", out)
	fmt.Printf("# duckdb_rfm runs %v\n", times)
	sort.Float64s(times)
	fmt.Printf("duckdb_rfm %.3f\n", times[len(times)/2])
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "duckdb bench:", err)
		os.Exit(1)
	}
}
