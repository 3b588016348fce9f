//! Organizations apart, filters, order and limits, error statuses and their order, id case.

use super::*;

#[tokio::test]
async fn other_organizations_never_leak_even_with_the_same_session_ids() {
    let lake = TestLake::new();
    lake.write_events(
        OTHER_ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "theirs-v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "theirs-g", "s1"),
        ],
    );
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[goal("2026-03-01T10:30:00Z", "ours", "s1")],
    );
    assert!(ids(&lake, WF_INTERACTION, json!({})).await.is_empty());
    let total = run(
        lake.root(),
        ORG,
        WF_INTERACTION,
        &payload(
            WHOLE_DAY.0,
            WHOLE_DAY.1,
            json!({"target": "affected_goal_total"}),
        ),
    )
    .await
    .ids();
    assert_eq!(total, ["ours"]);
}

#[tokio::test]
async fn filters_are_anded_and_their_values_ored() {
    let lake = TestLake::new();
    let g = |id: &str, country: &str, rooms: &[&str], props: &[&str]| Event {
        geo_country: Some(country.into()),
        room_ids: Some(rooms.iter().map(|s| s.to_string()).collect()),
        properties: Some(props.iter().map(|s| s.to_string()).collect()),
        ..goal("2026-03-01T10:00:00Z", id, "s1")
    };
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            g("fi", "FI", &["r1"], &["a=1", "b=2"]),
            g("de", "DE", &["r2", "r3"], &["a=1"]),
            g("us", "US", &[], &[]),
        ],
    );
    let f = |filters: serde_json::Value| json!({"filters": filters});
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            f(json!([{"property": "geo_country", "values": ["FI", "DE"]}]))
        )
        .await,
        ["de", "fi"]
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            f(json!([{"property": "room_ids", "values": ["r3", "r9"]}]))
        )
        .await,
        ["de"]
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            f(json!([{"property": "properties", "values": ["a=1", "b=2"]}]))
        )
        .await,
        ["fi"]
    );
    assert_eq!(ids(&lake, WF_INTERACTION, f(json!([{"property": "properties", "values": ["a=1"]}, {"property": "geo_country", "values": ["DE"]}]))).await, ["de"]);
    assert!(
        ids(
            &lake,
            WF_INTERACTION,
            f(json!([{"property": "user_id", "values": ["u"]}]))
        )
        .await
        .is_empty()
    );
}

/// Basic answers do not show event ids but are ordered by them within a time: a limit
/// that cuts between two goals of the same instant keeps the one with the smaller id, and
/// so does a web workflow's first-days answer.
#[tokio::test]
async fn a_basic_limit_cutting_a_tie_in_time_keeps_the_smaller_event_id() {
    let lake = TestLake::new();
    // Written with the larger id first, each goal in its own session.
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
            view("2026-03-01T09:00:01Z", "v2", "s2", "A"),
            goal("2026-03-01T10:00:00Z", "b", "s1"),
            goal("2026-03-01T10:00:00Z", "a", "s2"),
            goal("2026-03-01T11:00:00Z", "c", "s1"),
        ],
    );
    async fn sessions(lake: &TestLake, extra: serde_json::Value) -> Vec<String> {
        let answer = run(
            lake.root(),
            ORG,
            WF_INTERACTION,
            &payload(WHOLE_DAY.0, WHOLE_DAY.1, extra),
        )
        .await
        .json();
        answer["data"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["session_id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
    assert_eq!(
        sessions(&lake, json!({"basic": true, "limit": 1})).await,
        ["s2"]
    );
    assert_eq!(
        sessions(&lake, json!({"basic": true, "limit": 2})).await,
        ["s2", "s1"]
    );
    assert_eq!(
        sessions(
            &lake,
            json!({"basic": true, "limit": 3, "target": "affected_goal_total"})
        )
        .await,
        ["s2", "s1", "s1"]
    );
    assert_eq!(
        sessions(
            &lake,
            json!({"basic": true, "limit": 1, "target": "affected_goal_total"})
        )
        .await,
        ["s2"]
    );
}

#[tokio::test]
async fn order_is_timestamp_then_event_id_and_limit_keeps_the_first() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "b.parquet",
        &[
            goal("2026-03-01T10:00:00Z", "b", "s1"),
            goal("2026-03-01T09:30:00Z", "z", "s1"),
        ],
    );
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "a", "s1"),
        ],
    );
    assert_eq!(ids(&lake, WF_INTERACTION, json!({})).await, ["z", "a", "b"]);
    assert_eq!(
        ids(&lake, WF_INTERACTION, json!({"limit": 2})).await,
        ["z", "a"]
    );
}

