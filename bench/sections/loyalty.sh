# Loyalty (issue 9): earning points on a 1,000,000-order import must take at
# most 1.5× the import alone. The same file (about 1,000,000 orders in
# 3,000,000 lines) is imported three times into a fresh database:
#   alone            the programme switched off (bench/loyalty/off.json)
#   default          the default programme: 1% points valid 12 months,
#                    ranks on the last 12 months' spend
#   all-in-window    every order earns and counts towards ranks (48-month
#                    window and expiry; bench/loyalty/all-in-window.json):
#                    the most work the hook can be given
# Each line prints alone, with earning, the speed ratio (alone/with) and the
# slowdown (with/alone; target ≤ 1.50). LOYALTY_BENCH_LINES=300000 runs a
# tenth of it (a quick check of the section).

orders1m_orders() {
  local lines=${LOYALTY_BENCH_LINES:-3000000}
  [ -s "$OUT/orders-loyalty-$lines.csv" ] || "$OUT/genorders" -lines "$lines" -o "$OUT/orders-loyalty-$lines.csv"
  echo "$OUT/orders-loyalty-$lines.csv"
}

# loyalty_import PROGRAMME DBFLAG... : set the programme on a fresh database,
# then import the file into it, timed.
loyalty_import() {
  local prog=$1; shift
  "$OUT/enishi" loyalty set "$prog" "$@" >/dev/null
  timed "$OUT/enishi" import orders "$(orders1m_orders)" "$@"
}

loyalty_report() {
  local name=$1 base=$2 with=$3 note=$4
  report "$name" "import alone" "$base" "$with" \
    "$(awk -v b="$base" -v e="$with" 'BEGIN { printf "slowdown ×%.2f (target ≤ 1.50)", e / b }'); $note"
}

bench_loyalty_sqlite() {
  local db=$OUT/loyalty.db base orders
  rm -f "$db"*; loyalty_import bench/loyalty/off.json --db "$db"; base=$TIME_S
  orders=$(sqlite3 "$db" "SELECT count(*) FROM orders")
  for variant in default all-in-window; do
    rm -f "$db"*
    if [ "$variant" = default ]; then
      timed "$OUT/enishi" import orders "$(orders1m_orders)" --db "$db"
    else
      loyalty_import bench/loyalty/all-in-window.json --db "$db"
    fi
    loyalty_report "earn $orders orders, SQLite, $variant" "$base" "$TIME_S" \
      "$(sqlite3 "$db" "SELECT count(*) || ' ledger entries, ' || (SELECT count(*) FROM rank_changes) || ' rank changes' FROM point_entries")"
  done
  rm -f "$db"*
}

bench_loyalty_postgres() {
  local url base orders
  url=$(pgdb bench_loyalty); loyalty_import bench/loyalty/off.json --database-url "$url"; base=$TIME_S
  orders=$(psql "$url" -Atc "SELECT count(*) FROM orders")
  for variant in default all-in-window; do
    url=$(pgdb bench_loyalty)
    if [ "$variant" = default ]; then
      timed "$OUT/enishi" import orders "$(orders1m_orders)" --database-url "$url"
    else
      loyalty_import bench/loyalty/all-in-window.json --database-url "$url"
    fi
    loyalty_report "earn $orders orders, PostgreSQL, $variant" "$base" "$TIME_S" \
      "$(psql "$url" -Atc "SELECT count(*) || ' ledger entries, ' || (SELECT count(*) FROM rank_changes) || ' rank changes' FROM point_entries")"
  done
}
