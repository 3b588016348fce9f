#!/usr/bin/env bash
# The Python package's tests, with all their set-up, on a fresh machine: a virtual
# environment with maturin, pytest, pyarrow, Polars, DuckDB, moto's S3 server and
# matplotlib (for the walkthrough of docs/python.md) from the Python registry; the command
# line (the tests compare answers with it) and the native module built in the debug
# profile into the cargo target directory the Rust builds use ($CARGO_TARGET_DIR, else
# target/), so the dependencies are compiled once for all of them; then pytest.
# Arguments go to pytest (e.g. -k s3, -x).
#
#   bash scripts/python-tests.sh
#   PYTHON=python3.12 bash scripts/python-tests.sh -k streaming
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS
step() { echo "== $* ($((SECONDS - started)) s)"; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
venv="$CARGO_TARGET_DIR/python-venv"
requirements=("maturin>=1.16,<2" "pytest>=8" "pyarrow>=15" "polars>=1" "duckdb>=1.1" "moto[server]>=5" "matplotlib>=3.7")

step "virtual environment $venv"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# Installed once; pip is asked again only when the list above changes.
stamp="$venv/.flowlake-requirements"
if [ "$(cat "$stamp" 2>/dev/null)" != "${requirements[*]}" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet "${requirements[@]}"
    echo "${requirements[*]}" > "$stamp"
fi
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"
unset CONDA_PREFIX

step "cargo build (the command line the answers are compared with)"
cargo build --locked --bin flowlake
export FLOWLAKE_BIN="$CARGO_TARGET_DIR/debug/flowlake"

step "maturin develop (the native module, debug profile)"
(cd python && maturin develop --locked)

step "pytest"
cd python
status=0
python -m pytest "$@" || status=$?
step "done"
exit "$status"
