//! Random ingest inputs: mostly good events, and every kind of fault the per-row checks
//! name, in NDJSON, CSV and Parquet, including the JSON Arrow's tape reader would take
//! although it is not JSON.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampNanosecondArray,
};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use rand::Rng;
use rand::seq::IndexedRandom;

const ORGS: &[&str] = &[
    "0a000000-0000-4000-8000-000000000001",
    "0A000000-0000-4000-8000-000000000002",
    "0b000000-0000-4000-8000-00000000000b",
];

/// Picks one of `choices`.
fn pick<'a, R: Rng>(rng: &mut R, choices: &[&'a str]) -> &'a str {
    choices.choose(rng).copied().unwrap_or_default()
}

fn chance<R: Rng>(rng: &mut R, percent: u32) -> bool {
    rng.random_range(0..100) < percent
}

/// A JSON string literal of `text`.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// A timestamp as text in the shapes inputs write them; `fault`: one a check refuses (or
/// that needs a time zone).
fn timestamp_text<R: Rng>(rng: &mut R, fault: bool) -> String {
    let day = rng.random_range(1..=3);
    let (h, m, s) = (
        rng.random_range(0..24),
        rng.random_range(0..60),
        rng.random_range(0..60),
    );
    let fraction = match rng.random_range(0..4) {
        0 => String::new(),
        1 => format!(".{:03}", rng.random_range(0..1000)),
        2 => format!(".{:06}", rng.random_range(0..1_000_000)),
        _ => format!(".{:09}", rng.random_range(0..1_000_000_000)),
    };
    let base = format!("2026-03-{day:02}T{h:02}:{m:02}:{s:02}{fraction}");
    if fault {
        return match rng.random_range(0..8) {
            0 => base,
            1 => "1677-12-31T23:59:59Z".into(),
            2 => "2262-01-01T00:00:00Z".into(),
            3 => "2026-02-30T10:00:00Z".into(),
            4 => "not a time".into(),
            5 => String::new(),
            6 => "2026-03-29T02:30:00".into(),
            _ => "2026-03-01t10:00:00z".into(),
        };
    }
    match rng.random_range(0..20) {
        0 => base.replace('T', " ") + "+00",
        1 => base + "+0530",
        2 => format!(" {base}Z "),
        3..=6 => base + "-03:00",
        _ => base + "Z",
    }
}

/// One field of an event object, as JSON text; `None` leaves it out.
fn json_field<R: Rng>(rng: &mut R, name: &str, ids: u64, faults: u32) -> Option<String> {
    let fault = chance(rng, faults);
    let value = match name {
        "organization_id" if fault => pick(rng, &["\"nope\"", "null", "7", "\"\""]).into(),
        "organization_id" => quoted(pick(rng, ORGS)),
        "timestamp" if fault => pick(rng, &["1700000000", "null", "[\"x\"]"]).into(),
        "timestamp" => quoted(&timestamp_text(rng, fault)),
        "event_id" => quoted(&format!("e{}", rng.random_range(0..ids))),
        "value" if !fault => format!("{}", rng.random::<f64>() * 100.0),
        "value" => match rng.random_range(0..24) {
            0 => "null".into(),
            1 => "-0".into(),
            2 => "1e400".into(),
            3 => "\"2.5\"".into(),
            4 => "true".into(),
            5 => "1e-400".into(),
            6 => "12345678901234567890123".into(),
            7 => "-0.0".into(),
            8..=12 => rng.random_range(-1000..1000).to_string(),
            13..=17 => format!("{:e}", rng.random::<f64>() * 1e6),
            _ => format!("{}", rng.random::<f64>() - 0.5),
        },
        "properties" | "room_ids" => match rng.random_range(0..12) {
            0 => "null".into(),
            1 => "[]".into(),
            2 if fault => "[\"a\",null]".into(),
            3 if fault => "[1]".into(),
            4 if fault => "\"r1\"".into(),
            _ => format!(
                "[{},\"r2\"]",
                quoted(&format!("r{}", rng.random_range(0..5)))
            ),
        },
        "category" | "action" | "label" | "visitor_id" | "session_id" if fault => {
            pick(rng, &["null", "3", "{}", "\"\""]).into()
        }
        "category" => quoted(pick(rng, &["goal", "widget", "page"])),
        "action" | "label" | "visitor_id" | "session_id" => {
            quoted(pick(rng, &["view", "g", "v", "s1", "é", ""]))
        }
        "extra" => pick(
            rng,
            &[
                "{\"deep\": [1, {\"x\": null}], \"n\": -1e400}",
                "true",
                "\"\\ud83d\\ude00\"",
            ],
        )
        .into(),
        _ if chance(rng, 30) => return None,
        _ if fault => pick(rng, &["null", "5", "[\"x\"]"]).into(),
        _ => quoted(pick(
            rng,
            &[
                "a",
                "é",
                "line\nbreak",
                "tab\t\"q\"",
                "\u{1F600}",
                "",
                "x,y",
            ],
        )),
    };
    Some(format!("{}: {value}", quoted(name)))
}

