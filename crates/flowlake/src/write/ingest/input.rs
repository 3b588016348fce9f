//! Where ingest reads from: files, folders, `s3://` URLs and stdin, in NDJSON, CSV (with a
//! header) or Parquet; each record turned into a checked row or a refusal with its place.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path as LocalPath, PathBuf};
use std::sync::Arc;

use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use uuid::Uuid;

use super::record::{Cells, Raw, Refusal, check_row};
use crate::error::{Error, Result};
use crate::format::event::Event;
use crate::format::schema::{ColumnKind, ORGANIZATION_ID, event_column};
use crate::storage::S3Options;
use crate::storage::store::s3_store;

/// The formats ingest reads.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::VariantNames, strum::Display,
)]
#[strum(serialize_all = "kebab-case")]
pub enum InputFormat {
    /// One JSON event object per line.
    Ndjson,
    /// A header row of column names, then one event per row.
    Csv,
    /// Parquet files with the event columns.
    Parquet,
}

impl InputFormat {
    /// The format a file name's extension says, if it says one. NDJSON and CSV may be
    /// compressed (`.gz`, `.zst`, `.zstd` after their extension); Parquet compresses its own
    /// pages and is read by seeking, so `x.parquet.gz` is none of these.
    pub fn of(name: &str) -> Option<InputFormat> {
        let lower = name.to_ascii_lowercase();
        let compressed = [".gz", ".zst", ".zstd"]
            .iter()
            .find_map(|suffix| lower.strip_suffix(suffix));
        let text = compressed.unwrap_or(&lower);
        if text.ends_with(".ndjson") || text.ends_with(".jsonl") || text.ends_with(".json") {
            Some(InputFormat::Ndjson)
        } else if text.ends_with(".csv") {
            Some(InputFormat::Csv)
        } else if compressed.is_none() && text.ends_with(".parquet") {
            Some(InputFormat::Parquet)
        } else {
            None
        }
    }
}

/// The file names ingest reads from a folder, for messages.
const KNOWN_NAMES: &str =
    ".ndjson, .jsonl, .json, .csv (each also .gz, .zst or .zstd) and .parquet";

/// One input file, on local disk (inputs from S3 and stdin are spooled to a temporary file:
/// a refused input is read twice, and memory must not grow with it).
#[derive(Debug)]
pub struct Source {
    /// How the input is named in messages: the path, the `s3://` URL, or `stdin`.
    pub shown: String,
    pub path: PathBuf,
    pub format: InputFormat,
    pub bytes: u64,
    _spooled: Option<tempfile::TempPath>,
}

/// The inputs of a run, and the files of its folders and prefixes that are not read.
#[derive(Debug, Default)]
pub struct Inputs {
    pub sources: Vec<Source>,
    /// Files found in a folder (or under an `s3://` prefix) whose names say no format
    /// ingest reads, relative to the folder, in order. Hidden ones are not counted.
    pub skipped: Vec<String>,
}

