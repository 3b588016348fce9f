#!/usr/bin/env bash
# Soak run of `flowlake serve` on the sample lake: a bounded number of seconds of
# load at concurrency 8 on loopback only, with the catalog and the access file replaced every
# 30 s (and a SIGHUP every other time), while the server's RSS is sampled from
# /proc/PID/status into a CSV. Errors must be 0: every response is checked to be a 200.
# Not a test: the figures go to BENCHMARKS.md.
#   scripts/soak.sh [seconds, default 600] [out.csv, default bench-results/soak-rss.csv]
# Needs curl and python3; uses the release binary (built if missing; BIN=… to use another).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-600}
OUT=${2:-bench-results/soak-rss.csv}
CONCURRENCY=8
RELOAD_EVERY=30
SAMPLE_EVERY=${SAMPLE_EVERY:-5}
PORT=${PORT:-18191}
METRICS_PORT=${METRICS_PORT:-18192}
BIN=${BIN:-target/release/flowlake}
PAYLOAD=queries/api-example.json
ORG=8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d
WORKFLOW=5887c297-1e03-45e4-863e-7a9f784c5a2c
command -v curl >/dev/null || { echo "needs curl"; exit 2; }
[ -x "$BIN" ] || cargo build --release --locked
case "$DURATION" in ''|*[!0-9]*) echo "seconds must be a whole number"; exit 2;; esac

# A private copy of the sample lake and access file: the reloads rewrite them.
WORK=$(mktemp -d)
cp -r data "$WORK/lake"
cp examples/access.json "$WORK/access.json"
mkdir -p "$(dirname "$OUT")"

RUST_LOG=warn "$BIN" serve --lake "$WORK/lake" --access "$WORK/access.json" \
  --listen "127.0.0.1:$PORT" --metrics-listen "127.0.0.1:$METRICS_PORT" \
  --reload-interval 10 --max-concurrent 64 2>"$WORK/server.log" &
SERVER=$!
CLIENTS=()
cleanup() {
  for pid in "${CLIENTS[@]}"; do kill "$pid" 2>/dev/null || true; done
  kill "$SERVER" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { echo "the server did not start"; cat "$WORK/server.log"; exit 1; }

URL="http://127.0.0.1:$PORT/api/reporting/workflow/v1/orgs/$ORG/workflows/$WORKFLOW/source_data"
END=$(( $(date +%s) + DURATION ))

# One client: requests back to back until the end; counts answers and non-200s in files.
client() {
  local n=$1 ok=0 bad=0 code
  while [ "$(date +%s)" -lt "$END" ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer flowlake-sample-token' \
      -H 'Content-Type: application/json' --data-binary "@$PAYLOAD" "$URL" || echo 000)
    if [ "$code" = 200 ]; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "client $n: HTTP $code" >>"$WORK/errors.log"; fi
  done
  echo "$ok $bad" >"$WORK/client-$n"
}
for n in $(seq "$CONCURRENCY"); do client "$n" & CLIENTS+=($!); done

# Replaces a file in one step, as a deployment would; `touch` alone would not change it.
replace() { cp "$2" "$1.new" && mv "$1.new" "$1"; }
reload() {
  local round=$1
  # The same catalog with one more workflow each round (a new version that must apply).
  python3 - "$WORK/lake/workflows.json" "$round" <<'PY'
import json, sys, uuid
path, round_ = sys.argv[1], int(sys.argv[2])
workflows = [w for w in json.load(open(path)) if not w.get("name", "").startswith("soak round")]
workflows.append({"id": str(uuid.UUID(int=round_)), "organization_id": "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
                  "type": "web_navigation", "name": f"soak round {round_}"})
json.dump(workflows, open(path + ".next", "w"))
PY
  replace "$WORK/lake/workflows.json" "$WORK/lake/workflows.json.next"
  replace "$WORK/access.json" examples/access.json
  if [ $((round % 2)) = 0 ]; then kill -HUP "$SERVER"; fi
}

echo "seconds,rss_kib,hwm_kib,threads,reloads_applied,reloads_refused" >"$OUT"
START=$(date +%s)
NEXT_RELOAD=$((START + RELOAD_EVERY))
ROUND=0
metric() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v m="$1" -v o="$2" '$1 ~ "^"m"\\{" && $1 ~ "outcome=\""o"\"" {s += $2} END {print s + 0}'; }
while [ "$(date +%s)" -lt "$END" ]; do
  kill -0 "$SERVER" 2>/dev/null || { echo "the server died"; cat "$WORK/server.log"; exit 1; }
  NOW=$(date +%s)
  if [ "$NOW" -ge "$NEXT_RELOAD" ]; then ROUND=$((ROUND + 1)); reload "$ROUND"; NEXT_RELOAD=$((NEXT_RELOAD + RELOAD_EVERY)); fi
  read -r RSS HWM THREADS < <(awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} /^Threads/ {t=$2} END {print r, h, t}' "/proc/$SERVER/status")
  echo "$((NOW - START)),$RSS,$HWM,$THREADS,$(metric flowlake_reloads_total applied),$(metric flowlake_reloads_total refused)" >>"$OUT"
  sleep "$SAMPLE_EVERY"
done
for pid in "${CLIENTS[@]}"; do wait "$pid" || true; done
CLIENTS=()
OK=0; BAD=0
for n in $(seq "$CONCURRENCY"); do read -r ok bad <"$WORK/client-$n"; OK=$((OK + ok)); BAD=$((BAD + bad)); done
echo "{\"seconds\":$DURATION,\"concurrency\":$CONCURRENCY,\"reload_rounds\":$ROUND,\"answered\":$OK,\"errors\":$BAD,\"csv\":\"$OUT\"}"
[ "$BAD" = 0 ] || { head -20 "$WORK/errors.log"; exit 1; }
