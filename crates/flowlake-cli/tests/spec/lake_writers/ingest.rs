//! `ingest` of exports: answers like the source lake, every row written or rejected, and
//! an ingest racing a compact.

use super::*;

#[test]
fn ingested_exports_answer_like_the_lake_they_came_from_and_twice_adds_nothing() {
    let exports = tempfile::tempdir().unwrap();
    let (inputs, total) = export(exports.path());
    let lake = empty_lake_like_the_world();
    let out = ingest(lake.path(), &inputs, &["--buffer-rows", "700"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(counts(&out), (total as u64, total as u64, 0, 0));
    let expected = answers(&world().root, 0..150);
    assert_same_answers(&expected, &answers(lake.path(), 0..150));

    let again = ingest(lake.path(), &inputs, &["--buffer-rows", "700"]);
    assert_eq!(
        counts(&again),
        (total as u64, 0, total as u64, 0),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_same_answers(&expected, &answers(lake.path(), 0..150));

    // Many small files, compacted, still the same answers.
    compact(lake.path(), &["--grace", "0"]);
    assert_same_answers(&expected, &answers(lake.path(), 0..150));
}

#[test]
fn every_input_row_is_written_or_rejected_and_a_bad_row_refuses_the_input_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let good = |id: &str| json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00Z", "event_id": id, "category": "goal", "action": "trigger", "label": GOAL, "visitor_id": "v", "session_id": "s"});
    let mut lines: Vec<String> = (0..40)
        .map(|i| good(&format!("g{i}")).to_string())
        .collect();
    let mut bad = vec![
        json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00", "event_id": "naive", "category": "goal", "action": "trigger", "label": "x", "visitor_id": "v", "session_id": "s"}).to_string(),
        json!({"organization_id": "not-a-uuid", "timestamp": "2026-03-01T10:00:00Z", "event_id": "o", "category": "goal", "action": "trigger", "label": "x", "visitor_id": "v", "session_id": "s"}).to_string(),
        json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00Z", "category": "goal", "action": "trigger", "label": "x", "visitor_id": "v", "session_id": "s"}).to_string(),
        json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00Z", "event_id": "v", "category": "goal", "action": "trigger", "label": "x", "visitor_id": "v", "session_id": "s", "value": "ten"}).to_string(),
        "{not json".to_string(),
    ];
    let bad_count = bad.len() as u64;
    for (i, line) in bad.drain(..).enumerate() {
        lines.insert(i * 7 + 3, line);
    }
    let input = dir.path().join("mixed.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let lake = TestLake::new();
    let refused = ingest(lake.root(), std::slice::from_ref(&input), &[]);
    assert_eq!(refused.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&refused.stderr).expect("SPEC JSON");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("mixed.ndjson")
            && message.contains("line 4")
            && message.contains("'timestamp'"),
        "{message}"
    );
    assert!(!lake.root().join("events").exists(), "nothing was written");

    let rejects = dir.path().join("rejects.ndjson");
    let out = ingest(
        lake.root(),
        std::slice::from_ref(&input),
        &["--rejects", rejects.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (read, written, present, rejected) = counts(&out);
    assert_eq!((read, written + present + rejected), (45, 45));
    assert_eq!(rejected, bad_count);
    let rejected_lines: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected_lines.len() as u64, bad_count);
    assert!(
        rejected_lines
            .iter()
            .all(|r| r["reason"].as_str().is_some_and(|s| !s.is_empty())
                && r["position"].as_str().unwrap().starts_with("line "))
    );
    let total = total_ids(lake.root());
    assert_eq!(total.len(), 40);
}

#[test]
fn an_ingest_racing_a_compact_loses_and_duplicates_nothing() {
    let lake = TestLake::new();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.ndjson");
    std::fs::write(&base, goal_lines("base", 600)).unwrap();
    assert_eq!(
        ingest(
            lake.root(),
            std::slice::from_ref(&base),
            &["--buffer-rows", "100"]
        )
        .status
        .code(),
        Some(0)
    );
    let mut expected: Vec<String> = (0..600).map(|i| format!("base-{i}")).collect();
    for round in 0..12 {
        let input = dir.path().join(format!("round-{round}.ndjson"));
        std::fs::write(&input, goal_lines(&format!("r{round}"), 150)).unwrap();
        let compacting = flowlake()
            .args(["compact", "--grace", "0", "--lake"])
            .arg(lake.root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let ingesting = ingest(lake.root(), &[input], &["--buffer-rows", "40"]);
        let compacted = compacting.wait_with_output().unwrap();
        assert_eq!(
            ingesting.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&ingesting.stderr)
        );
        assert_eq!(
            compacted.status.code(),
            Some(0),
            "round {round}: {}",
            String::from_utf8_lossy(&compacted.stderr)
        );
        expected.extend((0..150).map(|i| format!("r{round}-{i}")));
        expected.sort();
        assert_eq!(
            total_ids(lake.root()),
            expected,
            "round {round}: every event once"
        );
    }
}
