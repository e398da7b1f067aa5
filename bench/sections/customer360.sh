# Customer 360 latency (foundation issue): GET /api/v1/customers/{id} p95
# on a SQLite store of 1,000,000 customers and 5,000,000 orders. Target:
# p95 < 20 ms. Building the store takes minutes; it is kept in bench/out.

# c360_store builds the store (once; the UI benchmark uses it too).
c360_store() {
  local db="$OUT/c360.db"
  if [ ! -s "$OUT/c360.ready" ]; then
    rm -f "$db"*
    "$OUT/genorders" -lines 5000000 -customers 1000000 -max-lines 1 -seed 7 -o "$OUT/orders5m.csv"
    "$OUT/enishi" import orders "$OUT/orders5m.csv" --db "$db" --errors /dev/null >"$OUT/c360-import.log"
    # The import marks every customer changed; let the engine work through
    # that feed first, so the latency below is the steady state.
    "$OUT/enishi" engine run --once --db "$db" >/dev/null
    "$OUT/enishi" stats --json --db "$db" >"$OUT/c360.ready"
    rm -f "$OUT/orders5m.csv"
  fi
}

bench_customer360() {
  c360_store
  local db="$OUT/c360.db"
  local customers key port=18360
  customers=$(sed -n 's/.*"customers": \([0-9]*\).*/\1/p' "$OUT/c360.ready")
  key=$("$OUT/enishi" apikey create --scopes customers:read,pii:read bench --db "$db" | sed -n 's/^key: //p')
  "$OUT/enishi" serve --db "$db" --addr "127.0.0.1:$port" >"$OUT/c360-serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  go run ./bench/latency -url "http://127.0.0.1:$port" -key "$key" -max-id "$customers" -n 2000 \
    -label "customer 360, SQLite, $customers customers / 5M orders (target p95 < 20 ms):"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
