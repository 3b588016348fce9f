//! SPEC §1 day manifests and §8 writers: `compact` and `ingest` change no answer, count
//! every input row, never add an input twice, and race, crash and serve safely.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use flowlake::format::event::to_record_batch;
use flowlake::generate::Event;
use flowlake::output::Format;
use flowlake::{Engine, EngineConfig};
use serde_json::{Value, json};

use super::differential::{random_case, world};
use super::reference::{self, Row};
use super::support::*;

/// The binary under test (`FLOWLAKE_BIN` or this build's).
pub(super) fn flowlake() -> Command {
    Command::new(flowlake_bin())
}

pub(super) fn succeed(command: &mut Command) -> Output {
    let out = command.output().expect("run flowlake");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The answers of `count` differential payloads on a lake, as bytes (or the status).
pub(super) fn answers(lake: &Path, seeds: std::ops::Range<u64>) -> Vec<Result<Vec<u8>, u16>> {
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    seeds
        .map(|seed| {
            let (case, payload) = random_case(seed);
            runtime
                .block_on(run_bytes(
                    &engine,
                    lake,
                    &case.org,
                    &case.workflow,
                    &payload,
                    Format::Ndjson,
                ))
                .map_err(|e| e.status())
        })
        .collect()
}

pub(super) fn assert_same_answers(before: &[Result<Vec<u8>, u16>], after: &[Result<Vec<u8>, u16>]) {
    let mut rows = 0;
    for (i, (a, b)) in before.iter().zip(after).enumerate() {
        assert!(a == b, "payload {i}: the answers differ");
        rows += a.as_ref().map_or(0, |bytes| bytes.len());
    }
    assert!(rows > 10_000, "the payloads must return rows");
}

pub(super) fn compact(lake: &Path, extra: &[&str]) -> Output {
    succeed(flowlake().args(["compact", "--lake"]).arg(lake).args(extra))
}

fn parquet_files(dir: &Path) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            count += parquet_files(&entry.path());
        } else if entry.file_name().to_string_lossy().ends_with(".parquet") {
            count += 1;
        }
    }
    count
}

