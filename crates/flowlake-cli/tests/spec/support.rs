//! Helpers shared by the spec tests: hand-built lakes and running the engine in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowlake::format::event::{to_record_batch, to_record_batch_with};
use flowlake::generate::Event;
use flowlake::output::{Format, write_response};
use flowlake::write::layout::{FileLayout, to_parquet};
use flowlake::{Engine, EngineConfig, Lake, LakeLocation, Query};

/// The repository's root (the sample lake `data/`, the example `queries/`), without `..`
/// (which local object store paths refuse).
pub fn repo() -> &'static std::path::Path {
    static ROOT: std::sync::LazyLock<std::path::PathBuf> = std::sync::LazyLock::new(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .expect("the repository's root")
    });
    &ROOT
}

pub const ORG: &str = "0a000000-0000-4000-8000-000000000001";
pub const OTHER_ORG: &str = "0b000000-0000-4000-8000-000000000002";
pub const WF_INTERACTION: &str = "1a000000-0000-4000-8000-000000000001";
pub const WF_WEB: &str = "1b000000-0000-4000-8000-000000000002";
pub const WF_USER: &str = "1c000000-0000-4000-8000-000000000003";
pub const WF_CHAT: &str = "1d000000-0000-4000-8000-000000000004";
pub const WF_OTHER_ORG: &str = "1e000000-0000-4000-8000-000000000005";
pub const INTERACTION: &str = "2a000000-0000-4000-8000-000000000001";
pub const GOAL: &str = "3a000000-0000-4000-8000-000000000001";
pub const GOAL_2: &str = "3b000000-0000-4000-8000-000000000002";

/// The flowlake binary under test: the one cargo built, unless `FLOWLAKE_BIN` names another
/// (checkouts that share one target folder replace each other's `target/debug/flowlake`;
/// a copy of the binary just built keeps a long run on its own).
pub fn flowlake_bin() -> std::ffi::OsString {
    std::env::var_os("FLOWLAKE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_flowlake").into())
}

/// Microseconds of an RFC 3339 instant.
pub fn us(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("test instant")
        .timestamp_micros()
}

/// A lake in a temporary folder, with the standard test catalog.
pub struct TestLake {
    pub dir: tempfile::TempDir,
}

impl TestLake {
    pub fn new() -> TestLake {
        let lake = TestLake {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let workflows = serde_json::json!([
            {"id": WF_INTERACTION, "organization_id": ORG, "type": "interaction", "name": "Campaign", "interaction_ids": [INTERACTION]},
            {"id": WF_WEB, "organization_id": ORG, "type": "web_navigation", "name": "Funnel"},
            {"id": WF_USER, "organization_id": ORG, "type": "user_generated", "name": "Support"},
            {"id": WF_CHAT, "organization_id": ORG, "type": "chat", "name": "Chat"},
            {"id": WF_OTHER_ORG, "organization_id": OTHER_ORG, "type": "interaction", "name": "Theirs", "interaction_ids": [INTERACTION]},
        ]);
        let goals = serde_json::json!([
            {"id": GOAL, "organization_id": ORG, "name": "Signup"},
            {"id": GOAL_2, "organization_id": OTHER_ORG, "name": "Not ours"},
        ]);
        lake.write_file("workflows.json", workflows.to_string().as_bytes());
        lake.write_file("goals.json", goals.to_string().as_bytes());
        lake
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_file(&self, relative: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
        path
    }

    pub fn day_file(org: &str, date: &str, name: &str) -> String {
        format!("events/organization_id={org}/date={date}/{name}")
    }

    /// Writes events (in the given order) as one Parquet file of the org's day.
    pub fn write_events(&self, org: &str, date: &str, name: &str, events: &[Event]) -> PathBuf {
        let batch = to_record_batch(events).expect("batch");
        self.write_file(
            &Self::day_file(org, date, name),
            &to_parquet(
                &batch,
                FileLayout {
                    row_group_size: 4,
                    ..FileLayout::default()
                },
            )
            .expect("parquet"),
        )
    }

    /// Writes only `columns` of the events.
    pub fn write_events_with_columns(
        &self,
        org: &str,
        date: &str,
        name: &str,
        events: &[Event],
        columns: &[&str],
    ) -> PathBuf {
        let schema = flowlake::format::schema::file_schema();
        let projected = Arc::new(
            schema
                .project(
                    &columns
                        .iter()
                        .map(|c| schema.index_of(c).expect("column"))
                        .collect::<Vec<_>>(),
                )
                .expect("project"),
        );
        let batch = to_record_batch_with(events, projected).expect("batch");
        self.write_file(
            &Self::day_file(org, date, name),
            &to_parquet(&batch, FileLayout::default()).expect("parquet"),
        )
    }
}

/// A Parquet file of `events` in row groups of `rows_per_group`, plain and uncompressed:
/// two files of events whose strings have the same lengths have the same size and layout.
pub fn plain_parquet(events: &[Event], rows_per_group: usize) -> Vec<u8> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;
    let batch = to_record_batch(events).expect("batch");
    let properties = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    bytes
}

/// A Parquet file of `events` (plain, uncompressed) whose footer is sound but whose data
/// page of `column` in the first row group is overwritten with 0xFF in its second half.
pub fn parquet_with_a_corrupt_data_page(events: &[Event], column: &str) -> Vec<u8> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let batch = to_record_batch(events).expect("batch");
    let properties = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .build();
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).expect("sound file");
    let row_group = reader.metadata().row_group(0);
    let chunk = row_group
        .columns()
        .iter()
        .find(|c| c.column_path().string() == column)
        .expect("column");
    let (start, length) = (
        chunk.data_page_offset() as usize,
        chunk.compressed_size() as usize,
    );
    bytes[start + length / 2..start + length].fill(0xFF);
    let footer_len = u32::from_le_bytes(
        bytes[bytes.len() - 8..bytes.len() - 4]
            .try_into()
            .expect("4 bytes"),
    ) as usize;
    assert!(
        start + length < bytes.len() - 8 - footer_len,
        "the footer is untouched"
    );
    bytes
}

