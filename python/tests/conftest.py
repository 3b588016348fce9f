"""Shared fixtures: the built `flowlake` binary (answers are compared with its own), the
sample lake shipped in `data/`, and a generated lake with every workflow type."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pytest

def repository_root() -> Path:
    """The repository's root: the nearest folder above the tests with the sample lake."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "data" / "workflows.json").exists() and (folder / "queries").is_dir():
            return folder
    raise RuntimeError("the tests must run inside the flowlake repository")


REPO = repository_root()
SAMPLE_LAKE = REPO / "data"


def flowlake_binary() -> Path:
    """`FLOWLAKE_BIN`, else the debug binary in the cargo target directory."""
    if os.environ.get("FLOWLAKE_BIN"):
        return Path(os.environ["FLOWLAKE_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "flowlake"


@pytest.fixture(scope="session")
def cli() -> Path:
    binary = flowlake_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: build the command line first (cargo build), or set FLOWLAKE_BIN")
    return binary


class CliAnswer:
    """What `flowlake query` did: the answer as a table, or the error body it printed."""

    def __init__(self, table: pa.Table | None, error: dict | None, exit_code: int):
        self.table, self.error, self.exit_code = table, error, exit_code


def run_cli(cli: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(cli), *args], input=stdin, capture_output=True, timeout=300)


def cli_query(cli: Path, lake, org: str, workflow: str, payload, fmt: str = "arrow") -> CliAnswer:
    """`flowlake query --format arrow` with the payload on stdin."""
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    body = body.encode() if isinstance(body, str) else body
    done = run_cli(cli, "query", "--lake", str(lake), "--org", org, "--workflow", workflow,
                   "--payload", "-", "--format", fmt, stdin=body)
    if done.returncode != 0:
        return CliAnswer(None, json.loads(done.stderr.decode().strip().splitlines()[-1]), done.returncode)
    if fmt != "arrow":
        return CliAnswer(done.stdout, None, 0)
    return CliAnswer(pyarrow.ipc.open_stream(done.stdout).read_all(), None, 0)


@pytest.fixture(scope="session")
def sample_lake() -> Path:
    return SAMPLE_LAKE


@pytest.fixture(scope="session")
def generated_lake(cli, tmp_path_factory) -> Path:
    """Two organizations, three days, every workflow type; small row groups, so that
    pruning and batching have something to do."""
    root = tmp_path_factory.mktemp("generated") / "lake"
    done = run_cli(cli, "generate", "--out", str(root), "--orgs", "2", "--days", "3",
                   "--events-per-day", "400", "--seed", "7", "--row-group-size", "128")
    assert done.returncode == 0, done.stderr.decode()
    return root


def workflows_of(lake: Path) -> list[dict]:
    return json.loads((lake / "workflows.json").read_text())
