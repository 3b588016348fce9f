//! The memory pool of `serve` and `batch`: derived from the machine's memory by default,
//! stated at start, overridden by `--memory-limit` (fractions accepted, zero refused).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};

use serde_json::json;

const SAMPLE_ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
const SPRING: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";

fn flowlake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    command.current_dir(crate::support::repo());
    command
}

/// Starts `serve` on the sample lake with `extra` flags, checks it answers, stops it, and
/// returns its first line of stderr (the address) and the line that states the pool.
fn serve_startup(extra: &[&str]) -> (String, String) {
    let mut child = flowlake()
        .args(["serve", "--no-auth", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit("http://").next().unwrap().to_string();
    let mut health = TcpStream::connect(&addr).unwrap();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    health.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{first}{rest}");
    let pool = rest
        .lines()
        .find(|line| line.contains("memory pool"))
        .unwrap_or_default()
        .to_string();
    (first, pool)
}

#[test]
fn serve_states_the_pool_it_derived_from_the_machines_memory() {
    let (listening, pool) = serve_startup(&["--max-concurrent", "8"]);
    assert!(listening.contains("listening on http://"), "{listening}");
    assert!(
        pool.starts_with("flowlake: memory pool ") && pool.contains("(default: half of the "),
        "{pool}"
    );
    assert!(pool.contains("for each of 8 queries at once"), "{pool}");

    let (_, asked) = serve_startup(&["--memory-limit", "1.5G"]);
    assert_eq!(
        asked.trim(),
        "flowlake: memory pool 1.5 GiB (--memory-limit)"
    );
}

#[test]
fn batch_states_the_pool_it_derived_for_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let queries = dir.path().join("q.ndjson");
    let payload: serde_json::Value = serde_json::from_slice(
        &std::fs::read(crate::support::repo().join("queries/api-example.json")).unwrap(),
    )
    .unwrap();
    let query = json!({"name": "one", "organization_id": SAMPLE_ORG, "workflow_id": SPRING, "payload": payload});
    std::fs::write(&queries, format!("{query}\n")).unwrap();
    let run = |out: &str, extra: &[&str]| -> Output {
        flowlake()
            .arg("batch")
            .arg("--queries")
            .arg(&queries)
            .arg("--out")
            .arg(dir.path().join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let derived = run("derived", &["--jobs", "3"]);
    let stderr = String::from_utf8_lossy(&derived.stderr);
    assert_eq!(derived.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("memory pool ") && stderr.contains("for each of 3 queries at once"),
        "{stderr}"
    );

    let asked = run("asked", &["--jobs", "3", "--memory-limit", "0.5G"]);
    assert_eq!(asked.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&asked.stderr).contains("memory pool 512.0 MiB (--memory-limit)")
    );
    assert!(
        std::fs::read(dir.path().join("derived/one.json")).unwrap()
            == std::fs::read(dir.path().join("asked/one.json")).unwrap()
    );
}

#[test]
fn a_zero_memory_limit_is_a_usage_error_at_start() {
    for command in [
        vec![
            "serve",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--memory-limit",
            "0",
        ],
        vec![
            "batch",
            "--queries",
            "queries",
            "--out",
            "/nonexistent/out",
            "--memory-limit",
            "0M",
        ],
        vec![
            "query",
            "--org",
            SAMPLE_ORG,
            "--workflow",
            SPRING,
            "--payload",
            "queries/api-example.json",
            "--memory-limit",
            "0",
        ],
    ] {
        let out = flowlake().args(&command).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("--memory-limit") && stderr.contains("0 bytes"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}
