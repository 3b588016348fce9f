"""flowlake: the Workflow source data API over Parquet event lakes, from Python.

Answers are Arrow data handed over without a copy (the Arrow PyCapsule interface), so
pyarrow, pandas, Polars and DuckDB take them as they are::

    import flowlake
    lake = flowlake.Lake("data/")
    table = lake.query(org, workflow, {"filters": [], "interval": {...}})

Payloads are validated exactly as the command line validates them, and errors are raised
as :class:`Error` subclasses carrying the API's status and code. Calls release the GIL
while the engine runs, and Ctrl-C cancels the running query.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import re as _re

import pyarrow as _pa

from . import _flowlake

__version__ = _flowlake.__version__

# `NotImplemented` is left out: a star import would shadow the builtin constant.
__all__ = [
    "Lake",
    "ingest",
    "compact",
    "Error",
    "PayloadError",
    "NotFound",
    "InternalError",
    "Unavailable",
]


class Error(Exception):
    """A request that flowlake refused or could not answer.

    ``status`` is the HTTP status the API gives it, ``code`` its machine-readable code and
    ``message`` what went wrong (naming the key, property, file or value); ``str(error)``
    is the message.
    """

    status: int = 500
    code: str = "internal"

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status}, code={self.code!r})"


class PayloadError(Error, ValueError):
    """400: the request is malformed (JSON, payload shape or values, the organization or
    workflow id, an option such as a missing lake folder)."""

    status = 400
    code = "bad_request"


class NotFound(Error, LookupError):
    """404: the workflow is not in the lake's catalog for that organization."""

    status = 404
    code = "not_found"


class NotImplemented(Error):  # noqa: A001 - the API's own name for 406 `not_implemented`
    """406: a filter property or a workflow type that the engine does not implement."""

    status = 406
    code = "not_implemented"


class InternalError(Error):
    """500: the lake is damaged (a corrupt event file, a missing ``workflows.json``), the
    query ran out of memory under its limit, or a bug."""

    status = 500
    code = "internal"


class Unavailable(Error):
    """503: the object store could not be reached after retries."""

    status = 503
    code = "storage_unavailable"


_SIZE = _re.compile(r"^\s*(\d*\.?\d*)\s*([KMGT]?)(I?B)?\s*$", _re.IGNORECASE)


def _bytes(size: int | str | None) -> int | None:
    """A size in bytes, from an int or text such as ``"512M"`` or ``"1.5G"`` (powers of 1024)."""
    if size is None or isinstance(size, int):
        return size
    match = _SIZE.match(size)
    if not match or match.group(1) in ("", "."):
        raise ValueError(f"{size!r} is not a size such as 512M, 1.5G or 2G")
    scale = 1024 ** "BKMGT".index((match.group(2) or "B").upper())
    return int(float(match.group(1)) * scale)


def _seconds(value: float | _dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, _dt.timedelta) else float(value)


def _day(value: str | _dt.date | None) -> str | None:
    return value.isoformat() if isinstance(value, _dt.date) else value