#[test]
fn compacting_a_foreign_layout_changes_no_answer_and_a_second_run_changes_nothing() {
    let lake = tempfile::tempdir().unwrap();
    copy_dir(&world().root, lake.path());
    let before = answers(lake.path(), 0..150);
    let out = compact(lake.path(), &["--grace", "0"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("compacted 6,") || summary.contains("days 6: compacted 6"),
        "{summary}"
    );
    assert_eq!(
        parquet_files(lake.path()),
        6,
        "one file per day, the replaced ones deleted"
    );
    assert_same_answers(&before, &answers(lake.path(), 0..150));
    let again = compact(lake.path(), &["--grace", "0"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already compact 6"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn replaced_files_stay_for_the_grace_period() {
    let lake = tempfile::tempdir().unwrap();
    copy_dir(&world().root, lake.path());
    let files = parquet_files(lake.path());
    compact(lake.path(), &[]);
    assert_eq!(
        parquet_files(lake.path()),
        files + 6,
        "the replaced files are still there for running queries"
    );
    let out = compact(lake.path(), &["--grace", "0"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("files deleted {files}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(parquet_files(lake.path()), 6);
}

#[test]
fn a_manifest_decides_which_files_are_the_day() {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g-a", "s1"),
        ],
    );
    lake.write_events(
        ORG,
        "2026-03-01",
        "b.parquet",
        &[goal("2026-03-01T11:00:00Z", "g-b", "s1")],
    );
    let window = payload("2026-03-01", "2026-03-01", json!({}));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ids = || runtime.block_on(run(lake.root(), ORG, WF_INTERACTION, &window));
    assert_eq!(
        ids().ids(),
        ["g-a", "g-b"],
        "without a manifest every file is the day"
    );
    lake.write_file(
        &TestLake::day_file(ORG, "2026-03-01", "_manifest.json"),
        br#"{"version": 1, "files": ["a.parquet"], "replaced": []}"#,
    );
    assert_eq!(ids().ids(), ["g-a"], "with one, only the files it names");
    lake.write_file(
        &TestLake::day_file(ORG, "2026-03-01", "_manifest.json"),
        br#"{"version": 1, "files": ["a.parquet", "gone.parquet"]}"#,
    );
    let missing = ids();
    assert_eq!(missing.status(), 500);
    assert!(
        missing.message().contains("gone.parquet"),
        "{}",
        missing.message()
    );
}

/// Every event of the world lake (whose rows sit in the folder of their UTC date), split
/// into NDJSON, CSV and Parquet exports as other tools would write them.
fn export(dir: &Path) -> (Vec<PathBuf>, usize) {
    let w = world();
    let mut ndjson = String::new();
    let header: Vec<&str> = std::iter::once("organization_id")
        .chain(reference::COLUMNS.iter().copied())
        .collect();
    let mut csv = header.join(",") + "\n";
    let mut parquet: Vec<(String, Event)> = Vec::new();
    let mut total = 0;
    for org in world_orgs(w) {
        for (i, row) in reference::load_rows(&w.root, &org).iter().enumerate() {
            total += 1;
            let has_empty = row.text.values().any(|v| v.as_deref() == Some(""));
            match i % 4 {
                0 => parquet.push((org.clone(), to_event(row))),
                1 if !has_empty => csv.push_str(&csv_line(&org, row)),
                _ => ndjson.push_str(&(json_row(&org, row).to_string() + "\n")),
            }
        }
    }
    let paths = vec![
        dir.join("events.ndjson"),
        dir.join("events.csv"),
        dir.join("events.parquet"),
    ];
    std::fs::write(&paths[0], ndjson).unwrap();
    std::fs::write(&paths[1], csv).unwrap();
    let events: Vec<Event> = parquet.iter().map(|(_, e)| e.clone()).collect();
    let batch = to_record_batch(&events).unwrap();
    let orgs: ArrayRef = Arc::new(StringArray::from(
        parquet
            .iter()
            .map(|(o, _)| o.to_uppercase())
            .collect::<Vec<_>>(),
    ));
    let mut fields = vec![Arc::new(Field::new(
        "organization_id",
        DataType::Utf8,
        false,
    ))];
    fields.extend(batch.schema().fields().iter().cloned());
    let mut columns = vec![orgs];
    columns.extend(batch.columns().iter().cloned());
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(&paths[2]).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    (paths, total)
}

fn world_orgs(w: &super::differential::World) -> Vec<String> {
    std::fs::read_dir(w.root.join("events"))
        .unwrap()
        .flatten()
        .map(|e| {
            e.file_name()
                .to_string_lossy()
                .trim_start_matches("organization_id=")
                .to_string()
        })
        .collect()
}

fn timestamp_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn json_row(org: &str, row: &Row) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("organization_id".into(), json!(org));
    object.insert("timestamp".into(), json!(timestamp_text(row.ts)));
    object.insert("value".into(), row.value.map_or(Value::Null, |v| json!(v)));
    for (column, value) in &row.text {
        object.insert(column.to_string(), json!(value));
    }
    for (column, value) in &row.lists {
        object.insert(column.to_string(), json!(value));
    }
    Value::Object(object)
}

fn csv_line(org: &str, row: &Row) -> String {
    let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    let mut cells = vec![quote(org), quote(&timestamp_text(row.ts))];
    for column in &reference::COLUMNS[1..] {
        let cell = match *column {
            "value" => row.value.map(|v| v.to_string()).unwrap_or_default(),
            "properties" | "room_ids" => row
                .lists
                .get(column)
                .cloned()
                .flatten()
                .map(|l| quote(&serde_json::to_string(&l).unwrap()))
                .unwrap_or_default(),
            other => row.get(other).map(quote).unwrap_or_default(),
        };
        cells.push(cell);
    }
    cells.join(",") + "\n"
}

fn to_event(row: &Row) -> Event {
    let text = |c: &str| row.get(c).map(str::to_string);
    Event {
        timestamp_us: row.ts,
        event_id: text("event_id").unwrap_or_default(),
        vendor: text("vendor"),
        source: text("source"),
        category: text("category").unwrap_or_default(),
        action: text("action").unwrap_or_default(),
        label: text("label").unwrap_or_default(),
        value: row.value,
        properties: row.lists.get("properties").cloned().flatten(),
        room_ids: row.lists.get("room_ids").cloned().flatten(),
        view_uid: text("view_uid"),
        page_url: text("page_url"),
        dims: [
            text("dim1"),
            text("dim2"),
            text("dim3"),
            text("dim4"),
            text("dim5"),
        ],
        visitor_id: text("visitor_id").unwrap_or_default(),
        session_id: text("session_id").unwrap_or_default(),
        user_id: text("user_id"),
        browser_name: text("browser_name"),
        browser_version: text("browser_version"),
        device_type: text("device_type"),
        os_name: text("os_name"),
        os_version: text("os_version"),
        geo_country: text("geo_country"),
        geo_city: text("geo_city"),
        ip_organization: text("ip_organization"),
    }
}

/// A lake with the world's catalog and no events.
pub(super) fn empty_lake_like_the_world() -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    for file in ["workflows.json", "goals.json"] {
        std::fs::copy(world().root.join(file), lake.path().join(file)).unwrap();
    }
    lake
}

pub(super) fn ingest(lake: &Path, inputs: &[PathBuf], extra: &[&str]) -> Output {
    flowlake()
        .args(["ingest", "--lake"])
        .arg(lake)
        .args(inputs)
        .args(extra)
        .output()
        .expect("run flowlake")
}

/// `rows read R, written W, already present P, rejected J` of the summary.
pub(super) fn counts(out: &Output) -> (u64, u64, u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let number = |key: &str| -> u64 {
        let at = text
            .find(key)
            .unwrap_or_else(|| panic!("no '{key}' in {text}"))
            + key.len();
        text[at..]
            .trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        number("rows read"),
        number("written"),
        number("already present"),
        number("rejected"),
    )
}

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
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let total = runtime
        .block_on(run(
            lake.root(),
            ORG,
            WF_INTERACTION,
            &payload(
                "2026-03-01",
                "2026-03-01",
                json!({"target": "affected_goal_total"}),
            ),
        ))
        .ids();
    assert_eq!(total.len(), 40);
}

/// The rows of one goal-only day, as NDJSON text, with ids `prefix-N`.
pub(super) fn goal_lines(prefix: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            let at = format!("2026-03-01T{:02}:{:02}:{:02}.{:06}Z", (i / 3600) % 24, (i / 60) % 60, i % 60, i % 997);
            json!({"organization_id": ORG, "timestamp": at, "event_id": format!("{prefix}-{i}"), "category": "goal", "action": "trigger", "label": GOAL, "visitor_id": "v", "session_id": format!("s{}", i % 50)}).to_string() + "\n"
        })
        .collect()
}

