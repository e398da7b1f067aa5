#!/usr/bin/env bash
# make fuzz: runs every Go fuzz target for FUZZTIME each (default 30s).
# `make test` already runs each target's committed seeds (testdata/fuzz/).
# New failing inputs are written to the package's testdata/fuzz/<target>/:
# commit them with the fix, so that they stay in the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
status=0
while IFS= read -r pkg; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "== $pkg $target ($FUZZTIME)"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" || status=1
  done
done < <(go list ./... )
exit $status
