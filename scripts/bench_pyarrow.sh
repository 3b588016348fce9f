#!/usr/bin/env bash
# flowlake against DuckDB on lakes written by pyarrow (BENCHMARKS.md, "Lakes written by
# pyarrow"): the lakes of scripts/pyarrow_lake.py, each query of scripts/compare_duckdb.py in
# the engine-against-engine modes (Arrow out on both sides; the API's JSON against DuckDB's
# JSON), for one or more flowlake binaries.
#
#   scripts/bench_pyarrow.sh BENCH_DIR OUT_DIR LABEL=BINARY...
#
# BENCH_DIR holds the lakes (pyarrow, pyarrow-plain, pyarrow-no-string-stats,
# pyarrow-compacted; any missing one is left out). The Python with duckdb, duckdb-cli and
# pyarrow is $PYTHON, else BENCH_DIR/venv/bin/python if there is one, else python3. Results
# go to OUT_DIR/<label>-<lake>-<mode>/. RUNS (default 5) and LAKES, MODES, ONLY override.
set -euo pipefail
bench=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
lakes=${LAKES:-"pyarrow pyarrow-plain pyarrow-no-string-stats pyarrow-compacted"}
if [ -z "${PYTHON:-}" ]; then
  PYTHON=python3
  [ -x "$bench/venv/bin/python" ] && PYTHON="$bench/venv/bin/python"
fi
modes=${MODES:-"arrow json"}
for lake in $lakes; do
  [ -d "$bench/$lake" ] || continue
  for mode in $modes; do
    for spec in "$@"; do
      label=${spec%%=*} binary=${spec#*=}
      echo "== $label $lake $mode (load $(cut -d' ' -f1 /proc/loadavg))"
      "$PYTHON" "$here/compare_duckdb.py" --lake "$bench/$lake" --runs "$runs" \
        --flowlake "$binary" --mode "$mode" --out "$out/$label-$lake-$mode" ${ONLY:+--only "$ONLY"}
    done
  done
done
