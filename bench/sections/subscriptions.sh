# Subscriptions (issue 12): the retention-by-delivery report (継続率) on a
# book of 200,000 contracts and 2,000,000 deliveries generated with bulk SQL
# (bench/subscriptions gen), against DuckDB counting the same histogram
# from the contracts and every delivery exported to CSV → Parquet
# (bench/duckdb -subscriptions). Target: under 2 s on SQLite. Also printed:
# the same histogram counted from the delivery rows in SQLite (what the
# contracts' kept counts save), the cancellation report and 12 months of MRR.
# SUBSCRIPTIONS / DELIVERIES scale it down for a quick run.

subscriptions_bin() {
  go build -o "$OUT/subscriptions" ./bench/subscriptions
  (cd bench/duckdb && go build -o "$OUT/duckdb" .)
}

# subscriptions_run LABEL DBFLAGS…: generate, export, run enishi and DuckDB, report.
subscriptions_run() {
  local label=$1; shift
  local s=${SUBSCRIPTIONS:-200000} d=${DELIVERIES:-2000000}
  "$OUT/subscriptions" gen "$@" -subscriptions "$s" -deliveries "$d" >"$OUT/subscriptions-gen.txt"
  mkdir -p "$OUT/subscriptions-csv"
  rm -f "$OUT"/subscriptions-csv/*.parquet
  "$OUT/subscriptions" export "$@" -dir "$OUT/subscriptions-csv" >/dev/null
  "$OUT/subscriptions" run "$@" | tee "$OUT/subscriptions-run.txt" | grep '^#' || true
  "$OUT/duckdb" -subscriptions "$OUT/subscriptions-csv/subscriptions.csv" -deliveries "$OUT/subscriptions-csv/deliveries.csv" \
    | tee "$OUT/subscriptions-duckdb.txt" | grep '^#' || true
  local v; v() { awk -v k="$1" '$1==k{print $2}' "$OUT/subscriptions-gen.txt" "$OUT/subscriptions-run.txt" "$OUT/subscriptions-duckdb.txt"; }
  local duck; duck=$(v duckdb_retention)
  echo "data: $(v subscriptions) subscriptions, $(v deliveries) deliveries ($label)"
  report "継続率 report, $label" "DuckDB histogram (parquet)" "$duck" "$(v retention_by_cohort)" "by start month, target < 2 s"
  report "継続率 by product, $label" "DuckDB histogram (parquet)" "$duck" "$(v retention_by_product)" ""
  report "継続率 from delivery rows, $label" "DuckDB histogram (parquet)" "$duck" "$(v retention_from_deliveries)" "without the kept counts"
  echo "  cancellation report (1 year): $(v cancellation_report)s; MRR, 12 months: $(v mrr_12_months)s"
}

bench_subscriptions_sqlite() {
  subscriptions_bin
  rm -f "$OUT"/subscriptions.db*
  subscriptions_run SQLite -db "$OUT/subscriptions.db"
}

bench_subscriptions_postgres() {
  subscriptions_bin
  subscriptions_run PostgreSQL -database-url "$(pgdb bench_subscriptions)"
}
