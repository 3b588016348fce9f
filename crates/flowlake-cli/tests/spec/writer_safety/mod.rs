//! SPEC §8's writer rules, one test each, and the crash-and-race test: concurrent ingests,
//! compacts and queries of the real binary, killed at random, on local disk and on S3.

mod crash_and_race;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::differential::world;
use super::lake_writers::{answers, assert_same_answers, copy_dir, counts, flowlake, ingest};
use super::s3_server::S3Server;
use super::support::*;

/// One goal trigger per number: the same number always gives the same event, on one of
/// three days.
fn event_line(n: u64) -> String {
    let day = 1 + n % 3;
    let at = format!(
        "2026-03-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60,
        n % 997
    );
    json!({"organization_id": ORG, "timestamp": at, "event_id": format!("e-{n}"), "category": "goal", "action": "trigger", "label": GOAL, "visitor_id": "v", "session_id": format!("s{}", n % 40), "value": n as f64}).to_string()
}

fn write_input(path: &Path, numbers: impl IntoIterator<Item = u64>) -> PathBuf {
    let text: String = numbers.into_iter().map(|n| event_line(n) + "\n").collect();
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// The day folders under `root/events`.
fn day_folders(root: &Path) -> Vec<PathBuf> {
    let mut days = Vec::new();
    let Ok(orgs) = std::fs::read_dir(root.join("events")) else {
        return days;
    };
    for org in orgs.flatten() {
        for day in std::fs::read_dir(org.path()).unwrap().flatten() {
            if day.file_type().unwrap().is_dir() {
                days.push(day.path());
            }
        }
    }
    days.sort();
    days
}

/// The event files a reader takes from a day folder (SPEC §1); `Err` names a file the
/// manifest names that is not there.
fn day_files(day: &Path) -> Result<Vec<PathBuf>, String> {
    let visible =
        |name: &str| name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_');
    match std::fs::read(day.join("_manifest.json")) {
        Ok(bytes) => {
            let manifest: Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", day.display()))?;
            let names: Vec<&str> = manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            let unique: BTreeSet<&&str> = names.iter().collect();
            assert_eq!(
                unique.len(),
                names.len(),
                "{}: a manifest names a file twice",
                day.display()
            );
            names
                .iter()
                .map(|name| {
                    let path = day.join(name);
                    if path.exists() {
                        Ok(path)
                    } else {
                        Err(format!(
                            "{} names {name}, which is missing",
                            day.join("_manifest.json").display()
                        ))
                    }
                })
                .collect()
        }
        Err(_) => Ok(std::fs::read_dir(day)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| visible(&p.file_name().unwrap().to_string_lossy()))
            .collect()),
    }
}

/// Every event id of the lake, read straight from the files a reader takes, sorted (with
/// duplicates kept). Panics when a manifest names a missing file.
fn lake_event_ids(root: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for day in day_folders(root) {
        for file in day_files(&day).unwrap_or_else(|problem| panic!("{problem}")) {
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                let column =
                    cast(batch.column_by_name("event_id").unwrap(), &DataType::Utf8).unwrap();
                let column = column.as_string::<i32>();
                ids.extend((0..column.len()).map(|i| column.value(i).to_string()));
            }
        }
    }
    ids.sort();
    ids
}

fn expected_ids(numbers: &BTreeSet<u64>) -> Vec<String> {
    let mut ids: Vec<String> = numbers.iter().map(|n| format!("e-{n}")).collect();
    ids.sort();
    ids
}

