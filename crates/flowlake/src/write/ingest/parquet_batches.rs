//! Parquet inputs, read as record batches: the columns are already typed, so the typed
//! path only checks them; the per-row path reads the values of a batch one by one.

use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, Float64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use uuid::Uuid;

use super::checks::{Checked, check};
use super::chunks::{Chunk, ChunkLimits, ParquetChunk};
use super::decode::{DecodeOptions, Records, Refused};
use super::input::{Source, io_error};
use super::record::{Cells, Raw, check_row};
use crate::error::Result;
use crate::format::event::Event;
use crate::format::schema::{ColumnKind, ORGANIZATION_ID, event_column};

/// Reads a Parquet input in batches of the columns ingest reads, cast to the event
/// schema's types; a column of another type refuses the input.
pub fn chunks(
    source: &Source,
    limits: ChunkLimits,
    each: &mut dyn FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    let file = File::open(&source.path).map_err(|e| io_error(source, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| io_error(source, e))?
        .with_batch_size(limits.records);
    let schema = Arc::clone(builder.schema());
    // Which columns are read, and as what.
    let mut wanted: Vec<(String, DataType)> = Vec::new();
    for field in schema.fields() {
        let name = field.name();
        let target = if name == ORGANIZATION_ID {
            ColumnKind::String
        } else {
            match event_column(name) {
                Some(column) => column.kind,
                None => continue,
            }
        };
        let zoned = matches!(field.data_type(), DataType::Timestamp(_, Some(_)));
        let fits = match target {
            ColumnKind::Timestamp => {
                matches!(field.data_type(), DataType::Timestamp(_, None))
                    || target.accepts(field.data_type())
            }
            other => other.accepts(field.data_type()),
        };
        if !fits {
            return Err(io_error(
                source,
                format!(
                    "column '{name}' has type {}, but the event schema needs {}",
                    field.data_type(),
                    target.data_type()
                ),
            ));
        }
        let as_type = match target {
            ColumnKind::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, zoned.then(|| "UTC".into()))
            }
            other => other.data_type(),
        };
        wanted.push((name.clone(), as_type));
    }
    let fields: Vec<Field> = wanted
        .iter()
        .map(|(name, as_type)| Field::new(name, as_type.clone(), true))
        .collect();
    let cast_schema = Arc::new(Schema::new(fields));
    let reader = builder.build().map_err(|e| io_error(source, e))?;
    let mut first_row = 1u64;
    for batch in reader {
        let batch: RecordBatch =
            batch.map_err(|e| io_error(source, format!("after row {}: {e}", first_row - 1)))?;
        let columns = wanted
            .iter()
            .map(|(name, as_type)| {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| io_error(source, format!("column '{name}' vanished")))?;
                cast(column, as_type).map_err(|e| io_error(source, format!("column '{name}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = batch.num_rows();
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&cast_schema),
            columns,
            &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map_err(|e| io_error(source, e))?;
        each(Chunk::Parquet(ParquetChunk { batch, first_row }))?;
        first_row += rows as u64;
    }
    Ok(())
}

/// The rows of a Parquet chunk.
pub struct Rows<'a> {
    chunk: &'a ParquetChunk,
}

impl<'a> Rows<'a> {
    pub fn new(chunk: &'a ParquetChunk) -> Rows<'a> {
        Rows { chunk }
    }
}

impl Records for Rows<'_> {
    fn count(&self) -> usize {
        self.chunk.batch.num_rows()
    }

    fn typed(&self, range: Range<usize>, options: &DecodeOptions) -> Option<Checked> {
        check(
            &self.chunk.batch.slice(range.start, range.len()),
            options.time_zone,
        )
    }

    fn per_row(
        &self,
        range: Range<usize>,
        options: &DecodeOptions,
        rows: &mut Vec<(Uuid, Event)>,
        refused: &mut Vec<Refused>,
    ) -> Result<u64> {
        let batch = &self.chunk.batch;
        let schema = batch.schema();
        let at: HashMap<&str, usize> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().as_str(), i))
            .collect();
        let mut records = 0;
        for i in range {
            records += 1;
            let value = |c: &str| match at.get(c) {
                Some(&k) => arrow_raw(batch.column(k).as_ref(), i),
                None => Raw::Null,
            };
            // The record is built only for a refusal.
            let outcome =
                check_row(&mut |c| value(c), Cells::Typed, options.time_zone).map_err(|refusal| {
                    let record = schema
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), raw_json(value(f.name()))))
                        .collect();
                    (refusal, serde_json::Value::Object(record))
                });
            Refused::sort(
                outcome,
                || format!("row {}", self.chunk.first_row + i as u64),
                rows,
                refused,
            );
        }
        Ok(records)
    }
}

/// The value of row `i` of a cast column.
fn arrow_raw(array: &dyn Array, i: usize) -> Raw {
    if array.is_null(i) {
        return Raw::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Raw::Text(array.as_string::<i32>().value(i).to_string()),
        DataType::Float64 => Raw::Number(array.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(_, zone) => Raw::Instant {
            micros: array.as_primitive::<TimestampMicrosecondType>().value(i),
            zoned: zone.is_some(),
        },
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            let strings = items.as_string::<i32>();
            Raw::List(
                (0..strings.len())
                    .map(|j| strings.is_valid(j).then(|| strings.value(j).to_string()))
                    .collect(),
            )
        }
        other => Raw::Other(format!("a value of type {other}")),
    }
}

/// A raw value as the rejects file shows it.
fn raw_json(raw: Raw) -> serde_json::Value {
    match raw {
        Raw::Null => serde_json::Value::Null,
        Raw::Text(t) => t.into(),
        // NaN and infinities, which JSON lacks, as text.
        Raw::Number(n) => serde_json::Number::from_f64(n)
            .map_or_else(|| n.to_string().into(), serde_json::Value::Number),
        Raw::HugeNumber(text) => text.into(),
        Raw::List(items) => items
            .into_iter()
            .map(|i| i.map_or(serde_json::Value::Null, serde_json::Value::String))
            .collect(),
        Raw::Instant { micros, .. } => micros.into(),
        Raw::Other(what) => what.into(),
    }
}
