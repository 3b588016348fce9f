//! SPEC §3: what the query means, one rule per test on hand-built lakes.

use flowlake::generate::Event;
use serde_json::json;

use super::support::*;

const DAY: &str = "2026-03-01";
const WHOLE_DAY: (&str, &str) = ("2026-03-01T00:00:00Z", "2026-03-01T23:59:59.999999Z");

async fn ids(lake: &TestLake, workflow: &str, extra: serde_json::Value) -> Vec<String> {
    run(
        lake.root(),
        ORG,
        workflow,
        &payload(WHOLE_DAY.0, WHOLE_DAY.1, extra),
    )
    .await
    .ids()
}

#[tokio::test]
async fn goal_before_entry_is_not_affected() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            goal("2026-03-01T09:00:00Z", "early", "s1"),
            view("2026-03-01T10:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T11:00:00Z", "late", "s1"),
        ],
    );
    assert_eq!(ids(&lake, WF_INTERACTION, json!({})).await, ["late"]);
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
    .json();
    let related: Vec<_> = total["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["event_id"].clone(), r["workflow_related"].clone()))
        .collect();
    assert_eq!(
        related,
        [(json!("early"), json!(false)), (json!("late"), json!(true))]
    );
}

#[tokio::test]
async fn goal_at_the_entry_instant_is_affected() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T10:00:00Z", "v1", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "same", "s1"),
        ],
    );
    assert_eq!(ids(&lake, WF_INTERACTION, json!({})).await, ["same"]);
}

#[tokio::test]
async fn entry_is_the_first_workflow_event_of_any_action() {
    let lake = TestLake::new();
    let impression = event(
        "2026-03-01T09:00:00Z",
        "imp",
        "s1",
        "widget",
        "impression",
        INTERACTION,
    );
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            impression,
            goal("2026-03-01T09:30:00Z", "g", "s1"),
            view("2026-03-01T10:00:00Z", "v1", "s1", "A"),
        ],
    );
    assert_eq!(ids(&lake, WF_INTERACTION, json!({})).await, ["g"]);
}

#[tokio::test]
async fn sessions_without_workflow_events_are_not_affected() {
    let lake = TestLake::new();
    let other_widget = event(
        "2026-03-01T09:00:00Z",
        "w",
        "s2",
        "widget",
        "view",
        "some-other-interaction",
    );
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[other_widget, goal("2026-03-01T10:00:00Z", "g", "s2")],
    );
    assert!(ids(&lake, WF_INTERACTION, json!({})).await.is_empty());
}

#[tokio::test]
async fn step_data_constrains_the_session_path() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "a1", "s1", "A"),
            view("2026-03-01T09:01:00Z", "a2", "s1", "B"),
            goal("2026-03-01T09:05:00Z", "g1", "s1"),
            view("2026-03-01T09:00:00Z", "b1", "s2", "B"),
            view("2026-03-01T09:01:00Z", "b2", "s2", "A"),
            goal("2026-03-01T09:05:00Z", "g2", "s2"),
            view("2026-03-01T09:00:00Z", "c1", "s3", "A"),
            goal("2026-03-01T09:05:00Z", "g3", "s3"),
        ],
    );
    let steps = |s: serde_json::Value| json!({"step_data": s});
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            steps(json!([{}, {"actions": ["A"]}]))
        )
        .await,
        ["g1", "g3"]
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            steps(json!([{}, {"actions": ["A"]}, {"actions": ["B"]}]))
        )
        .await,
        ["g1"]
    );
    // A constrained step must exist: s3 has no step 2.
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            steps(json!([{}, {}, {"actions": ["A", "B"]}]))
        )
        .await,
        ["g1", "g2"]
    );
    // Empty or missing actions leave the step free; element 0 is ignored.
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            steps(json!([{"actions": ["Z"]}, {"actions": []}, {}]))
        )
        .await,
        ["g1", "g2", "g3"]
    );
}

