//! `flowlake batch`: statuses and exit code, results equal to `flowlake query`, and a run
//! killed with SIGKILL then resumed ending byte-identical to an uninterrupted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::support::flowlake_bin;

const SAMPLE_ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
const SPRING: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";
const CHECKOUT: &str = "11cb2189-71dc-439b-a795-fd32ccf3f43e";

fn repo(relative: &str) -> PathBuf {
    crate::support::repo().join(relative)
}

fn flowlake() -> Command {
    let mut command = Command::new(flowlake_bin());
    command.current_dir(crate::support::repo());
    command
}

fn batch(queries: &Path, out: &Path, extra: &[&str]) -> Output {
    flowlake()
        .arg("batch")
        .arg("--queries")
        .arg(queries)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run flowlake")
}

fn summary(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json"))
        .expect("summary is JSON")
}

fn by_name(summary: &Value) -> BTreeMap<String, Value> {
    summary["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["name"].as_str().unwrap().to_string(), q.clone()))
        .collect()
}

/// Every file of a folder but the lock, name → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != ".flowlake-batch.lock")
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn statuses_errors_and_the_exit_code_are_recorded_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("q.ndjson");
    let mut text = std::fs::read_to_string(repo("queries/batch.ndjson")).unwrap();
    text.push_str(
        "{\"organization_id\": \"8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d\", \"workflow_id\": \n",
    );
    text.push_str(&json!({"name": "../escape", "organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": {}}).to_string());
    text.push('\n');
    text.push_str(&json!({"name": "bad-org", "organization_id": "not-a-uuid", "workflow_id": SPRING, "payload": {}}).to_string());
    std::fs::write(&queries, text).unwrap();
    let out = dir.path().join("out");

    let run = batch(&queries, &out, &["--jobs", "3"]);
    assert_eq!(
        run.status.code(),
        Some(9),
        "some failed → exit 9\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = summary(&out);
    let queries = by_name(&summary);
    let expect = [
        ("api-example", "ok", None),
        ("checkout-day-03", "ok", None),
        ("chat-is-not-implemented", "failed", Some(406)),
        ("unknown-filter", "failed", Some(406)),
        ("unknown-workflow", "failed", Some(404)),
        ("line-22", "failed", Some(400)),
        ("../escape", "failed", Some(400)),
        ("bad-org", "failed", Some(400)),
    ];
    for (name, status, error) in expect {
        let q = &queries[name];
        assert_eq!(q["status"], status, "{name}: {q}");
        assert_eq!(
            q["error"]["status"].as_u64(),
            error.map(|e| e as u64),
            "{name}: {q}"
        );
    }
    assert_eq!(queries["api-example"]["rows"], 50);
    assert_eq!(summary["total"], 24);
    assert_eq!(summary["failed"], 6);
    assert_eq!(summary["ok"], 18);

    // Exactly one file per answered query, none for the failed ones, nothing partial.
    let written = files(&out);
    let expected: Vec<String> = queries
        .values()
        .filter(|q| q["status"] == "ok")
        .map(|q| q["output"].as_str().unwrap().to_string())
        .collect();
    let mut names: Vec<&String> = written.keys().filter(|n| *n != "summary.json").collect();
    names.sort();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());
    for q in queries.values().filter(|q| q["status"] == "ok") {
        assert_eq!(
            written[q["output"].as_str().unwrap()].len() as u64,
            q["bytes"].as_u64().unwrap()
        );
    }

    let clean = dir.path().join("clean.ndjson");
    std::fs::write(
        &clean,
        std::fs::read_to_string(repo("queries/batch.ndjson"))
            .unwrap()
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(
        batch(&clean, &dir.path().join("clean"), &[]).status.code(),
        Some(0),
        "all ok → exit 0"
    );
}

#[test]
fn results_equal_what_query_prints_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("queries");
    std::fs::create_dir(&folder).unwrap();
    let cases = [
        ("api", SPRING, "queries/api-example.json"),
        ("advanced", SPRING, "queries/all-goals-advanced.json"),
        ("properties", SPRING, "queries/rooms-and-properties.json"),
    ];
    for (name, workflow, file) in cases {
        let payload: Value = serde_json::from_slice(&std::fs::read(repo(file)).unwrap()).unwrap();
        let query =
            json!({"organization_id": SAMPLE_ORG, "workflow_id": workflow, "payload": payload});
        std::fs::write(folder.join(format!("{name}.json")), query.to_string()).unwrap();
    }
    for format in ["json", "ndjson", "csv", "arrow"] {
        let out = dir.path().join(format);
        let run = batch(&folder, &out, &["--format", format]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let extension = if format == "arrow" { "arrows" } else { format };
        for (name, workflow, file) in cases {
            let printed = flowlake()
                .args([
                    "query",
                    "--org",
                    SAMPLE_ORG,
                    "--workflow",
                    workflow,
                    "--format",
                    format,
                    "--payload",
                    file,
                ])
                .output()
                .unwrap();
            assert_eq!(printed.status.code(), Some(0));
            let written = std::fs::read(out.join(format!("{name}.{extension}"))).unwrap();
            assert!(
                written == printed.stdout,
                "{name}.{extension} differs from `flowlake query --format {format}`"
            );
        }
    }
}

/// Sixty small queries, so that a run with one job lasts long enough to be killed in the middle.
fn many_queries(dir: &Path) -> PathBuf {
    let file = dir.join("many.ndjson");
    let mut lines = Vec::new();
    for day in 1..=14 {
        for (variant, extra) in [
            ("total", json!({"target": "affected_goal_total"})),
            ("basic", json!({"basic": true})),
            ("limit", json!({"limit": 7})),
        ] {
            let mut payload = json!({"filters": [], "interval": {"start": format!("2026-03-{day:02}"), "end": format!("2026-03-{day:02}")}});
            payload
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            for (wf_name, wf) in [("spring", SPRING), ("checkout", CHECKOUT)] {
                let name = format!("{wf_name}-{variant}-{day:02}");
                lines.push(json!({"name": name, "organization_id": SAMPLE_ORG, "workflow_id": wf, "payload": payload}).to_string());
            }
        }
    }
    std::fs::write(&file, lines.join("\n")).unwrap();
    file
}

#[test]
fn a_run_killed_with_sigkill_then_resumed_leaves_the_files_of_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let queries = many_queries(dir.path());
    let whole = dir.path().join("whole");
    assert_eq!(
        batch(&queries, &whole, &["--format", "ndjson", "--jobs", "2"])
            .status
            .code(),
        Some(0)
    );
    let expected = files(&whole);
    assert_eq!(expected.len(), 85, "84 results and summary.json");

    let out = dir.path().join("killed");
    let mut child = flowlake()
        .args(["batch", "--format", "ndjson", "--jobs", "1", "--queries"])
        .arg(&queries)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let results = |out: &Path| {
        std::fs::read_dir(out)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
                    .count()
            })
            .unwrap_or(0)
    };
    while results(&out) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = files(&out);
    assert!(
        !after_kill.contains_key("summary.json"),
        "the run was killed before it finished"
    );
    for (name, bytes) in &after_kill {
        if name.ends_with(".partial") {
            continue; // a temporary name, never a final one
        }
        assert!(
            expected.get(name) == Some(bytes),
            "{name} carries a final name but is not the complete result"
        );
    }

    let resumed = batch(
        &queries,
        &out,
        &["--format", "ndjson", "--jobs", "2", "--resume"],
    );
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let skipped = summary(&out)["skipped"].as_u64().unwrap();
    assert!(
        skipped >= 3,
        "the complete results were kept, not redone ({skipped} skipped)"
    );
    let mut finished = files(&out);
    let mut expected = expected;
    finished.remove("summary.json");
    expected.remove("summary.json");
    assert_eq!(
        finished.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the same files, none partial"
    );
    assert!(finished == expected, "byte-identical results");
    // The summary of the resumed run counts the rows of the skipped queries too: its totals
    // are those of the uninterrupted run.
    let (uninterrupted, resumed) = (summary(&whole), summary(&out));
    assert_eq!(
        (&resumed["rows"], &resumed["bytes"]),
        (&uninterrupted["rows"], &uninterrupted["bytes"])
    );
    let rows = by_name(&uninterrupted);
    for (name, query) in by_name(&resumed) {
        assert_eq!(
            query["rows"], rows[&name]["rows"],
            "{name} ({})",
            query["status"]
        );
    }
}

