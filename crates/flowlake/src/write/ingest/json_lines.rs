//! NDJSON: one event object per line. The typed path checks each line's JSON strictly
//! (serde skips over it: Arrow's tape reader takes `{"a":1 "b":2}`, raw control characters
//! in strings and more) and reads `value` the way the per-row path does, then Arrow's JSON
//! decoder reads the chunk into columns.

use std::ops::Range;
use std::sync::{Arc, LazyLock};

use chrono_tz::Tz;
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use uuid::Uuid;

use super::checks::{Checked, check};
use super::chunks::{Chunk, ChunkLimits, LinesChunk};
use super::decode::{DecodeOptions, Records, Refused};
use super::input::{Source, io_error, open};
use super::record::{Cells, Raw, Refusal, check_row, not_utf8};
use crate::error::Result;
use crate::format::event::Event;
use crate::format::schema::{ColumnKind, EVENT_COLUMNS, ORGANIZATION_ID};

/// Cuts an NDJSON input at line ends.
pub fn chunks(
    source: &Source,
    limits: ChunkLimits,
    each: &mut dyn FnMut(Chunk) -> Result<()>,
) -> Result<()> {
    let mut reader = open(source)?;
    let mut pending: Vec<u8> = Vec::with_capacity(limits.bytes + (1 << 20));
    let mut first_line = 1u64;
    loop {
        let read = match reader.fill_buf() {
            Ok(buffer) => {
                pending.extend_from_slice(buffer);
                buffer.len()
            }
            Err(e) => {
                let line = first_line + newlines(&pending);
                return Err(io_error(source, format!("line {line}: {e}")));
            }
        };
        if read == 0 {
            break;
        }
        reader.consume(read);
        while let Some(end) = chunk_end(&pending, limits) {
            let mut next = Vec::with_capacity(limits.bytes + (1 << 20));
            next.extend_from_slice(&pending[end..]);
            pending.truncate(end);
            let bytes = std::mem::replace(&mut pending, next);
            let lines = newlines(&bytes);
            each(Chunk::Lines(LinesChunk { bytes, first_line }))?;
            first_line += lines;
        }
    }
    if !pending.is_empty() {
        each(Chunk::Lines(LinesChunk {
            bytes: pending,
            first_line,
        }))?;
    }
    Ok(())
}

/// Where a chunk of `pending` ends (after a line break), once it holds a chunk's worth;
/// a line longer than a chunk is read whole first.
fn chunk_end(pending: &[u8], limits: ChunkLimits) -> Option<usize> {
    let records = limits.records.max(1);
    if let Some(end) = memchr::memchr_iter(b'\n', pending).nth(records - 1) {
        return Some(end + 1);
    }
    if pending.len() < limits.bytes {
        return None;
    }
    memchr::memrchr(b'\n', pending).map(|end| end + 1)
}

fn newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

/// The lines of a chunk.
pub struct Lines<'a> {
    chunk: &'a LinesChunk,
    /// Each line's bytes in the chunk, with its `\n`.
    spans: Vec<Range<usize>>,
}

impl<'a> Lines<'a> {
    pub fn new(chunk: &'a LinesChunk) -> Lines<'a> {
        let mut spans = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &chunk.bytes) {
            spans.push(start..end + 1);
            start = end + 1;
        }
        if start < chunk.bytes.len() {
            spans.push(start..chunk.bytes.len());
        }
        Lines { chunk, spans }
    }
}

/// The columns Arrow's decoder reads: every event column but `value` (read by serde, as
/// the per-row path reads it), timestamps as text.
fn decoded_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![Field::new(ORGANIZATION_ID, DataType::Utf8, true)];
        for column in EVENT_COLUMNS {
            match column.kind {
                ColumnKind::Number => {}
                ColumnKind::Timestamp => fields.push(Field::new(column.name, DataType::Utf8, true)),
                kind => fields.push(Field::new(column.name, kind.data_type(), true)),
            }
        }
        Arc::new(Schema::new(fields))
    });
    Arc::clone(&SCHEMA)
}

