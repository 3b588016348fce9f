//! Arrow record batches → the encodings of SPEC §4, one batch at a time. An encoder turns
//! a stream into byte chunks; sinks (stdout, files, HTTP bodies) only move the chunks.

pub mod fields;
pub mod json;

use std::io::Write;

use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;

pub use fields::{FieldType, OutputField, Shape};

use crate::error::{Error, Result};
use crate::ResponseStream;

/// An encoding of the response rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `{"fields": [...], "data": [...]}` (SPEC §4).
    Json,
    /// One row object per line.
    Ndjson,
}

/// Turns a stream of batches into bytes: a header, one chunk per batch, a trailer.
pub trait Encoder: Send {
    /// Bytes before the first row.
    fn begin(&mut self) -> Result<Vec<u8>>;
    /// The bytes of one batch of rows.
    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>>;
    /// Bytes after the last row.
    fn end(&mut self) -> Result<Vec<u8>>;
}

/// The encoder of `format` for a response of `shape`.
pub fn encoder(format: Format, shape: Shape) -> Box<dyn Encoder> {
    match format {
        Format::Json => Box::new(json::EnvelopeEncoder::new(shape)),
        Format::Ndjson => Box::new(json::NdjsonEncoder::new(shape)),
    }
}

/// Encodes a whole response into `sink`, flushing after every batch so rows reach the
/// reader as they are produced. Returns the number of rows written.
pub async fn write_response(response: ResponseStream, format: Format, sink: &mut (dyn Write + Send)) -> Result<u64> {
    let ResponseStream { shape, mut batches } = response;
    let mut encoder = encoder(format, shape);
    let io = |e: std::io::Error| Error::internal(format!("writing the response: {e}"));
    sink.write_all(&encoder.begin()?).map_err(io)?;
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        sink.write_all(&encoder.batch(&batch)?).map_err(io)?;
        sink.flush().map_err(io)?;
    }
    sink.write_all(&encoder.end()?).map_err(io)?;
    sink.flush().map_err(io)?;
    Ok(rows)
}
