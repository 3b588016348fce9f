//! SPEC §1 day manifests and §8 writers: `compact` and `ingest` change no answer, count
//! every input row, never add an input twice, and race, crash and serve safely.

mod ingest;
mod interruptions;
mod on_s3;

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
