#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL server in a temporary directory,
# listening only on a Unix socket there (no port to clash with).
#   eval "$(scripts/pgtest.sh start)"   exports ENISHI_TEST_POSTGRES_URL and ENISHI_PGTEST_DIR
#   scripts/pgtest.sh stop "$ENISHI_PGTEST_DIR"
# PostgreSQL refuses to run as root, so as root the server runs as the
# "postgres" user that the Debian package creates.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (run scripts/deps.sh)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
  dir=$(mktemp -d /tmp/enishi-pg.XXXXXX)
  chmod 755 "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "export ENISHI_PGTEST_DIR=$dir"
  echo "export ENISHI_TEST_POSTGRES_URL='postgres://postgres@/postgres?host=$dir&sslmode=disable'"
  ;;
stop)
  dir=${2:-${ENISHI_PGTEST_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir" ] || exit 0
  as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start | stop [DIR]" >&2; exit 2
  ;;
esac
