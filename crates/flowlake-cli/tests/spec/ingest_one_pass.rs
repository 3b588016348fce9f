//! SPEC §8 ingest reads its inputs once: a bad row found after rows were staged still
//! refuses the whole input and leaves the lake as it was (no file published, no manifest
//! created, nothing left in the staging folder); inputs decoded in parallel keep their
//! order (the first of two copies of an event is the one written, rejects in input order).

use std::path::Path;

use serde_json::{Value, json};

use super::lake_writers::{counts, ingest};
use super::support::*;

/// A goal trigger of ORG on one of three days; `value` tells copies of an event apart.
fn line(n: u64, value: f64) -> String {
    let at = format!(
        "2026-03-{:02}T{:02}:{:02}:{:02}Z",
        1 + n % 3,
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60
    );
    json!({"organization_id": ORG, "timestamp": at, "event_id": format!("e-{n}"), "category": "goal",
        "action": "trigger", "label": GOAL, "visitor_id": "v", "session_id": format!("s{}", n % 7), "value": value})
    .to_string()
        + "\n"
}

/// Every file under `folder`, relative to it.
fn files(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                found.push(
                    entry
                        .path()
                        .strip_prefix(folder)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    found.sort();
    found
}

#[test]
fn a_bad_row_after_rows_were_staged_leaves_nothing_staged_or_published() {
    let lake = TestLake::new();
    // A day another tool wrote, without a manifest: the run reads it and must not give it
    // one.
    let foreign = lake.write_events(
        ORG,
        "2026-03-02",
        "other.parquet",
        &[goal("2026-03-02T09:00:00Z", "old", "s")],
    );
    let before = files(lake.root());
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let input = dir.path().join("late-fault.ndjson");
    let mut text: String = (0..30_000).map(|n| line(n, 1.0)).collect();
    text.push_str("{\"organization_id\": \"not-a-uuid\"}\n");
    std::fs::write(&input, text).unwrap();

    let out = ingest(
        lake.root(),
        &[input],
        &[
            "--buffer-rows",
            "500",
            "--staging-dir",
            staging.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let error: Value = serde_json::from_slice(&out.stderr).expect("SPEC JSON on stderr");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("line 30001") && message.contains("'organization_id'"),
        "{message}"
    );
    assert_eq!(files(lake.root()), before, "the lake is as it was");
    assert!(foreign.exists());
    assert_eq!(files(&staging), Vec::<String>::new(), "nothing left staged");
}

#[test]
fn the_first_copy_of_an_event_in_input_order_is_the_one_written() {
    let lake = TestLake::new();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("copies.ndjson");
    // Each event three times, far apart (other chunks, decoded at the same time), the
    // first copy with value 1; bad rows between them, in order.
    let mut text = String::new();
    for copy in 0..3 {
        text.extend((0..20_000).map(|n| line(n, f64::from(copy + 1))));
        text.push_str(&format!("{{\"bad\": {copy}}}\n"));
    }
    std::fs::write(&input, text).unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let out = ingest(
        lake.root(),
        &[input],
        &[
            "--rejects",
            rejects.to_str().unwrap(),
            "--buffer-rows",
            "7000",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(counts(&out), (60_003, 20_000, 40_000, 3));
    let set_aside: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let positions: Vec<&str> = set_aside
        .iter()
        .map(|r| r["position"].as_str().unwrap())
        .collect();
    assert_eq!(positions, ["line 20001", "line 40002", "line 60003"]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    for date in ["2026-03-01", "2026-03-02", "2026-03-03"] {
        let answer = runtime.block_on(run(
            lake.root(),
            ORG,
            WF_INTERACTION,
            &payload(date, date, json!({"target": "affected_goal_total"})),
        ));
        let body = answer.json();
        let rows = body["data"].as_array().unwrap();
        assert!(!rows.is_empty());
        assert!(
            rows.iter().all(|row| row["value"].as_f64() == Some(1.0)),
            "{date}: every event is its first copy"
        );
    }
}
