//! CSV with a header row. Chunks end where the CSV tokenizer ends a record; the typed path
//! reads a chunk's cells as text with Arrow's CSV decoder (every cell is text: an empty
//! one is null, `value` and the lists are parsed as the per-row path parses them), and the
//! per-row path reads the same bytes record by record with their physical lines.

use std::ops::Range;
use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListBuilder, RecordBatch, StringBuilder,
};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde_json::Value;
use uuid::Uuid;

use super::checks::{Checked, check};
use super::chunks::{Chunk, ChunkLimits, CsvChunk, CsvHeader};
use super::decode::{DecodeOptions, Records, Refused};
use super::input::{Source, io_error, open};
use super::record::{Cells, Raw, Refusal, check_row, not_utf8};
use crate::error::Result;
use crate::format::event::Event;
use crate::format::schema::{ColumnKind, EVENT_COLUMNS, ORGANIZATION_ID, event_column};

/// Cuts a CSV input at record ends, as the CSV reader finds them (a quoted field may hold
/// line breaks); the header is read first.
pub fn chunks(
    source: &Source,
    limits: ChunkLimits,
    each: &mut dyn FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    let mut reader = open(source)?;
    let mut tokenizer = csv_core::Reader::new();
    // The bytes from the current chunk's first record on (before the header is read: from
    // the input's start), and how many of them the tokenizer has read.
    let mut pending: Vec<u8> = Vec::new();
    let mut scanned = 0;
    let mut eof = false;
    // The cells are not kept (the decoders read them again), but the header's are.
    let (mut cells, mut ends) = (vec![0u8; 1 << 16], vec![0usize; 1024]);
    let (mut header_cells, mut header_ends) = (Vec::new(), Vec::new());
    let mut header: Option<Arc<CsvHeader>> = None;
    let (mut starts, mut lines) = (Vec::new(), Vec::new());
    let mut record_start = None;
    let (mut first_row, mut row) = (1u64, 0u64);
    loop {
        if scanned == pending.len() && !eof {
            let buffer = reader
                .fill_buf()
                .map_err(|e| io_error(source, format!("after row {row}: {e}")))?;
            let read = buffer.len();
            pending.extend_from_slice(buffer);
            reader.consume(read);
            eof = read == 0;
        }
        // Where the record starts, and its line as the CSV reader counts lines (the line
        // count after the previous record).
        let (start, line) = *record_start.get_or_insert((scanned, tokenizer.line()));
        let (result, read, written, ended) =
            tokenizer.read_record(&pending[scanned..], &mut cells, &mut ends);
        scanned += read;
        let Some(columns) = &header else {
            header_cells.extend_from_slice(&cells[..written]);
            header_ends.extend_from_slice(&ends[..ended]);
            match result {
                csv_core::ReadRecordResult::Record => {
                    header = Some(Arc::new(header_names(source, &header_cells, &header_ends)?));
                    pending.drain(..scanned);
                    (scanned, record_start) = (0, None);
                }
                csv_core::ReadRecordResult::End => break,
                _ => {}
            }
            continue;
        };
        match result {
            csv_core::ReadRecordResult::Record => {}
            csv_core::ReadRecordResult::End => break,
            _ => continue,
        }
        record_start = None;
        row += 1;
        starts.push(start);
        lines.push(line);
        if starts.len() >= limits.records || scanned >= limits.bytes {
            let rest = pending[scanned..].to_vec();
            pending.truncate(scanned);
            each(Chunk::Csv(CsvChunk {
                header: Arc::clone(columns),
                bytes: std::mem::replace(&mut pending, rest),
                starts: std::mem::take(&mut starts),
                lines: std::mem::take(&mut lines),
                first_row,
            }))?;
            (first_row, scanned) = (row + 1, 0);
        }
    }
    if let Some(header) = header
        && !starts.is_empty()
    {
        pending.truncate(scanned);
        each(Chunk::Csv(CsvChunk {
            header,
            bytes: pending,
            starts,
            lines,
            first_row,
        }))?;
    }
    Ok(())
}

/// The header's column names (each without a byte-order mark); names must be UTF-8.
fn header_names(source: &Source, cells: &[u8], ends: &[usize]) -> Result<CsvHeader> {
    let mut names = Vec::with_capacity(ends.len());
    let mut start = 0;
    for &end in ends {
        let name = std::str::from_utf8(&cells[start..end]).map_err(|e| {
            io_error(
                source,
                format!("line 1 (the header): {}", not_utf8(None, e)),
            )
        })?;
        names.push(name.trim_start_matches('\u{feff}').to_string());
        start = end;
    }
    Ok(CsvHeader::new(names))
}

/// The records of a chunk.
pub struct CsvRecords<'a> {
    chunk: &'a CsvChunk,
}

impl<'a> CsvRecords<'a> {
    pub fn new(chunk: &'a CsvChunk) -> CsvRecords<'a> {
        CsvRecords { chunk }
    }

    /// The bytes of the records of `range`.
    fn bytes(&self, range: &Range<usize>) -> &'a [u8] {
        let end = self
            .chunk
            .starts
            .get(range.end)
            .copied()
            .unwrap_or(self.chunk.bytes.len());
        &self.chunk.bytes[self.chunk.starts[range.start]..end]
    }
}

