"""Answers from Python are the command line's answers: the same rows, schema (names, types,
nullability of the Arrow IPC encoding), errors, `explain` text and batch results."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import flowlake
from conftest import REPO, cli_query, run_cli, workflows_of
from payloads import PayloadMaker

SAMPLE_ORG = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d"
SAMPLE_WORKFLOW = "5887c297-1e03-45e4-863e-7a9f784c5a2c"
RANDOM_REQUESTS = 60


@pytest.fixture(scope="module")
def generated(generated_lake):
    return flowlake.Lake(generated_lake), PayloadMaker(generated_lake)


@pytest.fixture(scope="module")
def sample(sample_lake):
    return flowlake.Lake(sample_lake)


def assert_answers_alike(cli, lake_path, lake, org, workflow, payload):
    """The CLI's answer and the Python one: equal tables, or equal errors."""
    want = cli_query(cli, lake_path, org, workflow, payload)
    if want.error is not None:
        with pytest.raises(flowlake.Error) as raised:
            lake.query(org, workflow, payload)
        got = raised.value
        assert (got.status, got.code, str(got)) == (want.error["status"], want.error["error"], want.error["message"])
        return None
    got = lake.query(org, workflow, payload)
    assert got.schema == want.table.schema
    assert [f.nullable for f in got.schema] == [f.nullable for f in want.table.schema]
    assert got.num_rows == want.table.num_rows
    assert got.equals(want.table), f"rows differ for payload {payload}"
    return got


@pytest.mark.parametrize("seed", range(RANDOM_REQUESTS))
def test_random_request_answers_like_the_cli(cli, generated_lake, generated, seed):
    lake, maker = generated
    org, workflow, payload = maker.request(seed)
    assert_answers_alike(cli, generated_lake, lake, org, workflow, payload)


def test_random_requests_cover_rows_errors_and_empty_answers(generated):
    lake, maker = generated
    outcomes = {"rows": 0, "empty": 0, "error": 0}
    for seed in range(RANDOM_REQUESTS):
        try:
            rows = lake.query(*maker.request(seed)).num_rows
            outcomes["rows" if rows else "empty"] += 1
        except flowlake.Error:
            outcomes["error"] += 1
    assert outcomes["rows"] >= 15 and outcomes["empty"] >= 3 and outcomes["error"] >= 3, outcomes


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "queries").glob("*.json")))
def test_shipped_query_answers_like_the_cli(cli, sample_lake, sample, name):
    payload = (REPO / "queries" / f"{name}.json").read_bytes()
    assert_answers_alike(cli, sample_lake, sample, SAMPLE_ORG, SAMPLE_WORKFLOW, payload)


def test_every_workflow_type_answers_like_the_cli(cli, generated_lake, generated):
    lake, _ = generated
    payload = {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-03T23:59:59Z"},
               "target": "affected_goal_total"}
    for workflow in workflows_of(generated_lake):
        assert_answers_alike(cli, generated_lake, lake, workflow["organization_id"], workflow["id"], payload)


def test_payload_as_dict_str_and_bytes_is_the_same_request(sample):
    payload = json.loads((REPO / "queries" / "api-example.json").read_text())
    tables = [sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, p)
              for p in (payload, json.dumps(payload), json.dumps(payload).encode(), bytearray(json.dumps(payload).encode()))]
    assert tables[0].num_rows > 0
    assert all(t.equals(tables[0]) for t in tables)


def test_basic_and_advanced_schemas_are_the_response_fields(sample):
    base = {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "limit": 3}
    basic = sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, {**base, "basic": True, "target": "affected_goal_total"})
    assert basic.schema.names == ["time", "goal_id", "goal_name", "goal_value", "visitor_id", "session_id",
                                  "country", "city", "device", "browser", "workflow_related"]
    assert basic.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    assert not basic.schema.field("time").nullable and basic.schema.field("goal_name").nullable
    advanced = sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, base)
    assert advanced.schema.names[:3] == ["timestamp", "event_id", "vendor"]
    assert advanced.schema.names[-2:] == ["organization_id", "date"]
    assert advanced.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert advanced.schema.field("properties").type == pa.list_(pa.string()) or \
        pa.types.is_list(advanced.schema.field("properties").type)


