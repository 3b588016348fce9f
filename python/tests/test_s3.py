"""A lake on S3, served by a real S3-protocol server on 127.0.0.1 (moto's): the same
answers as the same lake on local disk, and the writers work there too."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flowlake
from payloads import PayloadMaker

BUCKET = "lake"
KEYS = {"access_key_id": "flowlake-test", "secret_access_key": "flowlake-test-secret", "region": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    """moto's server on a free port of 127.0.0.1, ready; stopped at the end."""
    if not shutil.which("moto_server", path=str(Path(sys.executable).parent)):
        pytest.skip("moto[server] is not installed")
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def s3_lake(s3_server, generated_lake):
    """The generated lake uploaded under s3://lake/generated."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=KEYS["access_key_id"],
                          aws_secret_access_key=KEYS["secret_access_key"], region_name=KEYS["region"])
    client.create_bucket(Bucket=BUCKET)
    for path in sorted(generated_lake.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"generated/{path.relative_to(generated_lake).as_posix()}")
    return f"s3://{BUCKET}/generated"


def open_s3(url: str, endpoint: str) -> flowlake.Lake:
    return flowlake.Lake(url, endpoint=endpoint, allow_http=True, **KEYS)


def test_an_s3_lake_answers_as_the_same_lake_on_disk(s3_server, s3_lake, generated_lake):
    remote, local = open_s3(s3_lake, s3_server), flowlake.Lake(generated_lake)
    assert remote.location == s3_lake
    maker = PayloadMaker(generated_lake)
    answered = 0
    for seed in range(20):
        org, workflow, payload = maker.request(seed)
        try:
            want = local.query(org, workflow, payload)
        except flowlake.Error as error:
            with pytest.raises(type(error)) as raised:
                remote.query(org, workflow, payload)
            assert str(raised.value) == str(error)
            continue
        assert remote.query(org, workflow, payload).equals(want)
        assert remote.query_stream(org, workflow, payload).read_all().equals(want)
        answered += 1
    assert answered >= 10


def test_explain_reads_the_s3_lake(s3_server, s3_lake, generated_lake):
    workflow = json.loads((generated_lake / "workflows.json").read_text())[0]
    payload = {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}}
    text = open_s3(s3_lake, s3_server).explain(workflow["organization_id"], workflow["id"], payload, analyze=True)
    assert "== physical plan with metrics" in text


def test_a_missing_prefix_is_a_500_naming_the_catalog(s3_server, s3_lake):
    with pytest.raises(flowlake.InternalError, match="workflows.json"):
        open_s3(f"s3://{BUCKET}/nothing-here", s3_server)


def test_ingest_writes_to_an_s3_lake(s3_server, s3_lake, generated_lake, tmp_path):
    workflow = json.loads((generated_lake / "workflows.json").read_text())[0]
    org = workflow["organization_id"]
    event = {"timestamp": "2026-03-02T12:00:00Z", "event_id": "s3-ingested", "category": "goal",
             "action": "trigger", "label": "g", "visitor_id": "v", "session_id": "s", "organization_id": org}
    inputs = tmp_path / "events.ndjson"
    inputs.write_text(json.dumps(event) + "\n")
    summary = flowlake.ingest(s3_lake, inputs, endpoint=s3_server, allow_http=True, **KEYS)
    assert summary["rows_written"] == 1
    payload = {"filters": [{"property": "event_id", "values": ["s3-ingested"]}], "target": "affected_goal_total",
               "interval": {"start": "2026-03-02", "end": "2026-03-02T23:59:59Z"}}
    table = open_s3(s3_lake, s3_server).query(org, workflow["id"], payload)
    assert table["event_id"].to_pylist() == ["s3-ingested"]
