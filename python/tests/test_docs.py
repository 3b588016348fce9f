"""The walkthrough of docs/python.md runs as written: its Python blocks in order, in one
namespace, from a folder where `data/` is the sample lake; a block followed by a bare
fenced block must print that (`…` stands for anything)."""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest

from conftest import REPO

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str | None]]:
    """(code, expected output or None) of each Python block."""
    text = (REPO / "docs" / "python.md").read_text()
    found = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    out = []
    for i, (language, body, _, end) in enumerate(found):
        if language != "python":
            continue
        following = found[i + 1] if i + 1 < len(found) else None
        expected = None
        if following and following[0] == "" and not text[end:following[2]].strip():
            expected = following[1]
        out.append((body, expected))
    return out


def matches(expected: str, printed: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in expected.strip().split("…"))
    return re.fullmatch(pattern, printed.strip(), re.DOTALL) is not None


def test_the_walkthrough_runs_and_prints_what_it_says(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    (tmp_path / "data").symlink_to(REPO / "data")
    (tmp_path / "docs").mkdir()
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        for code, expected in blocks():
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                exec(compile(code, "docs/python.md", "exec"), namespace)
            if expected is not None:
                assert matches(expected, printed.getvalue()), (code, printed.getvalue())
    finally:
        os.chdir(here)
    figure = tmp_path / "docs" / "python-goals-per-day.png"
    assert figure.stat().st_size > 10_000
    assert (REPO / "docs" / "python-goals-per-day.png").exists(), "the figure the page shows is committed"
