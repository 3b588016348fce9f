//! One row, one value, in every encoding: before any encoder sees a batch, it is brought to
//! the response's own schema. `NaN` (which JSON cannot say) becomes null everywhere, basic
//! timestamps carry the milliseconds that basic output shows, and the Arrow schema says
//! what `fields` says about nullability.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use super::{FieldType, Shape};
use crate::error::{Error, Result};

/// Brings batches of the plan's schema to the response schema.
#[derive(Debug)]
pub struct Conformer {
    schema: SchemaRef,
}

impl Conformer {
    /// The conformer for batches of `input` in a response of `shape`.
    pub fn new(shape: Shape, input: &Schema) -> Result<Conformer> {
        let fields = shape.fields();
        if fields.len() != input.fields().len() {
            return Err(Error::internal(format!(
                "the plan produced {} columns for a response of {}",
                input.fields().len(),
                fields.len()
            )));
        }
        let unit = if shape.timestamp_digits() == 3 {
            TimeUnit::Millisecond
        } else {
            TimeUnit::Microsecond
        };
        let columns: Vec<Field> = fields
            .iter()
            .zip(input.fields())
            .map(|(field, planned)| {
                let data_type = match (field.kind, planned.data_type()) {
                    (FieldType::Timestamp, DataType::Timestamp(_, zone)) => {
                        DataType::Timestamp(unit, zone.clone())
                    }
                    (_, other) => other.clone(),
                };
                Field::new(field.name.as_str(), data_type, field.nullable)
            })
            .collect();
        Ok(Conformer {
            schema: Arc::new(Schema::new(columns)),
        })
    }

    /// The schema every conformed batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// `batch` under the response schema.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(column, field)| {
                let column = if column.data_type() == field.data_type() {
                    Arc::clone(column)
                } else {
                    cast(column, field.data_type())
                        .map_err(|e| Error::internal(format!("column '{}': {e}", field.name())))?
                };
                Ok(match column.data_type() {
                    DataType::Float64 => nan_as_null(column),
                    _ => column,
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        if let Some(field) = self
            .schema
            .fields()
            .iter()
            .zip(&columns)
            .find_map(|(f, c)| (!f.is_nullable() && c.null_count() > 0).then_some(f))
        {
            return Err(Error::Data {
                message: format!(
                    "column '{}' holds a null, but the event schema says it never does",
                    field.name()
                ),
                source: None,
            });
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| Error::internal(format!("conforming a batch: {e}")))
    }
}

/// The column with `NaN` values as nulls; untouched (no copy) when it has none.
fn nan_as_null(column: ArrayRef) -> ArrayRef {
    let numbers = column.as_primitive::<Float64Type>();
    if !numbers.values().iter().any(|v| v.is_nan()) {
        return column;
    }
    Arc::new(
        numbers
            .iter()
            .map(|v| v.filter(|x| !x.is_nan()))
            .collect::<Float64Array>(),
    )
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{BooleanArray, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn basic_total_batch(value: f64) -> RecordBatch {
        let shape = Shape {
            basic: true,
            workflow_related: true,
        };
        let fields = shape.fields();
        let columns: Vec<ArrayRef> = fields
            .iter()
            .map(|f| -> ArrayRef {
                match f.kind {
                    FieldType::Timestamp => Arc::new(
                        TimestampMicrosecondArray::from(vec![1_234_567]).with_timezone("UTC"),
                    ),
                    FieldType::Number => Arc::new(Float64Array::from(vec![value])),
                    FieldType::Boolean => Arc::new(BooleanArray::from(vec![true])),
                    _ => Arc::new(StringArray::from(vec!["x"])),
                }
            })
            .collect();
        let schema = Schema::new(
            columns
                .iter()
                .zip(&fields)
                .map(|(c, f)| Field::new(f.name.as_str(), c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    #[test]
    fn nan_is_null_basic_time_is_milliseconds_and_nullability_follows_fields() {
        let batch = basic_total_batch(f64::NAN);
        let conformer = Conformer::new(
            Shape {
                basic: true,
                workflow_related: true,
            },
            &batch.schema(),
        )
        .unwrap();
        let out = conformer.apply(&batch).unwrap();
        assert_eq!(
            out.column(0).data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(
            out.column(0)
                .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            1_234
        );
        assert!(!out.schema().field(0).is_nullable() && out.schema().field(2).is_nullable());
        assert!(out.column(3).is_null(0), "NaN goal_value is null");
        let kept = conformer.apply(&basic_total_batch(2.5)).unwrap();
        assert_eq!(kept.column(3).as_primitive::<Float64Type>().value(0), 2.5);
    }
}
