//! SPEC §8: a day larger than the memory limit is compacted through a sort that spills,
//! into files of about a target size, all published in the day's one commit, and its
//! answers do not change.

use std::path::Path;

use flowlake::output::Format;
use flowlake::{Engine, EngineConfig};
use serde_json::{Value, json};

use super::lake_writers::flowlake;
use super::support::run_bytes;

/// Every workflow of the lake with a few payloads over its days, answered as bytes.
fn answers(lake: &Path) -> Vec<Result<Vec<u8>, u16>> {
    let workflows: Vec<Value> =
        serde_json::from_slice(&std::fs::read(lake.join("workflows.json")).unwrap()).unwrap();
    let payloads = [
        json!({"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}}),
        json!({"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}, "target": "affected_goal_total", "advanced": true}),
        json!({"filters": [{"property": "action", "operator": "is", "value": "view"}], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "limit": 50}),
    ];
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut all = Vec::new();
    for workflow in &workflows {
        let (org, id) = (
            workflow["organization_id"].as_str().unwrap(),
            workflow["id"].as_str().unwrap(),
        );
        for payload in &payloads {
            let outcome = runtime.block_on(run_bytes(
                &engine,
                lake,
                org,
                id,
                &payload.to_string(),
                Format::Ndjson,
            ));
            all.push(outcome.map_err(|e| e.status()));
        }
    }
    all
}

fn day_files(lake: &Path) -> Vec<String> {
    let orgs = std::fs::read_dir(lake.join("events"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let day = orgs.join("date=2026-03-01");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(day.join("_manifest.json")).unwrap()).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_day_larger_than_the_memory_limit_spills_and_is_written_as_several_files() {
    let lake = tempfile::tempdir().unwrap();
    let out = flowlake()
        .args([
            "generate",
            "--orgs",
            "1",
            "--days",
            "1",
            "--events-per-day",
            "30000",
            "--seed",
            "7",
            "--out",
        ])
        .arg(lake.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = answers(lake.path());
    assert!(
        before
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|bytes| !bytes.is_empty()))
            .count()
            >= 3,
        "the payloads answer rows"
    );

    let spill = tempfile::tempdir().unwrap();
    let out = flowlake()
        .args([
            "compact",
            "--grace",
            "0",
            "--memory-limit",
            "8M",
            "--target-file-size",
            "400K",
            "--row-group-size",
            "2048",
            "--lake",
        ])
        .arg(lake.path())
        .arg("--spill-dir")
        .arg(spill.path())
        .output()
        .unwrap();
    let stdout =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("the sort spilled"),
        "the day did not fit in 8 MiB: {stdout}"
    );
    let files = day_files(lake.path());
    assert!(
        files.len() >= 3 && files.iter().all(|f| f.starts_with("compact-")),
        "{files:?}"
    );
    assert_eq!(
        std::fs::read_dir(spill.path()).unwrap().count(),
        0,
        "spill and staged files are gone"
    );
    assert_eq!(
        answers(lake.path()),
        before,
        "the answers are the same bytes after"
    );

    // The day is compact now: a second run leaves it as it is.
    let again = flowlake()
        .args(["compact", "--lake"])
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already compact 1"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(day_files(lake.path()), files);
}
