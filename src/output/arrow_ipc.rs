//! The Arrow IPC stream format through arrow-ipc's `StreamWriter`: the schema message,
//! one record batch message per batch, and the end-of-stream marker.

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
        self.writer.write(batch).map_err(ipc_err)?;
        Ok(self.take())
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        self.writer.finish().map_err(ipc_err)?;
        Ok(self.take())
    }
}

fn ipc_err(e: ArrowError) -> Error {
    Error::internal(format!("encoding Arrow IPC: {e}"))
}