impl Records for Lines<'_> {
    fn count(&self) -> usize {
        self.spans.len()
    }

    fn typed(&self, range: Range<usize>, options: &DecodeOptions) -> Option<Checked> {
        if range.is_empty() {
            return Checked::from_events(Vec::new()).ok();
        }
        let bytes = &self.chunk.bytes[self.spans[range.start].start..self.spans[range.end - 1].end];
        let text = std::str::from_utf8(bytes).ok()?;
        let base = self.spans[range.start].start;
        let mut values = Vec::with_capacity(range.len());
        for span in &self.spans[range] {
            let line = text[span.start - base..span.end - base]
                .trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'));
            if line.is_empty() {
                continue;
            }
            // Not `{`: not an object, or a byte-order mark (which the per-row path skips).
            if !line.starts_with('{') {
                return None;
            }
            let mut deserializer = serde_json::Deserializer::from_str(line);
            let LineShape(value) = deserializer.deserialize_map(ShapeVisitor).ok()?;
            deserializer.end().ok()?;
            values.push(value);
        }
        let rows = values.len();
        if rows == 0 {
            return Checked::from_events(Vec::new()).ok();
        }
        let mut decoder = ReaderBuilder::new(decoded_schema())
            .with_batch_size(rows)
            .build_decoder()
            .ok()?;
        if decoder.decode(bytes).ok()? != bytes.len() {
            return None;
        }
        let batch = decoder.flush().ok()??;
        if batch.num_rows() != rows {
            return None;
        }
        let schema = batch.schema();
        let mut fields = schema.fields().to_vec();
        fields.push(Arc::new(Field::new("value", DataType::Float64, true)));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(Float64Array::from(values)) as ArrayRef);
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
        let mut records = 0;
        for i in range {
            let line = &self.chunk.bytes[self.spans[i].clone()];
            let outcome = match std::str::from_utf8(line) {
                Ok(text) => {
                    let text = text.trim_start_matches('\u{feff}').trim();
                    if text.is_empty() {
                        continue;
                    }
                    json_record(text, options.time_zone)
                }
                // The line is refused like any bad row; the rejects file (JSON, so UTF-8)
                // keeps it with the bytes that are not UTF-8 replaced by U+FFFD.
                Err(e) => Err((
                    not_utf8(None, e),
                    Value::String(String::from_utf8_lossy(line).trim().to_string()),
                )),
            };
            records += 1;
            Refused::sort(
                outcome,
                || format!("line {}", self.chunk.first_line + i as u64),
                rows,
                refused,
            );
        }
        Ok(records)
    }
}

/// A line the typed path may read, and its `value` as the per-row path reads it.
struct LineShape(Option<f64>);

/// Skips over one JSON object strictly (serde's grammar, nesting limit and number
/// syntax), and reads its `value` field as a number (the last one, as a map keeps the
/// last of repeated keys); a `value` that is not a number or null fails, as does a
/// number beyond the double range anywhere it is read.
struct ShapeVisitor;

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = LineShape;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineShape, A::Error> {
        let mut value = None;
        while let Some(IsValue(is_value)) = map.next_key()? {
            if is_value {
                value = map.next_value::<Option<f64>>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(LineShape(value))
    }
}

/// Whether a key is `value`.
struct IsValue(bool);

impl<'de> serde::Deserialize<'de> for IsValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IsValue, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = IsValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<IsValue, E> {
                Ok(IsValue(key == "value"))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// One NDJSON line checked, or refused with the record as read.
fn json_record(text: &str, time_zone: Option<Tz>) -> Result<(Uuid, Event), (Refusal, Value)> {
    let first = match serde_json::from_str::<serde_json::Map<String, Value>>(text) {
        Ok(map) => {
            return check_row(&mut |c| json_raw(map.get(c)), Cells::Typed, time_zone)
                .map_err(|r| (r, Value::Object(map)));
        }
        Err(e) => e,
    };
    // A number beyond the double range fails the whole parse: read the fields one by one,
    // to name the column that holds it, or to ignore it in a field the schema does not know.
    let Ok(fields) = serde_json::from_str::<
        std::collections::HashMap<String, &serde_json::value::RawValue>,
    >(text) else {
        return Err((
            Refusal {
                column: None,
                reason: format!("not a JSON object: {first}"),
            },
            Value::String(text.to_string()),
        ));
    };
    let mut value = |column: &str| match fields.get(column) {
        None => Raw::Null,
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(value) => json_raw(Some(&value)),
            Err(_)
                if raw
                    .get()
                    .starts_with(|c: char| c == '-' || c.is_ascii_digit()) =>
            {
                Raw::HugeNumber(raw.get().to_string())
            }
            Err(_) => Raw::Other("a value out of range".into()),
        },
    };
    check_row(&mut value, Cells::Typed, time_zone).map_err(|r| (r, Value::String(text.to_string())))
}

/// A JSON value as a raw value.
pub fn json_raw(value: Option<&Value>) -> Raw {
    match value {
        None | Some(Value::Null) => Raw::Null,
        Some(Value::String(s)) => Raw::Text(s.clone()),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Raw::Number)
            .unwrap_or_else(|| Raw::Other("a number out of range".into())),
        Some(Value::Array(items)) => {
            let elements: Option<Vec<Option<String>>> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Some(Some(s.clone())),
                    Value::Null => Some(None),
                    _ => None,
                })
                .collect();
            elements
                .map(Raw::List)
                .unwrap_or_else(|| Raw::Other("a list that holds more than strings".into()))
        }
        Some(Value::Bool(_)) => Raw::Other("a boolean".into()),
        Some(Value::Object(_)) => Raw::Other("an object".into()),
    }
}