/// The inputs named on the command line, expanded (folders and prefixes into their files,
/// sorted) and made readable.
pub async fn resolve(
    inputs: &[String],
    format: Option<InputFormat>,
    s3: &S3Options,
) -> Result<Inputs> {
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for input in inputs {
        if input == "-" {
            let format = format.unwrap_or(InputFormat::Ndjson);
            let spooled = tokio::task::spawn_blocking(|| spool(&mut std::io::stdin().lock()))
                .await
                .map_err(|e| Error::internal(format!("reading stdin: {e}")))??;
            sources.push(from_spool("stdin".into(), spooled, format)?);
        } else if let Some(rest) = input.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let (store, _, _) = s3_store(bucket, s3).await?;
            let listed: Vec<_> = store
                .list(Some(&Path::from(prefix)))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
            let (mut keys, mut others): (Vec<Path>, Vec<Path>) =
                listed.into_iter().map(|m| m.location).partition(|p| {
                    format.is_some() || p.filename().and_then(InputFormat::of).is_some()
                });
            keys.sort();
            others.sort();
            if keys.is_empty() {
                return Err(Error::Usage {
                    message: format!("{input}: no objects named {KNOWN_NAMES} there"),
                });
            }
            let base = Path::from(prefix);
            skipped.extend(others.iter().map(|key| {
                key.prefix_match(&base).map_or_else(
                    || key.to_string(),
                    |rest| {
                        rest.map(|p| p.as_ref().to_string())
                            .collect::<Vec<_>>()
                            .join("/")
                    },
                )
            }));
            for key in keys {
                let shown = format!("s3://{bucket}/{key}");
                let kind = format
                    .or_else(|| key.filename().and_then(InputFormat::of))
                    .unwrap_or(InputFormat::Ndjson);
                let mut file = tempfile::NamedTempFile::new()
                    .map_err(|e| Error::internal(format!("spooling {shown}: {e}")))?;
                let mut stream = store.get(&key).await?.into_stream();
                while let Some(chunk) = stream.next().await {
                    file.write_all(&chunk?)
                        .map_err(|e| Error::internal(format!("spooling {shown}: {e}")))?;
                }
                sources.push(from_spool(shown, file, kind)?);
            }
        } else {
            let path = PathBuf::from(input);
            if path.is_dir() {
                let mut files = Vec::new();
                walk(&path, &mut files).map_err(|e| Error::Usage {
                    message: format!("{input}: {e}"),
                })?;
                let (mut files, mut others): (Vec<PathBuf>, Vec<PathBuf>) =
                    files.into_iter().partition(|f| {
                        format.is_some()
                            || f.file_name()
                                .and_then(|n| n.to_str())
                                .and_then(InputFormat::of)
                                .is_some()
                    });
                files.sort();
                others.sort();
                if files.is_empty() {
                    return Err(Error::Usage {
                        message: format!("{input}: no files named {KNOWN_NAMES} in the folder"),
                    });
                }
                skipped.extend(
                    others
                        .iter()
                        .map(|f| f.strip_prefix(&path).unwrap_or(f).display().to_string()),
                );
                for file in files {
                    sources.push(local(file, format)?);
                }
            } else {
                sources.push(local(path, format)?);
            }
        }
    }
    Ok(Inputs { sources, skipped })
}

fn local(path: PathBuf, format: Option<InputFormat>) -> Result<Source> {
    let shown = path.display().to_string();
    let metadata = std::fs::metadata(&path).map_err(|e| Error::Usage {
        message: format!("input {shown}: {e}"),
    })?;
    let format = format
        .or_else(|| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(InputFormat::of)
        })
        .ok_or_else(|| Error::Usage {
            message: format!("input {shown}: say its format with --format (ndjson, csv, parquet)"),
        })?;
    Ok(Source {
        shown,
        path,
        format,
        bytes: metadata.len(),
        _spooled: None,
    })
}

fn from_spool(shown: String, file: tempfile::NamedTempFile, format: InputFormat) -> Result<Source> {
    let bytes = file.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    let spooled = file.into_temp_path();
    Ok(Source {
        shown,
        path: spooled.to_path_buf(),
        format,
        bytes,
        _spooled: Some(spooled),
    })
}

fn spool(input: &mut dyn Read) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|e| Error::internal(format!("spooling stdin: {e}")))?;
    std::io::copy(input, &mut file).map_err(|e| Error::internal(format!("spooling stdin: {e}")))?;
    Ok(file)
}

fn walk(folder: &LocalPath, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), files)?;
        } else {
            files.push(entry.path());
        }
    }
    Ok(())
}

/// One input record: where it is, and the checked row or why it was refused (with the
/// record as it was, for the rejects file).
pub struct Record {
    pub position: String,
    pub outcome: Outcome,
}

/// A checked row, or why it was refused with the record as it was read.
pub type Outcome = std::result::Result<(Uuid, Event), (Refusal, serde_json::Value)>;

/// Reads every record of `source` in order, calling `each`; stops at the first error
/// `each` returns. Runs on a blocking thread.
pub fn read(
    source: &Source,
    time_zone: Option<Tz>,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    match source.format {
        InputFormat::Ndjson => read_ndjson(source, time_zone, each),
        InputFormat::Csv => read_csv(source, time_zone, each),
        InputFormat::Parquet => read_parquet(source, time_zone, each),
    }
}

fn io_error(source: &Source, e: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("input {}: {e}", source.shown))
}

