//! ingest's readers, differentially: the typed path (Arrow's decoders, the checks over
//! whole columns, inputs cut into chunks of any size) against the per-row path over the
//! whole input, on generated inputs. Both must give the same rows of the same days in the
//! same order, and the same refusals at the same places with the same records.

mod generate;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use chrono_tz::Tz;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::checks::Checked;
use super::chunks::{self, Chunk, ChunkLimits, CsvHeader, LinesChunk};
use super::csv_records::csv_record;
use super::decode::{DecodeOptions, Decoded, Refused, by_day, decode, decode_per_row};
use super::input::{self, Source};
use super::json_lines::Lines;
use super::parquet_batches::Rows;
use crate::format::schema::file_schema;
use crate::storage::S3Options;
use crate::write::Day;

/// What reading an input gave: records, refusals in order, and each day's rows in order.
#[derive(Debug, Default)]
struct Outcome {
    records: u64,
    typed: u64,
    refused: Vec<Refused>,
    days: BTreeMap<Day, Vec<RecordBatch>>,
}

impl Outcome {
    fn add(&mut self, decoded: Decoded) {
        self.records += decoded.records;
        self.typed += decoded.typed;
        self.refused.extend(decoded.refused);
        for rows in decoded.days {
            self.days.entry(rows.day).or_default().push(rows.batch);
        }
    }

    /// Each day's rows as one batch.
    fn days(&self) -> BTreeMap<Day, RecordBatch> {
        self.days
            .iter()
            .map(|(day, batches)| (*day, concat_batches(&file_schema(), batches).unwrap()))
            .filter(|(_, batch)| batch.num_rows() > 0)
            .collect()
    }
}

fn source(dir: &Path, name: &str, bytes: &[u8]) -> Source {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut inputs = runtime
        .block_on(input::resolve(
            &[path.display().to_string()],
            None,
            &S3Options::default(),
        ))
        .unwrap();
    inputs.sources.remove(0)
}

/// The typed path, chunks of `limits`.
fn typed(source: &Source, limits: ChunkLimits, options: DecodeOptions) -> Outcome {
    let mut outcome = Outcome::default();
    chunks::read(source, limits, &mut |chunk| {
        outcome.add(decode(chunk, &options)?);
        Ok(())
    })
    .unwrap();
    outcome
}

/// The per-row path over the whole input, as ingest read inputs before it had chunks.
fn per_row(source: &Source, options: DecodeOptions) -> Outcome {
    let mut outcome = Outcome::default();
    match source.format {
        input::InputFormat::Ndjson => {
            let mut bytes = Vec::new();
            input::open(source)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            let chunk = LinesChunk {
                bytes,
                first_line: 1,
            };
            outcome.add(decode_per_row(&Lines::new(&chunk), &options).unwrap());
        }
        input::InputFormat::Csv => outcome.add(csv_per_row(source, options)),
        input::InputFormat::Parquet => chunks::read(source, ChunkLimits::default(), &mut |chunk| {
            let Chunk::Parquet(rows) = chunk else {
                unreachable!()
            };
            outcome.add(decode_per_row(&Rows::new(&rows), &options)?);
            Ok(())
        })
        .unwrap(),
    }
    outcome
}

