//! The Arrow IPC stream format through arrow-ipc's `StreamWriter`: the schema message,
//! record batch messages of [`ARROW_BATCH_ROWS`] rows each (the last one shorter), and the
//! end-of-stream marker.
//!
//! The bytes depend only on the rows: how the engine happened to batch them (a local run,
//! a cluster whose final stage merged other partitions, a limit that cut a batch) is
//! undone by re-chunking, and what an operator left under a null slot is replaced by
//! zeros. So equal answers are equal bytes, locally and on a cluster.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, new_null_array};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::Encoder;
use crate::error::{Error, Result};

/// Rows of every record batch of an Arrow answer but the last (DataFusion's default batch
/// size, so a local answer of one engine batch stays one IPC batch).
pub const ARROW_BATCH_ROWS: usize = 8192;

/// Encodes rows as an Arrow IPC stream of fixed-size record batches.
pub struct ArrowStreamEncoder {
    writer: StreamWriter<Vec<u8>>,
    schema: SchemaRef,
    /// Rows received but not yet written: fewer than [`ARROW_BATCH_ROWS`] in all.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

impl ArrowStreamEncoder {
    /// An encoder for batches of `schema`.
    pub fn new(schema: &Schema) -> Result<Self> {
        Ok(Self {
            writer: StreamWriter::try_new(Vec::new(), schema).map_err(ipc_err)?,
            schema: Arc::new(schema.clone()),
            pending: Vec::new(),
            pending_rows: 0,
        })
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.get_mut())
    }

    /// Writes the pending rows as one record batch.
    fn flush(&mut self) -> Result<()> {
        if self.pending_rows == 0 {
            return Ok(());
        }
        let batch = rebuilt(&self.schema, &self.pending).map_err(ipc_err)?;
        self.pending.clear();
        self.pending_rows = 0;
        self.writer.write(&batch).map_err(ipc_err)
    }
}

impl Encoder for ArrowStreamEncoder {
    fn begin(&mut self) -> Result<Vec<u8>> {
        Ok(self.take())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let rows = (ARROW_BATCH_ROWS - self.pending_rows).min(batch.num_rows() - offset);
            self.pending.push(batch.slice(offset, rows));
            self.pending_rows += rows;
            offset += rows;
            if self.pending_rows == ARROW_BATCH_ROWS {
                self.flush()?;
            }
        }
        Ok(self.take())
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        self.flush()?;
        self.writer.finish().map_err(ipc_err)?;
        Ok(self.take())
    }
}

/// The rows of `pieces` as one batch of freshly built columns with nothing under their
/// nulls: a null slot's value is whatever the operator that made it left there (it differs
/// between a local run and a cluster run, whose batches crossed a shuffle), and the IPC
/// format writes it; slices of a larger batch would also carry its offsets. Each column is
/// interleaved from the pieces, null slots taken from an all-null array.
fn rebuilt(schema: &SchemaRef, pieces: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let columns = (0..schema.fields().len())
        .map(|c| {
            let null = new_null_array(schema.field(c).data_type(), 1);
            let mut sources: Vec<&dyn Array> = pieces
                .iter()
                .map(|piece| piece.column(c).as_ref())
                .collect();
            let null_source = sources.len();
            sources.push(null.as_ref());
            let picks: Vec<(usize, usize)> = pieces
                .iter()
                .enumerate()
                .flat_map(|(p, piece)| {
                    let column = piece.column(c);
                    (0..column.len()).map(move |i| {
                        if column.is_valid(i) {
                            (p, i)
                        } else {
                            (null_source, 0)
                        }
                    })
                })
                .collect();
            interleave(&sources, &picks)
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
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
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let nulls = NullBuffer::from(vec![true, false]);
        let encode = |under_null: f64, hidden: &str| {
            let values = Float64Array::new(
                ScalarBuffer::from(vec![1.5, under_null]),
                Some(nulls.clone()),
            );
            let text = format!("a{hidden}");
            let offsets = OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 1, text.len() as i32]));
            let strings =
                StringArray::new(offsets, Buffer::from(text.as_bytes()), Some(nulls.clone()));
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(values), Arc::new(strings)],
            )
            .unwrap();
            let mut encoder = ArrowStreamEncoder::new(&schema).unwrap();
            let mut bytes = encoder.begin().unwrap();
            bytes.extend(encoder.batch(&batch).unwrap());
            bytes.extend(encoder.end().unwrap());
            bytes
        };
        assert_eq!(encode(0.0, ""), encode(233.5, "garbage"));
    }

    /// The same rows, batched as a local run, a cluster or a limit would batch them.
    #[test]
    fn record_batches_have_a_fixed_size_whatever_the_engine_batching() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::ipc::reader::StreamReader;
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let rows = 2 * ARROW_BATCH_ROWS + 406;
        let all = Int64Array::from_iter((0..rows as i64).map(|n| (n % 7 != 0).then_some(n)));
        let whole = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(all)]).unwrap();
        let encode = |sizes: &[usize]| {
            let mut encoder = ArrowStreamEncoder::new(&schema).unwrap();
            let mut bytes = encoder.begin().unwrap();
            let mut offset = 0;
            for size in sizes {
                bytes.extend(encoder.batch(&whole.slice(offset, *size)).unwrap());
                offset += size;
            }
            assert_eq!(offset, rows);
            bytes.extend(encoder.end().unwrap());
            bytes
        };
        let one = encode(&[rows]);
        assert_eq!(encode(&[203, 203, rows - 406]), one);
        assert_eq!(encode(&[ARROW_BATCH_ROWS, ARROW_BATCH_ROWS, 406]), one);
        assert_eq!(encode(&[1, ARROW_BATCH_ROWS * 2, 405]), one);
        let batches: Vec<usize> = StreamReader::try_new(std::io::Cursor::new(one), None)
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .collect();
        assert_eq!(batches, [ARROW_BATCH_ROWS, ARROW_BATCH_ROWS, 406]);
    }
}
