//! Arrow record batches → the encodings of SPEC §4, one batch at a time. An encoder turns
//! a stream into byte chunks; sinks (stdout, files, HTTP bodies) only move the chunks.

pub mod arrow_ipc;
pub mod conform;
pub mod csv;
pub use crate::query::shape as fields;
pub mod json;

use std::io::Write;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use futures::stream::BoxStream;

pub use crate::query::shape::{FieldType, OutputField, Shape};

use crate::error::{Error, Result};

/// A query's rows, streamed, with the shape that says how to encode them.
pub struct ResponseStream {
    pub shape: Shape,
    pub batches: datafusion::execution::SendableRecordBatchStream,
    /// Every plan run for this answer, in order; the last one produces `batches`. Their
    /// metrics say what the scans read.
    pub runs: Vec<PlanRun>,
}

impl ResponseStream {
    /// The physical plan producing the rows.
    pub fn plan(&self) -> Option<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.runs.last().map(|run| &run.plan)
    }
}

/// One plan run for an answer: what it read, and the plan (with its metrics once run).
pub struct PlanRun {
    /// What the plan reads, in words (e.g. "the whole interval (30 days)").
    pub step: String,
    pub plan: std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>,
}

/// An encoding of the response rows.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::VariantNames, strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Format {
    /// `{"fields": [...], "data": [...]}` (SPEC §4).
    Json,
    /// One row object per line.
    Ndjson,
    /// A header of field names, one line per row; lists as JSON array text.
    Csv,
    /// Arrow IPC stream (schema, record batches, end marker).
    Arrow,
}

impl Format {
    /// Every format, in the order the server lists them.
    pub const ALL: [Format; 4] = [Format::Json, Format::Ndjson, Format::Csv, Format::Arrow];

    /// The media type of the encoding (HTTP `Content-Type`, matched against `Accept`).
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }

    /// The file name extension of a result in this encoding.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Arrow => "arrows",
        }
    }
}

/// The timestamp rendering of a shape: UTC, a fixed number of fraction digits, a `Z`.
pub(crate) fn timestamp_format(shape: Shape) -> String {
    format!("%Y-%m-%dT%H:%M:%S%.{}fZ", shape.timestamp_digits())
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

/// The encoder of `format` for a response of `shape` whose batches have `schema`.
pub fn encoder(format: Format, shape: Shape, schema: &Schema) -> Result<Box<dyn Encoder>> {
    Ok(match format {
        Format::Json => Box::new(json::EnvelopeEncoder::new(shape)),
        Format::Ndjson => Box::new(json::NdjsonEncoder::new(shape)),
        Format::Csv => Box::new(csv::CsvEncoder::new(shape, schema)),
        Format::Arrow => Box::new(arrow_ipc::ArrowStreamEncoder::new(schema)?),
    })
}

/// A response as a stream of encoded chunks: the header, one chunk per non-empty batch,
/// the trailer. An error ends the stream (after any chunks already produced), so a sink
/// can tell a failed response from a complete one. Each chunk says how many rows it holds.
pub fn encode(response: ResponseStream, format: Format) -> BoxStream<'static, Result<Chunk>> {
    let ResponseStream { shape, batches, .. } = response;
    let started = conform::Conformer::new(shape, &batches.schema()).and_then(|conformer| {
        let mut encoder = encoder(format, shape, conformer.schema())?;
        Ok((encoder.begin()?, encoder, conformer))
    });
    let (head, encoder, conformer) = match started {
        Ok(started) => started,
        Err(error) => return futures::stream::once(async { Err(error) }).boxed(),
    };
    let body = futures::stream::unfold(Some((batches, encoder, conformer)), |state| async move {
        let (mut batches, mut encoder, conformer) = state?;
        loop {
            return match batches.next().await {
                Some(Ok(batch)) if batch.num_rows() == 0 => continue,
                Some(Ok(batch)) => match conformer
                    .apply(&batch)
                    .and_then(|batch| encoder.batch(&batch))
                {
                    Ok(bytes) => Some((
                        Ok(Chunk {
                            bytes,
                            rows: batch.num_rows() as u64,
                        }),
                        Some((batches, encoder, conformer)),
                    )),
                    Err(error) => Some((Err(error), None)),
                },
                Some(Err(error)) => Some((Err(error.into()), None)),
                None => Some((encoder.end().map(|bytes| Chunk { bytes, rows: 0 }), None)),
            };
        }
    });
    futures::stream::once(async {
        Ok(Chunk {
            bytes: head,
            rows: 0,
        })
    })
    .chain(body)
    .boxed()
}

/// Encoded bytes and the number of rows they carry.
#[derive(Debug)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub rows: u64,
}

/// Encodes a whole response into `sink`, flushing after every batch so rows reach the
/// reader as they are produced. Returns the number of rows written.
pub async fn write_response(
    response: ResponseStream,
    format: Format,
    sink: &mut (dyn Write + Send),
) -> Result<u64> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Error::OutputClosed,
        _ => Error::internal(format!("writing the response: {e}")),
    };
    let mut chunks = std::pin::pin!(encode(response, format));
    let mut rows = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        rows += chunk.rows;
        sink.write_all(&chunk.bytes).map_err(io)?;
        sink.flush().map_err(io)?;
    }
    Ok(rows)
}