/// The input's bytes, decompressed as they are read when they are gzip (every member of a
/// concatenated file) or zstd. The first bytes decide, not the name: stdin and objects
/// whose names say nothing are read alike, and NDJSON or CSV text never starts with these.
fn open(source: &Source) -> Result<Box<dyn BufRead>> {
    const GZIP: &[u8] = &[0x1f, 0x8b];
    const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    let file = File::open(&source.path).map_err(|e| io_error(source, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let head = reader.fill_buf().map_err(|e| io_error(source, e))?;
    Ok(if head.starts_with(GZIP) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else if head.starts_with(ZSTD) {
        let decoder = zstd::stream::read::Decoder::with_buffer(reader)
            .map_err(|e| io_error(source, format!("zstd: {e}")))?;
        Box::new(BufReader::with_capacity(1 << 20, decoder))
    } else {
        Box::new(reader)
    })
}

/// A JSON value as a raw value.
pub fn json_raw(value: Option<&serde_json::Value>) -> Raw {
    use serde_json::Value;
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

fn read_ndjson(
    source: &Source,
    time_zone: Option<Tz>,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    let mut reader = open(source)?;
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(source, format!("line {}: {e}", number + 1)))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let outcome = match std::str::from_utf8(&line) {
            Ok(text) => {
                let text = text.trim_start_matches('\u{feff}').trim();
                if text.is_empty() {
                    continue;
                }
                json_record(text, time_zone)
            }
            // The line is refused like any bad row; the rejects file (JSON, so UTF-8) keeps it
            // with the bytes that are not UTF-8 replaced by U+FFFD.
            Err(e) => Err((
                not_utf8(None, e),
                serde_json::Value::String(String::from_utf8_lossy(&line).trim().to_string()),
            )),
        };
        each(Record {
            position: format!("line {number}"),
            outcome,
        })?;
    }
}

/// Why text was refused for not being UTF-8.
fn not_utf8(column: Option<&str>, error: std::str::Utf8Error) -> Refusal {
    Refusal {
        column: column.map(str::to_string),
        reason: format!("not valid UTF-8 (byte {} is not)", error.valid_up_to() + 1),
    }
}

/// One NDJSON line checked, or refused with the record as read.
fn json_record(text: &str, time_zone: Option<Tz>) -> Outcome {
    use serde_json::Value;
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

fn read_csv(
    source: &Source,
    time_zone: Option<Tz>,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    // Flexible: a row with the wrong number of fields is a bad row, not a fault of the file.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(open(source)?);
    let header = reader.byte_headers().map_err(|e| io_error(source, e))?;
    let mut names = Vec::with_capacity(header.len());
    for name in header {
        let name = std::str::from_utf8(name).map_err(|e| {
            io_error(
                source,
                format!("line 1 (the header): {}", not_utf8(None, e)),
            )
        })?;
        names.push(name.trim_start_matches('\u{feff}').to_string());
    }
    // Columns are looked up by name for every cell: once per file, not once per row.
    let mut at = std::collections::HashMap::new();
    for (i, name) in names.iter().enumerate() {
        at.entry(name.as_str()).or_insert(i);
    }
    let mut record = csv::ByteRecord::new();
    let mut row = 0u64;
    loop {
        // The reader's errors are its input's (a broken compressed stream); a row's own
        // faults are refusals below.
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => return Err(io_error(source, format!("after row {row}: {e}"))),
        }
        row += 1;
        // The physical line where the record starts: quoted fields may span lines.
        let line = record.position().map_or(0, csv::Position::line);
        each(Record {
            position: format!("row {row} (line {line})"),
            outcome: csv_record(&names, &at, &record, time_zone),
        })?;
    }
}

/// One CSV record checked, or refused with the record as read (empty cells as null).
fn csv_record(
    names: &[String],
    at: &std::collections::HashMap<&str, usize>,
    record: &csv::ByteRecord,
    time_zone: Option<Tz>,
) -> Outcome {
    use serde_json::Value;
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
        at.get(c)
            .map_or(Raw::Null, |&i| Raw::Text(cells[i].to_string()))
    };
    check_row(&mut |c| cell(c), Cells::Text, time_zone).map_err(|r| (r, original()))
}

