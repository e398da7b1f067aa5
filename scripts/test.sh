#!/usr/bin/env bash
# The whole test suite, with its own set-up: installs what is missing, starts
# a temporary PostgreSQL server, runs every test against both stores and in a
# headless Chromium, then removes the server.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

# The stock Segment and RudderStack Node libraries, for the event API's
# compatibility test (installed once per machine from the npm registry).
compat="${XDG_CACHE_HOME:-$HOME/.cache}/enishi-compat"
if [ ! -d "$compat/node_modules/@segment/analytics-node" ] || [ ! -d "$compat/node_modules/@rudderstack/rudder-sdk-node" ]; then
  mkdir -p "$compat"
  cp internal/http/testdata/compat/package.json "$compat/"
  (cd "$compat" && npm install --silent --no-audit --no-fund >&2)
fi
export ENISHI_COMPAT_NODE_MODULES="$compat/node_modules"
eval "$(scripts/pgtest.sh start)"
trap 'scripts/pgtest.sh stop "$ENISHI_PGTEST_DIR"' EXIT
export ENISHI_REQUIRE_POSTGRES=1
export ENISHI_REQUIRE_BROWSER=1

go vet ./...
go test -count=1 -timeout 25m "$@" ./...
