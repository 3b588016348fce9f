#!/usr/bin/env bash
# flowlake against DuckDB on lakes written by pyarrow (BENCHMARKS.md, "Lakes written by
# pyarrow"): the lakes of scripts/pyarrow_lake.py, each query of scripts/compare_duckdb.py in
# the engine-against-engine modes (Arrow out on both sides; the API's JSON against DuckDB's
# JSON), for one or more flowlake binaries.
#
#   scripts/bench_pyarrow.sh BENCH_DIR OUT_DIR LABEL=BINARY...
#
# BENCH_DIR holds the lakes (pyarrow, pyarrow-plain, pyarrow-nostats, pyarrow-compacted; any
# missing one is left out) and venv/ with duckdb, duckdb-cli and pyarrow. Results go to
# OUT_DIR/<label>-<lake>-<mode>/. RUNS (default 5) and LAKES, MODES, ONLY override.
set -euo pipefail
bench=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
lakes=${LAKES:-"pyarrow pyarrow-plain pyarrow-nostats pyarrow-compacted"}
modes=${MODES:-"arrow json"}
for lake in $lakes; do
  [ -d "$bench/$lake" ] || continue
  for mode in $modes; do
    for spec in "$@"; do
      label=${spec%%=*} binary=${spec#*=}
      echo "== $label $lake $mode (load $(cut -d' ' -f1 /proc/loadavg))"
      "$bench/venv/bin/python" "$here/compare_duckdb.py" --lake "$bench/$lake" --runs "$runs" \
        --flowlake "$binary" --mode "$mode" --out "$out/$label-$lake-$mode" ${ONLY:+--only "$ONLY"}
    done
  done
done
