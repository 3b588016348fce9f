//! The `flowlake` binary: stdout, stderr and exit codes (README: exit codes).

use std::process::Command;

use super::support::*;

fn flowlake() -> Command {
    Command::new(flowlake_bin())
}

fn lake() -> TestLake {
    let lake = TestLake::new();
    lake.write_events(
        ORG,
        "2026-03-01",
        "a.parquet",
        &[
            view("2026-03-01T09:00:00Z", "v", "s1", "A"),
            goal("2026-03-01T10:00:00Z", "g1", "s1"),
        ],
    );
    lake.write_file(
        "p.json",
        br#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}}"#,
    );
    lake.write_file("bad.json", br#"{"filters": [], }"#);
    lake
}

fn query(lake: &TestLake, org: &str, workflow: &str, payload_file: &str) -> std::process::Output {
    flowlake()
        .args(["query", "--lake"])
        .arg(lake.root())
        .args(["--org", org, "--workflow", workflow, "--payload"])
        .arg(lake.root().join(payload_file))
        .output()
        .expect("run flowlake")
}

#[test]
fn query_prints_the_response_and_exits_0() {
    let lake = lake();
    let out = query(&lake, ORG, WF_INTERACTION, "p.json");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["data"][0]["event_id"], "g1");
    assert!(out.stderr.is_empty());
}

#[test]
fn errors_are_one_json_line_on_stderr_with_the_status_exit_code() {
    let lake = lake();
    for (org, workflow, file, status, code) in [
        ("nope", WF_INTERACTION, "p.json", 400, 3),
        (ORG, WF_INTERACTION, "bad.json", 400, 3),
        (
            ORG,
            "9f000000-0000-4000-8000-000000000009",
            "p.json",
            404,
            5,
        ),
        (ORG, WF_CHAT, "p.json", 406, 6),
    ] {
        let out = query(&lake, org, workflow, file);
        assert_eq!(out.status.code(), Some(code), "{file} {workflow}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let err: serde_json::Value = serde_json::from_str(&stderr).unwrap();
        assert_eq!(err["status"], status);
        assert!(out.stdout.is_empty());
    }
    std::fs::write(
        lake.root().join(
            "events/organization_id=0a000000-0000-4000-8000-000000000001/date=2026-03-01/z.parquet",
        ),
        b"junk",
    )
    .unwrap();
    let out = query(&lake, ORG, WF_INTERACTION, "p.json");
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("z.parquet"));
}

#[test]
fn usage_errors_exit_2() {
    let lake = lake();
    assert_eq!(
        flowlake()
            .args(["query", "--org", ORG])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        query(&lake, ORG, WF_INTERACTION, "missing.json")
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn payload_can_come_from_stdin() {
    use std::io::Write;
    let lake = lake();
    let mut child = flowlake()
        .args(["query", "--lake"])
        .arg(lake.root())
        .args([
            "--org",
            ORG,
            "--workflow",
            WF_INTERACTION,
            "--payload",
            "-",
            "--format",
            "ndjson",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}, "basic": true}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

#[test]
fn generate_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&a, &b] {
        let out = flowlake()
            .args([
                "generate",
                "--orgs",
                "1",
                "--days",
                "2",
                "--events-per-day",
                "200",
                "--seed",
                "5",
                "--out",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let files = |root: &std::path::Path| {
        let mut all = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path())
                } else {
                    all.push((
                        e.path().strip_prefix(root).unwrap().to_path_buf(),
                        std::fs::read(e.path()).unwrap(),
                    ))
                }
            }
        }
        all.sort();
        all
    };
    let (fa, fb) = (files(a.path()), files(b.path()));
    assert!(fa.len() >= 4);
    assert_eq!(fa, fb);
}

