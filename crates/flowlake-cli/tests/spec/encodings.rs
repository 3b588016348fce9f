//! SPEC §4's other encodings: CSV and Arrow IPC, read back with arrow's own readers, carry
//! the same rows and types as the JSON envelope.

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::ipc::reader::StreamReader;
use flowlake::output::{Encoder, Format, encoder};
use flowlake::{Engine, Query};
use serde_json::{Value, json};

use super::support::*;

/// The sample lake's organization and its interaction workflow (see README).
const SAMPLE_ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
const SAMPLE_WORKFLOW: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";

fn sample_lake() -> std::path::PathBuf {
    crate::support::repo().join("data")
}

/// Payloads covering both shapes, lists, booleans, nulls and an empty answer.
fn payloads() -> Vec<String> {
    vec![
        payload(
            "2026-03-01",
            "2026-03-03",
            json!({"target": "affected_goal_total"}),
        ),
        payload(
            "2026-03-01",
            "2026-03-14",
            json!({"basic": true, "limit": 300}),
        ),
        payload(
            "2026-03-02",
            "2026-03-02",
            json!({"basic": true, "target": "affected_goal_total"}),
        ),
        payload("2026-02-01", "2026-02-02", json!({})),
    ]
}

async fn encoded(engine: &Engine, payload: &str, format: Format) -> Vec<u8> {
    run_bytes(
        engine,
        &sample_lake(),
        SAMPLE_ORG,
        SAMPLE_WORKFLOW,
        payload,
        format,
    )
    .await
    .expect("query runs")
}

fn json_rows(bytes: &[u8]) -> (Vec<Value>, Vec<Value>) {
    let body: Value = serde_json::from_slice(bytes).expect("JSON envelope");
    (
        body["fields"].as_array().expect("fields").clone(),
        body["data"].as_array().expect("data").clone(),
    )
}

#[tokio::test]
async fn csv_read_back_with_arrow_equals_the_json_rows() {
    let engine = Engine::new(&Default::default()).unwrap();
    let mut nonempty = 0;
    for payload in payloads() {
        let (fields, rows) = json_rows(&encoded(&engine, &payload, Format::Json).await);
        let csv = encoded(&engine, &payload, Format::Csv).await;
        let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
        let header = csv.split(|&b| b == b'\n').next().unwrap();
        assert_eq!(
            std::str::from_utf8(header).unwrap(),
            names.join(","),
            "header = field names"
        );

        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let reader = ReaderBuilder::new(schema)
            .with_header(true)
            .build(Cursor::new(csv))
            .expect("CSV reader");
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("valid CSV");
        let mut row = 0;
        for batch in &batches {
            for i in 0..batch.num_rows() {
                for (c, name) in names.iter().enumerate() {
                    let column = batch.column(c).as_string::<i32>();
                    let cell = (!column.is_null(i)).then(|| column.value(i));
                    assert_cell(&rows[row][*name], cell, name);
                }
                row += 1;
            }
        }
        assert_eq!(row, rows.len(), "{payload}");
        nonempty += usize::from(row > 0);
    }
    assert!(nonempty >= 3, "the payloads must return rows");
}

/// A CSV cell against the JSON value of the same row and field.
fn assert_cell(expected: &Value, cell: Option<&str>, name: &str) {
    match (expected, cell) {
        (Value::Null, None) => {}
        (Value::String(s), Some(cell)) => assert_eq!(s, cell, "{name}"),
        (Value::Number(n), Some(cell)) => {
            assert_eq!(n.as_f64(), cell.parse::<f64>().ok(), "{name}")
        }
        (Value::Bool(b), Some(cell)) => assert_eq!(b.to_string(), cell, "{name}"),
        (Value::Array(_), Some(cell)) => assert_eq!(
            expected,
            &serde_json::from_str::<Value>(cell).unwrap(),
            "{name}"
        ),
        // An empty list and an empty string both read back as a null cell only if written empty.
        (expected, cell) => panic!("{name}: JSON {expected} but CSV {cell:?}"),
    }
}

