"""Errors are Python exceptions with the API's status, code and message — the command
line's own, class by status — and never a crash."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

import flowlake
from conftest import REPO, cli_query

ORG = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d"
WORKFLOW = "5887c297-1e03-45e4-863e-7a9f784c5a2c"
PAYLOAD = {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-03"}}


@pytest.fixture(scope="module")
def lake(sample_lake):
    return flowlake.Lake(sample_lake)


def raised_by(call) -> flowlake.Error:
    with pytest.raises(flowlake.Error) as raised:
        call()
    return raised.value


def assert_like_cli(error: flowlake.Error, cli, lake_path, org, workflow, payload):
    want = cli_query(cli, lake_path, org, workflow, payload).error
    assert want is not None
    assert (error.status, error.code, str(error)) == (want["status"], want["error"], want["message"])


def test_malformed_json_is_a_payload_error_with_line_and_column(cli, sample_lake, lake):
    payload = (REPO / "queries" / "trailing-comma.json").read_bytes()
    error = raised_by(lambda: lake.query(ORG, WORKFLOW, payload))
    assert type(error) is flowlake.PayloadError and isinstance(error, ValueError)
    assert (error.status, error.code) == (400, "bad_request") and "line" in str(error)
    assert_like_cli(error, cli, sample_lake, ORG, WORKFLOW, payload)


@pytest.mark.parametrize("payload", [
    {"filters": [], "interval": {"start": "2026-03-02", "end": "2026-03-01"}},
    {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "limit": 0},
    {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "colour": "red"},
    {"interval": {"start": "2026-03-01", "end": "2026-03-02"}},
    {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02", "time_zone": "Mars/Base"}},
    {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "limit": float("nan")},
])
def test_invalid_payloads_are_400_with_the_cli_message(cli, sample_lake, lake, payload):
    error = raised_by(lambda: lake.query(ORG, WORKFLOW, payload))
    assert isinstance(error, flowlake.PayloadError) and error.status == 400
    assert_like_cli(error, cli, sample_lake, ORG, WORKFLOW, json.dumps(payload))


def test_an_invalid_organization_id_is_400(lake):
    error = raised_by(lambda: lake.query("not-a-uuid", WORKFLOW, PAYLOAD))
    assert isinstance(error, flowlake.PayloadError) and "organization_id" in str(error)


def test_an_unknown_workflow_is_404(cli, sample_lake, lake):
    other = "00000000-0000-4000-8000-000000000000"
    error = raised_by(lambda: lake.query(ORG, other, PAYLOAD))
    assert type(error) is flowlake.NotFound and isinstance(error, LookupError)
    assert (error.status, error.code) == (404, "not_found")
    assert_like_cli(error, cli, sample_lake, ORG, other, PAYLOAD)


def test_an_unsupported_filter_property_is_406_naming_it(cli, sample_lake, lake):
    payload = {**PAYLOAD, "filters": [{"property": "colour", "values": ["red"]}]}
    error = raised_by(lambda: lake.query(ORG, WORKFLOW, payload))
    assert type(error) is flowlake.NotImplemented
    assert (error.status, error.code) == (406, "not_implemented") and "'colour'" in str(error)
    assert_like_cli(error, cli, sample_lake, ORG, WORKFLOW, payload)


def test_an_unimplemented_workflow_type_is_406(cli, generated_lake):
    workflow = next(w for w in json.loads((generated_lake / "workflows.json").read_text())
                    if w["type"] in ("chat", "voice_video"))
    lake = flowlake.Lake(generated_lake)
    error = raised_by(lambda: lake.query(workflow["organization_id"], workflow["id"], PAYLOAD))
    assert type(error) is flowlake.NotImplemented
    assert_like_cli(error, cli, generated_lake, workflow["organization_id"], workflow["id"], PAYLOAD)


def test_a_corrupt_event_file_is_500_naming_it(cli, sample_lake, tmp_path):
    lake_path = tmp_path / "lake"
    shutil.copytree(sample_lake, lake_path)
    victim = sorted((lake_path / "events" / f"organization_id={ORG}").glob("date=2026-03-02/*.parquet"))[0]
    victim.write_bytes(b"PAR1 this is not a parquet file PAR1")
    error = raised_by(lambda: flowlake.Lake(lake_path).query(ORG, WORKFLOW, PAYLOAD))
    assert type(error) is flowlake.InternalError and error.status == 500
    assert victim.name in str(error)
    assert_like_cli(error, cli, lake_path, ORG, WORKFLOW, PAYLOAD)


def test_a_lake_without_its_catalog_is_500_at_opening(tmp_path):
    (tmp_path / "events").mkdir()
    error = raised_by(lambda: flowlake.Lake(tmp_path))
    assert type(error) is flowlake.InternalError and "workflows.json" in str(error)


def test_a_missing_lake_folder_is_400(tmp_path):
    error = raised_by(lambda: flowlake.Lake(tmp_path / "nowhere"))
    assert isinstance(error, flowlake.PayloadError) and "does not exist" in str(error)


def test_an_unreachable_store_is_503():
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = raised_by(lambda: flowlake.Lake("s3://lake/prefix", endpoint=f"http://127.0.0.1:{port}", allow_http=True,
                                            access_key_id="k", secret_access_key="s", region="us-east-1",
                                            max_retries=0, retry_timeout=1))
    assert type(error) is flowlake.Unavailable
    assert (error.status, error.code) == (503, "storage_unavailable")


def test_a_plain_http_endpoint_needs_allow_http():
    error = raised_by(lambda: flowlake.Lake("s3://lake", endpoint="http://127.0.0.1:9", access_key_id="k",
                                            secret_access_key="s", region="us-east-1"))
    assert isinstance(error, flowlake.PayloadError) and "allow" in str(error)


def test_arguments_of_the_wrong_kind_are_python_errors(sample_lake, lake):
    with pytest.raises(flowlake.PayloadError, match="must be a JSON object"):
        lake.query(ORG, WORKFLOW, 42)  # JSON, but not a payload: refused as the CLI refuses it
    with pytest.raises(TypeError):
        lake.query(ORG, WORKFLOW, {"filters": [], "interval": object()})
    with pytest.raises(TypeError, match="unknown storage option 'endpiont'"):
        flowlake.Lake(sample_lake, endpiont="http://x")
    with pytest.raises(ValueError, match="both access_key_id and secret_access_key"):
        flowlake.Lake("s3://lake", access_key_id="k")
    with pytest.raises(ValueError, match="0 bytes"):
        flowlake.Lake(sample_lake, memory_limit=0)
    with pytest.raises(ValueError, match="not a size"):
        flowlake.Lake(sample_lake, memory_limit="lots")
    with pytest.raises(ValueError, match="format"):
        lake.batch(REPO / "queries", "/tmp/never", format="xml")


def test_every_error_is_a_flowlake_error_with_status_and_code():
    for cls, status, code in [(flowlake.PayloadError, 400, "bad_request"), (flowlake.NotFound, 404, "not_found"),
                              (flowlake.NotImplemented, 406, "not_implemented"), (flowlake.InternalError, 500, "internal"),
                              (flowlake.Unavailable, 503, "storage_unavailable")]:
        error = cls("what went wrong")
        assert isinstance(error, flowlake.Error) and isinstance(error, Exception)
        assert (error.status, error.code, error.message, str(error)) == (status, code, "what went wrong", "what went wrong")
        assert repr(error) == f"{cls.__name__}('what went wrong', status={status}, code={code!r})"
    assert "NotImplemented" not in flowlake.__all__, "a star import must not shadow the builtin"


def test_the_lake_still_answers_after_an_error(lake):
    raised_by(lambda: lake.query(ORG, WORKFLOW, {"filters": []}))
    assert lake.query(ORG, WORKFLOW, PAYLOAD).num_rows >= 0
