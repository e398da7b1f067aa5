#!/usr/bin/env bash
# Installs, through the system package manager, what the tests and benchmarks
# need and this machine lacks: PostgreSQL (a real server for the store suite),
# Chromium with a CJK font (browser tests) and the sqlite3 CLI (benchmark
# baseline). Safe to run again; does nothing when all is present.
set -euo pipefail

need=()
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
[ -n "$(pg_bin)" ] || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
fc-list 2>/dev/null | grep -qiE "noto (sans|serif) cjk|ipagothic|ipaexgothic" || need+=(fonts-noto-cjk)
if [ "${1:-}" = "--bench" ]; then
  command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
  [ -x /usr/bin/time ] || need+=(time)
  command -v curl >/dev/null 2>&1 || need+=(curl)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "installing: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
