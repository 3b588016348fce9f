//! `ingest` and `compact`: the library's lake writers, with the command line's defaults,
//! returning what they did as dicts.

use std::path::PathBuf;

use chrono::NaiveDate;
use chrono_tz::Tz;
use flowlake::storage::S3Options;
use flowlake::write::LakeWriter;
use flowlake::write::compact::{CompactOptions, DayOutcome, DayStatus};
use flowlake::write::day_reader::SortMemory;
use flowlake::write::ingest::input::{self, InputFormat, Inputs};
use flowlake::write::ingest::{IngestOptions, IngestProgress};
use flowlake::write::layout::FileLayout;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use uuid::Uuid;

use crate::errors::{self, OrRaise};
use crate::lake::existing_location;
use crate::payload::{named, s3_options, seconds};
use crate::runtime;

/// Rows held in memory before the largest day's rows are staged (the CLI's default).
const BUFFER_ROWS: usize = 262_144;

/// Progress is not reported: the summary is the result.
struct Quiet;

impl IngestProgress for Quiet {
    fn rows_read(&self, _rows: u64) {}
}

/// The file layout of the command line's defaults, with `row_group_size` if given.
fn layout(row_group_size: Option<usize>) -> FileLayout {
    let default = FileLayout::default();
    FileLayout {
        row_group_size: row_group_size.unwrap_or(default.row_group_size).max(1),
        ..default
    }
}

/// A day written `YYYY-MM-DD`.
fn day(py: Python<'_>, name: &str, text: Option<&str>) -> PyResult<Option<NaiveDate>> {
    text.map(|text| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
            errors::usage(py, format!("{name} '{text}' is not a YYYY-MM-DD date: {e}"))
        })
    })
    .transpose()
}

/// The lake at `location` opened for writing.
fn writer(py: Python<'_>, location: &str, s3: &S3Options) -> PyResult<LakeWriter> {
    let location = existing_location(py, location)?;
    runtime::wait(py, LakeWriter::open(&location, s3))?.or_raise(py)
}

/// Loads events from NDJSON, CSV or Parquet inputs into the lake (as `flowlake ingest`);
/// returns the run's counts.
#[pyfunction]
#[pyo3(signature = (lake, inputs, *, rejects=None, format=None, time_zone=None, buffer_rows=BUFFER_ROWS, row_group_size=None, staging_dir=None, storage=None))]
#[allow(clippy::too_many_arguments)]
pub fn ingest<'py>(
    py: Python<'py>,
    lake: &str,
    inputs: Vec<String>,
    rejects: Option<PathBuf>,
    format: Option<&str>,
    time_zone: Option<&str>,
    buffer_rows: usize,
    row_group_size: Option<usize>,
    staging_dir: Option<PathBuf>,
    storage: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    if inputs.is_empty() {
        return Err(errors::usage(py, "no inputs to ingest"));
    }
    let format = format
        .map(|name| named::<InputFormat>("input format", name))
        .transpose()?;
    let time_zone = time_zone
        .map(|zone| {
            zone.parse::<Tz>().map_err(|_| {
                errors::usage(
                    py,
                    format!("time_zone '{zone}' is not an IANA time zone such as Europe/Paris"),
                )
            })
        })
        .transpose()?;
    let s3 = s3_options(storage)?;
    let writer = writer(py, lake, &s3)?;
    let options = IngestOptions {
        time_zone,
        rejects,
        layout: layout(row_group_size),
        buffer_rows: buffer_rows.max(1),
        staging_dir,
    };
    let (summary, skipped) = runtime::wait(py, async move {
        let Inputs { sources, skipped } = input::resolve(&inputs, format, &s3).await?;
        let summary = flowlake::write::ingest::ingest(&writer, sources, &options, &Quiet).await?;
        Ok::<_, flowlake::Error>((summary, skipped))
    })?
    .or_raise(py)?;
    let result = PyDict::new(py);
    result.set_item("inputs", summary.inputs)?;
    result.set_item("rows_read", summary.rows_read)?;
    result.set_item("rows_written", summary.rows_written)?;
    result.set_item("rows_already_present", summary.rows_already_present)?;
    result.set_item("rows_rejected", summary.rows_rejected)?;
    result.set_item("files_written", summary.files_written)?;
    result.set_item("bytes_written", summary.bytes_written)?;
    result.set_item("existing_ids_read", summary.existing_ids_read)?;
    result.set_item("existing_ids_seconds", summary.existing_ids_seconds)?;
    let days = PyDict::new(py);
    for (day, share) in &summary.days {
        let counts = PyDict::new(py);
        counts.set_item("rows", share.rows)?;
        counts.set_item("files", share.files)?;
        days.set_item(day.to_string(), counts)?;
    }
    result.set_item("days", days)?;
    result.set_item("skipped", skipped)?;
    Ok(result)
}

