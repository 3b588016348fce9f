//! SPEC §8 ingest inputs: what every format refuses alike (null list elements, non-finite
//! numbers, timestamps no query can ask for, text that is not UTF-8), where a refusal says it
//! is (the physical line), compressed inputs, and the checks of the writers' command lines.

mod files;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Array, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use serde_json::{Value, json};

use super::lake_writers::{counts, flowlake};
use super::support::*;

fn ingest(lake: &Path, inputs: &[&Path], extra: &[&str]) -> Output {
    flowlake()
        .args(["ingest", "--lake"])
        .arg(lake)
        .args(inputs)
        .args(extra)
        .output()
        .expect("run flowlake")
}

/// The `message` of the SPEC §5 error on stderr.
fn message(out: &Output) -> String {
    let error: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|_| {
        panic!(
            "SPEC JSON on stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    error["message"].as_str().expect("message").to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rejects file's records.
fn rejects(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a rejects line is JSON"))
        .collect()
}

/// A valid NDJSON event of ORG's 2026-03-01.
fn good(id: &str) -> Value {
    json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00Z", "event_id": id, "category": "goal", "action": "trigger",
        "label": GOAL, "visitor_id": "v", "session_id": "s", "value": 1.5, "room_ids": ["r1"]})
}

fn ndjson(rows: &[Value]) -> String {
    rows.iter().map(|r| r.to_string() + "\n").collect()
}

const CSV_HEADER: &str = "organization_id,timestamp,event_id,category,action,label,visitor_id,session_id,value,room_ids,page_url\n";

/// A CSV line of CSV_HEADER's columns.
fn csv_line(id: &str, timestamp: &str, value: &str, rooms: &str, page_url: &str) -> String {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    [ORG, timestamp, id, "goal", "trigger", GOAL, "v", "s"]
        .iter()
        .map(|c| quote(c))
        .chain([value.to_string(), quote(rooms), quote(page_url)])
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

/// One row of a Parquet test input.
struct ParquetRow {
    id: &'static str,
    timestamp_us: i64,
    value: Option<f64>,
    rooms: Option<Vec<Option<&'static str>>>,
}

fn parquet_row(id: &'static str) -> ParquetRow {
    ParquetRow {
        id,
        timestamp_us: us("2026-03-01T10:00:00Z"),
        value: Some(1.5),
        rooms: Some(vec![Some("r1")]),
    }
}

/// A Parquet file of the required columns plus `value` and `room_ids`, as another tool writes it.
fn write_parquet(path: &Path, rows: &[ParquetRow]) {
    let text = |f: &dyn Fn(&ParquetRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut rooms = ListBuilder::new(StringBuilder::new());
    for row in rows {
        match &row.rooms {
            Some(items) => {
                for item in items {
                    rooms.values().append_option(*item);
                }
                rooms.append(true);
            }
            None => rooms.append(false),
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("organization_id", text(&|_| ORG.to_string())),
        (
            "timestamp",
            Arc::new(
                TimestampMicrosecondArray::from(
                    rows.iter().map(|r| r.timestamp_us).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
        ),
        ("event_id", text(&|r| r.id.to_string())),
        ("category", text(&|_| "goal".into())),
        ("action", text(&|_| "trigger".into())),
        ("label", text(&|_| GOAL.into())),
        ("visitor_id", text(&|_| "v".into())),
        ("session_id", text(&|_| "s".into())),
        (
            "value",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.value).collect::<Vec<_>>(),
            )),
        ),
        ("room_ids", Arc::new(rooms.finish())),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Ingests `input` alone: refused without `--rejects` (the message is returned), and with it
/// the bad rows set aside; returns the message and the rejects' records.
fn refused_then_set_aside(input: &Path, rows: u64, bad: u64) -> (String, Vec<Value>) {
    let lake = TestLake::new();
    let refused = ingest(lake.root(), &[input], &[]);
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{} is refused: {}",
        input.display(),
        stdout(&refused)
    );
    assert!(!lake.root().join("events").exists(), "nothing was written");
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("rejects.ndjson");
    let out = ingest(
        lake.root(),
        &[input],
        &["--rejects", file.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(counts(&out), (rows, rows - bad, 0, bad), "{}", stdout(&out));
    (message(&refused), rejects(&file))
}

#[test]
fn a_null_list_element_is_refused_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut with_null = good("null-room");
    with_null["room_ids"] = json!(["r2", null]);
    let json_input = dir.path().join("rooms.ndjson");
    std::fs::write(&json_input, ndjson(&[good("a"), with_null])).unwrap();
    let csv_input = dir.path().join("rooms.csv");
    std::fs::write(
        &csv_input,
        [
            CSV_HEADER,
            &csv_line("a", "2026-03-01T10:00:00Z", "1", "[\"r1\"]", ""),
            &csv_line(
                "null-room",
                "2026-03-01T10:00:00Z",
                "1",
                "[\"r2\",null]",
                "",
            ),
        ]
        .concat(),
    )
    .unwrap();
    let parquet_input = dir.path().join("rooms.parquet");
    write_parquet(
        &parquet_input,
        &[
            parquet_row("a"),
            ParquetRow {
                rooms: Some(vec![Some("r2"), None]),
                ..parquet_row("null-room")
            },
        ],
    );

    let as_read = json!(["r2", null]);
    for (input, position, record) in [
        (&json_input, "line 2", &as_read),
        (&csv_input, "row 2 (line 3)", &json!("[\"r2\",null]")),
        (&parquet_input, "row 2", &as_read),
    ] {
        let (message, set_aside) = refused_then_set_aside(input, 2, 1);
        assert!(
            message.contains(position) && message.contains("column 'room_ids': element 2 is null"),
            "{message}"
        );
        assert_eq!(
            &set_aside[0]["record"]["room_ids"], record,
            "the record as read: {}",
            set_aside[0]
        );
    }
}

#[test]
fn non_finite_numbers_are_refused_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let csv_input = dir.path().join("values.csv");
    let mut csv = CSV_HEADER.to_string();
    for (i, value) in ["2.5", "1e400", "-infinity", "NaN", "inf", "-1e309"]
        .iter()
        .enumerate()
    {
        csv.push_str(&csv_line(
            &format!("c{i}"),
            "2026-03-01T10:00:00Z",
            value,
            "",
            "",
        ));
    }
    std::fs::write(&csv_input, csv).unwrap();
    let (message, set_aside) = refused_then_set_aside(&csv_input, 6, 5);
    assert!(
        message.contains("row 2 (line 3)")
            && message.contains("column 'value': '1e400' is not a finite number"),
        "{message}"
    );
    assert!(
        set_aside.iter().all(|r| r["reason"]
            .as_str()
            .unwrap()
            .contains("is not a finite number")),
        "{set_aside:#?}"
    );

    // JSON has no NaN or infinity; a number beyond the double range names its column, and
    // one in a field the event schema does not know is ignored like the field.
    let json_input = dir.path().join("values.ndjson");
    let mut huge = good("huge");
    huge["value"] = json!(0);
    let mut unknown = good("unknown-field");
    unknown["weight"] = json!(0);
    let text = ndjson(&[good("a"), huge, unknown])
        .replace("\"value\":0", "\"value\":1e400")
        .replace("\"weight\":0", "\"weight\":-1e400");
    std::fs::write(&json_input, text).unwrap();
    let (message, _) = refused_then_set_aside(&json_input, 3, 1);
    assert!(
        message.contains("line 2")
            && message.contains("column 'value': '1e400' is not a finite number"),
        "{message}"
    );

    let parquet_input = dir.path().join("values.parquet");
    write_parquet(
        &parquet_input,
        &[
            parquet_row("a"),
            ParquetRow {
                value: Some(f64::NAN),
                ..parquet_row("nan")
            },
            ParquetRow {
                value: Some(f64::NEG_INFINITY),
                ..parquet_row("minus-inf")
            },
        ],
    );
    let (message, set_aside) = refused_then_set_aside(&parquet_input, 3, 2);
    assert!(
        message.contains("row 2") && message.contains("column 'value': NaN is not a finite number"),
        "{message}"
    );
    assert!(
        set_aside[1]["reason"]
            .as_str()
            .unwrap()
            .contains("-inf is not a finite number"),
        "{set_aside:#?}"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_refused_with_its_line_and_set_aside_with_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let json_input = dir.path().join("latin1.ndjson");
    let mut bytes = ndjson(&[good("a")]).into_bytes();
    bytes.extend_from_slice(
        ndjson(&[good("caf\u{e9}")])
            .replace('\u{e9}', "\u{1}")
            .as_bytes(),
    );
    let at = bytes.iter().rposition(|b| *b == 1).unwrap();
    bytes[at] = 0xE9; // "café" in Latin-1
    bytes.extend_from_slice(ndjson(&[good("c")]).as_bytes());
    std::fs::write(&json_input, bytes).unwrap();
    let (message, set_aside) = refused_then_set_aside(&json_input, 3, 1);
    assert!(
        message.contains("latin1.ndjson line 2") && message.contains("UTF-8"),
        "{message}"
    );
    assert_eq!(set_aside[0]["position"], "line 2");
    assert!(
        set_aside[0]["record"]
            .as_str()
            .unwrap()
            .contains("caf\u{fffd}"),
        "the line as read, lossily: {}",
        set_aside[0]
    );

    let csv_input = dir.path().join("latin1.csv");
    let mut bytes = [
        CSV_HEADER,
        &csv_line("a", "2026-03-01T10:00:00Z", "1", "", ""),
        &csv_line("b", "2026-03-01T10:00:00Z", "1", "", "/caf\u{1}"),
    ]
    .concat()
    .into_bytes();
    let at = bytes.iter().rposition(|b| *b == 1).unwrap();
    bytes[at] = 0xE9;
    std::fs::write(&csv_input, bytes).unwrap();
    let (message, set_aside) = refused_then_set_aside(&csv_input, 2, 1);
    assert!(
        message.contains("latin1.csv row 2 (line 3)") && message.contains("UTF-8"),
        "{message}"
    );
    assert_eq!(set_aside[0]["record"]["page_url"], "/caf\u{fffd}");
}

#[test]
fn csv_positions_are_the_physical_line_where_the_record_starts() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("multiline.csv");
    // Row 1 spans lines 2 to 4; row 2 (line 5) has no offset; row 3 (line 6) lacks fields.
    let rows = [
        CSV_HEADER.to_string(),
        csv_line("a", "2026-03-01T10:00:00Z", "1", "", "/one\ntwo\nthree"),
        csv_line("naive", "2026-03-01T10:00:00", "1", "", ""),
        format!("\"{ORG}\",2026-03-01T10:00:00Z,short\n"),
        csv_line("b", "2026-03-01T10:00:00Z", "1", "", "/x"),
    ];
    std::fs::write(&input, rows.concat()).unwrap();
    let (message, set_aside) = refused_then_set_aside(&input, 4, 2);
    assert!(
        message.contains("row 2 (line 5)") && message.contains("'timestamp'"),
        "{message}"
    );
    assert_eq!(set_aside[1]["position"], "row 3 (line 6)", "{set_aside:#?}");
    assert!(
        set_aside[1]["reason"]
            .as_str()
            .unwrap()
            .contains("3 fields"),
        "{set_aside:#?}"
    );
}

#[test]
fn timestamps_outside_the_range_a_query_can_ask_for_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let at = |id: &str, timestamp: &str| {
        let mut row = good(id);
        row["timestamp"] = json!(timestamp);
        row
    };
    let input = dir.path().join("edges.ndjson");
    let rows = [
        at("first", "1678-01-01T00:00:00Z"),
        at("year-1", "0001-01-01T00:00:00Z"),
        at("before", "1677-12-31T23:59:59.999999Z"),
        at("last", "2261-12-31T23:59:59.999999Z"),
        at("after", "2262-01-01T00:00:00Z"),
        at("year-9999", "9999-12-31T23:59:59Z"),
    ];
    std::fs::write(&input, ndjson(&rows)).unwrap();
    let lake = TestLake::new();
    let refused = ingest(lake.root(), &[&input], &[]);
    assert_eq!(refused.status.code(), Some(3));
    let text = message(&refused);
    assert!(
        text.contains("line 2")
            && text.contains("'timestamp'")
            && text.contains("1678-01-01")
            && text.contains("2261-12-31"),
        "{text}"
    );

    let rejects_file = dir.path().join("rejects.ndjson");
    let out = ingest(
        lake.root(),
        &[&input],
        &["--rejects", rejects_file.to_str().unwrap()],
    );
    assert_eq!(counts(&out), (6, 2, 0, 4), "{}", stdout(&out));
    let set_aside: Vec<String> = rejects(&rejects_file)
        .iter()
        .map(|r| r["record"]["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(set_aside, ["year-1", "before", "after", "year-9999"]);

    // Queries reach the first and the last day, and name the same range beyond them.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let total = |start: &str, end: &str| {
        runtime.block_on(run(
            lake.root(),
            ORG,
            WF_INTERACTION,
            &payload(start, end, json!({"target": "affected_goal_total"})),
        ))
    };
    assert_eq!(total("1678-01-01", "1678-01-01").ids(), ["first"]);
    assert_eq!(total("2261-12-31", "2261-12-31").ids(), ["last"]);
    for (start, end) in [("1677-12-31", "1678-01-01"), ("2261-12-31", "2262-01-01")] {
        let beyond = total(start, end);
        assert_eq!(beyond.status(), 400);
        assert!(
            beyond.message().contains("1678-01-01") && beyond.message().contains("2261-12-31"),
            "{}",
            beyond.message()
        );
    }

    let parquet_input = dir.path().join("edges.parquet");
    write_parquet(
        &parquet_input,
        &[
            parquet_row("a"),
            ParquetRow {
                timestamp_us: us("9999-12-31T00:00:00Z"),
                ..parquet_row("year-9999")
            },
        ],
    );
    let (message, _) = refused_then_set_aside(&parquet_input, 2, 1);
    assert!(
        message.contains("row 2") && message.contains("2261-12-31"),
        "{message}"
    );
}

/// The names in a folder, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