def test_an_empty_answer_still_has_the_schema(sample):
    payload = {"filters": [{"property": "label", "values": ["nothing"]}],
               "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "basic": True}
    table = sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload)
    assert table.num_rows == 0 and table.schema.names[0] == "time"


def test_a_stream_reads_the_same_rows_as_the_table(generated, generated_lake):
    lake, maker = generated
    for seed in range(10):
        org, workflow, payload = maker.request(seed)
        try:
            table = lake.query(org, workflow, payload)
        except flowlake.Error:
            continue
        reader = lake.query_stream(org, workflow, payload)
        assert isinstance(reader, pa.RecordBatchReader)
        assert reader.schema == table.schema
        assert reader.read_all().equals(table)


def test_explain_prints_what_the_cli_prints(cli, sample_lake, sample):
    payload = (REPO / "queries" / "api-example.json").read_text()
    done = run_cli(cli, "explain", "--lake", str(sample_lake), "--org", SAMPLE_ORG, "--workflow", SAMPLE_WORKFLOW,
                   "--payload", "-", stdin=payload.encode())
    assert done.returncode == 0, done.stderr
    text = sample.explain(SAMPLE_ORG, SAMPLE_WORKFLOW, payload)
    assert text + "\n" == done.stdout.decode()
    assert "== logical plan ==" in text and "== physical plan ==" in text


def test_explain_analyze_runs_the_query(sample):
    payload = json.loads((REPO / "queries" / "api-example.json").read_text())
    rows = sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload).num_rows
    text = sample.explain(SAMPLE_ORG, SAMPLE_WORKFLOW, payload, analyze=True)
    # The strategy, then every plan that ran; the last one gave the answer's rows.
    assert text.startswith("== strategy ==")
    last = text.split("== physical plan with metrics (")[-1]
    assert last.startswith(f"{rows} rows): run "), text


def test_batch_writes_what_the_cli_batch_writes(cli, sample_lake, sample, tmp_path):
    queries = REPO / "queries" / "batch.ndjson"
    summary = sample.batch(queries, tmp_path / "python", format="arrow", jobs=2)
    done = run_cli(cli, "batch", "--lake", str(sample_lake), "--queries", str(queries),
                   "--out", str(tmp_path / "cli"), "--format", "arrow", "--jobs", "2")
    assert done.returncode in (0, 9), done.stderr
    cli_summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary == json.loads((tmp_path / "python" / "summary.json").read_text())
    strip = lambda s: [{k: v for k, v in q.items() if k != "ms"} for q in s["queries"]]  # noqa: E731
    assert strip(summary) == strip(cli_summary)
    assert (summary["total"], summary["ok"], summary["failed"]) == (cli_summary["total"], cli_summary["ok"], cli_summary["failed"])
    for outcome in summary["queries"]:
        if outcome["output"]:
            assert (tmp_path / "python" / outcome["output"]).read_bytes() == (tmp_path / "cli" / outcome["output"]).read_bytes()


def test_batch_resume_skips_what_is_done(sample, tmp_path):
    queries = REPO / "queries" / "batch.ndjson"
    first = sample.batch(queries, tmp_path, format="csv", jobs=1)
    again = sample.batch(queries, tmp_path, format="csv", resume=True)
    assert again["skipped"] == first["ok"] and again["rows"] == first["rows"]


def test_one_lake_answers_from_many_threads(sample):
    from concurrent.futures import ThreadPoolExecutor

    payload = (REPO / "queries" / "all-goals-advanced.json").read_text()
    alone = sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload)
    with ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(lambda _: sample.query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload), range(8)))
    assert all(t.equals(alone) for t in tables)


def test_lakes_share_one_runtime_and_open_again(sample_lake):
    lakes = [flowlake.Lake(sample_lake) for _ in range(3)]
    payload = (REPO / "queries" / "api-example.json").read_text()
    first = lakes[0].query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload)
    assert all(lake.query(SAMPLE_ORG, SAMPLE_WORKFLOW, payload).equals(first) for lake in lakes[1:])
    assert repr(lakes[0]) == f"flowlake.Lake({str(Path(sample_lake).resolve())!r})"
