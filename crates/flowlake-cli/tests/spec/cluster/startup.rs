//! Starting without a scheduler: clients and executors give up within a bound, and
//! cluster flags that cannot work are usage errors.

use super::compare::query_cli;
use super::*;

/// No scheduler at the address: 503 `cluster_unavailable` naming it, exit code 8, quickly.
#[test]
fn without_a_scheduler_a_cluster_query_is_a_503_naming_the_address() {
    let w = world();
    let (case, payload) = random_case(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("p.json");
    std::fs::write(&file, payload).expect("payload file");
    let port = free_ports(1)[0];
    let address = format!("df://127.0.0.1:{port}");
    let out = query_cli(
        &w.root,
        &case.org,
        &case.workflow,
        &file,
        "json",
        Some(&address),
    );
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("error JSON");
    assert_eq!(err["status"], 503);
    assert_eq!(err["error"], "cluster_unavailable");
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains(&address),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// An executor whose scheduler never answers gives up after `--scheduler-connect-timeout`
/// with exit code 8 and a message that says so (Ballista's own retry loop never ends), and
/// removes its default work folder.
#[test]
fn an_executor_without_a_scheduler_gives_up_within_its_connect_timeout() {
    let ports = free_ports(3);
    let temp = tempfile::tempdir().expect("tempdir");
    let stderr_file = temp.path().join("stderr");
    std::fs::create_dir_all(temp.path().join("tmp")).expect("TMPDIR");
    let mut executor = flowlake()
        .args([
            "executor",
            "--scheduler",
            &format!("127.0.0.1:{}", ports[0]),
            "--listen",
            &format!("127.0.0.1:{}", ports[1]),
        ])
        .args([
            "--grpc-port",
            &ports[2].to_string(),
            "--scheduler-connect-timeout",
            "3",
        ])
        .env("TMPDIR", temp.path().join("tmp"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
        .spawn()
        .expect("start flowlake executor");
    let (status, took) = exit_within(&mut executor, Duration::from_secs(13))
        .expect("the executor was still retrying after 13 s");
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(took >= Duration::from_secs(3), "gave up after {took:?}");
    let err: serde_json::Value =
        serde_json::from_str(stderr.lines().last().unwrap_or_default()).expect("error JSON last");
    assert_eq!(
        (err["status"].as_u64(), err["error"].as_str()),
        (Some(503), Some("cluster_unavailable")),
        "{stderr}"
    );
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("127.0.0.1:{}", ports[0]))
            && message.contains("within 3 s (--scheduler-connect-timeout)"),
        "{message}"
    );
    let left: Vec<_> = std::fs::read_dir(temp.path().join("tmp"))
        .expect("TMPDIR")
        .collect();
    assert!(left.is_empty(), "the executor left {left:?}");
}

/// Bad flags of the cluster commands are usage errors (exit 2), as for every command: an
/// executor timeout that heartbeats cannot beat, a port in use (`serve` alike), a
/// malformed `--cluster`, a work folder that is not the executor's alone.
#[test]
fn cluster_flags_that_cannot_work_are_usage_errors() {
    let repo = crate::support::repo();
    let run = |args: &[&str]| {
        let out = flowlake()
            .current_dir(repo)
            .args(args)
            .output()
            .expect("run flowlake");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[
        "scheduler",
        "--listen",
        "127.0.0.1:0",
        "--executor-timeout",
        "5",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--executor-timeout 5 is not longer than")
            && stderr.contains("--executor-heartbeat-interval 5"),
        "{stderr}"
    );

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let spare = free_ports(1)[0].to_string();
    for args in [
        vec!["scheduler", "--listen", &listen],
        vec![
            "executor",
            "--scheduler",
            "127.0.0.1:1",
            "--listen",
            &listen,
            "--grpc-port",
            &spare,
        ],
        vec!["serve", "--no-auth", "--listen", &listen],
    ] {
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(2), "{}: {stderr}", args[0]);
        assert!(
            stderr.contains(&listen) && stderr.contains("in use"),
            "{}: {stderr}",
            args[0]
        );
    }

    let (code, stderr) = run(&[
        "query",
        "--org",
        "o",
        "--workflow",
        "w",
        "--payload",
        "queries/api-example.json",
        "--cluster",
        "127.0.0.1:8050",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("expected df://HOST:PORT"), "{stderr}");

    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(folder.path().join("notes.txt"), b"not the executor's").expect("file");
    let work_dir = folder.path().to_str().expect("utf-8").to_string();
    let ports = free_ports(2);
    let (listen, grpc) = (format!("127.0.0.1:{}", ports[0]), ports[1].to_string());
    let (code, stderr) = run(&[
        "executor",
        "--scheduler",
        "127.0.0.1:1",
        "--listen",
        &listen,
        "--grpc-port",
        &grpc,
        "--work-dir",
        &work_dir,
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("notes.txt"), "{stderr}");
    assert!(folder.path().join("notes.txt").exists());
}
