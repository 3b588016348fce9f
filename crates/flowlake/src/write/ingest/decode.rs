//! One chunk of an input decoded: on the typed path (Arrow's decoders, then the checks over
//! whole columns) when every record of it is good, and otherwise piece by piece, the
//! pieces that hold a bad record through the per-row checks, which say why and where.
//! Both paths read a record alike (the tests compare them); the typed one is the fast one.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use uuid::Uuid;

use super::checks::Checked;
use super::chunks::Chunk;
use super::record::Refusal;
use super::{csv_records, json_lines, parquet_batches};
use crate::error::{Error, Result};
use crate::format::event::Event;
use crate::write::Day;
use crate::write::day_reader::{EventKey, event_key};

/// Records per piece when a chunk holds a bad record: only the pieces that hold one are
/// read again row by row.
const PIECE: usize = 64;

/// How records are read, for every chunk of a run.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// The zone of timestamps without an offset (without it such timestamps are refused).
    pub time_zone: Option<Tz>,
}

/// A refused record: where it is, why, and the record as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub position: String,
    pub refusal: Refusal,
    pub record: serde_json::Value,
}

impl Refused {
    /// Files one record read on the per-row path: its row into `rows`, or its refusal (at
    /// the position `position` names) into `refused`.
    pub fn sort(
        outcome: std::result::Result<(Uuid, Event), (Refusal, serde_json::Value)>,
        position: impl FnOnce() -> String,
        rows: &mut Vec<(Uuid, Event)>,
        refused: &mut Vec<Refused>,
    ) {
        match outcome {
            Ok(row) => rows.push(row),
            Err((refusal, record)) => refused.push(Refused {
                position: position(),
                refusal,
                record,
            }),
        }
    }
}

/// The rows of one organization's day, in input order, and their event keys.
#[derive(Debug, Clone)]
pub struct DayRows {
    pub day: Day,
    pub batch: RecordBatch,
    pub keys: Vec<EventKey>,
}

/// A chunk decoded: its good rows by day and its refused records, each in input order.
#[derive(Debug, Default)]
pub struct Decoded {
    /// Records read (good and refused; blank NDJSON lines are not records).
    pub records: u64,
    /// Of those, the records the typed path read.
    pub typed: u64,
    pub days: Vec<DayRows>,
    pub refused: Vec<Refused>,
}

/// The records of one chunk as a format reads them.
pub trait Records {
    /// How many records (NDJSON: lines, blank ones included) the chunk holds.
    fn count(&self) -> usize;

    /// The records of `range` on the typed path, when every one of them is good (one
    /// row per record: NDJSON's blank lines are not records).
    fn typed(&self, range: Range<usize>, options: &DecodeOptions) -> Option<Checked>;

    /// The records of `range` through the per-row checks: good rows into `rows`, the
    /// others into `refused`; returns how many records there were.
    fn per_row(
        &self,
        range: Range<usize>,
        options: &DecodeOptions,
        rows: &mut Vec<(Uuid, Event)>,
        refused: &mut Vec<Refused>,
    ) -> Result<u64>;
}

/// Decodes one chunk.
pub fn decode(chunk: Chunk, options: &DecodeOptions) -> Result<Decoded> {
    match chunk {
        Chunk::Lines(lines) => decode_records(&json_lines::Lines::new(&lines), options),
        Chunk::Csv(records) => decode_records(&csv_records::CsvRecords::new(&records), options),
        Chunk::Parquet(rows) => decode_records(&parquet_batches::Rows::new(&rows), options),
    }
}

/// The typed path over the whole chunk; when it fails, piece by piece.
pub fn decode_records(records: &dyn Records, options: &DecodeOptions) -> Result<Decoded> {
    let count = records.count();
    let mut decoded = Decoded::default();
    if let Some(checked) = records.typed(0..count, options) {
        decoded.records = checked.num_rows() as u64;
        decoded.typed = decoded.records;
        decoded.days = by_day(checked)?;
        return Ok(decoded);
    }
    let mut start = 0;
    while start < count {
        let piece = start..(start + PIECE).min(count);
        start = piece.end;
        let checked = match records.typed(piece.clone(), options) {
            Some(checked) => {
                let read = checked.num_rows() as u64;
                decoded.records += read;
                decoded.typed += read;
                checked
            }
            None => {
                let mut rows = Vec::new();
                decoded.records +=
                    records.per_row(piece, options, &mut rows, &mut decoded.refused)?;
                Checked::from_events(rows)?
            }
        };
        decoded.days.extend(by_day(checked)?);
    }
    Ok(decoded)
}

/// Every record of a chunk through the per-row checks (the reference the typed path is
/// tested against).
#[cfg(test)]
pub fn decode_per_row(records: &dyn Records, options: &DecodeOptions) -> Result<Decoded> {
    let mut rows = Vec::new();
    let mut decoded = Decoded::default();
    decoded.records =
        records.per_row(0..records.count(), options, &mut rows, &mut decoded.refused)?;
    decoded.days = by_day(Checked::from_events(rows)?)?;
    Ok(decoded)
}

/// Days of the Unix epoch from the Common Era's first day.
const EPOCH_DAYS_FROM_CE: i32 = 719_163;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The rows grouped by organization and UTC day, each group in input order, groups in the
/// order their first row came.
pub fn by_day(checked: Checked) -> Result<Vec<DayRows>> {
    let Checked {
        batch,
        organizations,
    } = checked;
    if organizations.is_empty() {
        return Ok(Vec::new());
    }
    let timestamps = batch
        .column_by_name("timestamp")
        .ok_or_else(|| Error::internal("checked rows without timestamps"))?
        .as_primitive::<TimestampMicrosecondType>()
        .values();
    let mut groups: Vec<((Uuid, i64), Vec<u32>)> = Vec::new();
    let mut index: HashMap<(Uuid, i64), usize> = HashMap::new();
    let mut last: Option<((Uuid, i64), usize)> = None;
    for (row, (organization, micros)) in organizations.iter().zip(timestamps.iter()).enumerate() {
        let key = (*organization, micros.div_euclid(MICROS_PER_DAY));
        let group = match last {
            Some((previous, group)) if previous == key => group,
            _ => *index.entry(key).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            }),
        };
        last = Some((key, group));
        groups[group].1.push(row as u32);
    }
    let event_ids = batch
        .column_by_name("event_id")
        .ok_or_else(|| Error::internal("checked rows without event ids"))?
        .as_string::<i32>()
        .clone();
    let batch = Arc::new(batch);
    groups
        .into_iter()
        .map(|((organization_id, days), rows)| {
            let date = i32::try_from(days)
                .ok()
                .and_then(|d| d.checked_add(EPOCH_DAYS_FROM_CE))
                .and_then(NaiveDate::from_num_days_from_ce_opt)
                .ok_or_else(|| Error::internal("a checked timestamp has no date"))?;
            let keys = rows
                .iter()
                .map(|&row| event_key(event_ids.value(row as usize)))
                .collect();
            // A day's rows are copied out unless they are the whole chunk: a slice would
            // keep the chunk's other days in memory as long as this day is buffered.
            let part = if rows.len() == batch.num_rows() {
                batch.as_ref().clone()
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows))
                    .map_err(|e| Error::internal(format!("grouping rows by day: {e}")))?
            };
            Ok(DayRows {
                day: Day {
                    organization_id,
                    date,
                },
                batch: part,
                keys,
            })
        })
        .collect()
}
