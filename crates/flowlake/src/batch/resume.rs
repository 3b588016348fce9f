//! What `--resume` reads back from a result file that an earlier run completed: how many
//! rows it holds, so that the summary counts the rows of skipped queries like the others.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

use crate::output::Format;

/// The rows of the result file at `path`, written in `format`; why not, when the file
/// cannot be read back as one.
pub fn rows_in(path: &Path, format: Format) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let reader = BufReader::with_capacity(1 << 16, file);
    match format {
        Format::Json => {
            let envelope: Envelope = serde_json::from_reader(reader).map_err(|e| e.to_string())?;
            Ok(envelope.data.0)
        }
        // One row object per line; JSON strings hold no raw line break.
        Format::Ndjson => count_lines(reader, false),
        // A header, then one record per row; a quoted field may hold line breaks.
        Format::Csv => Ok(count_lines(reader, true)?.saturating_sub(1)),
        Format::Arrow => {
            let batches = datafusion::arrow::ipc::reader::StreamReader::try_new(reader, None)
                .map_err(|e| e.to_string())?;
            batches
                .map(|batch| {
                    batch
                        .map(|b| b.num_rows() as u64)
                        .map_err(|e| e.to_string())
                })
                .sum()
        }
    }
}

/// Line breaks, outside double-quoted fields if `quoted` (a `""` escape toggles twice).
fn count_lines(mut reader: impl BufRead, quoted: bool) -> Result<u64, String> {
    let (mut lines, mut in_quotes) = (0u64, false);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = reader.read(&mut buffer).map_err(|e| e.to_string())?;
        if read == 0 {
            return Ok(lines);
        }
        for &byte in &buffer[..read] {
            match byte {
                b'"' if quoted => in_quotes = !in_quotes,
                b'\n' if !in_quotes => lines += 1,
                _ => {}
            }
        }
    }
}

/// The SPEC §4 envelope, of which only the number of rows is kept.
#[derive(Deserialize)]
struct Envelope {
    data: RowCount,
}

/// The length of a JSON array, counted without keeping its elements.
struct RowCount(u64);

impl<'de> Deserialize<'de> for RowCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = RowCount;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of rows")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut rows: A) -> Result<RowCount, A::Error> {
                let mut count = 0;
                while rows.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(RowCount(count))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, text: &[u8]) -> Result<u64, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        std::fs::write(&path, text).unwrap();
        rows_in(&path, format)
    }

    #[test]
    fn rows_are_counted_in_every_text_encoding() {
        assert_eq!(
            rows(
                Format::Json,
                br#"{"fields":[{"name":"a"}],"data":[{"a":"x]"},{"a":[1,2]}]}"#
            ),
            Ok(2)
        );
        assert_eq!(rows(Format::Json, br#"{"fields":[],"data":[]}"#), Ok(0));
        assert_eq!(
            rows(Format::Ndjson, b"{\"a\":\"x\\ny\"}\n{\"a\":1}\n"),
            Ok(2)
        );
        assert_eq!(
            rows(Format::Csv, b"a,b\n\"line\nbreak\",\"\"\"q\"\"\"\nx,y\n"),
            Ok(2)
        );
        assert_eq!(rows(Format::Csv, b"a,b\n"), Ok(0));
        assert!(rows(Format::Json, b"{\"data\":[1,").is_err());
    }
}
