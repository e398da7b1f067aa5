# Loyalty (issue 9): earning points on a 1,000,000-order import must take at
# most 1.5× the import alone. The same file (about 1,000,000 orders in
# 3,000,000 lines) is imported three times into a fresh database:
#   alone            the programme switched off (bench/loyalty/off.json)
#   default          the default programme (bench/loyalty/default.json):
#                    1% points valid 12 months,
#                    ranks on the last 12 months' spend
#   all-in-window    every order earns and counts towards ranks (48-month
#                    window and expiry; bench/loyalty/all-in-window.json):
#                    the most work the hook can be given
# The time with earning includes evaluating the ranks the import queued.
# Each line prints alone, with earning, the speed ratio (alone/with) and the
# slowdown (with/alone; target ≤ 1.50), by wall time and — as a check on a
# busy machine — by the enishi process's CPU time (user+sys; for PostgreSQL
# the server's CPU is not in it). LOYALTY_BENCH_LINES=300000 runs a tenth of
# it (a quick check of the section).

orders1m_orders() {
  local lines=${LOYALTY_BENCH_LINES:-3000000}
  [ -s "$OUT/orders-loyalty-$lines.csv" ] || "$OUT/genorders" -lines "$lines" -o "$OUT/orders-loyalty-$lines.csv"
  echo "$OUT/orders-loyalty-$lines.csv"
}

# loyalty_import PROGRAMME DBFLAG... : set the programme on the (fresh)
# database, then import the file into it; sets TIME_S and CPU_S.
loyalty_import() {
  local prog=$1; shift
  "$OUT/enishi" loyalty set "$prog" "$@" >/dev/null
  /usr/bin/time -f "%e %U %S" -o "$OUT/time.txt" "$OUT/enishi" import orders "$(orders1m_orders)" "$@" >"$OUT/last.log" 2>&1 ||
    { cat "$OUT/last.log" >&2; return 1; }
  local u s
  read -r TIME_S u s <"$OUT/time.txt"
  CPU_S=$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')
}

loyalty_report() {
  local name=$1 base=$2 with=$3 basecpu=$4 withcpu=$5 note=$6
  report "$name" "import alone" "$base" "$with" \
    "$(awk -v b="$base" -v e="$with" -v bc="$basecpu" -v ec="$withcpu" 'BEGIN {
      printf "slowdown ×%.2f (target ≤ 1.50), CPU %.1fs → %.1fs ×%.2f", e / b, bc, ec, ec / bc }'); $note"
}

bench_loyalty_sqlite() {
  local db=$OUT/loyalty.db base basecpu orders variant
  rm -f "$db"*; loyalty_import bench/loyalty/off.json --db "$db"; base=$TIME_S basecpu=$CPU_S
  orders=$(sqlite3 "$db" "SELECT count(*) FROM orders")
  for variant in default all-in-window; do
    rm -f "$db"*
    loyalty_import "bench/loyalty/$variant.json" --db "$db"
    loyalty_report "loyalty SQLite $variant" "$base" "$TIME_S" "$basecpu" "$CPU_S" \
      "$orders orders, $(sqlite3 "$db" "SELECT count(*) || ' ledger entries, ' || (SELECT count(*) FROM rank_changes) || ' rank changes' FROM point_entries")"
  done
  rm -f "$db"*
}

bench_loyalty_postgres() {
  local url base basecpu orders variant
  url=$(pgdb bench_loyalty); loyalty_import bench/loyalty/off.json --database-url "$url"; base=$TIME_S basecpu=$CPU_S
  orders=$(psql "$url" -Atc "SELECT count(*) FROM orders")
  for variant in default all-in-window; do
    url=$(pgdb bench_loyalty)
    loyalty_import "bench/loyalty/$variant.json" --database-url "$url"
    loyalty_report "loyalty PostgreSQL $variant" "$base" "$TIME_S" "$basecpu" "$CPU_S" \
      "$orders orders, $(psql "$url" -Atc "SELECT count(*) || ' ledger entries, ' || (SELECT count(*) FROM rank_changes) || ' rank changes' FROM point_entries")"
  done
}