#[tokio::test]
async fn arrow_ipc_read_back_has_the_spec_types_and_the_json_rows() {
    let engine = Engine::new(&Default::default()).unwrap();
    for payload in payloads() {
        let json = encoded(&engine, &payload, Format::Json).await;
        let (fields, _) = json_rows(&json);
        let ipc = encoded(&engine, &payload, Format::Arrow).await;
        let reader = StreamReader::try_new(Cursor::new(ipc), None).expect("IPC stream");
        let schema = reader.schema();
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().expect("valid stream");

        let basic = payload.contains("\"basic\":true");
        let unit = if basic {
            TimeUnit::Millisecond
        } else {
            TimeUnit::Microsecond
        };
        for (field, spec) in schema.fields().iter().zip(&fields) {
            assert_eq!(field.name(), spec["name"].as_str().unwrap());
            assert_eq!(
                Some(field.is_nullable()),
                spec["nullable"].as_bool(),
                "{} nullability",
                field.name()
            );
            let expected = match spec["type"].as_str().unwrap() {
                "timestamp" => {
                    matches!(field.data_type(), DataType::Timestamp(u, Some(tz)) if *u == unit && tz.as_ref() == "UTC")
                }
                "string" => matches!(
                    field.data_type(),
                    DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
                ),
                "number" => field.data_type() == &DataType::Float64,
                "boolean" => field.data_type() == &DataType::Boolean,
                "date" => field.data_type() == &DataType::Date32,
                "array<string>" => matches!(field.data_type(), DataType::List(_)),
                other => panic!("unknown field type {other}"),
            };
            assert!(
                expected,
                "{} is {:?}, SPEC says {}",
                field.name(),
                field.data_type(),
                spec["type"]
            );
        }
        assert_eq!(schema.fields().len(), fields.len());

        // Re-encoded as the envelope, the batches read back give the very same bytes.
        let shape = flowlake::plan::shape_of(
            &Query::from_request(SAMPLE_ORG, SAMPLE_WORKFLOW, payload.as_bytes()).unwrap(),
        );
        let mut again: Box<dyn Encoder> = encoder(Format::Json, shape, &schema).unwrap();
        let mut bytes = again.begin().unwrap();
        for batch in &batches {
            bytes.extend(again.batch(batch).unwrap());
        }
        bytes.extend(again.end().unwrap());
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            String::from_utf8(json).unwrap(),
            "{payload}"
        );
    }
}

/// The answer to `payload` over `lake` in every encoding, read back as (JSON rows, CSV
/// cells of the first row, Arrow batches).
async fn every_encoding(
    lake: &TestLake,
    payload: &str,
) -> (Vec<Value>, Vec<Option<String>>, Vec<RecordBatch>) {
    let engine = Engine::new(&Default::default()).unwrap();
    let bytes = |format| {
        let engine = &engine;
        async move {
            run_bytes(engine, lake.root(), ORG, WF_INTERACTION, payload, format)
                .await
                .expect("query runs")
        }
    };
    let (fields, rows) = json_rows(&bytes(Format::Json).await);
    let ndjson: Vec<Value> = String::from_utf8(bytes(Format::Ndjson).await)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ndjson, rows, "NDJSON rows are the JSON rows");
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let csv: Vec<RecordBatch> = ReaderBuilder::new(schema)
        .with_header(true)
        .build(Cursor::new(bytes(Format::Csv).await))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let first = (0..names.len())
        .map(|c| {
            let column = csv[0].column(c).as_string::<i32>();
            (!column.is_null(0)).then(|| column.value(0).to_string())
        })
        .collect();
    let arrow = StreamReader::try_new(Cursor::new(bytes(Format::Arrow).await), None)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (rows, first, arrow)
}

#[tokio::test]
async fn nan_microseconds_and_nullability_agree_in_every_encoding() {
    use datafusion::arrow::datatypes::{TimestampMicrosecondType, TimestampMillisecondType};
    let lake = TestLake::new();
    let nan_goal = flowlake::generate::Event {
        value: Some(f64::NAN),
        ..goal("2026-03-01T11:00:00.123456Z", "g-nan", "s1")
    };
    lake.write_events(
        ORG,
        "2026-03-01",
        "a.parquet",
        &[view("2026-03-01T10:00:00Z", "v1", "s1", "A"), nan_goal],
    );
    let window = ("2026-03-01T00:00:00Z", "2026-03-01T23:59:59Z");

    let (rows, csv, arrow) =
        every_encoding(&lake, &payload(window.0, window.1, json!({"basic": true}))).await;
    assert_eq!(rows[0]["time"], "2026-03-01T11:00:00.123Z");
    assert_eq!(rows[0]["goal_value"], Value::Null, "NaN is null in JSON");
    assert_eq!(csv[0].as_deref(), Some("2026-03-01T11:00:00.123Z"));
    assert_eq!(csv[3], None, "NaN is an empty cell in CSV");
    let batch = &arrow[0];
    let time = batch.column(0).as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        time.value(0),
        us("2026-03-01T11:00:00.123Z") / 1000,
        "basic Arrow time holds the milliseconds JSON shows"
    );
    assert!(batch.column(3).is_null(0), "NaN is null in Arrow");
    assert!(!batch.schema().field(0).is_nullable() && !batch.schema().field(1).is_nullable());

    let (rows, csv, arrow) = every_encoding(&lake, &payload(window.0, window.1, json!({}))).await;
    assert_eq!(rows[0]["timestamp"], "2026-03-01T11:00:00.123456Z");
    assert_eq!(rows[0]["value"], Value::Null);
    let value_at = arrow[0].schema().index_of("value").unwrap();
    assert_eq!(csv[value_at], None);
    assert!(arrow[0].column(value_at).is_null(0));
    assert_eq!(
        arrow[0]
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        us("2026-03-01T11:00:00.123456Z")
    );
}
