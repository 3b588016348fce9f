//! The Arrow IPC stream format through arrow-ipc's `StreamWriter`: the schema message,
//! one record batch message per batch, and the end-of-stream marker.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::Encoder;
use crate::error::{Error, Result};

/// Encodes rows as an Arrow IPC stream, batches as the engine produced them.
pub struct ArrowStreamEncoder {
    writer: StreamWriter<Vec<u8>>,
}

impl ArrowStreamEncoder {
    /// An encoder for batches of `schema`.
    pub fn new(schema: &Schema) -> Result<Self> {
        Ok(Self { writer: StreamWriter::try_new(Vec::new(), schema).map_err(ipc_err)? })
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }
}

impl Encoder for ArrowStreamEncoder {
    fn begin(&mut self) -> Result<Vec<u8>> {
        Ok(self.take())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        self.writer.write(&canonical(batch).map_err(ipc_err)?).map_err(ipc_err)?;
        Ok(self.take())
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        self.writer.finish().map_err(ipc_err)?;
        Ok(self.take())
    }
}

/// The batch with nothing under its nulls: a null slot's value is whatever the operator that
/// made it left there (it differs between a local run and a cluster run, whose batches
/// crossed a shuffle), and the IPC format writes it. Columns with nulls are rebuilt with
/// the null slots taken from an all-null array, so equal answers are equal bytes.
fn canonical(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    if batch.columns().iter().all(|column| column.null_count() == 0) {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            if column.null_count() == 0 {
                return Ok(Arc::clone(column));
            }
            let null = new_null_array(column.data_type(), 1);
            let picks: Vec<(usize, usize)> = (0..column.len()).map(|i| if column.is_valid(i) { (0, i) } else { (1, 0) }).collect();
            interleave(&[column.as_ref(), null.as_ref()], &picks)
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    RecordBatch::try_new(batch.schema(), columns)
}

fn ipc_err(e: ArrowError) -> Error {
    Error::internal(format!("encoding Arrow IPC: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn values_under_nulls_never_reach_the_bytes() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, true), Field::new("s", DataType::Utf8, true)]));
        let nulls = NullBuffer::from(vec![true, false]);
        let encode = |under_null: f64, hidden: &str| {
            let values = Float64Array::new(ScalarBuffer::from(vec![1.5, under_null]), Some(nulls.clone()));
            let text = format!("a{hidden}");
            let offsets = OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 1, text.len() as i32]));
            let strings = StringArray::new(offsets, Buffer::from(text.as_bytes()), Some(nulls.clone()));
            let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values), Arc::new(strings)]).unwrap();
            let mut encoder = ArrowStreamEncoder::new(&schema).unwrap();
            let mut bytes = encoder.begin().unwrap();
            bytes.extend(encoder.batch(&batch).unwrap());
            bytes.extend(encoder.end().unwrap());
            bytes
        };
        assert_eq!(encode(0.0, ""), encode(233.5, "garbage"));
    }
}
