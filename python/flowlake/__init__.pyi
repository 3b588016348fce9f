"""Type stubs of the flowlake package (the API is documented in its docstrings)."""

import datetime
import os
from typing import Any, Literal, Mapping, Sequence, Union

import pyarrow

__version__: str

Payload = Union[Mapping[str, Any], str, bytes, bytearray]
"""A request payload: a dict, or its JSON text."""

Size = Union[int, str]
"""Bytes, as an int or text such as "512M" or "1.5G"."""

Seconds = Union[float, datetime.timedelta]
Day = Union[str, datetime.date]
PathLike = Union[str, os.PathLike[str]]

class Error(Exception):
    """A request that flowlake refused or could not answer."""

    status: int
    code: str
    message: str
    def __init__(self, message: str, status: int | None = ..., code: str | None = ...) -> None: ...

class PayloadError(Error, ValueError):
    """400: the request is malformed."""

class NotFound(Error, LookupError):
    """404: the workflow is not in the catalog for that organization."""

class NotImplemented(Error):
    """406: an unsupported filter property or workflow type."""

class InternalError(Error):
    """500: a damaged lake, memory exhausted under the limit, or a bug."""

class Unavailable(Error):
    """503: the object store could not be reached after retries."""

class Lake:
    """A lake opened for queries: a local folder or s3://bucket/prefix."""

    def __init__(
        self,
        location: PathLike,
        *,
        memory_limit: Size | None = ...,
        target_partitions: int | None = ...,
        batch_size: int | None = ...,
        list_cache_ttl: Seconds = ...,
        endpoint: str | None = ...,
        region: str | None = ...,
        access_key_id: str | None = ...,
        secret_access_key: str | None = ...,
        allow_http: bool = ...,
        virtual_hosted_style: bool = ...,
        max_retries: int = ...,
        retry_timeout: float = ...,
    ) -> None: ...
    @property
    def location(self) -> str: ...
    def query(self, organization_id: str, workflow_id: str, payload: Payload) -> pyarrow.Table: ...
    def query_stream(
        self, organization_id: str, workflow_id: str, payload: Payload
    ) -> pyarrow.RecordBatchReader: ...
    def explain(
        self, organization_id: str, workflow_id: str, payload: Payload, *, analyze: bool = ...
    ) -> str: ...
    def batch(
        self,
        queries: PathLike,
        out: PathLike,
        *,
        format: Literal["json", "ndjson", "csv", "arrow"] = ...,
        jobs: int | None = ...,
        resume: bool = ...,
    ) -> dict[str, Any]: ...
    def reload(self) -> list[str]: ...

def ingest(
    lake: PathLike,
    inputs: PathLike | Sequence[PathLike],
    *,
    rejects: PathLike | None = ...,
    format: Literal["ndjson", "csv", "parquet"] | None = ...,
    time_zone: str | None = ...,
    buffer_rows: int = ...,
    row_group_size: int | None = ...,
    staging_dir: PathLike | None = ...,
    endpoint: str | None = ...,
    region: str | None = ...,
    access_key_id: str | None = ...,
    secret_access_key: str | None = ...,
    allow_http: bool = ...,
    virtual_hosted_style: bool = ...,
    max_retries: int = ...,
    retry_timeout: float = ...,
) -> dict[str, Any]: ...
def compact(
    lake: PathLike,
    *,
    organization_id: str | None = ...,
    first_day: Day | None = ...,
    last_day: Day | None = ...,
    grace: Seconds = ...,
    orphan_grace: Seconds = ...,
    row_group_size: int | None = ...,
    target_file_size: Size | None = ...,
    memory_limit: Size | None = ...,
    spill_dir: PathLike | None = ...,
    endpoint: str | None = ...,
    region: str | None = ...,
    access_key_id: str | None = ...,
    secret_access_key: str | None = ...,
    allow_http: bool = ...,
    virtual_hosted_style: bool = ...,
    max_retries: int = ...,
    retry_timeout: float = ...,
) -> dict[str, Any]: ...
