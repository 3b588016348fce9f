#!/usr/bin/env bash
# Peak RSS of an unlimited query (affected_goal_total, advanced, 30 days: every goal event of
# one organization) under several --memory-limit values. Not a test.
# END=YYYY-MM-DD widens the interval (default 2026-03-30).
#   scripts/memory.sh LAKE ORG WORKFLOW [limits...]
set -euo pipefail
cd "$(dirname "$0")/.."
LAKE=$1 ORG=$2 WORKFLOW=$3; shift 3
LIMITS=${*:-none 1G 256M 64M 32M}
PAYLOAD=$(mktemp --suffix=.json)
trap 'rm -f "$PAYLOAD"' EXIT
echo "{\"filters\": [], \"interval\": {\"start\": \"2026-03-01\", \"end\": \"${END:-2026-03-30}\"}, \"target\": \"affected_goal_total\"}" > "$PAYLOAD"
BIN=target/release/flowlake
[ -x "$BIN" ] || cargo build --release
printf '%-8s %10s %8s %10s %6s\n' limit peak_MiB seconds rows exit
for limit in $LIMITS; do
  args=(query --lake "$LAKE" --org "$ORG" --workflow "$WORKFLOW" --payload "$PAYLOAD" --format ndjson)
  [ "$limit" != none ] && args+=(--memory-limit "$limit")
  report=$(mktemp)
  errors=$(mktemp)
  rows=$(/usr/bin/time -f "%M %e %x" -o "$report" "$BIN" "${args[@]}" 2>"$errors" | wc -l) || true
  read -r kib secs code < <(tail -n 1 "$report")
  printf '%-8s %10s %8s %10s %6s\n' "$limit" "$((kib / 1024))" "$secs" "$rows" "$code"
  if [ -s "$errors" ]; then head -c 400 "$errors"; echo; fi
  rm -f "$report" "$errors"
done
