# Channels (issue 8): e-mail throughput to a local SMTP sink (an in-process
# Go SMTP server). Baseline: go-mail sending pre-rendered messages in a bare
# loop on one connection. enishi: the channel service sending 100,000
# personalized, tracked mails (Liquid merge fields, signed click links,
# open pixel, List-Unsubscribe), each recorded exactly once in SQLite
# after consent and suppression checks, over pooled connections.
# Targets: ratio ≥ 0.50, ≥ 1,000 messages/s on 2 cores, peak RSS < 300 MB.

bench_channels_email() {
  go build -o "$OUT/mailbench" ./bench/mailbench
  local n=${MAILBENCH_N:-100000} nb=${MAILBENCH_BASELINE_N:-20000}
  timed "$OUT/mailbench" -mode baseline -n "$nb"
  local brate; brate=$(awk '{print $6}' "$OUT/last.log")
  timed "$OUT/mailbench" -mode enishi -n "$n" -dir "$OUT"
  local erate; erate=$(awk '{print $6}' "$OUT/last.log")
  awk -v b="$brate" -v e="$erate" -v n="$n" -v nb="$nb" -v rss="$RSS_MB" 'BEGIN {
    printf "%-28s %-26s %8.0f/s  enishi %8.0f/s  ratio %.2f  %d sends, enishi peak RSS %d MB\n",
      "e-mail send throughput", "go-mail bare loop (" nb ")", b, e, (b > 0 ? e / b : 0), n, rss }'
  rm -f "$OUT"/mailbench.db*
}
