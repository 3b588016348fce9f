//! Inputs cut into chunks of whole records, read one after the other on one thread (with
//! their decompression) and decoded in parallel: NDJSON at line ends, CSV at record ends
//! (found by the same CSV tokenizer the readers use, so a quoted field that spans lines
//! stays whole), Parquet in record batches.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;

use super::input::{InputFormat, Source};
use super::{csv_records, json_lines, parquet_batches};
use crate::error::Result;

/// How large chunks are.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLimits {
    /// About how many bytes of NDJSON or CSV a chunk holds (a record is never cut).
    pub bytes: usize,
    /// At most how many records a chunk holds.
    pub records: usize,
}

impl Default for ChunkLimits {
    /// A few MB: large enough for Arrow's decoders to run long, small enough that a few
    /// chunks per core are in flight.
    fn default() -> Self {
        ChunkLimits {
            bytes: 4 << 20,
            records: 8192,
        }
    }
}

/// Whole records of one input.
#[derive(Debug)]
pub enum Chunk {
    Lines(LinesChunk),
    Csv(CsvChunk),
    Parquet(ParquetChunk),
}

/// NDJSON lines, each with its `\n` (the input's last one may lack it).
#[derive(Debug)]
pub struct LinesChunk {
    pub bytes: Vec<u8>,
    /// The line number of the first line.
    pub first_line: u64,
}

/// The header of a CSV input: its column names, and where each known name first is.
#[derive(Debug)]
pub struct CsvHeader {
    pub names: Vec<String>,
    pub at: HashMap<String, usize>,
}

impl CsvHeader {
    pub fn new(names: Vec<String>) -> CsvHeader {
        let mut at = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            at.entry(name.clone()).or_insert(i);
        }
        CsvHeader { names, at }
    }
}

/// CSV records: their bytes, and where each one starts.
#[derive(Debug)]
pub struct CsvChunk {
    pub header: Arc<CsvHeader>,
    pub bytes: Vec<u8>,
    /// Each record's first byte in `bytes`.
    pub starts: Vec<usize>,
    /// The line each record starts on, as the CSV reader counts lines.
    pub lines: Vec<u64>,
    /// The record number of the first record (the header is not one).
    pub first_row: u64,
}

/// Rows of a Parquet input: the event columns it has (and `organization_id`), cast to the
/// event schema's types (timestamps to µs, with their zone or without one).
#[derive(Debug)]
pub struct ParquetChunk {
    pub batch: RecordBatch,
    /// The row number of the first row.
    pub first_row: u64,
}

/// Cuts `source` into chunks, calling `each` with each in order; stops at the first error
/// (of the input, or that `each` returns).
pub fn read(
    source: &Source,
    limits: ChunkLimits,
    each: &mut dyn FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    match source.format {
        InputFormat::Ndjson => json_lines::chunks(source, limits, each),
        InputFormat::Csv => csv_records::chunks(source, limits, each),
        InputFormat::Parquet => parquet_batches::chunks(source, limits, each),
    }
}
