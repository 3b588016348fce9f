"""Answers go into Polars, DuckDB and pandas as they are (Arrow, through the PyCapsule
interface), with the same rows and types."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import flowlake
from conftest import REPO

ORG = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d"
WORKFLOW = "5887c297-1e03-45e4-863e-7a9f784c5a2c"
ALL_GOALS = {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-14T23:59:59Z"},
             "target": "affected_goal_total"}


@pytest.fixture(scope="module")
def answer(sample_lake) -> pa.Table:
    table = flowlake.Lake(sample_lake).query(ORG, WORKFLOW, ALL_GOALS)
    assert table.num_rows > 100
    return table


def test_polars_takes_the_table(answer):
    polars = pytest.importorskip("polars")
    frame = polars.from_arrow(answer)
    assert frame.height == answer.num_rows
    assert frame.columns == answer.schema.names
    assert frame["workflow_related"].sum() == pc.sum(answer["workflow_related"].cast(pa.int64())).as_py()
    assert frame["timestamp"].dtype == polars.Datetime("us", "UTC")
    assert frame["event_id"].to_list() == answer["event_id"].to_pylist()


def test_polars_reads_a_stream(sample_lake):
    polars = pytest.importorskip("polars")
    reader = flowlake.Lake(sample_lake).query_stream(ORG, WORKFLOW, ALL_GOALS)
    frame = polars.from_arrow(reader)
    assert frame.height > 100


def test_duckdb_queries_the_table_by_name(answer):
    duckdb = pytest.importorskip("duckdb")
    t = answer  # noqa: F841 - DuckDB finds the table by its variable name
    per_day = duckdb.sql("select date, count(*) as goals, sum(workflow_related::int) as related "
                         "from t group by date order by date").fetchall()
    assert sum(goals for _, goals, _ in per_day) == answer.num_rows
    related = duckdb.sql("select count(*) from t where workflow_related").fetchall()[0][0]
    assert related == answer.filter(answer["workflow_related"]).num_rows


def test_duckdb_reads_a_stream(sample_lake):
    duckdb = pytest.importorskip("duckdb")
    reader = flowlake.Lake(sample_lake).query_stream(ORG, WORKFLOW, ALL_GOALS)
    assert duckdb.sql("select count(*) from reader").fetchall()[0][0] > 100


def test_pandas_takes_the_table(answer):
    pytest.importorskip("pandas")
    frame = answer.to_pandas()
    assert len(frame) == answer.num_rows and list(frame.columns) == answer.schema.names


def test_basic_answers_carry_goal_names(sample_lake):
    payload = (REPO / "queries" / "api-example.json").read_text()
    table = flowlake.Lake(sample_lake).query(ORG, WORKFLOW, payload)
    assert table.num_rows > 0 and table["goal_name"].null_count < table.num_rows