class Lake:
    """A lake opened for queries: a local folder or ``s3://bucket/prefix``.

    Storage options (for S3 lakes) are keyword arguments named as the command line's
    ``--s3-*`` flags, over the ``AWS_*`` environment: ``endpoint``, ``region``,
    ``access_key_id`` and ``secret_access_key`` (both or neither), ``allow_http``,
    ``virtual_hosted_style``, ``max_retries``, ``retry_timeout`` (seconds).

    ``memory_limit`` (bytes, or text such as ``"2G"``) bounds what queries hold: beyond it
    they spill to disk or fail with :class:`InternalError`. ``target_partitions`` sets
    the parallelism, ``batch_size`` the rows per engine batch, and ``list_cache_ttl``
    (seconds) how long a day folder's listing is reused by later queries (default 0:
    every query lists afresh, as ``flowlake query`` does).

    Opening reads the lake's catalog (``workflows.json``, ``goals.json``); :meth:`reload`
    reads it again if it changed. One ``Lake`` may be used from many threads at once.
    """

    def __init__(
        self,
        location: str | _os.PathLike,
        *,
        memory_limit: int | str | None = None,
        target_partitions: int | None = None,
        batch_size: int | None = None,
        list_cache_ttl: float | _dt.timedelta = 0.0,
        **storage,
    ):
        self._native = _flowlake.Lake(
            _os.fspath(location),
            storage=storage,
            memory_limit=_bytes(memory_limit),
            target_partitions=target_partitions,
            batch_size=batch_size,
            list_cache_ttl=_seconds(list_cache_ttl),
        )

    @property
    def location(self) -> str:
        """The lake's root: an absolute folder path or an ``s3://`` URL."""
        return self._native.location

    def __repr__(self) -> str:
        return f"flowlake.Lake({self.location!r})"

    def query(self, organization_id: str, workflow_id: str, payload) -> _pa.Table:
        """The whole answer of a request as a ``pyarrow.Table``.

        ``payload`` is a dict, or the JSON text as ``str`` or ``bytes``. The table's
        columns are the response's ``fields`` (names, types and nullability as in the
        Arrow IPC encoding); rows come in the API's order (time, then event id).
        """
        return _pa.table(self._native.query(organization_id, workflow_id, payload))

    def query_stream(self, organization_id: str, workflow_id: str, payload) -> _pa.RecordBatchReader:
        """The answer as a ``pyarrow.RecordBatchReader``, read batch by batch as the engine
        produces them: memory stays bounded (under ``memory_limit``) however many rows the
        answer has. Errors of the request are raised here; an error while reading (or
        Ctrl-C) is raised by the read and stops the query. Closing the reader (or
        dropping it) stops the query too.
        """
        batches = self._native.query_stream(organization_id, workflow_id, payload)
        schema = _pa.schema(batches.schema)
        return _pa.RecordBatchReader.from_batches(schema, _pyarrow_batches(batches))

    def explain(self, organization_id: str, workflow_id: str, payload, *, analyze: bool = False) -> str:
        """The logical and physical plans of a request, the text ``flowlake explain`` prints.
        With ``analyze=True`` the query runs and the plan shows its metrics (rows, bytes,
        files and row groups pruned)."""
        return self._native.explain(organization_id, workflow_id, payload, analyze=analyze)

    def batch(
        self,
        queries: str | _os.PathLike,
        out: str | _os.PathLike,
        *,
        format: str = "json",
        jobs: int | None = None,
        resume: bool = False,
    ) -> dict:
        """Runs many query files with the library's batch runner (as ``flowlake batch``).

        ``queries`` is a folder of ``*.json`` query files or one NDJSON file of queries;
        results go to ``out`` as ``<name>.<format>`` (``json``, ``ndjson``, ``csv`` or
        ``arrow``), each written whole or not at all, with ``summary.json``. ``jobs``
        queries run at once (default: the number of cores); ``resume`` skips queries whose
        result exists. Returns the summary (totals and each query's outcome); a failed query
        is reported there, not raised.
        """
        summary = self._native.batch(queries, out, format=format, jobs=jobs, resume=resume)
        return _json.loads(summary)

    def reload(self) -> list[str]:
        """Reads ``workflows.json`` and ``goals.json`` again if they changed; returns the
        names of those that did. A changed file that is invalid raises and the catalog in use
        stays."""
        return self._native.reload()


def _pyarrow_batches(batches: _flowlake.AnswerBatches):
    """The native batches as pyarrow record batches (no copy)."""
    try:
        for batch in batches:
            yield _pa.record_batch(batch)
    finally:
        batches.close()


def ingest(
    lake: str | _os.PathLike,
    inputs,
    *,
    rejects: str | _os.PathLike | None = None,
    format: str | None = None,
    time_zone: str | None = None,
    buffer_rows: int = 262_144,
    row_group_size: int | None = None,
    staging_dir: str | _os.PathLike | None = None,
    **storage,
) -> dict:
    """Loads events from NDJSON, CSV or Parquet into the lake, as ``flowlake ingest``.

    ``inputs`` is a path or a list of files, folders or ``s3://`` URLs. Each event is written
    once (an ``event_id`` already in its day is counted, not written again). Without
    ``rejects`` one bad row refuses the whole input (:class:`PayloadError`) before
    anything is written; with it, bad rows go to that file with their reason. Returns the
    run's counts, by day under ``days``.
    """
    if isinstance(inputs, (str, bytes, _os.PathLike)):
        inputs = [inputs]
    return _flowlake.ingest(
        _os.fspath(lake),
        [_os.fspath(i) for i in inputs],
        rejects=rejects,
        format=format,
        time_zone=time_zone,
        buffer_rows=buffer_rows,
        row_group_size=row_group_size,
        staging_dir=staging_dir,
        storage=storage,
    )


def compact(
    lake: str | _os.PathLike,
    *,
    organization_id: str | None = None,
    first_day: str | _dt.date | None = None,
    last_day: str | _dt.date | None = None,
    grace: float | _dt.timedelta = 600.0,
    orphan_grace: float | _dt.timedelta = 3600.0,
    row_group_size: int | None = None,
    target_file_size: int | str | None = None,
    memory_limit: int | str | None = None,
    spill_dir: str | _os.PathLike | None = None,
    **storage,
) -> dict:
    """Rewrites day folders into the layout queries read fastest, as ``flowlake compact``.

    Selects one organization's days and/or the days from ``first_day`` to ``last_day``
    (inclusive). Replaced files stay readable for ``grace`` seconds; ``memory_limit`` bounds
    the sort (default: half of the available memory), which spills to ``spill_dir``. Returns
    the totals and each day's outcome under ``days``; a day that fails is reported there,
    not raised.
    """
    return _flowlake.compact(
        _os.fspath(lake),
        organization_id=organization_id,
        first_day=_day(first_day),
        last_day=_day(last_day),
        grace=_seconds(grace),
        orphan_grace=_seconds(orphan_grace),
        row_group_size=row_group_size,
        target_file_size=_bytes(target_file_size),
        memory_limit=_bytes(memory_limit),
        spill_dir=spill_dir,
        storage=storage,
    )
