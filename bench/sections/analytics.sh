# Analytics (issue 6): on a store generated directly with bulk SQL
# (bench/analytics gen: 1,000,000 customers, 10,000,000 orders; the importer
# would take hours), the full RFM recompute against DuckDB running the
# equivalent SQL over the same orders exported to CSV → Parquet
# (bench/duckdb, its own Go module). Targets: enishi within 2× of DuckDB on
# SQLite and on PostgreSQL; 1,000 new orders rescored in under 1 s; the
# BG/NBD fit on 1M customers in under 30 s.
# ANALYTICS_CUSTOMERS / ANALYTICS_ORDERS scale it down for a quick run.

analytics_bin() {
  go build -o "$OUT/analytics" ./bench/analytics
  (cd bench/duckdb && go build -o "$OUT/duckdb" .)
}

# analytics_run LABEL DBFLAGS…: generate, export, run enishi and DuckDB, report.
analytics_run() {
  local label=$1; shift
  local c=${ANALYTICS_CUSTOMERS:-1000000} o=${ANALYTICS_ORDERS:-10000000}
  "$OUT/analytics" gen "$@" -customers "$c" -orders "$o" >"$OUT/analytics-gen.txt"
  rm -f "$OUT/orders.parquet"
  "$OUT/analytics" export "$@" -o "$OUT/orders.csv"
  "$OUT/analytics" run "$@" | tee "$OUT/analytics-run.txt" | grep '^#' || true
  local day end; day=$(awk '$1=="as_of_day"{print $2}' "$OUT/analytics-run.txt"); end=$(awk '$1=="end_ms"{print $2}' "$OUT/analytics-run.txt")
  "$OUT/duckdb" -csv "$OUT/orders.csv" -as-of-day "$day" -end-ms "$end" | tee "$OUT/duckdb-run.txt" | grep '^#' || true
  local v; v() { awk -v k="$1" '$1==k{print $2}' "$OUT/analytics-run.txt" "$OUT/duckdb-run.txt"; }
  local duck; duck=$(v duckdb_rfm)
  echo "data: $c customers, $o orders ($label); generated in $(awk '{s+=$2} END {print s}' "$OUT/analytics-gen.txt")s"
  report "RFM recompute all, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rfm_recompute_all)" "daily: window moved, every customer rescored from kept aggregates"
  report "RFM report, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rfm_report)" "segments and grid from kept aggregates"
  report "RFM rebuild from orders, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rebuild_from_orders)" "first run / settings change: aggregates rebuilt from every order"
  echo "  1,000 new orders imported and rescored: $(v incremental_1000_orders)s (target < 1 s)"
  echo "  BG/NBD fit: $(v bgnbd_fit)s, predict total $(v predict_total)s (target fit < 30 s)"
}

bench_analytics_sqlite() {
  analytics_bin
  rm -f "$OUT"/analytics.db*
  analytics_run SQLite -db "$OUT/analytics.db"
}

bench_analytics_postgres() {
  analytics_bin
  analytics_run PostgreSQL -database-url "$(pgdb bench_analytics)"
}
