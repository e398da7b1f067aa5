# Operations (security/ops issue): an online backup of the SQLite database
# the import benchmark made (1M order lines), against the sqlite3 CLI's
# .backup of the same file.

bench_backup_sqlite() {
  [ -s "$OUT/import.db" ] || bench_import_sqlite
  rm -f "$OUT"/backup-base.db "$OUT"/backup-enishi.db
  timed sqlite3 "$OUT/import.db" ".backup $OUT/backup-base.db"
  local base=$TIME_S size
  timed "$OUT/enishi" backup "$OUT/backup-enishi.db" --db "$OUT/import.db"
  size=$(du -m "$OUT/import.db" | cut -f1)
  report "backup ${size} MB SQLite" "sqlite3 .backup" "$base" "$TIME_S" "enishi peak RSS ${RSS_MB} MB (VACUUM INTO, compacted)"
  rm -f "$OUT"/backup-base.db "$OUT"/backup-enishi.db
}
