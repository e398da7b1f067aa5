# Imports (foundation issue): 1,000,000 order lines in the enishi format,
# against the sqlite3 CLI's .import and PostgreSQL's COPY of the same file
# into a bare table. Target: ratio ≥ 0.50, enishi peak RSS < 300 MB.
# The machine is shared, so baseline and enishi run back to back
# IMPORT_RUNS times (default 3) and the medians are reported, with each
# run's pair printed above them.

orders1m() {
  [ -s "$OUT/orders1m.csv" ] || "$OUT/genorders" -lines 1000000 -o "$OUT/orders1m.csv"
  echo "$OUT/orders1m.csv"
}

# median N…: the median of the numbers.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# import_pair NAME BASELINE_LABEL BASELINE_FN ENISHI_FN: runs the two
# functions back to back IMPORT_RUNS times and reports the medians.
import_pair() {
  local name=$1 label=$2 base_fn=$3 enishi_fn=$4 runs=${IMPORT_RUNS:-3} i
  local b=() e=() rss=0
  for ((i = 1; i <= runs; i++)); do
    "$base_fn"
    b+=("$TIME_S")
    "$enishi_fn"
    e+=("$TIME_S")
    ((RSS_MB > rss)) && rss=$RSS_MB
    awk -v i="$i" -v base="${b[-1]}" -v en="$TIME_S" -v m="$RSS_MB" -v l="$label" 'BEGIN {
      printf "  run %d: %s %.2fs, enishi %.2fs (%.0f lines/s), ratio %.2f, peak RSS %d MB\n", i, l, base, en, 1e6 / en, base / en, m }'
  done
  report "$name" "$label" "$(median "${b[@]}")" "$(median "${e[@]}")" "median of $runs; target ≥ 0.50; peak RSS ${rss} MB (< 300)"
}

sqlite_base() {
  rm -f "$OUT"/base.db
  timed sqlite3 "$OUT/base.db" ".mode csv" ".import $(orders1m) t"
  rm -f "$OUT"/base.db
}

sqlite_enishi() {
  rm -f "$OUT"/import.db*
  timed "$OUT/enishi" import orders "$(orders1m)" --db "$OUT/import.db"
}

bench_import_sqlite() {
  orders1m >/dev/null
  import_pair "import 1M lines, SQLite" "sqlite3 .import" sqlite_base sqlite_enishi
}

pg_base() {
  local f url cols
  f=$(orders1m)
  url=$(pgdb bench_import)
  cols=$(head -1 "$f" | sed 's/,/ text, /g; s/$/ text/')
  psql "$url" -qc "CREATE TABLE t ($cols)"
  timed psql "$url" -c "\\copy t FROM '$f' CSV HEADER"
}

pg_enishi() {
  local url
  url=$(pgdb bench_import_enishi)
  timed "$OUT/enishi" import orders "$(orders1m)" --database-url "$url"
}

bench_import_postgres() {
  orders1m >/dev/null
  import_pair "import 1M lines, PostgreSQL" "COPY" pg_base pg_enishi
}