/// The names NDJSON objects and CSV headers draw from.
const NAMES: &[&str] = &[
    "organization_id",
    "timestamp",
    "event_id",
    "category",
    "action",
    "label",
    "visitor_id",
    "session_id",
    "value",
    "properties",
    "room_ids",
    "vendor",
    "page_url",
    "dim1",
    "user_id",
    "geo_city",
    "extra",
];

/// One NDJSON line (with its line break): mostly an event object, and about `faults` in
/// a hundred fields or lines faulty (some only a lenient reader would take).
pub fn json_line<R: Rng>(rng: &mut R, ids: u64, faults: u32) -> Vec<u8> {
    let mut fields = Vec::new();
    for name in NAMES {
        if !chance(rng, faults)
            && let Some(field) = json_field(rng, name, ids, faults)
        {
            fields.push(field);
        }
    }
    let object = format!("{{{}}}", fields.join(", "));
    let kind = if chance(rng, faults) {
        rng.random_range(0..15)
    } else {
        15
    };
    let line: Vec<u8> = match kind {
        0 => Vec::new(),
        1 => b"  \t".to_vec(),
        2 => b"{not json".to_vec(),
        3 => b"[1, 2]".to_vec(),
        4 => format!("{object}{object}").into_bytes(),
        5 => format!("{object} x").into_bytes(),
        6 => format!("\u{feff}{object}").into_bytes(),
        7 => object.replacen(", ", " ", 1).into_bytes(),
        8 => object.replacen('}', ",}", 1).into_bytes(),
        9 => object.replacen("\"e", "\"\te", 1).into_bytes(),
        10 => object
            .replacen("\"value\": ", "\"value\": 0", 1)
            .into_bytes(),
        11 => {
            let mut bytes = object.into_bytes();
            if let Some(at) = bytes.iter().position(|b| *b == b'e') {
                bytes[at] = 0xE9;
            }
            bytes
        }
        12 => format!(
            "{{\"x\": {}1{}, {}",
            "[".repeat(130),
            "]".repeat(130),
            &object[1..]
        )
        .into_bytes(),
        13 => object
            .replacen("\"label\": ", "\"label\": 1, \"label\": ", 1)
            .into_bytes(),
        14 => format!("{object}\u{a0}").into_bytes(),
        _ => object.into_bytes(),
    };
    let mut line = line;
    line.extend_from_slice(if chance(rng, 10) { b"\r\n" } else { b"\n" });
    line
}

/// A CSV cell as text for column `name`, mostly good.
fn csv_cell<R: Rng>(rng: &mut R, name: &str, ids: u64, faults: u32) -> String {
    let fault = chance(rng, faults);
    match name {
        "organization_id" if fault => pick(rng, &["nope", ""]).into(),
        "organization_id" => pick(rng, ORGS).into(),
        "timestamp" => timestamp_text(rng, fault),
        "event_id" => format!("e{}", rng.random_range(0..ids)),
        "value" if !fault => pick(rng, &["", "2.5", " 2.5e3 ", "-0", "17", "0.1"]).into(),
        "value" => pick(rng, &["inf", "NaN", "1e400", "abc", "-1e309"]).into(),
        "properties" | "room_ids" if !fault => {
            pick(rng, &["", "[]", "[\"a\",\"b\"]", " [\"c\"] "]).into()
        }
        "properties" | "room_ids" => pick(
            rng,
            &[
                "",
                "[]",
                "[\"a\",\"b\"]",
                "[\"a\",null]",
                "[1]",
                "x",
                " [\"c\"] ",
            ],
        )
        .into(),
        "category" | "action" | "label" | "visitor_id" | "session_id" if fault => String::new(),
        "category" | "action" | "label" | "visitor_id" | "session_id" => {
            pick(rng, &["goal", "view", "é", "x,y", "two\nlines", " s "]).into()
        }
        _ => pick(
            rng,
            &[
                "a",
                "é",
                "two\nlines",
                "q\"uote",
                "x,y",
                "",
                "\u{1F600}",
                " s ",
            ],
        )
        .into(),
    }
}