pub(super) fn total_ids(lake: &Path) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut ids = runtime
        .block_on(run(
            lake,
            ORG,
            WF_INTERACTION,
            &payload(
                "2026-03-01",
                "2026-03-01",
                json!({"target": "affected_goal_total"}),
            ),
        ))
        .ids();
    ids.sort();
    ids
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

/// Kills `command` after `delay`, or lets it finish; says whether it was killed.
pub(super) fn run_killed_after(command: &mut Command, delay: Duration) -> bool {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if started.elapsed() >= delay {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_writer_killed_at_any_point_leaves_answers_as_before_or_after() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("day.ndjson");
    std::fs::write(&input, goal_lines("k", 3000)).unwrap();
    let seed_lake = TestLake::new();
    assert_eq!(
        ingest(
            seed_lake.root(),
            &[dir.path().join("seed.ndjson")]
                .iter()
                .map(|p| {
                    std::fs::write(p, goal_lines("seed", 500)).unwrap();
                    p.clone()
                })
                .collect::<Vec<_>>(),
            &["--buffer-rows", "60"]
        )
        .status
        .code(),
        Some(0)
    );
    let before = total_ids(seed_lake.root());
    let after_ingest = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), copy.path());
        let started = Instant::now();
        assert_eq!(
            ingest(
                copy.path(),
                std::slice::from_ref(&input),
                &["--buffer-rows", "300"]
            )
            .status
            .code(),
            Some(0)
        );
        (total_ids(copy.path()), started.elapsed())
    };
    let compact_time = {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), copy.path());
        let started = Instant::now();
        compact(copy.path(), &["--grace", "0"]);
        started.elapsed()
    };
    let mut killed = 0;
    for point in 0..24u32 {
        let lake = tempfile::tempdir().unwrap();
        copy_dir(seed_lake.root(), lake.path());
        let (was_killed, after) = if point % 2 == 0 {
            let delay = after_ingest.1.mul_f64(f64::from(point) / 24.0);
            let mut command = flowlake();
            command
                .args(["ingest", "--buffer-rows", "300", "--lake"])
                .arg(lake.path())
                .arg(&input);
            (run_killed_after(&mut command, delay), &after_ingest.0)
        } else {
            let delay = compact_time.mul_f64(f64::from(point) / 24.0);
            let mut command = flowlake();
            command
                .args(["compact", "--grace", "0", "--lake"])
                .arg(lake.path());
            (run_killed_after(&mut command, delay), &before)
        };
        killed += usize::from(was_killed);
        let seen = total_ids(lake.path());
        assert!(
            seen == before || seen == *after,
            "kill point {point}: {} events, neither before ({}) nor after ({})",
            seen.len(),
            before.len(),
            after.len()
        );
        // Finishing the work after a kill gives the complete answer, nothing twice.
        if point % 2 == 0 {
            assert_eq!(
                ingest(
                    lake.path(),
                    std::slice::from_ref(&input),
                    &["--buffer-rows", "300"]
                )
                .status
                .code(),
                Some(0)
            );
            assert_eq!(
                total_ids(lake.path()),
                after_ingest.0,
                "kill point {point}: after a rerun"
            );
        } else {
            compact(lake.path(), &["--grace", "0"]);
            assert_eq!(
                total_ids(lake.path()),
                before,
                "kill point {point}: after a rerun"
            );
        }
    }
    assert!(
        killed >= 8,
        "a third of the runs at least were killed midway ({killed})"
    );
}

