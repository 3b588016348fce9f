//! SPEC §1: the lake layout and what files may and may not do.

use flowlake::generate::Event;

use super::support::*;

const DAY: &str = "2026-03-01";

fn interval_payload() -> String {
    payload(
        "2026-03-01T00:00:00Z",
        "2026-03-01T23:59:59.999999Z",
        serde_json::json!({"target": "affected_goal_total"}),
    )
}

#[tokio::test]
async fn a_file_lacking_nullable_columns_reads_them_as_null() {
    let lake = TestLake::new();
    let events = vec![Event {
        vendor: Some("v".into()),
        ..goal("2026-03-01T10:00:00Z", "g1", "s1")
    }];
    lake.write_events_with_columns(
        ORG,
        DAY,
        "slim.parquet",
        &events,
        &[
            "timestamp",
            "event_id",
            "category",
            "action",
            "label",
            "visitor_id",
            "session_id",
        ],
    );
    let json = run(lake.root(), ORG, WF_INTERACTION, &interval_payload())
        .await
        .json();
    let row = &json["data"][0];
    assert_eq!(row["event_id"], "g1");
    assert!(row["vendor"].is_null() && row["value"].is_null() && row["properties"].is_null());
}

#[tokio::test]
async fn unknown_extra_columns_are_ignored() {
    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let lake = TestLake::new();
    let batch =
        flowlake::format::event::to_record_batch(&[goal("2026-03-01T10:00:00Z", "g1", "s1")])
            .unwrap();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("shoe_size", DataType::Int32, true));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(Int32Array::from(vec![44])));
    let wider = datafusion::arrow::record_batch::RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )
    .unwrap();
    let bytes = flowlake::write::layout::to_parquet(&wider, Default::default()).unwrap();
    lake.write_file(&TestLake::day_file(ORG, DAY, "wide.parquet"), &bytes);
    let json = run(lake.root(), ORG, WF_INTERACTION, &interval_payload())
        .await
        .json();
    assert_eq!(json["data"].as_array().unwrap().len(), 1);
    assert!(json["data"][0].get("shoe_size").is_none());
}

#[tokio::test]
async fn conflicting_schema_is_500_naming_the_file_and_column() {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "good.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    let batch =
        flowlake::format::event::to_record_batch(&[goal("2026-03-01T11:00:00Z", "g2", "s1")])
            .unwrap();
    let schema = batch.schema();
    let value_at = schema.index_of("value").unwrap();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == value_at {
                Field::new("value", DataType::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[value_at] = Arc::new(StringArray::from(vec![Some("9.5")]));
    let bad = datafusion::arrow::record_batch::RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )
    .unwrap();
    lake.write_file(
        &TestLake::day_file(ORG, DAY, "bad.parquet"),
        &flowlake::write::layout::to_parquet(&bad, Default::default()).unwrap(),
    );
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_eq!(outcome.status(), 500);
    let message = outcome.message();
    assert!(
        message.contains("bad.parquet") && message.contains("'value'"),
        "{message}"
    );
}

#[tokio::test]
async fn a_file_lacking_a_required_column_is_500_naming_it() {
    let lake = TestLake::new();
    lake.write_events_with_columns(
        ORG,
        DAY,
        "nosession.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
        &[
            "timestamp",
            "event_id",
            "category",
            "action",
            "label",
            "visitor_id",
        ],
    );
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_eq!(outcome.status(), 500);
    assert!(
        outcome.message().contains("nosession.parquet") && outcome.message().contains("session_id"),
        "{}",
        outcome.message()
    );
}

#[tokio::test]
async fn corrupt_bytes_are_500_naming_the_file() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "good.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    lake.write_file(
        &TestLake::day_file(ORG, DAY, "broken.parquet"),
        b"PAR1 this is not parquet at all PAR1",
    );
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_500_naming(&outcome, "broken.parquet");
}

#[tokio::test]
async fn a_corrupt_data_page_behind_a_sound_footer_is_500_naming_the_file() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "good.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    let goals: Vec<Event> = (0..50)
        .map(|i| {
            goal(
                &format!("2026-03-01T11:{:02}:00Z", i % 60),
                &format!("goal-event-{i:03}"),
                "s2",
            )
        })
        .collect();
    let path = lake.write_file(
        &TestLake::day_file(ORG, DAY, "page.parquet"),
        &parquet_with_a_corrupt_data_page(&goals, "event_id"),
    );
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_500_naming(&outcome, &path.display().to_string());
    let message = outcome.message();
    assert_eq!(
        message.matches("page.parquet").count(),
        1,
        "named once: {message}"
    );
    assert!(
        !message.contains("Parquet error: Parquet error") && !message.contains("External: "),
        "no layer prefixes: {message}"
    );
}

