# Segments and journeys (issue 7), on a SQLite store generated with bulk SQL
# (bench/journeys gen: 1,000,000 customers; the importer would take many
# minutes). Targets: a journey whose trigger matches 1,000,000 customers
# schedules them all in under 60 s; the engine executes ≥ 2,000 steps/s on
# 2 cores with a fake channel, printed beside a bare loop of one-row INSERT
# transactions on the same store (the ratio is steps/s ÷ inserts/s);
# segment re-evaluation after one order under 50 ms.
# JOURNEYS_CUSTOMERS / JOURNEYS_ENGINE_CUSTOMERS scale it down.

bench_journeys() {
  go build -o "$OUT/journeys" ./bench/journeys
  local db="$OUT/journeys.db" c=${JOURNEYS_CUSTOMERS:-1000000} e=${JOURNEYS_ENGINE_CUSTOMERS:-50000}
  rm -f "$db"*
  "$OUT/journeys" gen -db "$db" -customers "$c" >"$OUT/journeys-gen.txt"
  "$OUT/journeys" run -db "$db" -engine-customers "$e" | tee "$OUT/journeys-run.txt" >/dev/null
  local v; v() { awk -v k="$1" '$1==k{print $2}' "$OUT/journeys-run.txt"; }
  echo "data: $c customers on SQLite, generated in $(awk '{print $2}' "$OUT/journeys-gen.txt")s"
  echo "  segment of all $c built in $(v segment_build)s"
  echo "  journey on entering it enabled: $(awk '$1=="schedule_1m"{print $3}' "$OUT/journeys-run.txt") customers scheduled in $(v schedule_1m)s (target < 60 s)"
  awk -v s="$(v steps_per_s)" -v b="$(v insert_per_s)" 'BEGIN {
    printf "%-28s %-26s %8.0f/s  enishi %8.0f/s  ratio %.2f  %s\n", "journey steps, SQLite", "one-row INSERT loop", b, s, (b > 0 ? s / b : 0), "(target ≥ 2,000 steps/s; fake channel)" }'
  echo "  one order re-evaluated against 20 segments: p50 $(v reeval_ms_p50) ms, p95 $(v reeval_ms_p95) ms (target < 50 ms; the import itself: $(v import_one_order_ms_p50) ms)"
}