/// The answers of `seeds` payloads over a lake in the test S3 server.
fn s3_answers(
    server: &super::s3_server::S3Server,
    prefix: &str,
    seeds: std::ops::Range<u64>,
) -> Vec<Result<Vec<u8>, u16>> {
    let engine = Engine::new(&EngineConfig {
        s3: server.options(),
        ..EngineConfig::default()
    })
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let location = flowlake::LakeLocation::S3 {
            bucket: super::s3_server::BUCKET.into(),
            prefix: prefix.into(),
        };
        let lake = engine.open_lake(location).await.expect("open the S3 lake");
        let mut all = Vec::new();
        for seed in seeds {
            let (case, payload) = random_case(seed);
            all.push(
                answer(
                    &engine,
                    &lake,
                    &case.org,
                    &case.workflow,
                    &payload,
                    Format::Ndjson,
                )
                .await
                .map_err(|e| e.status()),
            );
        }
        all
    })
}

#[test]
fn ingest_and_compact_write_lakes_on_s3_that_answer_like_local_ones() {
    let server = super::s3_server::S3Server::start();
    let expected = answers(&world().root, 0..100);
    // compact a copy of the world in the bucket
    server.upload(&world().root, "world");
    let mut command = flowlake();
    command.args(["compact", "--grace", "0", "--lake", "s3://lake/world"]);
    server.command_env(&mut command);
    succeed(&mut command);
    let day = server
        .bucket_dir()
        .join("world/events")
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
        .read_dir()
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    assert!(day.join("_manifest.json").exists(), "{}", day.display());
    assert_same_answers(&expected, &s3_answers(&server, "world", 0..100));

    // ingest the exports into an empty lake in the bucket
    let exports = tempfile::tempdir().unwrap();
    let (inputs, total) = export(exports.path());
    for file in ["workflows.json", "goals.json"] {
        std::fs::create_dir_all(server.bucket_dir().join("ingested")).unwrap();
        std::fs::copy(
            world().root.join(file),
            server.bucket_dir().join("ingested").join(file),
        )
        .unwrap();
    }
    let mut command = flowlake();
    command
        .args(["ingest", "--lake", "s3://lake/ingested"])
        .args(&inputs);
    server.command_env(&mut command);
    let out = succeed(&mut command);
    assert_eq!(counts(&out).1, total as u64);
    assert_same_answers(&expected, &s3_answers(&server, "ingested", 0..100));
}

#[test]
fn a_server_answering_during_a_compact_answers_as_before_every_time() {
    let lake = tempfile::tempdir().unwrap();
    copy_dir(&world().root, lake.path());
    let (case, body) = random_case(3);
    let body = serde_json::to_vec(&{
        let mut p: Value = serde_json::from_str(&body).unwrap();
        p["target"] = json!("affected_goal_total");
        p["interval"] = json!({"start": "2026-03-01", "end": "2026-03-03"});
        p["filters"] = json!([]);
        p["step_data"] = Value::Null;
        p
    })
    .unwrap();
    let server = super::fuzz::ServerProcess::start(lake.path(), &["--list-cache-ttl", "0"]);
    let url = format!(
        "http://{}/api/reporting/workflow/v1/orgs/{}/workflows/{}/source_data",
        server.address, case.org, case.workflow
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = reqwest::Client::new();
    let ask = || {
        runtime.block_on(async {
            let response = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("answer");
            (
                response.status().as_u16(),
                response.bytes().await.expect("whole body").to_vec(),
            )
        })
    };
    let (status, expected) = ask();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&expected));
    assert!(expected.len() > 1000);
    let mut compacting = flowlake()
        .args(["compact", "--lake"])
        .arg(lake.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut during = 0;
    while compacting.try_wait().unwrap().is_none() {
        let (status, bytes) = ask();
        assert_eq!(status, 200);
        assert!(bytes == expected, "an answer during the compact differs");
        during += 1;
    }
    assert_eq!(compacting.wait().unwrap().code(), Some(0));
    for _ in 0..3 {
        assert!(ask().1 == expected, "an answer after the compact differs");
    }
    assert!(during >= 1, "no request ran during the compact");
}
