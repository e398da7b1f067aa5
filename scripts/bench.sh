#!/usr/bin/env bash
# make bench: every benchmark, each run beside its baseline in the same run,
# printing both and the ratio. Sections live in bench/sections/*.sh, one file
# per capability, each defining bench_<name> functions.
#   scripts/bench.sh                 all sections
#   scripts/bench.sh import_sqlite   only the named ones
# Data sets are generated into bench/out (kept between runs; delete to redo).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh --bench
OUT=$PWD/bench/out
mkdir -p "$OUT"
go build -o "$OUT/enishi" ./cmd/enishi
go build -o "$OUT/genorders" ./bench/genorders
go build -o "$OUT/ingestload" ./bench/ingestload

eval "$(scripts/pgtest.sh start)"
trap 'scripts/pgtest.sh stop "$ENISHI_PGTEST_DIR"' EXIT

# timed CMD… runs a command and sets TIME_S (wall seconds) and RSS_MB (peak
# resident memory); the command's own output goes to $OUT/last.log.
timed() {
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" >"$OUT/last.log" 2>&1 || { cat "$OUT/last.log" >&2; return 1; }
  read -r TIME_S rss_kb <"$OUT/time.txt"
  RSS_MB=$((rss_kb / 1024))
}

# report NAME BASELINE_LABEL BASELINE_S ENISHI_S [NOTE]: the ratio is speed
# relative to the baseline (baseline time / enishi time), so 0.5 means enishi
# runs at half the baseline's speed.
report() {
  awk -v n="$1" -v bl="$2" -v b="$3" -v e="$4" -v note="${5:-}" 'BEGIN {
    printf "%-28s %-26s %8.2fs   enishi %8.2fs   ratio %.2f  %s\n", n, bl, b, e, (e > 0 ? b / e : 0), note }'
}

# pgdb NAME: a fresh database on the bench PostgreSQL server; prints its URL.
pgdb() {
  psql "$ENISHI_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  echo "${ENISHI_TEST_POSTGRES_URL/\/postgres\?//$1?}"
}

for f in bench/sections/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done
mapfile -t all < <(declare -F | awk '{print $3}' | grep '^bench_' | sed 's/^bench_//')
run=("$@")
[ ${#run[@]} -gt 0 ] || run=("${all[@]}")
echo "enishi benchmarks on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
for s in "${run[@]}"; do
  "bench_$s"
done
