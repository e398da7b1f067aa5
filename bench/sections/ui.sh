# Web UI (issue 10): server time of every page on the customer-360 store
# (1,000,000 customers, 5,000,000 orders, SQLite; built once and kept in
# bench/out), measured with bench/latency through an API key (UI pages take
# one like the API does). Target: p95 < 200 ms per page. Analytics pages
# reuse a report computed in the last minute (reportCacheTTL), so each is
# also timed cold: the first request after the server started. Then the
# dashboard's first contentful paint in headless Chromium (target < 1 s).
# The dashboard's figures (/dashboard/kpi: the KPI report, previous period,
# CPM and table counts) load after the page shows. /analytics/kpi (twelve
# monthly KPI reports for its trend) is left out: cold, it takes minutes.

bench_ui() {
  c360_store
  local db="$OUT/c360.db" customers key port=18361 pid pw
  customers=$(sed -n 's/.*"customers": \([0-9]*\).*/\1/p' "$OUT/c360.ready")
  key=$("$OUT/enishi" apikey create --scopes reports:read,customers:read,customers:export,pii:read,imports:write,users:manage,keys:manage,settings:write bench-ui --db "$db" | sed -n 's/^key: //p')
  "$OUT/enishi" user create --role admin "bench-ui-$RANDOM@example.com" --db "$db" >"$OUT/ui-user.txt"
  pw=$(sed -n 's/^password: //p' "$OUT/ui-user.txt")
  "$OUT/enishi" serve --db "$db" --addr "127.0.0.1:$port" >"$OUT/ui-serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  local url="http://127.0.0.1:$port"
  echo "UI pages, SQLite, $customers customers / 5M orders (target p95 < 200 ms):"
  for p in /dashboard/kpi /analytics/rfm /analytics/rfm-movement /analytics/cpm /analytics/decile /analytics/cohort /analytics/f2 /analytics/basket /analytics/messages; do
    local cold
    cold=$(curl -s -m 900 -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $key" "$url$p")
    printf '  %-28s cold %7.0f ms; ' "$p" "$(awk -v s="$cold" 'BEGIN{print s*1000}')"
    go run ./bench/latency -url "$url" -key "$key" -path "$p" -max-id 1 -warm 2 -n 50 -label "cached"
  done
  for p in "/dashboard" "/customers" "/customers?pref=%E6%9D%B1%E4%BA%AC%E9%83%BD" "/customers?buyers=buyers&page=100" "/customers/{id}" "/customers/{id}/timeline" \
    "/analytics/rfm/customers?r=1&f=1" "/merge-candidates" "/imports" "/settings/users" "/settings/api-keys" "/settings/identity"; do
    printf '  %-28s ' "$p"
    go run ./bench/latency -url "$url" -key "$key" -path "$p" -max-id "$customers" -warm 5 -n 100 -label "" || true
  done
  for q in "%E4%BD%90%E8%97%A4" "example.com" "090"; do
    printf '  %-28s ' "/customers?q=$q"
    go run ./bench/latency -url "$url" -key "$key" -path "/customers?q=$q" -max-id 1 -warm 1 -n 10 -label "" || true
  done
  go run ./bench/firstpaint -url "$url" -email "$(sed -n 's/^created \(.*\) (admin)$/\1/p' "$OUT/ui-user.txt")" -password "$pw" -path /dashboard -n 5 \
    -label "dashboard in Chromium (target first paint < 1 s):" || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