/// A query file that cannot be read (a dangling link) is a failed query of the summary,
/// not one left out; `--jobs 0` would run nothing and is refused.
#[cfg(unix)]
#[test]
fn a_dangling_query_file_fails_in_the_summary_and_zero_jobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    for name in ["api-example", "rooms-and-properties"] {
        let payload: Value =
            serde_json::from_slice(&std::fs::read(repo(&format!("queries/{name}.json"))).unwrap())
                .unwrap();
        let query =
            json!({"organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": payload});
        std::fs::write(queries.join(format!("{name}.json")), query.to_string()).unwrap();
    }
    std::os::unix::fs::symlink(
        dir.path().join("moved-away.json"),
        queries.join("dangling.json"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = batch(&queries, &out, &[]);
    assert_eq!(
        run.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary = summary(&out);
    assert_eq!(
        (
            summary["total"].as_u64(),
            summary["ok"].as_u64(),
            summary["failed"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let dangling = &by_name(&summary)["dangling"];
    assert_eq!(dangling["status"], "failed");
    let message = dangling["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("symbolic link") && message.contains("moved-away.json"),
        "{message}"
    );

    let refused = batch(&queries, &dir.path().join("none"), &["--jobs", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("give 1 or more"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

#[test]
fn a_query_named_summary_is_refused_and_the_summary_stays_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("q.ndjson");
    let payload = json!({"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "limit": 3});
    let lines = [
        json!({"name": "summary", "organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": payload}),
        json!({"name": "fine", "organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": payload}),
    ];
    std::fs::write(
        &queries,
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let out = dir.path().join("out");
    assert_eq!(batch(&queries, &out, &[]).status.code(), Some(9));
    let summary = summary(&out);
    assert_eq!(
        summary["total"], 2,
        "summary.json is the run's summary: {summary}"
    );
    let queries_by_name = by_name(&summary);
    assert_eq!(queries_by_name["summary"]["status"], "failed");
    assert!(
        queries_by_name["summary"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reserved")
    );
    // --resume does not take the summary for the query's result.
    batch(&queries, &out, &["--resume"]);
    assert_eq!(by_name(&self::summary(&out))["summary"]["status"], "failed");
}

#[test]
fn an_output_folder_that_overlaps_the_queries_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    let query = json!({"organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": {"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}}});
    std::fs::write(queries.join("q1.json"), query.to_string()).unwrap();
    let before = files(&queries);
    for out in [
        queries.clone(),
        queries.join("results"),
        dir.path().to_path_buf(),
    ] {
        let run = batch(&queries, &out, &[]);
        assert_eq!(run.status.code(), Some(2), "{}", out.display());
        assert!(String::from_utf8_lossy(&run.stderr).contains("overlap"));
    }
    assert_eq!(files(&queries), before, "the query files are untouched");
}