/// An event with the required columns set.
pub fn event(
    ts: &str,
    id: &str,
    session: &str,
    category: &str,
    action: &str,
    label: &str,
) -> Event {
    Event {
        timestamp_us: us(ts),
        event_id: id.to_string(),
        category: category.to_string(),
        action: action.to_string(),
        label: label.to_string(),
        visitor_id: format!("visitor-of-{session}"),
        session_id: session.to_string(),
        ..Default::default()
    }
}

pub fn view(ts: &str, id: &str, session: &str, view_uid: &str) -> Event {
    Event {
        view_uid: Some(view_uid.to_string()),
        ..event(ts, id, session, "widget", "view", INTERACTION)
    }
}

pub fn goal(ts: &str, id: &str, session: &str) -> Event {
    Event {
        value: Some(9.5),
        ..event(ts, id, session, "goal", "trigger", GOAL)
    }
}

/// The outcome of one request: the response JSON, or the error's status and body.
#[derive(Debug)]
pub enum Outcome {
    Ok(serde_json::Value),
    Err(u16, serde_json::Value),
}

impl Outcome {
    pub fn json(self) -> serde_json::Value {
        match self {
            Outcome::Ok(v) => v,
            Outcome::Err(status, body) => panic!("expected 200, got {status}: {body}"),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Outcome::Ok(_) => 200,
            Outcome::Err(status, _) => *status,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Outcome::Ok(_) => panic!("expected an error"),
            Outcome::Err(_, body) => body["message"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// The `event_id`s of the rows, in order.
    pub fn ids(self) -> Vec<String> {
        self.json()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|r| r["event_id"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

/// Runs one request through the library, as the CLI does, and returns the raw bytes.
pub async fn run_bytes(
    engine: &Engine,
    lake: &Path,
    org: &str,
    workflow: &str,
    payload: &str,
    format: Format,
) -> Result<Vec<u8>, flowlake::Error> {
    Query::from_request(org, workflow, payload.as_bytes())?; // the CLI validates before it opens the lake
    let lake = engine
        .open_lake(LakeLocation::Local(lake.to_path_buf()))
        .await?;
    answer(engine, &lake, org, workflow, payload, format).await
}

/// Runs one request on an opened lake and returns the raw bytes.
pub async fn answer(
    engine: &Engine,
    lake: &Lake,
    org: &str,
    workflow: &str,
    payload: &str,
    format: Format,
) -> Result<Vec<u8>, flowlake::Error> {
    let query = Query::from_request(org, workflow, payload.as_bytes())?;
    let response = engine.execute(lake, &query).await?;
    let mut out = Vec::new();
    write_response(response, format, &mut out).await?;
    Ok(out)
}

pub async fn run(lake: &Path, org: &str, workflow: &str, payload: &str) -> Outcome {
    let engine = Engine::new(&EngineConfig::default()).expect("engine");
    match run_bytes(&engine, lake, org, workflow, payload, Format::Json).await {
        Ok(bytes) => Outcome::Ok(serde_json::from_slice(&bytes).expect("response is JSON")),
        Err(e) => Outcome::Err(
            e.status(),
            serde_json::from_str(&e.to_json()).expect("error is JSON"),
        ),
    }
}

/// A payload with the given filters/extra keys over an interval.
pub fn payload(start: &str, end: &str, extra: serde_json::Value) -> String {
    let mut p = serde_json::json!({"filters": [], "interval": {"start": start, "end": end}});
    if let serde_json::Value::Object(map) = extra {
        for (k, v) in map {
            p[k] = v;
        }
    }
    p.to_string()
}