#[tokio::test]
async fn path_order_breaks_timestamp_ties_by_event_id() {
    let lake = TestLake::new();
    // Same instant: event_id "x1" < "x2" decides that B is step 1. Written unsorted.
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            goal("2026-03-01T09:05:00Z", "g", "s1"),
            view("2026-03-01T09:00:00Z", "x2", "s1", "A"),
            view("2026-03-01T09:00:00Z", "x1", "s1", "B"),
        ],
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            json!({"step_data": [{}, {"actions": ["B"]}]})
        )
        .await,
        ["g"]
    );
    assert!(
        ids(
            &lake,
            WF_INTERACTION,
            json!({"step_data": [{}, {"actions": ["A"]}]})
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn only_view_events_with_a_view_uid_make_the_interaction_path() {
    let lake = TestLake::new();
    let start = event(
        "2026-03-01T09:00:00Z",
        "st",
        "s1",
        "widget",
        "start",
        INTERACTION,
    );
    let bare_view = event(
        "2026-03-01T09:00:30Z",
        "bv",
        "s1",
        "widget",
        "view",
        INTERACTION,
    );
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            start,
            bare_view,
            view("2026-03-01T09:01:00Z", "v", "s1", "A"),
            goal("2026-03-01T09:05:00Z", "g", "s1"),
        ],
    );
    assert_eq!(
        ids(
            &lake,
            WF_INTERACTION,
            json!({"step_data": [{}, {"actions": ["A"]}]})
        )
        .await,
        ["g"]
    );
}

#[tokio::test]
async fn web_navigation_paths_are_page_urls() {
    let lake = TestLake::new();
    let page = |ts: &str, id: &str, url: &str| Event {
        page_url: Some(url.into()),
        ..event(ts, id, "s1", "pageview", "view", "page")
    };
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            page("2026-03-01T09:00:00Z", "p1", "/home"),
            page("2026-03-01T09:01:00Z", "p2", "/cart"),
            goal("2026-03-01T09:05:00Z", "g", "s1"),
        ],
    );
    assert_eq!(
        ids(
            &lake,
            WF_WEB,
            json!({"step_data": [{}, {"actions": ["/home"]}, {"actions": ["/cart"]}]})
        )
        .await,
        ["g"]
    );
    assert!(
        ids(
            &lake,
            WF_WEB,
            json!({"step_data": [{}, {"actions": ["/cart"]}]})
        )
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn user_generated_workflows_ignore_step_data() {
    let lake = TestLake::new();
    let step = Event {
        dims: [None, None, None, None, Some("1".into())],
        ..event(
            "2026-03-01T09:00:00Z",
            "u1",
            "s1",
            "workflowReportingEvent",
            "step_viewed",
            WF_USER,
        )
    };
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[step, goal("2026-03-01T09:05:00Z", "g", "s1")],
    );
    assert_eq!(
        ids(
            &lake,
            WF_USER,
            json!({"step_data": [{}, {"actions": ["never"]}]})
        )
        .await,
        ["g"]
    );
}

#[tokio::test]
async fn interval_ends_are_both_inclusive() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
            goal("2026-03-01T11:00:00.000001Z", "g2", "s1"),
        ],
    );
    for (start, end, want) in [
        ("2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z", vec!["g1"]),
        (
            "2026-03-01T09:00:00Z",
            "2026-03-01T11:00:00.000001Z",
            vec!["g1", "g2"],
        ),
        // The workflow event at 09:00 must be inside the interval too.
        (
            "2026-03-01T09:00:00.000001Z",
            "2026-03-01T12:00:00Z",
            vec![],
        ),
    ] {
        assert_eq!(
            run(
                lake.root(),
                ORG,
                WF_INTERACTION,
                &payload(start, end, json!({}))
            )
            .await
            .ids(),
            want,
            "{start}..{end}"
        );
    }
}

#[tokio::test]
async fn time_zone_applies_to_times_without_offset() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        DAY,
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    let p = json!({"filters": [], "interval": {"start": "2026-03-01T11:00:00", "end": "2026-03-01T12:00:00", "time_zone": "Europe/Helsinki"}});
    assert_eq!(
        run(lake.root(), ORG, WF_INTERACTION, &p.to_string())
            .await
            .ids(),
        ["g1"]
    );
}

#[tokio::test]
async fn sessions_across_midnight_span_two_day_folders() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "a.parquet",
        &[view("2026-03-01T23:59:00Z", "v", "s1", "A")],
    );
    lake.write_events(
        ORG,
        "2026-03-02",
        "a.parquet",
        &[goal("2026-03-02T00:01:00Z", "g", "s1")],
    );
    let p = payload("2026-03-01T12:00:00Z", "2026-03-02T12:00:00Z", json!({}));
    assert_eq!(run(lake.root(), ORG, WF_INTERACTION, &p).await.ids(), ["g"]);
}

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
