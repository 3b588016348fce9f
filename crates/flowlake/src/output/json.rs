//! JSON encodings through arrow-json's writer: the SPEC §4 envelope and NDJSON.

use datafusion::arrow::json::writer::{
    JsonArray, JsonFormat, LineDelimited, Writer, WriterBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;

use super::{Encoder, Shape, timestamp_format};
use crate::error::{Error, Result};

/// Row objects with explicit nulls, keys in field order, UTC timestamps with a fixed
/// number of fraction digits and a `Z`.
fn row_writer<F: JsonFormat>(shape: Shape) -> Writer<Vec<u8>, F> {
    let format = timestamp_format(shape);
    WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_timestamp_tz_format(format.clone())
        .with_timestamp_format(format)
        .with_date_format("%Y-%m-%d".to_string())
        .build(Vec::new())
}

fn arrow_err(e: datafusion::arrow::error::ArrowError) -> Error {
    Error::internal(format!("encoding JSON: {e}"))
}

/// `{"fields": [...], "data": [ rows ]}`.
pub struct EnvelopeEncoder {
    shape: Shape,
    rows: Writer<Vec<u8>, JsonArray>,
}

impl EnvelopeEncoder {
    /// An encoder for a response of `shape`.
    pub fn new(shape: Shape) -> Self {
        Self {
            shape,
            rows: row_writer(shape),
        }
    }
}

impl Encoder for EnvelopeEncoder {
    fn begin(&mut self) -> Result<Vec<u8>> {
        let fields = serde_json::to_string(&self.shape.fields())
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(format!("{{\"fields\":{fields},\"data\":").into_bytes())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        self.rows.write(batch).map_err(arrow_err)?;
        Ok(std::mem::take(self.rows.get_mut()))
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        self.rows.finish().map_err(arrow_err)?;
        let mut tail = std::mem::take(self.rows.get_mut());
        tail.extend_from_slice(b"}\n");
        Ok(tail)
    }
}

/// One row object per line, nothing else.
pub struct NdjsonEncoder {
    rows: Writer<Vec<u8>, LineDelimited>,
}

impl NdjsonEncoder {
    /// An encoder for a response of `shape`.
    pub fn new(shape: Shape) -> Self {
        Self {
            rows: row_writer(shape),
        }
    }
}

impl Encoder for NdjsonEncoder {
    fn begin(&mut self) -> Result<Vec<u8>> {
        Ok(Vec::new())
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>> {
        self.rows.write(batch).map_err(arrow_err)?;
        Ok(std::mem::take(self.rows.get_mut()))
    }

    fn end(&mut self) -> Result<Vec<u8>> {
        self.rows.finish().map_err(arrow_err)?;
        Ok(std::mem::take(self.rows.get_mut()))
    }
}