fn wait_ok(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn_compact(lake: &Path, extra: &[&str]) -> Child {
    flowlake()
        .args(["compact", "--grace", "0", "--orphan-grace", "0", "--lake"])
        .arg(lake)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_compacts_of_the_same_days_at_once_lose_no_event() {
    let expected = answers(&world().root, 0..60);
    for round in 0..3 {
        let lake = tempfile::tempdir().unwrap();
        copy_dir(&world().root, lake.path());
        let (a, b) = (
            spawn_compact(lake.path(), &[]),
            spawn_compact(lake.path(), &[]),
        );
        wait_ok(a, "first compact");
        wait_ok(b, "second compact");
        for day in day_folders(lake.path()) {
            day_files(&day).unwrap_or_else(|problem| panic!("round {round}: {problem}"));
        }
        assert_same_answers(&expected, &answers(lake.path(), 0..60));
        // The next run finds the days compact, and deletes nothing a manifest names.
        wait_ok(spawn_compact(lake.path(), &[]), "third compact");
        assert_same_answers(&expected, &answers(lake.path(), 0..60));
    }
}

#[test]
fn an_ingest_beside_the_orphan_sweep_publishes_every_event() {
    let lake = TestLake::new();
    let dir = tempfile::tempdir().unwrap();
    let numbers: BTreeSet<u64> = (0..12_000).collect();
    let input = write_input(&dir.path().join("days.ndjson"), numbers.iter().copied());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sweeping = {
        let (stop, root) = (std::sync::Arc::clone(&stop), lake.root().to_path_buf());
        std::thread::spawn(move || {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                wait_ok(spawn_compact(&root, &[]), "a sweeping compact");
                runs += 1;
            }
            runs
        })
    };
    let out = ingest(lake.root(), &[input], &["--buffer-rows", "800"]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let runs = sweeping.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(runs >= 1);
    assert_eq!(lake_event_ids(lake.root()), expected_ids(&numbers));
}

/// A day with one ingested file, and that file's name.
fn one_ingested_day(lake: &TestLake) -> (PathBuf, String) {
    let input = write_input(&lake.root().join("input.ndjson"), (0..90).map(|n| n * 3));
    assert_eq!(ingest(lake.root(), &[input], &[]).status.code(), Some(0));
    let day = day_folders(lake.root()).remove(0);
    let file = day_files(&day)
        .unwrap()
        .remove(0)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    (day, file)
}

#[test]
fn an_invalid_manifest_is_500_naming_it_and_compact_leaves_the_day_alone() {
    let query = payload(
        "2026-03-01",
        "2026-03-01",
        json!({"target": "affected_goal_total"}),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (manifest, reason) in [
        (json!({"version": 1, "files": ["F", "F"]}), "twice"),
        (
            json!({"version": 1, "files": ["F"], "owner": "someone"}),
            "owner",
        ),
        (json!({"version": 7, "files": ["F"]}), "version 7"),
    ] {
        let lake = TestLake::new();
        let (day, file) = one_ingested_day(&lake);
        let text = manifest.to_string().replace('F', &file);
        std::fs::write(day.join("_manifest.json"), &text).unwrap();
        let outcome = runtime.block_on(run(lake.root(), ORG, WF_INTERACTION, &query));
        assert_eq!(outcome.status(), 500);
        let message = outcome.message();
        assert!(
            message.contains("_manifest.json") && message.contains(reason),
            "{message}"
        );

        let out = flowlake()
            .args(["compact", "--grace", "0", "--orphan-grace", "0", "--lake"])
            .arg(lake.root())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(9),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(reason));
        assert_eq!(
            std::fs::read_to_string(day.join("_manifest.json")).unwrap(),
            text,
            "the manifest is left as it was"
        );
        assert!(day.join(&file).exists());
    }
}

#[test]
fn an_event_already_in_the_lake_is_not_added_again_however_the_input_is_cut() {
    let lake = TestLake::new();
    let dir = tempfile::tempdir().unwrap();
    let a = write_input(&dir.path().join("a.ndjson"), 0..3000);
    let b = write_input(&dir.path().join("b.ndjson"), 2000..5000);
    let out = ingest(
        lake.root(),
        std::slice::from_ref(&a),
        &["--buffer-rows", "700"],
    );
    assert_eq!(counts(&out), (3000, 3000, 0, 0));
    // The same input again with other cuts, beside an overlapping one.
    let out = ingest(lake.root(), &[a.clone(), b], &["--buffer-rows", "450"]);
    assert_eq!(
        counts(&out),
        (6000, 2000, 4000, 0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Twice in the same input.
    let out = ingest(lake.root(), &[a.clone(), a], &[]);
    assert_eq!(counts(&out), (6000, 0, 6000, 0));
    assert_eq!(
        lake_event_ids(lake.root()),
        expected_ids(&(0..5000).collect())
    );
}

#[test]
fn compact_deletes_only_files_flowlake_wrote_and_names_the_others() {
    let lake = TestLake::new();
    let (day, file) = one_ingested_day(&lake);
    wait_ok(spawn_compact(lake.root(), &[]), "compact");
    // Another tool copies a file in, keeping its old modification time (cp -p, rsync -a).
    let foreign = day.join("part-00000-copied.parquet");
    std::fs::write(
        &foreign,
        plain_parquet(&[goal("2026-03-01T12:00:00Z", "copied", "s1")], 10),
    )
    .unwrap();
    let old = SystemTime::now() - Duration::from_secs(3 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&foreign)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = flowlake()
        .args(["compact", "--grace", "0", "--orphan-grace", "0", "--lake"])
        .arg(lake.root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        foreign.exists(),
        "a file flowlake did not write is left in place"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let size = std::fs::metadata(&foreign).unwrap().len();
    assert!(
        stdout.contains("part-00000-copied.parquet") && stdout.contains(&size.to_string()),
        "{stdout}"
    );
    assert!(
        !day.join(&file).exists(),
        "the replaced ingest file is deleted after its grace"
    );
}