fn read_parquet(
    source: &Source,
    time_zone: Option<Tz>,
    each: &mut dyn FnMut(Record) -> Result<()>,
) -> Result<()> {
    let file = File::open(&source.path).map_err(|e| io_error(source, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| io_error(source, e))?
        .with_batch_size(8192);
    let schema = Arc::clone(builder.schema());
    // Which columns are read, and as what: a column of the wrong type refuses the file.
    let mut wanted: Vec<(String, DataType, bool)> = Vec::new();
    for field in schema.fields() {
        let name = field.name();
        let target = if name == ORGANIZATION_ID {
            ColumnKind::String
        } else {
            match event_column(name) {
                Some(column) => column.kind,
                None => continue,
            }
        };
        let zoned = matches!(field.data_type(), DataType::Timestamp(_, Some(_)));
        let fits = match target {
            ColumnKind::Timestamp => {
                matches!(field.data_type(), DataType::Timestamp(_, None))
                    || target.accepts(field.data_type())
            }
            other => other.accepts(field.data_type()),
        };
        if !fits {
            return Err(io_error(
                source,
                format!(
                    "column '{name}' has type {}, but the event schema needs {}",
                    field.data_type(),
                    target.data_type()
                ),
            ));
        }
        let as_type = match target {
            ColumnKind::Timestamp => {
                DataType::Timestamp(TimeUnit::Microsecond, zoned.then(|| "UTC".into()))
            }
            other => other.data_type(),
        };
        wanted.push((name.clone(), as_type, zoned));
    }
    let reader = builder.build().map_err(|e| io_error(source, e))?;
    let mut row = 0u64;
    for batch in reader {
        let batch: RecordBatch =
            batch.map_err(|e| io_error(source, format!("after row {row}: {e}")))?;
        let columns: Vec<(String, ArrayRef, bool)> = wanted
            .iter()
            .map(|(name, as_type, zoned)| {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| io_error(source, format!("column '{name}' vanished")))?;
                Ok((
                    name.clone(),
                    cast(column, as_type)
                        .map_err(|e| io_error(source, format!("column '{name}': {e}")))?,
                    *zoned,
                ))
            })
            .collect::<Result<_>>()?;
        let at: std::collections::HashMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.as_str(), i))
            .collect();
        for i in 0..batch.num_rows() {
            row += 1;
            let value = |c: &str| match at.get(c).map(|&k| &columns[k]) {
                Some((_, array, zoned)) => arrow_raw(array.as_ref(), i, *zoned),
                None => Raw::Null,
            };
            let outcome = check_row(&mut |c| value(c), Cells::Typed, time_zone).map_err(|r| {
                let original = columns
                    .iter()
                    .map(|(n, _, _)| (n.clone(), raw_json(value(n))))
                    .collect();
                (r, serde_json::Value::Object(original))
            });
            each(Record {
                position: format!("row {row}"),
                outcome,
            })?;
        }
    }
    Ok(())
}

fn arrow_raw(array: &dyn Array, i: usize, zoned: bool) -> Raw {
    if array.is_null(i) {
        return Raw::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Raw::Text(array.as_string::<i32>().value(i).to_string()),
        DataType::Float64 => Raw::Number(array.as_primitive::<Float64Type>().value(i)),
        DataType::Timestamp(..) => Raw::Instant {
            micros: array.as_primitive::<TimestampMicrosecondType>().value(i),
            zoned,
        },
        DataType::List(_) => {
            let items = array.as_list::<i32>().value(i);
            let strings = items.as_string::<i32>();
            Raw::List(
                (0..strings.len())
                    .map(|j| strings.is_valid(j).then(|| strings.value(j).to_string()))
                    .collect(),
            )
        }
        other => Raw::Other(format!("a value of type {other}")),
    }
}

fn raw_json(raw: Raw) -> serde_json::Value {
    match raw {
        Raw::Null => serde_json::Value::Null,
        Raw::Text(t) => t.into(),
        // NaN and infinities, which JSON lacks, as text.
        Raw::Number(n) => serde_json::Number::from_f64(n)
            .map_or_else(|| n.to_string().into(), serde_json::Value::Number),
        Raw::HugeNumber(text) => text.into(),
        Raw::List(items) => items
            .into_iter()
            .map(|i| i.map_or(serde_json::Value::Null, serde_json::Value::String))
            .collect(),
        Raw::Instant { micros, .. } => micros.into(),
        Raw::Other(what) => what.into(),
    }
}
