"""`ingest` and `compact` from Python write what the command line writes, and queries see
it."""

from __future__ import annotations

import json
import shutil

import pytest

import flowlake

ORG = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d"
WORKFLOW = "5887c297-1e03-45e4-863e-7a9f784c5a2c"
DAY = "2026-03-20"
ALL_GOALS = {"filters": [], "interval": {"start": DAY, "end": f"{DAY}T23:59:59Z"}, "target": "affected_goal_total"}


@pytest.fixture
def lake_copy(sample_lake, tmp_path):
    root = tmp_path / "lake"
    shutil.copytree(sample_lake, root)
    return root


def goal(n: int, **overrides) -> dict:
    event = {"timestamp": f"{DAY}T10:00:{n:02d}Z", "event_id": f"py-{n}", "category": "goal", "action": "trigger",
             "label": "6fd3d22c-1693-4a84-9043-f8ef4d9f2846", "visitor_id": f"v{n}", "session_id": f"s{n}",
             "organization_id": ORG, "value": 1.5}
    event.update(overrides)
    return event


def test_ingested_events_are_answered_and_ingested_once(lake_copy, tmp_path):
    inputs = tmp_path / "events.ndjson"
    inputs.write_text("\n".join(json.dumps(goal(n)) for n in range(5)) + "\n")
    summary = flowlake.ingest(lake_copy, inputs)
    assert (summary["rows_read"], summary["rows_written"], summary["rows_rejected"]) == (5, 5, 0)
    assert summary["days"] == {f"organization_id={ORG}/date={DAY}": {"rows": 5, "files": 1}}
    table = flowlake.Lake(lake_copy).query(ORG, WORKFLOW, ALL_GOALS)
    assert sorted(table["event_id"].to_pylist()) == [f"py-{n}" for n in range(5)]
    again = flowlake.ingest(lake_copy, [str(inputs)])
    assert (again["rows_written"], again["rows_already_present"]) == (0, 5)


def test_a_bad_row_refuses_the_input_unless_rejects_are_kept(lake_copy, tmp_path):
    inputs = tmp_path / "events.ndjson"
    inputs.write_text(json.dumps(goal(1)) + "\n" + json.dumps(goal(2, timestamp="yesterday")) + "\n")
    with pytest.raises(flowlake.PayloadError, match="nothing was written"):
        flowlake.ingest(lake_copy, inputs)
    rejects = tmp_path / "rejects.ndjson"
    summary = flowlake.ingest(lake_copy, inputs, rejects=rejects)
    assert (summary["rows_written"], summary["rows_rejected"]) == (1, 1)
    assert "yesterday" in rejects.read_text()


def test_compact_rewrites_days_and_answers_stay_the_same(lake_copy, tmp_path):
    for n in range(3):  # three ingests: three files in the day
        inputs = tmp_path / f"part{n}.ndjson"
        inputs.write_text(json.dumps(goal(n)) + "\n")
        flowlake.ingest(lake_copy, inputs)
    before = flowlake.Lake(lake_copy).query(ORG, WORKFLOW, ALL_GOALS)
    summary = flowlake.compact(lake_copy, organization_id=ORG, first_day=DAY, last_day=DAY, grace=0)
    assert summary["compacted"] == 1 and summary["failed"] == 0
    (day,) = summary["days"]
    assert (day["date"], day["status"], day["files_in"], day["files_out"]) == (DAY, "compacted", 3, 1)
    assert flowlake.Lake(lake_copy).query(ORG, WORKFLOW, ALL_GOALS).equals(before)
    assert flowlake.compact(lake_copy, organization_id=ORG, first_day=DAY, last_day=DAY)["already_compact"] == 1


def test_writer_arguments_are_checked(lake_copy):
    with pytest.raises(flowlake.PayloadError, match="first_day"):
        flowlake.compact(lake_copy, first_day="2026-03-05", last_day="2026-03-01")
    with pytest.raises(flowlake.PayloadError, match="time zone"):
        flowlake.ingest(lake_copy, ["x.ndjson"], time_zone="Mars/Base")
    with pytest.raises(ValueError, match="input format"):
        flowlake.ingest(lake_copy, ["x.ndjson"], format="xml")
