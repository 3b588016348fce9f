#!/usr/bin/env bash
# HTTP load run against `flowlake serve` on the sample lake: concurrency 1, 8 and
# 64 for a fixed duration each, with wrk (apt-get install wrk). Prints one JSON line per
# level and the server's RSS before and after. Not a test: numbers go to BENCHMARKS.md.
#   scripts/load.sh [seconds-per-level] [payload-file]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20}
export PAYLOAD=${2:-queries/api-example.json}
PORT=${PORT:-18181}
BIN=target/release/flowlake
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }
[ -x "$BIN" ] || cargo build --release
URL="http://127.0.0.1:$PORT/api/reporting/workflow/v1/orgs/8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d/workflows/5887c297-1e03-45e4-863e-7a9f784c5a2c/source_data"

RUST_LOG=warn "$BIN" serve --access examples/access.json --listen "127.0.0.1:$PORT" --max-concurrent 64 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$SERVER/status"; }
echo "{\"payload\":\"$PAYLOAD\",\"seconds_per_level\":$DURATION,\"rss_kib_before\":$(rss)}"
# one warm-up request, checked: the load must be answered with 200s
curl -sf -o /dev/null -H 'Authorization: Bearer flowlake-sample-token' -H 'Content-Type: application/json' --data-binary "@$PAYLOAD" "$URL"
for c in 1 8 64; do
  threads=$(( c < 2 ? 1 : 2 ))
  printf '{"concurrency":%d,' "$c"
  wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 30s -s scripts/load.lua "$URL" | tail -n 1 | sed 's/^{//'
done
echo "{\"rss_kib_after\":$(rss),\"peak_rss_kib\":$(hwm)}"
