# Analytics (issue 6): on a shop generated from known BG/NBD and
# Gamma-Gamma processes (bench/analytics gen: 1,000,000 customers,
# 10,000,000 orders, deterministic; loaded with bulk INSERTs, the importer
# would take hours), enishi's RFM recomputes against DuckDB running the
# equivalent SQL over the same orders exported to CSV → Parquet
# (bench/duckdb, its own Go module). Targets: enishi within 2× of DuckDB
# (ratio ≥ 0.5) on SQLite and on PostgreSQL; 1,000 new orders rescored in
# under 1 s; the BG/NBD fit on 1M customers in under 30 s. Every figure is
# the median of several runs (ANALYTICS_RUNS, default 5). The machine may
# be shared, so DuckDB runs both before and after enishi (its median is
# over both sets), and on SQLite, where all of the work is in the process
# as it is for DuckDB, the CPU seconds of each are compared too.
# ANALYTICS_CUSTOMERS / ANALYTICS_ORDERS scale it down for a quick run.
# The generated SQLite file and the CSV are kept in bench/out (delete them
# to regenerate); PostgreSQL is loaded afresh in each run.

analytics_bin() {
  go build -o "$OUT/analytics" ./bench/analytics
  (cd bench/duckdb && go build -o "$OUT/duckdb" .)
}

# analytics_run LABEL DBFLAGS…: run DuckDB on the exported orders, enishi
# on the generated store, DuckDB again, and report.
analytics_run() {
  local label=$1; shift
  local c=${ANALYTICS_CUSTOMERS:-1000000} o=${ANALYTICS_ORDERS:-10000000} runs=${ANALYTICS_RUNS:-5}
  local csv="$OUT/analytics-$c-$o.csv" truth="$OUT/analytics-$c-$o.truth.json"
  [ -s "$csv" ] || "$OUT/analytics" export "$@" -o "$csv"
  local day end; read -r day end < <("$OUT/analytics" asof -runs "$runs")
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$OUT/duckdb" -csv "$csv" -as-of-day "$day" -end-ms "$end" -runs "$runs" >"$OUT/duckdb-before.txt"
  "$OUT/analytics" run "$@" -truth "$truth" -runs "$runs" | tee "$OUT/analytics-run.txt" | grep '^#' || true
  "$OUT/duckdb" -csv "$csv" -as-of-day "$day" -end-ms "$end" -runs "$runs" | tee "$OUT/duckdb-run.txt" | grep '^#' || true
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  local v; v() { awk -v k="$1" '$1==k{print $2}' "$OUT/analytics-run.txt" "$OUT/duckdb-run.txt"; }
  # pooled KEY: the median of DuckDB's runs before and after enishi.
  local pooled; pooled() { awk -v k="$1" '$1==k{print $2}' "$OUT/duckdb-before.txt" "$OUT/duckdb-run.txt" | sort -g |
    awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
  local duck; duck=$(pooled duckdb_rfm_run)
  echo "DuckDB RFM runs before enishi: $(awk '$1=="duckdb_rfm_run"{printf "%s ", $2}' "$OUT/duckdb-before.txt")after: $(awk '$1=="duckdb_rfm_run"{printf "%s ", $2}' "$OUT/duckdb-run.txt")"
  local ours theirs; ours=$(grep '^segments ' "$OUT/analytics-run.txt"); theirs=$(grep '^segments ' "$OUT/duckdb-run.txt")
  if [ "$ours" = "$theirs" ]; then echo "RFM segments agree with DuckDB: ${ours#segments }"; else echo "RFM SEGMENTS DIFFER: enishi ${ours#segments }; DuckDB ${theirs#segments }"; fi
  echo "data: $c customers, $o orders ($label)"
  report "RFM recompute all, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rfm_recompute_all)" "daily: the date moves, everyone current from kept aggregates"
  if [ "$label" = SQLite ]; then
    report "  same, CPU seconds" "DuckDB CPU (2 cores)" "$(pooled duckdb_rfm_cpu_run)" "$(v rfm_recompute_all_cpu)" "work done, whatever else the machine runs"
  fi
  report "RFM report, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rfm_report)" "segments and R×F grid of everyone"
  if [ "$label" = SQLite ]; then
    report "  same, CPU seconds" "DuckDB CPU (2 cores)" "$(pooled duckdb_rfm_cpu_run)" "$(v rfm_report_cpu)" ""
  fi
  report "RFM rescore, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rfm_rescore_new_thresholds)" "new monetary cut points: everyone rescored"
  report "RFM rebuild, $label" "DuckDB RFM SQL (parquet)" "$duck" "$(v rebuild_from_orders)" "first run / new window: aggregates from every order (1 run)"
  echo "  1,000 new orders imported and rescored: $(v incremental_1000_orders)s (target < 1 s)"
  echo "  other reports on the same store (no baseline): cpm $(v report_cpm)s, decile $(v report_decile)s, cohort $(v report_cohort)s, kpi (90 days) $(v report_kpi)s, rfm-movement $(v report_rfm_movement)s"
  echo "  BG/NBD fit: $(v bgnbd_fit)s (target < 30 s), whole predict report $(v predict_total)s; fitted parameters within $(v bgnbd_max_rel_error) (relative) of the drawn ones"
}

# analytics_gen DBFLAGS…: generate the shop (same data on every backend).
analytics_gen() {
  local c=${ANALYTICS_CUSTOMERS:-1000000} o=${ANALYTICS_ORDERS:-10000000}
  "$OUT/analytics" gen "$@" -customers "$c" -orders "$o" -truth "$OUT/analytics-$c-$o.truth.json" | grep -v '^gen_' || true
}

bench_analytics_sqlite() {
  analytics_bin
  local c=${ANALYTICS_CUSTOMERS:-1000000} o=${ANALYTICS_ORDERS:-10000000}
  local base="$OUT/analytics-$c-$o.db"
  if [ ! -s "$base" ]; then
    rm -f "$base"*
    analytics_gen -db "$base"
  fi
  rm -f "$OUT"/analytics-run.db*
  local f
  for f in "$base" "$base-wal" "$base-shm"; do [ ! -e "$f" ] || cp "$f" "$OUT/analytics-run.db${f#"$base"}"; done
  sync # the copy's write-back would otherwise land in the first timings
  analytics_run SQLite -db "$OUT/analytics-run.db"
  rm -f "$OUT"/analytics-run.db*
}

bench_analytics_postgres() {
  analytics_bin
  local url; url=$(pgdb bench_analytics)
  analytics_gen -database-url "$url"
  analytics_run PostgreSQL -database-url "$url"
}