/// Under any memory limit an answer is either the same bytes as without one or a clean
/// `resources exhausted` 500: never a different answer, a panic or a kill.
#[test]
fn a_memory_limit_gives_the_same_answer_or_a_clean_refusal() {
    let run = |limit: Option<&str>| {
        let mut command = flowlake();
        command.current_dir(crate::support::repo()).args([
            "query",
            "--org",
            "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
            "--workflow",
            "5887c297-1e03-45e4-863e-7a9f784c5a2c",
            "--payload",
            "queries/all-goals-advanced.json",
        ]);
        if let Some(limit) = limit {
            command.args(["--memory-limit", limit]);
        }
        command.output().expect("run flowlake")
    };
    let free = run(None);
    assert_eq!(free.status.code(), Some(0));
    let (mut answered, mut refused) = (0, 0);
    for limit in ["64K", "1M", "8M", "64M"] {
        let out = run(Some(limit));
        match out.status.code() {
            Some(0) => {
                assert!(out.stdout == free.stdout, "{limit}: a different answer");
                answered += 1;
            }
            Some(7) => {
                let error: serde_json::Value =
                    serde_json::from_slice(&out.stderr).expect("SPEC JSON");
                assert!(
                    error["message"]
                        .as_str()
                        .unwrap()
                        .contains("resources exhausted"),
                    "{limit}: {error}"
                );
                refused += 1;
            }
            other => panic!(
                "{limit}: exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
    assert!(
        answered >= 1,
        "a generous limit answers (refused {refused})"
    );
}

#[test]
fn a_lake_folder_that_does_not_exist_is_a_usage_error_naming_it() {
    let lake = lake();
    let missing = lake.root().join("no-such-lake");
    let out = flowlake()
        .args(["query", "--lake"])
        .arg(&missing)
        .args(["--org", ORG, "--workflow", WF_INTERACTION, "--payload"])
        .arg(lake.root().join("p.json"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-lake"));
    let out = flowlake()
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0", "--lake"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "serve refuses to start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-lake"));
}

#[test]
fn a_lake_path_with_dot_dot_is_the_same_lake() {
    let lake = lake();
    let name = lake
        .root()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let out = flowlake()
        .current_dir(lake.root())
        .args([
            "query",
            "--lake",
            &format!("./../{name}/./"),
            "--org",
            ORG,
            "--workflow",
            WF_INTERACTION,
            "--payload",
            "p.json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        query(&lake, ORG, WF_INTERACTION, "p.json").stdout,
        out.stdout
    );
}

#[test]
fn an_unwritable_stderr_is_no_panic() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let lake = lake();
    let out = flowlake()
        .args(["query", "--lake"])
        .arg(lake.root())
        .args(["--org", ORG, "--workflow", WF_CHAT, "--payload"])
        .arg(lake.root().join("p.json"))
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "the 406 exit code, not a panic's 101"
    );
}

#[test]
fn a_closed_stdout_pipe_ends_the_program_quietly() {
    use std::io::Read;
    let mut child = flowlake()
        .current_dir(crate::support::repo())
        .args([
            "query",
            "--org",
            "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
            "--workflow",
            "5887c297-1e03-45e4-863e-7a9f784c5a2c",
        ])
        .args([
            "--payload",
            "queries/all-goals-advanced.json",
            "--format",
            "ndjson",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 300];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout); // as `| head -c 300` does
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "nothing to report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plans_name_the_events_table() {
    let lake = lake();
    let out = flowlake()
        .args(["explain", "--lake"])
        .arg(lake.root())
        .args(["--org", ORG, "--workflow", WF_INTERACTION, "--payload"])
        .arg(lake.root().join("p.json"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("TableScan: events"), "{text}");
    assert!(!text.contains("?table?"), "{text}");
}

#[test]
fn the_listing_cache_flag_is_offered_only_where_it_acts() {
    for (command, offered) in [
        ("query", false),
        ("explain", false),
        ("batch", true),
        ("serve", true),
    ] {
        let help = flowlake().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8(help.stdout).unwrap();
        assert_eq!(text.contains("--list-cache-ttl"), offered, "{command}");
    }
}

#[test]
fn generate_refuses_a_non_empty_folder_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |extra: &[&str]| {
        flowlake()
            .args([
                "generate",
                "--orgs",
                "1",
                "--days",
                "1",
                "--events-per-day",
                "50",
                "--out",
            ])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(generate(&[]).status.code(), Some(0));
    let stray = dir.path().join(
        "events/organization_id=0a000000-0000-4000-8000-000000000001/date=2026-03-01/old.parquet",
    );
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"an older generation").unwrap();
    let refused = generate(&["--seed", "7"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert!(stray.exists(), "nothing was touched");
    assert_eq!(generate(&["--seed", "7", "--force"]).status.code(), Some(0));
    assert!(!stray.exists(), "--force emptied the folder first");

    let not_a_lake = tempfile::tempdir().unwrap();
    std::fs::write(not_a_lake.path().join("thesis.tex"), b"precious").unwrap();
    let out = flowlake()
        .args(["generate", "--force", "--out"])
        .arg(not_a_lake.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(not_a_lake.path().join("thesis.tex").exists());
}

/// The foreign layouts of the benchmark (time order, zstd, big row groups, no bloom
/// filters) hold the same events: every answer is the same as on the default layout.
#[test]
fn foreign_layouts_from_generate_answer_like_the_default_one() {
    let answer = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = flowlake()
            .args([
                "generate",
                "--orgs",
                "1",
                "--days",
                "2",
                "--events-per-day",
                "400",
                "--seed",
                "3",
                "--out",
            ])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let org = text
            .lines()
            .find_map(|l| l.strip_prefix("organization "))
            .unwrap()
            .trim()
            .to_string();
        let workflow = text
            .lines()
            .find(|l| l.contains("interaction"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        std::fs::write(dir.path().join("p.json"), br#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-02"}, "target": "affected_goal_total"}"#).unwrap();
        let out = flowlake()
            .args(["query", "--lake"])
            .arg(dir.path())
            .args(["--org", &org, "--workflow", &workflow, "--payload"])
            .arg(dir.path().join("p.json"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let default = answer(&[]);
    assert!(default.len() > 1000);
    assert!(
        default
            == answer(&[
                "--sort-by",
                "time",
                "--codec",
                "zstd",
                "--no-bloom-filters",
                "--row-group-size",
                "1048576"
            ])
    );
    assert!(
        default
            == answer(&[
                "--sort-by",
                "time",
                "--codec",
                "snappy",
                "--no-bloom-filters",
                "--row-group-size",
                "65536"
            ])
    );
}