#[tokio::test]
async fn unknown_workflow_and_other_orgs_workflow_are_404() {
    let lake = TestLake::new();
    let p = payload(WHOLE_DAY.0, WHOLE_DAY.1, json!({}));
    assert_eq!(
        run(lake.root(), ORG, "9f000000-0000-4000-8000-000000000009", &p)
            .await
            .status(),
        404
    );
    assert_eq!(run(lake.root(), ORG, WF_OTHER_ORG, &p).await.status(), 404);
    // URL attributes in upper case name the same workflow.
    assert_eq!(
        run(
            lake.root(),
            &ORG.to_uppercase(),
            &WF_INTERACTION.to_uppercase(),
            &p
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn chat_and_voice_video_are_406() {
    let lake = TestLake::new();
    let outcome = run(
        lake.root(),
        ORG,
        WF_CHAT,
        &payload(WHOLE_DAY.0, WHOLE_DAY.1, json!({})),
    )
    .await;
    assert_eq!(outcome.status(), 406);
    assert!(outcome.message().contains("chat"), "{}", outcome.message());
}

#[tokio::test]
async fn error_order_is_400_then_406_filter_then_404_then_406_type() {
    let lake = TestLake::new();
    let bad_filter = json!({"filters": [{"property": "colour", "values": ["red"]}], "interval": {"start": WHOLE_DAY.0, "end": WHOLE_DAY.1}}).to_string();
    // Unsupported filter on an unknown workflow: the filter (406) is reported first.
    let outcome = run(
        lake.root(),
        ORG,
        "9f000000-0000-4000-8000-000000000009",
        &bad_filter,
    )
    .await;
    assert_eq!(outcome.status(), 406);
    assert!(outcome.message().contains("colour"));
    // Unknown workflow with a malformed payload: 400 first.
    assert_eq!(
        run(
            lake.root(),
            ORG,
            "9f000000-0000-4000-8000-000000000009",
            "{"
        )
        .await
        .status(),
        400
    );
    // Lake without catalog but a bad payload: 400 before the 500.
    std::fs::remove_file(lake.root().join("workflows.json")).unwrap();
    assert_eq!(run(lake.root(), ORG, WF_CHAT, "{").await.status(), 400);
}

#[tokio::test]
async fn ids_spelled_in_upper_case_match_in_catalog_and_events() {
    let lake = TestLake::new();
    let upper = |id: &str| id.to_ascii_uppercase();
    let workflows = json!([
        {"id": upper(WF_INTERACTION), "organization_id": upper(ORG), "type": "interaction", "name": "Campaign", "interaction_ids": [upper(INTERACTION)]},
        {"id": upper(WF_USER), "organization_id": upper(ORG), "type": "user_generated", "name": "Support"},
    ]);
    let goals = json!([{"id": upper(GOAL), "organization_id": upper(ORG), "name": "Signup"}]);
    lake.write_file("workflows.json", workflows.to_string().as_bytes());
    lake.write_file("goals.json", goals.to_string().as_bytes());
    let shout = |e: Event| Event {
        label: upper(&e.label),
        ..e
    };
    let step = Event {
        dims: [None, None, None, None, Some("1".into())],
        ..event(
            "2026-03-01T08:00:00Z",
            "u1",
            "s2",
            "workflowReportingEvent",
            "step",
            &upper(WF_USER),
        )
    };
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            shout(view("2026-03-01T10:00:00Z", "v1", "s1", "A")),
            shout(goal("2026-03-01T11:00:00Z", "g1", "s1")),
            step,
            shout(goal("2026-03-01T09:00:00Z", "g2", "s2")),
        ],
    );
    let basic = run(
        lake.root(),
        ORG,
        WF_INTERACTION,
        &payload(
            WHOLE_DAY.0,
            WHOLE_DAY.1,
            json!({"basic": true, "target": "affected_goal_total"}),
        ),
    )
    .await
    .json();
    let rows: Vec<_> = basic["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["goal_name"].clone(), r["workflow_related"].clone()))
        .collect();
    assert_eq!(
        rows,
        [
            (json!("Signup"), json!(false)),
            (json!("Signup"), json!(true))
        ],
        "{basic}"
    );
    assert_eq!(ids(&lake, WF_USER, json!({})).await, ["g2"]);
}

#[tokio::test]
async fn the_largest_limit_answers_every_row() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T10:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T11:00:00Z", "g1", "s1"),
            goal("2026-03-01T12:00:00Z", "g2", "s1"),
        ],
    );
    let max = json!(i64::MAX);
    assert_eq!(
        ids(&lake, WF_INTERACTION, json!({"limit": max})).await,
        ["g1", "g2"]
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            json!({"limit": max, "target": "affected_goal_total"})
        )
        .await,
        ["g1", "g2"]
    );
    assert_eq!(ids(&lake, WF_INTERACTION, json!({"limit": max, "basic": true, "filters": [{"property": "label", "values": [GOAL]}]})).await.len(), 2);
}
