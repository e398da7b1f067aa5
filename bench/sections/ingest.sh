# Real-time ingestion (issue 5): the Segment-compatible /v1/batch under
# sustained load from 8 clients, against storing the same events directly
# with the store's ImportEvents in batched transactions (the same batch
# size). Sustained = until the last event is stored (the inbox drained).
# Targets: ratio ≥ 0.40; p99 request latency printed; a webhook's order
# visible in the customer 360 within 2 s of its 2xx under that load.

INGEST_EVENTS=${INGEST_EVENTS:-100000}

# ingest_serve DBFLAGS…: starts enishi serve on a free port; sets
# INGEST_URL and INGEST_PID.
ingest_serve() {
  : >"$OUT/serve.log" # before starting: the child truncates it only once it runs
  "$OUT/enishi" serve --addr 127.0.0.1:0 --ingest-rate 1000000 "$@" >"$OUT/serve.log" 2>&1 &
  INGEST_PID=$!
  for _ in $(seq 1 100); do
    INGEST_URL=$(grep -o 'http://[^ ]*' "$OUT/serve.log" | head -1 || true)
    [ -n "$INGEST_URL" ] && return 0
    sleep 0.1
  done
  cat "$OUT/serve.log" >&2
  return 1
}

# ingest_run NAME DBFLAGS_DIRECT DBFLAGS_SERVE: baseline, then enishi.
ingest_run() {
  local name=$1 direct=$2 served=$3 base key res
  # shellcheck disable=SC2086
  timed "$OUT/ingestload" -mode direct $direct -events "$INGEST_EVENTS" -batch 100
  base=$(grep -o 'elapsed_s=[0-9.]*' "$OUT/last.log" | cut -d= -f2)
  # shellcheck disable=SC2086
  key=$("$OUT/ingestload" -mode setup $served)
  # shellcheck disable=SC2086
  ingest_serve $served
  timed "$OUT/ingestload" -mode http -url "$INGEST_URL" -key "$key" -events "$INGEST_EVENTS" -batch 100 -clients 8 -probe || { kill "$INGEST_PID"; return 1; }
  kill "$INGEST_PID"; wait "$INGEST_PID" 2>/dev/null || true
  res=$(tr '\n' ' ' <"$OUT/last.log")
  local el p99 vis vmax
  el=$(grep -o 'elapsed_s=[0-9.]*' <<<"$res" | cut -d= -f2)
  p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$res" | cut -d= -f2)
  vis=$(grep -o 'visible_p50_ms=[0-9]*' <<<"$res" | cut -d= -f2)
  vmax=$(grep -o 'visible_max_ms=[0-9]*' <<<"$res" | cut -d= -f2)
  report "$name" "direct ImportEvents" "$base" "$el" "p99 request ${p99} ms; webhook→360 p50 ${vis} ms, max ${vmax} ms"
}

bench_ingest_sqlite() {
  rm -f "$OUT"/ingest-direct.db* "$OUT"/ingest.db*
  ingest_run "/v1/batch ${INGEST_EVENTS} ev, SQLite" "-db $OUT/ingest-direct.db" "--db $OUT/ingest.db"
}

bench_ingest_postgres() {
  local d s
  d=$(pgdb bench_ingest_direct)
  s=$(pgdb bench_ingest)
  ingest_run "/v1/batch ${INGEST_EVENTS} ev, PostgreSQL" "-database-url $d" "--database-url $s"
}