/// A whole CSV input read record by record with the `csv` crate.
fn csv_per_row(source: &Source, options: DecodeOptions) -> Decoded {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input::open(source).unwrap());
    let names = reader
        .byte_headers()
        .unwrap()
        .iter()
        .map(|name| {
            std::str::from_utf8(name)
                .unwrap()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    let header = CsvHeader::new(names);
    let mut decoded = Decoded::default();
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    while reader.read_byte_record(&mut record).unwrap() {
        decoded.records += 1;
        let line = record.position().map_or(0, csv::Position::line);
        Refused::sort(
            csv_record(&header, &record, options.time_zone),
            || format!("row {} (line {line})", decoded.records),
            &mut rows,
            &mut decoded.refused,
        );
    }
    decoded.days = by_day(Checked::from_events(rows).unwrap()).unwrap();
    decoded
}

/// Reads `source` both ways, in chunks of several sizes, and compares.
fn assert_paths_agree(source: &Source, options: DecodeOptions, rng: &mut ChaCha8Rng) -> Outcome {
    let expected = per_row(source, options);
    let expected_days = expected.days();
    let limits = [
        ChunkLimits::default(),
        ChunkLimits {
            bytes: rng.random_range(1..4000),
            records: rng.random_range(1..200),
        },
        ChunkLimits {
            bytes: 1,
            records: 1,
        },
    ];
    let mut first = None;
    for limits in limits {
        let got = typed(source, limits, options);
        assert_eq!(got.records, expected.records, "{limits:?}: records");
        for (i, (got, expected)) in got.refused.iter().zip(&expected.refused).enumerate() {
            assert_eq!(got, expected, "{limits:?}: refusal {i}");
        }
        assert_eq!(
            got.refused.len(),
            expected.refused.len(),
            "{limits:?}: refusals"
        );
        let days = got.days();
        assert_eq!(
            days.keys().collect::<Vec<_>>(),
            expected_days.keys().collect::<Vec<_>>(),
            "{limits:?}: days"
        );
        for (day, batch) in &days {
            assert_eq!(batch, &expected_days[day], "{limits:?}: the rows of {day}");
        }
        first.get_or_insert(got);
    }
    first.unwrap_or_default()
}

fn zones(seed: u64) -> DecodeOptions {
    DecodeOptions {
        time_zone: seed
            .is_multiple_of(2)
            .then(|| "Europe/Paris".parse::<Tz>().unwrap()),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn ndjson_is_read_alike_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..16 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let faults = [0, 1, 3, 20][seed as usize % 4];
        let count = rng.random_range(1..700);
        let ids = rng.random_range(1..2 * count as u64);
        let text: Vec<u8> = (0..count)
            .flat_map(|_| generate::json_line(&mut rng, ids, faults))
            .collect();
        let name = format!("in-{seed}.ndjson");
        let outcome = assert_paths_agree(&source(dir.path(), &name, &text), zones(seed), &mut rng);
        if faults == 0 {
            assert_eq!(outcome.typed, outcome.records, "seed {seed}: all typed");
        }
        if seed % 4 == 1 {
            let packed = source(dir.path(), &format!("{name}.gz"), &gzip(&text));
            assert_paths_agree(&packed, zones(seed), &mut rng);
        }
    }
}

#[test]
fn csv_is_read_alike_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..16 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let faults = [0, 1, 3, 20][seed as usize % 4];
        let count = rng.random_range(1..600);
        let ids = rng.random_range(1..2 * count as u64);
        let text = generate::csv_text(&mut rng, count, ids, faults);
        let name = format!("in-{seed}.csv");
        let outcome = assert_paths_agree(&source(dir.path(), &name, &text), zones(seed), &mut rng);
        if faults == 0 {
            assert_eq!(outcome.typed, outcome.records, "seed {seed}: all typed");
        }
    }
}

#[test]
fn parquet_is_read_alike_on_both_paths() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..10 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let count = rng.random_range(1..900);
        let ids = rng.random_range(1..2 * count as u64);
        let bytes = generate::parquet_bytes(&mut rng, count, ids);
        let name = format!("in-{seed}.parquet");
        assert_paths_agree(&source(dir.path(), &name, &bytes), zones(seed), &mut rng);
    }
}

/// One good event line of ORG's 2026-03-01.
fn event(id: &str, extra: &str) -> String {
    format!(
        r#"{{"organization_id": "0a000000-0000-4000-8000-000000000001", "timestamp": "2026-03-01T10:00:00Z", "event_id": "{id}", "category": "goal", "action": "trigger", "label": "g", "visitor_id": "v", "session_id": "s"{extra}}}"#
    )
}

#[test]
fn json_only_a_lenient_reader_takes_is_refused_on_the_typed_path_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (i, line) in [
        event("a", r#", "page_url": "/x" "dim1": "y""#),
        event("b", r#", "page_url": "/x","#),
        event("c", ", \"page_url\": \"tab\there\""),
        event("d", r#", "value": "2.5""#),
        event("e", r#", "value": 01"#),
        event("f", r#", "value": 1e400"#),
        event("g", r#", "extra": -1e400"#),
        format!("{}{}", event("h", ""), event("i", "")),
        format!("\u{feff}{}", event("j", "")),
        event(
            "k",
            &format!(r#", "extra": {}1{}"#, "[".repeat(200), "]".repeat(200)),
        ),
        event("l", r#", "label": "x", "label": 7"#),
        event("m", r#", "value": -0"#),
        event("n", r#", "extra": "\ud800""#),
        event("o", r#", "room_ids": ["a",]"#),
    ]
    .iter()
    .enumerate()
    {
        let text = format!("{}\n{line}\n{}\n", event("before", ""), event("after", ""));
        let outcome = assert_paths_agree(
            &source(dir.path(), &format!("lenient-{i}.ndjson"), text.as_bytes()),
            DecodeOptions { time_zone: None },
            &mut rng,
        );
        assert_eq!(outcome.records, 3, "{line}");
    }
}
