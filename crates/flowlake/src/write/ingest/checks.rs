//! The rules of [`super::record`] over whole columns: a batch the typed readers decoded is
//! either good in every row (and becomes rows of the event schema with their
//! organizations) or it is not, and its records go through the per-row checks, which say
//! which rows are bad and why.

use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use uuid::Uuid;

use super::record::{local_instant, text_instant};
use crate::error::Result;
use crate::format::event::{Event, to_record_batch};
use crate::format::schema::{ColumnKind, EVENT_COLUMNS, ORGANIZATION_ID, file_schema};

/// Checked rows: a batch of the event schema, and each row's organization.
#[derive(Debug, Clone)]
pub struct Checked {
    pub batch: RecordBatch,
    pub organizations: Vec<Uuid>,
}

impl Checked {
    /// Rows the per-row checks accepted.
    pub fn from_events(rows: Vec<(Uuid, Event)>) -> Result<Checked> {
        let (organizations, events): (Vec<Uuid>, Vec<Event>) = rows.into_iter().unzip();
        Ok(Checked {
            batch: to_record_batch(&events)?,
            organizations,
        })
    }

    pub fn num_rows(&self) -> usize {
        self.organizations.len()
    }
}

/// `decoded`'s rows checked, or `None` when one of them breaks a rule (or is of a shape
/// these kernels do not read). `decoded` holds `organization_id` (Utf8), `timestamp`
/// (Utf8 text, or an Arrow timestamp in µs, with a zone or without one) and any of the
/// other event columns with the event schema's types; a missing column is null.
pub fn check(decoded: &RecordBatch, time_zone: Option<Tz>) -> Option<Checked> {
    let rows = decoded.num_rows();
    let organizations = organization_ids(decoded.column_by_name(ORGANIZATION_ID)?)?;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(EVENT_COLUMNS.len());
    for column in EVENT_COLUMNS {
        let array = match decoded.column_by_name(column.name) {
            Some(array) => Arc::clone(array),
            None if column.nullable => new_null_array(&column.kind.data_type(), rows),
            None => return None,
        };
        let array = match column.kind {
            ColumnKind::Timestamp => timestamps(&array, time_zone)?,
            ColumnKind::String => {
                let required_missing = !column.nullable && array.null_count() > 0;
                (array.data_type() == &DataType::Utf8 && !required_missing).then_some(array)?
            }
            ColumnKind::Number => finite(array)?,
            ColumnKind::StringList => whole_lists(array)?,
        };
        columns.push(array);
    }
    let batch = RecordBatch::try_new(file_schema(), columns).ok()?;
    Some(Checked {
        batch,
        organizations,
    })
}

/// Each row's organization: present and a UUID.
fn organization_ids(array: &ArrayRef) -> Option<Vec<Uuid>> {
    let texts = array.as_string_opt::<i32>()?;
    if texts.null_count() > 0 {
        return None;
    }
    let mut ids = Vec::with_capacity(texts.len());
    // Inputs hold long runs of one organization: its text is parsed once per run.
    let mut last: Option<(&str, Uuid)> = None;
    for text in texts.iter().flatten() {
        let id = match last {
            Some((previous, id)) if previous == text => id,
            _ => {
                let id = Uuid::try_parse(text).ok()?;
                last = Some((text, id));
                id
            }
        };
        ids.push(id);
    }
    Some(ids)
}

/// The timestamps as UTC instants in µs, every one present and inside the range a query
/// can ask for.
fn timestamps(array: &ArrayRef, time_zone: Option<Tz>) -> Option<ArrayRef> {
    if array.null_count() > 0 {
        return None;
    }
    let micros: Vec<i64> = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|text| text_instant(text?, time_zone))
            .collect::<Option<_>>()?,
        DataType::Timestamp(TimeUnit::Microsecond, zone) => {
            let values = array.as_primitive::<TimestampMicrosecondType>().values();
            if zone.is_some() {
                let supported = crate::query::interval::SUPPORTED_US;
                values
                    .iter()
                    .all(|us| supported.contains(us))
                    .then(|| values.to_vec())?
            } else {
                values
                    .iter()
                    .map(|&us| local_instant(us, time_zone))
                    .collect::<Option<_>>()?
            }
        }
        _ => return None,
    };
    Some(Arc::new(
        TimestampMicrosecondArray::from(micros).with_timezone("UTC"),
    ))
}

/// Numbers, finite where present.
fn finite(array: ArrayRef) -> Option<ArrayRef> {
    let numbers = array.as_primitive_opt::<Float64Type>()?;
    let all_finite = match numbers.nulls() {
        None => numbers.values().iter().all(|n| n.is_finite()),
        Some(nulls) => numbers
            .values()
            .iter()
            .zip(nulls.iter())
            .all(|(n, valid)| !valid || n.is_finite()),
    };
    all_finite.then_some(array)
}

/// Lists of strings without a null element.
fn whole_lists(array: ArrayRef) -> Option<ArrayRef> {
    if array.data_type() != &ColumnKind::StringList.data_type() {
        return None;
    }
    let lists = array.as_list::<i32>();
    let offsets = lists.value_offsets();
    let first = usize::try_from(*offsets.first()?).ok()?;
    let last = usize::try_from(*offsets.last()?).ok()?;
    // Only the elements the (possibly sliced) lists hold.
    let elements = lists.values().slice(first, last - first);
    (elements.null_count() == 0).then_some(array)
}
