#!/usr/bin/env bash
# The whole test suite, with its own set-up: installs what is missing, starts
# a temporary PostgreSQL server, runs every test against both stores and in a
# headless Chromium, then removes the server.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
eval "$(scripts/pgtest.sh start)"
trap 'scripts/pgtest.sh stop "$ENISHI_PGTEST_DIR"' EXIT
export ENISHI_REQUIRE_POSTGRES=1
export ENISHI_REQUIRE_BROWSER=1

go vet ./...
go test -count=1 -timeout 25m "$@" ./...
