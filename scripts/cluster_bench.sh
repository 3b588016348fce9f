#!/usr/bin/env bash
# Local vs cluster (1 scheduler + 2 executors on this machine) on the 30 M-event lake of
# BENCHMARKS.md (`generate --orgs 1 --days 30 --events-per-day 1000000 --seed 5`). Run it in
# an empty folder after `python3 scripts/cluster_bench_queries.py` wrote the payloads there:
#   B=target/release/flowlake L=/path/to/lake scripts/cluster_bench.sh
# (B built with --features cluster). Not a test: the figures go to BENCHMARKS.md.
set -euo pipefail
B=${B:-/work/rel-target/release/flowlake}
L=${L:-/work/bench/big}
ORG=4d4a5880-3df8-43ec-9f61-7073b8e1a849
WF=fa9358bd-f12b-44fa-8e7e-42d889bb0eb1
$B scheduler --listen 127.0.0.1:8150 > sched.log 2>&1 & S=$!
$B executor --scheduler 127.0.0.1:8150 --listen 127.0.0.1:8151 --grpc-port 8152 --work-dir "$PWD/e1" > e1.log 2>&1 & E1=$!
$B executor --scheduler 127.0.0.1:8150 --listen 127.0.0.1:8161 --grpc-port 8162 --work-dir "$PWD/e2" > e2.log 2>&1 & E2=$!
trap 'kill $S $E1 $E2 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf http://127.0.0.1:8150/readyz | grep -q "2 executors" && break; sleep 0.5; done
curl -s http://127.0.0.1:8150/readyz; echo
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for q in q1_30d_total_limit1000 q2_30d_affected_advanced q3_7d_total_basic q4_1d_affected; do
  for mode in local cluster; do
    extra=(); [ $mode = cluster ] && extra=(--cluster df://127.0.0.1:8150)
    t=$( { /usr/bin/time -f %e $B query --lake $L --org $ORG --workflow $WF --payload $q.json --format csv "${extra[@]}" > $q.$mode.csv; } 2>&1 | tail -1)
    echo "$q $mode ${t}s rows=$(($(wc -l < $q.$mode.csv)-1))"
  done
  cmp -s $q.local.csv $q.cluster.csv && echo "$q same bytes" || echo "$q DIFFERENT"
done
for mode in local cluster; do
  extra=(); [ $mode = cluster ] && extra=(--cluster df://127.0.0.1:8150)
  rm -rf out-$mode
  /usr/bin/time -f "batch50 $mode %es peak %MKiB" $B batch --lake $L --queries batch50.ndjson --out out-$mode --jobs 2 "${extra[@]}" > /dev/null
done
diff -rq -x summary.json -x .flowlake-batch.lock out-local out-cluster && echo "batch files identical"
