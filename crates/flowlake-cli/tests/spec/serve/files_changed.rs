//! Event files rewritten or replaced under a running server are read afresh.

use super::*;

/// A server whose listings are cached far longer than the test runs.
async fn caching_server(lake: &Path) -> TestServer {
    let engine = EngineConfig {
        list_cache_ttl: Duration::from_secs(600),
        ..EngineConfig::default()
    };
    TestServer::start_with_engine(lake, None, &engine, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_rewritten_in_place_is_read_afresh_by_a_running_server() {
    let lake = TestLake::new();
    let view_and_goal = [
        view("2026-03-01T09:00:00Z", "v1", "s1", "A"),
        goal("2026-03-01T10:00:00Z", "g1", "s1"),
    ];
    let path = lake.write_events(ORG, "2026-03-01", "part-0.parquet", &view_and_goal);
    let server = caching_server(lake.root()).await;
    let all_goals = day(json!({"target": "affected_goal_total"}));
    let before = post(&server.url(ORG, WF_INTERACTION), None, None, &all_goals).await;
    assert_eq!((before.status, before.ids()), (200, vec!["g1".to_string()]));

    // What a compaction job does: the same name, new content (here larger).
    let mut more = view_and_goal.to_vec();
    more.extend([
        goal("2026-03-01T11:00:00Z", "g2", "s2"),
        goal("2026-03-01T12:00:00Z", "g3", "s3"),
    ]);
    let rewritten = lake.write_events(ORG, "2026-03-01", "part-0.parquet", &more);
    assert_eq!(rewritten, path);
    let after = post(&server.url(ORG, WF_INTERACTION), None, None, &all_goals).await;
    assert_eq!(
        after.status,
        200,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
    assert_eq!(
        after.ids(),
        ["g1", "g2", "g3"],
        "the new rows, within the listing cache's TTL"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_file_replaced_by_one_of_the_same_size_is_not_read_with_stale_metadata() {
    // Two row groups of four goals. The first holds label GOAL in both versions; the second
    // holds GOAL_2 in the old version and GOAL in the new one, so the old version's
    // statistics would prune exactly the rows the new one adds.
    let version = |prefix: &str, second_label: &str| -> Vec<flowlake::generate::Event> {
        (1..=8)
            .map(|i| {
                let label = if i <= 4 { GOAL } else { second_label };
                flowlake::generate::Event {
                    label: label.to_string(),
                    ..goal(
                        &format!("2026-03-01T10:0{i}:00Z"),
                        &format!("{prefix}-g{i}"),
                        "s1",
                    )
                }
            })
            .collect()
    };
    let (old, new) = (
        plain_parquet(&version("a", GOAL_2), 4),
        plain_parquet(&version("b", GOAL), 4),
    );
    assert_eq!(old.len(), new.len(), "the same size");
    let lake = TestLake::new();
    let path = lake.write_file(
        &TestLake::day_file(ORG, "2026-03-01", "part-0.parquet"),
        &old,
    );
    let server = caching_server(lake.root()).await;
    let goal_label = day(
        json!({"target": "affected_goal_total", "filters": [{"property": "label", "values": [GOAL]}]}),
    );
    let before = post(&server.url(ORG, WF_INTERACTION), None, None, &goal_label).await;
    assert_eq!(before.ids(), ["a-g1", "a-g2", "a-g3", "a-g4"]);

    // Replaced whole, as writers do: a new file renamed over the old one.
    let staged = path.with_file_name(".part-0.parquet.tmp");
    std::fs::write(&staged, &new).unwrap();
    std::fs::rename(&staged, &path).unwrap();
    let after = post(&server.url(ORG, WF_INTERACTION), None, None, &goal_label).await;
    assert_eq!(
        after.status,
        200,
        "{}",
        String::from_utf8_lossy(&after.body)
    );
    assert_eq!(
        after.ids(),
        (1..=8).map(|i| format!("b-g{i}")).collect::<Vec<_>>(),
        "every row of the new version"
    );
    server.stop().await;
}
