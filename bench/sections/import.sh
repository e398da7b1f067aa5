# Imports (foundation issue): 1,000,000 order lines in the enishi format,
# against the sqlite3 CLI's .import and PostgreSQL's COPY of the same file
# into a bare table. Target: ratio ≥ 0.50, enishi peak RSS < 300 MB.

orders1m() {
  [ -s "$OUT/orders1m.csv" ] || "$OUT/genorders" -lines 1000000 -o "$OUT/orders1m.csv"
  echo "$OUT/orders1m.csv"
}

bench_import_sqlite() {
  local f; f=$(orders1m)
  rm -f "$OUT"/base.db "$OUT"/import.db*
  timed sqlite3 "$OUT/base.db" ".mode csv" ".import $f t"
  local base=$TIME_S
  timed "$OUT/enishi" import orders "$f" --db "$OUT/import.db"
  report "import 1M lines, SQLite" "sqlite3 .import" "$base" "$TIME_S" "enishi peak RSS ${RSS_MB} MB"
  rm -f "$OUT"/base.db
}

bench_import_postgres() {
  local f url cols; f=$(orders1m)
  url=$(pgdb bench_import)
  cols=$(head -1 "$f" | sed 's/,/ text, /g; s/$/ text/')
  psql "$url" -qc "CREATE TABLE t ($cols)"
  timed psql "$url" -c "\\copy t FROM '$f' CSV HEADER"
  local base=$TIME_S
  url=$(pgdb bench_import_enishi)
  timed "$OUT/enishi" import orders "$f" --database-url "$url"
  report "import 1M lines, PostgreSQL" "COPY" "$base" "$TIME_S" "enishi peak RSS ${RSS_MB} MB"
}