/// Rewrites day folders into the layout queries read fastest (as `flowlake compact`);
/// returns each day's outcome and the totals. A day that fails is reported, not raised.
#[pyfunction]
#[pyo3(signature = (lake, *, organization_id=None, first_day=None, last_day=None, grace=600.0, orphan_grace=3600.0, row_group_size=None, target_file_size=None, memory_limit=None, spill_dir=None, storage=None))]
#[allow(clippy::too_many_arguments)]
pub fn compact<'py>(
    py: Python<'py>,
    lake: &str,
    organization_id: Option<&str>,
    first_day: Option<&str>,
    last_day: Option<&str>,
    grace: f64,
    orphan_grace: f64,
    row_group_size: Option<usize>,
    target_file_size: Option<u64>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
    storage: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    let organization_id = organization_id
        .map(|id| {
            Uuid::parse_str(id).map_err(|e| {
                errors::usage(py, format!("organization_id '{id}' is not a UUID: {e}"))
            })
        })
        .transpose()?;
    let (from, to) = (
        day(py, "first_day", first_day)?,
        day(py, "last_day", last_day)?,
    );
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(errors::usage(
            py,
            format!("first_day {from} is after last_day {to}"),
        ));
    }
    // The sort's memory: as asked, or half of the available memory (one sort at a time).
    if memory_limit == Some(0) {
        return Err(PyValueError::new_err(
            "a memory limit of 0 bytes leaves the sort no room",
        ));
    }
    let limit = flowlake::memory::for_one_job(memory_limit);
    let options = CompactOptions {
        organization_id,
        from,
        to,
        grace: seconds("grace", grace)?,
        orphan_grace: seconds("orphan_grace", orphan_grace)?,
        layout: layout(row_group_size),
        target_file_size: target_file_size
            .unwrap_or(flowlake::write::compact::DEFAULT_TARGET_FILE_SIZE)
            .max(1),
        memory: SortMemory { limit, spill_dir },
    };
    let writer = writer(py, lake, &s3_options(storage)?)?;
    let outcomes = runtime::wait(py, async move {
        flowlake::write::compact::compact(&writer, &options, &|_: &DayOutcome| {}).await
    })?
    .or_raise(py)?;
    compact_summary(py, &outcomes)
}

/// Each day's outcome and the totals, as `flowlake compact` prints them.
fn compact_summary<'py>(py: Python<'py>, outcomes: &[DayOutcome]) -> PyResult<Bound<'py, PyDict>> {
    const STATUSES: [&str; 5] = ["compacted", "already_compact", "empty", "raced", "failed"];
    let days = PyList::empty(py);
    let mut counts = [0usize; STATUSES.len()];
    let (mut rows, mut bytes, mut deleted) = (0u64, 0u64, 0usize);
    for outcome in outcomes {
        let day = PyDict::new(py);
        day.set_item("organization_id", outcome.day.organization_id.to_string())?;
        day.set_item("date", outcome.day.date.to_string())?;
        let status = match &outcome.status {
            DayStatus::Compacted {
                files_in,
                files_out,
                rows: day_rows,
                bytes: day_bytes,
                spilled,
            } => {
                day.set_item("files_in", files_in)?;
                day.set_item("files_out", files_out)?;
                day.set_item("rows", day_rows)?;
                day.set_item("bytes", day_bytes)?;
                day.set_item("spilled", spilled)?;
                rows += day_rows;
                bytes += day_bytes;
                "compacted"
            }
            DayStatus::AlreadyCompact => "already_compact",
            DayStatus::Empty => "empty",
            DayStatus::Raced => "raced",
            DayStatus::Failed { message } => {
                day.set_item("message", message)?;
                "failed"
            }
        };
        day.set_item("status", status)?;
        day.set_item("deleted", &outcome.swept.deleted)?;
        day.set_item("foreign", &outcome.swept.foreign)?;
        deleted += outcome.swept.deleted.len();
        if let Some(index) = STATUSES.iter().position(|known| *known == status) {
            counts[index] += 1;
        }
        days.append(day)?;
    }
    let totals = PyDict::new(py);
    for (status, count) in STATUSES.iter().zip(counts) {
        totals.set_item(status, count)?;
    }
    totals.set_item("rows", rows)?;
    totals.set_item("bytes", bytes)?;
    totals.set_item("files_deleted", deleted)?;
    totals.set_item("days", days)?;
    Ok(totals)
}