#[tokio::test]
async fn a_truncated_file_is_500_naming_it() {
    let lake = TestLake::new();
    let path = lake.write_events(
        ORG,
        DAY,
        "cut.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_500_naming(&outcome, "cut.parquet");
}

#[tokio::test]
async fn a_lake_without_workflows_json_is_500_naming_it() {
    let lake = TestLake::new();
    std::fs::remove_file(lake.root().join("workflows.json")).unwrap();
    let outcome = run(lake.root(), ORG, WF_INTERACTION, &interval_payload()).await;
    assert_500_naming(&outcome, "workflows.json");
}

#[tokio::test]
async fn goals_json_is_optional() {
    let lake = TestLake::new();
    std::fs::remove_file(lake.root().join("goals.json")).unwrap();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    let json = run(
        lake.root(),
        ORG,
        WF_INTERACTION,
        &payload(
            "2026-03-01",
            "2026-03-01",
            serde_json::json!({"basic": true}),
        ),
    )
    .await
    .json();
    assert!(json["data"][0]["goal_name"].is_null());
}

#[tokio::test]
async fn days_without_folders_hold_no_events() {
    let lake = TestLake::new();
    let json = run(
        lake.root(),
        ORG,
        WF_INTERACTION,
        &payload("2020-01-01", "2020-01-31", serde_json::json!({})),
    )
    .await
    .json();
    assert_eq!(json["data"], serde_json::json!([]));
    assert_eq!(json["fields"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn hidden_and_non_parquet_files_are_skipped() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    lake.write_file(&TestLake::day_file(ORG, DAY, "_SUCCESS"), b"");
    lake.write_file(
        &TestLake::day_file(ORG, DAY, ".inflight.parquet"),
        b"garbage",
    );
    lake.write_file(&TestLake::day_file(ORG, DAY, "notes.txt"), b"garbage");
    assert_eq!(
        run(lake.root(), ORG, WF_INTERACTION, &interval_payload())
            .await
            .ids(),
        ["g1"]
    );
}

#[tokio::test]
async fn only_the_interval_days_are_read() {
    // A corrupt file outside the interval is never opened.
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    lake.write_file(
        &TestLake::day_file(ORG, "2026-03-02", "broken.parquet"),
        b"garbage",
    );
    lake.write_file(
        &TestLake::day_file(OTHER_ORG, DAY, "broken.parquet"),
        b"garbage",
    );
    assert_eq!(
        run(lake.root(), ORG, WF_INTERACTION, &interval_payload())
            .await
            .ids(),
        ["g1"]
    );
}

#[tokio::test]
async fn a_centuries_long_interval_reads_the_day_folders_that_exist_and_only_those() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "a.parquet",
        &[goal("2026-03-01T10:00:00Z", "g1", "s1")],
    );
    lake.write_events(
        ORG,
        "2031-07-15",
        "a.parquet",
        &[goal("2031-07-15T10:00:00Z", "g2", "s2")],
    );
    // Outside the interval, and folders that are not days: never opened.
    lake.write_file(
        &TestLake::day_file(ORG, "2300-01-01", "broken.parquet"),
        b"garbage",
    );
    lake.write_file(
        &format!("events/organization_id={ORG}/_temporary/broken.parquet"),
        b"garbage",
    );
    lake.write_file(
        &format!("events/organization_id={ORG}/date=someday/broken.parquet"),
        b"garbage",
    );
    let centuries = payload(
        "1678-01-01",
        "2261-12-31",
        serde_json::json!({"target": "affected_goal_total"}),
    );
    assert_eq!(
        run(lake.root(), ORG, WF_INTERACTION, &centuries)
            .await
            .ids(),
        ["g1", "g2"]
    );
    let json = run(lake.root(), OTHER_ORG, WF_OTHER_ORG, &centuries)
        .await
        .json();
    assert_eq!(
        json["data"],
        serde_json::json!([]),
        "an organization without a folder has no events"
    );
}

/// The outcome is a 500 whose message names `what`.
fn assert_500_naming(outcome: &Outcome, what: &str) {
    assert_eq!(outcome.status(), 500);
    assert!(outcome.message().contains(what), "{}", outcome.message());
}
