//! Basic answers ordered by time alone. A basic answer does not show event ids, which only
//! order goal events of the same instant (SPEC §3: time, then event id). Under a small
//! `limit` the answer is first taken in time order without reading event ids, the widest
//! column of most lakes, with one row more than the limit. Then:
//! - no two rows share a time: that order is the answer's;
//! - rows inside the answer share a time: only their order is open, and the event ids of
//!   those few goal events are read by their timestamps ([`goal_events_at`], which the
//!   statistics of every layout prune to a few row groups) to order them;
//! - the last row shares its time with the row after it: which rows are in the answer is
//!   open, and the caller runs the query again ordered by time and event id.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::{SessionContext, in_list};

use super::{goals, interval_events};
use crate::error::{Error, Result};
use crate::lake::DayPartitions;
use crate::query::Query;
use crate::query::shape::{BASIC_COLUMNS, BasicSource};

/// What ties in time mean for an answer taken by time alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Ties {
    /// No two answer rows share a time.
    None,
    /// Rows inside the answer share a time: these ranges of rows (start, end exclusive),
    /// whose order the event ids decide.
    Inside(Vec<(usize, usize)>),
    /// The last answer row shares its time with the row after it.
    AtTheCut,
}

/// The first `limit` of `rows`, in arrays of their own.
pub fn first_rows(rows: &RecordBatch, limit: usize) -> Result<RecordBatch> {
    let order = UInt32Array::from_iter_values(0..rows.num_rows().min(limit) as u32);
    Ok(take_record_batch(rows, &order).map_err(datafusion::error::DataFusionError::from)?)
}

/// The ties of `rows` (sorted by `time`, up to `limit + 1` of them) for an answer of
/// `limit` rows.
pub fn ties_of(rows: &RecordBatch, limit: usize) -> Result<Ties> {
    let times = times(rows)?;
    let answered = times.len().min(limit);
    if times.len() > limit && limit > 0 && times.value(limit - 1) == times.value(limit) {
        return Ok(Ties::AtTheCut);
    }
    let mut groups = Vec::new();
    let mut start = 0;
    for row in 1..=answered {
        if row == answered || times.value(row) != times.value(start) {
            if row - start > 1 {
                groups.push((start, row));
            }
            start = row;
        }
    }
    Ok(if groups.is_empty() {
        Ties::None
    } else {
        Ties::Inside(groups)
    })
}

fn times(
    rows: &RecordBatch,
) -> Result<&datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>> {
    rows.column_by_name("time")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .filter(|t| t.null_count() == 0)
        .ok_or_else(|| Error::internal("a basic answer without a microsecond `time` in every row"))
}

/// The distinct times of the rows in `groups`.
pub fn tied_times(rows: &RecordBatch, groups: &[(usize, usize)]) -> Result<Vec<i64>> {
    let times = times(rows)?;
    Ok(groups
        .iter()
        .map(|&(start, _)| times.value(start))
        .collect())
}

/// Goal events of the query at the given instants, with their event ids and the columns a
/// basic answer shows (under the answer's names): what orders tied rows.
pub fn goal_events_at(
    ctx: &SessionContext,
    events: DayPartitions,
    query: &Query,
    times: &[i64],
) -> Result<DataFrame> {
    let at = in_list(
        col("timestamp"),
        times
            .iter()
            .map(|&t| {
                lit(ScalarValue::TimestampMicrosecond(
                    Some(t),
                    Some("UTC".into()),
                ))
            })
            .collect(),
        false,
    );
    let mut columns = vec![col("event_id")];
    columns.extend(
        BASIC_COLUMNS
            .iter()
            .filter_map(|(name, source)| match source {
                BasicSource::Column(column) => Some(col(*column).alias(*name)),
                BasicSource::GoalName => None,
            }),
    );
    Ok(interval_events(ctx, events, &query.interval)?
        .filter(goals::goal_predicate(&query.filters))?
        .filter(at)?
        .select(columns)?)
}

