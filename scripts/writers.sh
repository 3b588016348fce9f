#!/usr/bin/env bash
# Measures the lake writers on the benchmark lake in a foreign layout: the
# lake is generated time-sorted with zstd, 64 Ki-row groups and no bloom filters, exported
# to NDJSON by DuckDB (as a tracking pipeline's dump would be), ingested into an empty lake
# (rows/s, peak RSS), and the foreign lake compacted in place (time, peak RSS). A few
# queries are compared byte for byte across the three lakes.
#
#   pip install duckdb-cli
#   cargo build --release
#   scripts/writers.sh /work/bench/writers [events-per-day]
set -euo pipefail
OUT=${1:?usage: scripts/writers.sh DIR [events-per-day]}
PER_DAY=${2:-170000}
BIN=${BIN:-target/release/flowlake}
DUCKDB=$(python3 -c "import duckdb_cli, os; print(os.path.join(os.path.dirname(duckdb_cli.__file__), 'duckdb'))")
mkdir -p "$OUT"
FOREIGN=$OUT/foreign INGESTED=$OUT/ingested EXPORT=$OUT/events.ndjson
rm -rf "$FOREIGN" "$INGESTED"

measure() { # label, command…: wall seconds and peak RSS (MiB) of one run
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/$label.out"
  read -r secs kib < "$OUT/time.txt"
  echo "$label: ${secs}s, peak RSS $((kib / 1024)) MiB"
}

measure generate "$BIN" generate --out "$FOREIGN" --orgs 4 --days 30 --events-per-day "$PER_DAY" --seed 11 \
  --sort-by time --codec zstd --no-bloom-filters --row-group-size 65536
if [ ! -s "$EXPORT" ]; then
  measure export "$DUCKDB" -c "SET TimeZone='UTC'; COPY (SELECT organization_id, strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%fZ') AS timestamp, * EXCLUDE (organization_id, date, timestamp) FROM read_parquet('$FOREIGN/events/*/*/*.parquet', hive_partitioning = true)) TO '$EXPORT' (FORMAT json)"
fi
rows=$(wc -l < "$EXPORT")
echo "export: $rows rows, $(du -m "$EXPORT" | cut -f1) MiB"
mkdir -p "$INGESTED"; cp "$FOREIGN"/workflows.json "$FOREIGN"/goals.json "$INGESTED"/
measure ingest "$BIN" ingest --lake "$INGESTED" "$EXPORT"
tail -n +1 "$OUT/ingest.out" | head -2
secs=$(cut -d' ' -f1 "$OUT/time.txt"); echo "ingest: $(python3 -c "print(round($rows / $secs))") rows/s"

# Answers before compaction, then compact, then again (and on the ingested lake).
ORG=$(sed -n 's/^organization //p' "$OUT/generate.out" | head -1)
WF=$(awk '/interaction/ {print $2; exit}' "$OUT/generate.out")
printf '{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-30"}, "target": "affected_goal_total", "limit": 50000}' > "$OUT/p1.json"
printf '{"filters": [], "step_data": [{}, {"actions": ["view-1"]}], "interval": {"start": "2026-03-10", "end": "2026-03-10"}}' > "$OUT/p2.json"
for p in p1 p2; do "$BIN" query --lake "$FOREIGN" --org "$ORG" --workflow "$WF" --payload "$OUT/$p.json" > "$OUT/$p.before"; done
measure compact "$BIN" compact --lake "$FOREIGN" --grace 0
head -2 "$OUT/compact.out"
for p in p1 p2; do
  "$BIN" query --lake "$FOREIGN" --org "$ORG" --workflow "$WF" --payload "$OUT/$p.json" | cmp - "$OUT/$p.before"
  "$BIN" query --lake "$INGESTED" --org "$ORG" --workflow "$WF" --payload "$OUT/$p.json" | cmp - "$OUT/$p.before"
done
echo "answers identical before and after compact, and on the ingested lake"
