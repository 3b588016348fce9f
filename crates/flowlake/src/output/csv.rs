//! CSV through arrow-csv's writer: a header of the field names, then one line per row.
//! CSV has no lists, so `array<string>` columns are written as JSON array text
//! (`["a","b"]`), which every CSV consumer can keep or parse.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::{Encoder, Shape, timestamp_format};
use crate::error::{Error, Result};

/// Encodes rows as CSV; the header comes first even when there are no rows.
pub struct CsvEncoder {
    /// The stream's schema with list columns turned into strings.
    schema: SchemaRef,
    timestamp_format: String,
}

impl CsvEncoder {
    /// An encoder for rows of `schema` in a response of `shape`.
    pub fn new(shape: Shape, schema: &Schema) -> Self {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|field| match field.data_type() {
                DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => {
                    Field::new(field.name(), DataType::Utf8, true)
                }
                _ => field.as_ref().clone(),
            })
            .collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            timestamp_format: timestamp_format(shape),
        }
    }

    fn write(&self, batch: &RecordBatch, header: bool) -> Result<Vec<u8>> {
        let mut writer = WriterBuilder::new()
            .with_header(header)
            .with_timestamp_format(self.timestamp_format.clone())
            .with_timestamp_tz_format(self.timestamp_format.clone())
            .with_date_format("%Y-%m-%d".to_string())
            .build(Vec::new());
        writer.write(batch).map_err(csv_err)?;
        Ok(writer.into_inner())
    }

    fn flatten(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .map(|column| match column.data_type() {
                DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => {
                    list_as_json_text(column)
                }
                _ => Ok(Arc::clone(column)),
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(csv_err)
    }
}

impl Encoder for CsvEncoder {
    fn begin(&mut self) -> Result<Vec<u8>> {
        self.write(&RecordBatch::new_empty(Arc::clone(&self.schema)), true)
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        self.write(&self.flatten(batch)?, false)
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

/// `["a","b"]` per row (`[]` for an empty list, empty for null).
fn list_as_json_text(column: &ArrayRef) -> Result<ArrayRef> {
    let list = cast(column, &DataType::new_list(DataType::Utf8, true)).map_err(csv_err)?;
    let list = list.as_list::<i32>();
    let mut text = StringBuilder::with_capacity(list.len(), list.len() * 16);
    for row in 0..list.len() {
        if list.is_null(row) {
            text.append_null();
            continue;
        }
        let values = list.value(row);
        let items: Vec<Option<&str>> = values.as_string::<i32>().iter().collect();
        let json = serde_json::to_string(&items)
            .map_err(|e| Error::internal(format!("encoding CSV: {e}")))?;
        text.append_value(json);
    }
    Ok(Arc::new(text.finish()))
}

fn csv_err(e: ArrowError) -> Error {
    Error::internal(format!("encoding CSV: {e}"))
}
