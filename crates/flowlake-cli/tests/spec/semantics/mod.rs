//! SPEC §3: what the query means, one rule per test on hand-built lakes.

mod filters_order_and_errors;

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
