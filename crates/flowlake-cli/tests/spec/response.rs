//! SPEC §4: the response body, byte for byte where it matters; and §7's EXPLAIN evidence.

use flowlake::generate::Event;
use flowlake::output::Format;
use flowlake::{Engine, EngineConfig, LakeLocation, Query};
use serde_json::json;

use super::support::*;

fn lake_with_one_affected_goal() -> TestLake {
    let lake = TestLake::new();
    let g = Event {
        properties: Some(vec!["plan=pro".into()]),
        geo_city: Some("Zürich".into()),
        ..goal("2026-03-02T10:15:00.123456Z", "g1", "s1")
    };
    lake.write_events(
        ORG,
        "2026-03-02",
        "a.parquet",
        &[view("2026-03-02T10:00:00Z", "v", "s1", "A"), g],
    );
    lake
}

async fn text(lake: &TestLake, extra: serde_json::Value, format: Format) -> String {
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    let p = payload("2026-03-02", "2026-03-02", extra);
    String::from_utf8(
        run_bytes(&engine, lake.root(), ORG, WF_INTERACTION, &p, format)
            .await
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn advanced_rows_have_every_column_in_order_with_microseconds() {
    let lake = lake_with_one_affected_goal();
    let body = text(&lake, json!({}), Format::Json).await;
    let row_start = body.find("\"data\":[{").expect("a row") + 8;
    let row = &body[row_start..];
    assert!(row.starts_with(r#"{"timestamp":"2026-03-02T10:15:00.123456Z","event_id":"g1","vendor":null,"source":null,"category":"goal""#), "{row}");
    assert!(
        row.contains(r#""properties":["plan=pro"],"room_ids":null"#),
        "{row}"
    );
    assert!(row.contains(r#""geo_city":"Zürich","ip_organization":null,"organization_id":"0a000000-0000-4000-8000-000000000001","date":"2026-03-02"}"#), "{row}");
    assert!(row.contains(r#""value":9.5"#), "{row}");
}

#[tokio::test]
async fn basic_rows_use_milliseconds_and_goal_names() {
    let lake = lake_with_one_affected_goal();
    let body = text(
        &lake,
        json!({"basic": true, "target": "affected_goal_total"}),
        Format::Json,
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["data"][0],
        json!({"time": "2026-03-02T10:15:00.123Z", "goal_id": GOAL, "goal_name": "Signup", "goal_value": 9.5,
               "visitor_id": "visitor-of-s1", "session_id": "s1", "country": null, "city": "Zürich",
               "device": null, "browser": null, "workflow_related": true})
    );
    let order: Vec<_> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "time",
            "goal_id",
            "goal_name",
            "goal_value",
            "visitor_id",
            "session_id",
            "country",
            "city",
            "device",
            "browser",
            "workflow_related"
        ]
    );
    assert!(body.find("\"time\"").unwrap() < body.find("\"goal_id\":\"3a").unwrap());
}

#[tokio::test]
async fn an_empty_answer_is_200_with_empty_data() {
    let lake = TestLake::new();
    let body = text(&lake, json!({}), Format::Json).await;
    assert!(body.ends_with(",\"data\":[]}\n"), "{body}");
}

#[tokio::test]
async fn ndjson_has_one_row_object_per_line() {
    let lake = lake_with_one_affected_goal();
    let body = text(&lake, json!({"basic": true}), Format::Ndjson).await;
    let lines: Vec<_> = body.lines().collect();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with(r#"{"time":"2026-03-02T10:15:00.123Z""#),
        "{body}"
    );
}

#[tokio::test]
async fn explain_shows_filters_and_time_window_at_the_parquet_scan() {
    let lake = lake_with_one_affected_goal();
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    let opened = engine
        .open_lake(LakeLocation::Local(lake.root().to_path_buf()))
        .await
        .unwrap();
    let p = json!({"filters": [{"property": "label", "values": [GOAL]}], "interval": {"start": "2026-03-02", "end": "2026-03-02"}}).to_string();
    let query = Query::from_request(ORG, WF_INTERACTION, p.as_bytes()).unwrap();
    let plan = engine.explain(&opened, &query, false).await.unwrap();
    let goal_scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec") && l.contains("category@4 = goal"))
        .expect("goal scan");
    assert!(
        goal_scan.contains(&format!("label@6 = {GOAL}")),
        "{goal_scan}"
    );
    assert!(
        goal_scan.contains("timestamp@0 >= ") && goal_scan.contains("timestamp@0 <= "),
        "{goal_scan}"
    );
    assert!(
        goal_scan.contains("pruning_predicate=")
            && goal_scan.contains("required_guarantees=[action in (trigger), category in (goal)"),
        "{goal_scan}"
    );
    assert!(
        goal_scan.contains("date=2026-03-02/a.parquet"),
        "{goal_scan}"
    );
    // The same payload gives the same plan text.
    assert_eq!(plan, engine.explain(&opened, &query, false).await.unwrap());
    let analyzed = engine.explain(&opened, &query, true).await.unwrap();
    assert!(
        analyzed.contains("row_groups_pruned_statistics") && analyzed.contains("(1 rows)"),
        "{analyzed}"
    );
}
