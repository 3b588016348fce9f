//! Where ingest reads from: files, folders, `s3://` URLs and stdin, in NDJSON, CSV (with a
//! header) or Parquet, and how an input's bytes are opened (decompressed as a stream).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path as LocalPath, PathBuf};

use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{Error, Result};
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

/// One input file, on local disk (inputs from S3 and stdin are spooled to a temporary file
/// first: every input is then read alike, and Parquet by seeking).
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

/// A fault of an input as a whole (a broken compressed stream, a Parquet column of the
/// wrong type): the input is refused, named.
pub(super) fn io_error(source: &Source, e: impl std::fmt::Display) -> Error {
    Error::bad_request(format!("input {}: {e}", source.shown))
}

/// The input's bytes, decompressed as they are read when they are gzip (every member of a
/// concatenated file) or zstd. The first bytes decide, not the name: stdin and objects
/// whose names say nothing are read alike, and NDJSON or CSV text never starts with these.
pub(super) fn open(source: &Source) -> Result<Box<dyn BufRead>> {
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