fn csv_quote(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// A CSV input: a header of some of the columns (in some order, perhaps with an unknown
/// or repeated one), then records, a few with the wrong number of fields, invalid UTF-8,
/// blank lines, stray quotes and line breaks of either kind.
pub fn csv_text<R: Rng>(rng: &mut R, records: usize, ids: u64, faults: u32) -> Vec<u8> {
    let mut names: Vec<&str> = NAMES.iter().copied().filter(|_| !chance(rng, 5)).collect();
    if chance(rng, 30) {
        names.push("label");
    }
    let crlf = chance(rng, 30);
    let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut out = names.join(",").into_bytes();
    out.extend_from_slice(end);
    for _ in 0..records {
        let cells: Vec<String> = names
            .iter()
            .map(|name| {
                let cell = csv_cell(rng, name, ids, faults);
                let needs = cell.contains([',', '"', '\n', '\r']) || chance(rng, 20);
                if needs { csv_quote(&cell) } else { cell }
            })
            .collect();
        let kind = if chance(rng, faults) {
            rng.random_range(0..4)
        } else {
            4
        };
        let mut line = match kind {
            0 => cells[..cells.len() / 2].join(","),
            1 => cells.join(",") + ",extra",
            2 => String::new(),
            3 => cells.join(",").replacen('a', "a\"b", 1),
            _ => cells.join(","),
        }
        .into_bytes();
        if chance(rng, faults / 3)
            && let Some(at) = line.iter().position(|b| *b == b'a')
        {
            line[at] = 0xE9;
        }
        out.extend_from_slice(&line);
        if !chance(rng, faults) || !crlf {
            out.extend_from_slice(end);
        } else {
            out.push(b'\r');
        }
    }
    // Sometimes the last record has no line break.
    if chance(rng, 50) {
        let trimmed = out.len() - end.len();
        out.truncate(trimmed);
    }
    out
}

/// A Parquet input as another tool writes it: string and list columns with nulls, NaN and
/// infinities, null list elements, timestamps with a zone or without one, in nanoseconds.
pub fn parquet_bytes<R: Rng>(rng: &mut R, rows: usize, ids: u64) -> Vec<u8> {
    let text = |rng: &mut R, choices: &[&str], nulls: u32| -> ArrayRef {
        let values: Vec<Option<String>> = (0..rows)
            .map(|_| (!chance(rng, nulls)).then(|| pick(rng, choices).to_string()))
            .collect();
        Arc::new(StringArray::from(values))
    };
    let instants: Vec<i64> = (0..rows)
        .map(|_| match rng.random_range(0..100) {
            0 => -9_300_000_000_000_000,
            _ => 1_772_323_200_000_000 + rng.random_range(0..3 * 86_400_000_000),
        })
        .collect();
    let timestamp: ArrayRef = match rng.random_range(0..3) {
        0 => Arc::new(TimestampMicrosecondArray::from(instants).with_timezone("UTC")),
        1 => Arc::new(TimestampMicrosecondArray::from(instants)),
        _ => Arc::new(
            TimestampNanosecondArray::from(
                instants
                    .iter()
                    .map(|us| us.saturating_mul(1000))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("+00:00"),
        ),
    };
    let ids: Vec<String> = (0..rows)
        .map(|_| format!("e{}", rng.random_range(0..ids)))
        .collect();
    let values: Vec<Option<f64>> = (0..rows)
        .map(|_| match rng.random_range(0..60) {
            0 => Some(f64::NAN),
            1 => Some(f64::INFINITY),
            2..=10 => None,
            _ => Some(rng.random::<f64>() * 100.0),
        })
        .collect();
    let mut rooms = ListBuilder::new(StringBuilder::new());
    for _ in 0..rows {
        match rng.random_range(0..40) {
            0 => rooms.append(false),
            1 => {
                rooms.values().append_value("r");
                rooms.values().append_null();
                rooms.append(true);
            }
            _ => {
                rooms.values().append_value("r1");
                rooms.append(true);
            }
        }
    }
    let org_choices = [ORGS[0], ORGS[1], "nope"];
    let orgs = 2 + usize::from(chance(rng, 50));
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("organization_id", text(rng, &org_choices[..orgs], 1)),
        ("timestamp", timestamp),
        ("event_id", Arc::new(StringArray::from(ids))),
        ("category", text(rng, &["goal", "widget"], 1)),
        ("action", text(rng, &["view", "trigger"], 0)),
        ("label", text(rng, &["g", "", "é"], 0)),
        ("visitor_id", text(rng, &["v"], 0)),
        ("session_id", text(rng, &["s1", "s2"], 1)),
        ("value", Arc::new(Float64Array::from(values))),
        ("room_ids", Arc::new(rooms.finish())),
        ("page_url", text(rng, &["/a", "/b"], 30)),
        ("unknown", text(rng, &["u"], 10)),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, array)| array).collect(),
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(97))
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.into_inner().unwrap()
}