impl Records for CsvRecords<'_> {
    fn count(&self) -> usize {
        self.chunk.starts.len()
    }

    fn typed(&self, range: Range<usize>, options: &DecodeOptions) -> Option<Checked> {
        let header = &self.chunk.header;
        let width = header.names.len();
        if range.is_empty() || width == 0 {
            return None;
        }
        // Every column as text; only the event columns (first of each name) are kept.
        let wanted: Vec<(&str, usize)> = std::iter::once(ORGANIZATION_ID)
            .chain(EVENT_COLUMNS.iter().map(|c| c.name))
            .filter_map(|name| header.at.get(name).map(|&i| (name, i)))
            .collect();
        let fields: Vec<Field> = (0..width)
            .map(|i| Field::new(format!("c{i}"), DataType::Utf8, true))
            .collect();
        let mut decoder = ReaderBuilder::new(Arc::new(Schema::new(fields)))
            .with_header(false)
            // One more than there are: a `\n` after the last record's `\r` is read too.
            .with_batch_size(range.len() + 1)
            .with_projection(wanted.iter().map(|(_, i)| *i).collect())
            .build_decoder();
        let bytes = self.bytes(&range);
        let mut read = 0;
        while read < bytes.len() {
            match decoder.decode(&bytes[read..]).ok()? {
                0 => return None,
                n => read += n,
            }
        }
        // The end of the input: a last record without a line break is complete.
        decoder.decode(&[]).ok()?;
        let batch = decoder.flush().ok()??;
        if batch.num_rows() != range.len() {
            return None;
        }
        let mut fields = Vec::with_capacity(wanted.len());
        let mut columns = Vec::with_capacity(wanted.len());
        for ((name, _), text) in wanted.iter().zip(batch.columns()) {
            let kind = event_column(name).map_or(ColumnKind::String, |c| c.kind);
            let column = match kind {
                ColumnKind::Number => numbers(text)?,
                ColumnKind::StringList => string_lists(text)?,
                ColumnKind::String | ColumnKind::Timestamp => Arc::clone(text),
            };
            fields.push(Field::new(*name, column.data_type().clone(), true));
            columns.push(column);
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).ok()?;
        check(&batch, options.time_zone)
    }

    fn per_row(
        &self,
        range: Range<usize>,
        options: &DecodeOptions,
        rows: &mut Vec<(Uuid, Event)>,
        refused: &mut Vec<Refused>,
    ) -> Result<u64> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(self.bytes(&range));
        let mut record = csv::ByteRecord::new();
        let mut records = 0;
        for i in range {
            let read = reader.read_byte_record(&mut record).map_err(|e| {
                crate::error::Error::internal(format!("reading a CSV record again: {e}"))
            })?;
            if !read {
                return Err(crate::error::Error::internal(
                    "a CSV chunk holds fewer records than were counted",
                ));
            }
            records += 1;
            Refused::sort(
                csv_record(&self.chunk.header, &record, options.time_zone),
                || {
                    format!(
                        "row {} (line {})",
                        self.chunk.first_row + i as u64,
                        self.chunk.lines[i]
                    )
                },
                rows,
                refused,
            );
        }
        Ok(records)
    }
}

/// Text cells as numbers, as the per-row path reads them (surrounding spaces allowed);
/// `None` if one is not a finite number.
fn numbers(text: &ArrayRef) -> Option<ArrayRef> {
    let cells = text.as_string::<i32>();
    let values: Option<Vec<Option<f64>>> = cells
        .iter()
        .map(|cell| match cell {
            None => Some(None),
            Some(cell) => cell
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Some),
        })
        .collect();
    Some(Arc::new(Float64Array::from(values?)))
}

/// Text cells as lists (JSON arrays of strings), as the per-row path reads them; `None`
/// if one is not such an array or holds a null.
fn string_lists(text: &ArrayRef) -> Option<ArrayRef> {
    let cells = text.as_string::<i32>();
    let mut lists = ListBuilder::new(StringBuilder::new());
    for cell in cells.iter() {
        match cell {
            None => lists.append_null(),
            Some(cell) => {
                for item in serde_json::from_str::<Vec<Option<String>>>(cell).ok()? {
                    lists.values().append_value(item?);
                }
                lists.append(true);
            }
        }
    }
    let lists = lists.finish();
    (lists.len() == cells.len()).then(|| Arc::new(lists) as ArrayRef)
}

/// One CSV record checked, or refused with the record as read (empty cells as null).
pub(super) fn csv_record(
    header: &CsvHeader,
    record: &csv::ByteRecord,
    time_zone: Option<Tz>,
) -> std::result::Result<(Uuid, Event), (Refusal, Value)> {
    let names = &header.names;
    let original = || -> Value {
        let cell = |bytes: &[u8]| {
            if bytes.is_empty() {
                Value::Null
            } else {
                Value::String(String::from_utf8_lossy(bytes).into_owned())
            }
        };
        if record.len() == names.len() {
            Value::Object(
                names
                    .iter()
                    .zip(record)
                    .map(|(n, c)| (n.clone(), cell(c)))
                    .collect(),
            )
        } else {
            Value::Array(record.iter().map(cell).collect())
        }
    };
    if record.len() != names.len() {
        let reason = format!(
            "has {} fields, but the header has {}",
            record.len(),
            names.len()
        );
        return Err((
            Refusal {
                column: None,
                reason,
            },
            original(),
        ));
    }
    let mut cells = Vec::with_capacity(record.len());
    for (i, bytes) in record.iter().enumerate() {
        match std::str::from_utf8(bytes) {
            Ok(text) => cells.push(text),
            Err(e) => return Err((not_utf8(Some(&names[i]), e), original())),
        }
    }
    let cell = |c: &str| {
        header
            .at
            .get(c)
            .map_or(Raw::Null, |&i| Raw::Text(cells[i].to_string()))
    };
    check_row(&mut |c| cell(c), Cells::Text, time_zone).map_err(|r| (r, original()))
}