/// `rows[..limit]` with each tied group ordered by the event ids found in `events` (from
/// [`goal_events_at`]); `None` when a row's event cannot be told (then the caller runs
/// the query ordered by event id).
pub fn order_ties(
    rows: &RecordBatch,
    limit: usize,
    groups: &[(usize, usize)],
    events: &[RecordBatch],
) -> Result<Option<RecordBatch>> {
    // Rows alike in every shown column are interchangeable: each takes the next of their
    // events' ids in order.
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for batch in events {
        let event_ids = batch
            .column_by_name("event_id")
            .ok_or_else(|| Error::internal("events without event_id"))?;
        for row in 0..batch.num_rows() {
            let id = array_value_to_string(event_ids, row)
                .map_err(datafusion::error::DataFusionError::from)?;
            ids.entry(shown_key(batch, row)?).or_default().push(id);
        }
    }
    for candidates in ids.values_mut() {
        candidates.sort_unstable_by(|a, b| b.cmp(a)); // popped from the end: smallest first
    }
    let answered = rows.num_rows().min(limit);
    let mut order: Vec<u32> = (0..answered as u32).collect();
    for &(start, end) in groups {
        let mut keyed = Vec::with_capacity(end - start);
        for row in start..end {
            let Some(id) = ids.get_mut(&shown_key(rows, row)?).and_then(Vec::pop) else {
                return Ok(None);
            };
            keyed.push((id, row as u32));
        }
        keyed.sort();
        for (slot, (_, row)) in keyed.into_iter().enumerate() {
            order[start + slot] = row;
        }
    }
    Ok(Some(
        take_record_batch(rows, &UInt32Array::from(order))
            .map_err(datafusion::error::DataFusionError::from)?,
    ))
}

/// The values a basic answer shows of one row (but `goal_name`, which follows `goal_id`).
fn shown_key(batch: &RecordBatch, row: usize) -> Result<String> {
    let mut key = String::new();
    for (name, source) in BASIC_COLUMNS {
        if matches!(source, BasicSource::GoalName) {
            continue;
        }
        let column: &ArrayRef = batch
            .column_by_name(name)
            .ok_or_else(|| Error::internal(format!("rows without {name}")))?;
        if column.is_valid(row) {
            key.push_str(
                &array_value_to_string(column, row)
                    .map_err(datafusion::error::DataFusionError::from)?,
            );
        } else {
            key.push('\u{0}');
        }
        key.push('\u{1f}');
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn rows(times: &[i64], sessions: &[&str]) -> RecordBatch {
        let mut fields = vec![Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )];
        let mut columns: Vec<ArrayRef> = vec![Arc::new(
            TimestampMicrosecondArray::from(times.to_vec()).with_timezone("UTC"),
        )];
        for (name, _) in BASIC_COLUMNS.iter().skip(1) {
            fields.push(Field::new(*name, DataType::Utf8, true));
            let values: Vec<&str> = if *name == "session_id" {
                sessions.to_vec()
            } else {
                vec!["x"; times.len()]
            };
            columns.push(Arc::new(StringArray::from(values)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn ties_inside_the_answer_and_at_the_cut_are_told_apart() {
        assert_eq!(
            ties_of(&rows(&[1, 2, 3], &["a", "b", "c"]), 2).unwrap(),
            Ties::None
        );
        assert_eq!(
            ties_of(&rows(&[1, 1, 2, 3, 3, 3, 4], &["a"; 7]), 6).unwrap(),
            Ties::Inside(vec![(0, 2), (3, 6)])
        );
        assert_eq!(
            ties_of(&rows(&[1, 2, 2], &["a"; 3]), 2).unwrap(),
            Ties::AtTheCut
        );
        // Fewer rows than the limit: the whole answer is there, nothing is cut.
        assert_eq!(
            ties_of(&rows(&[1, 2, 2], &["a"; 3]), 5).unwrap(),
            Ties::Inside(vec![(1, 3)])
        );
    }

    #[test]
    fn tied_rows_are_ordered_by_their_event_ids() {
        let answer = rows(&[1, 5, 5, 5, 9], &["s1", "s2", "s3", "s2", "s4"]);
        let mut events = rows(&[5, 5, 5], &["s2", "s3", "s2"]);
        let mut columns = vec![Arc::new(StringArray::from(vec!["e9", "e1", "e5"])) as ArrayRef];
        columns.extend(events.columns().iter().cloned());
        let mut fields = vec![Field::new("event_id", DataType::Utf8, false)];
        fields.extend(events.schema().fields().iter().map(|f| f.as_ref().clone()));
        events = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let ordered = order_ties(&answer, 5, &[(1, 4)], &[events])
            .unwrap()
            .unwrap();
        let sessions: Vec<&str> = ordered
            .column_by_name("session_id")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap())
            .collect();
        // s3 has e1; the two s2 rows are alike and take e5 and e9.
        assert_eq!(sessions, ["s1", "s3", "s2", "s2", "s4"]);
        // A row whose event is not found cannot be placed.
        let unknown = rows(&[1, 5, 5], &["s1", "zz", "s3"]);
        assert!(order_ties(&unknown, 3, &[(1, 3)], &[]).unwrap().is_none());
    }
}
