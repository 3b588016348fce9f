//! Ctrl-C, SIGTERM and `--request-timeout` cancel the job on the cluster; large Arrow
//! answers are the local bytes.

use super::compare::{BigLake, describe};
use super::lost::{
    a_scheduler_lost_mid_query_is_a_503_naming_it,
    a_scheduler_paused_past_the_executor_timeout_leaves_a_working_cluster,
    every_executor_lost_is_a_503_within_a_bound,
};
use super::*;

/// Ctrl-C, SIGTERM and `--request-timeout` cancel the job on the cluster; every executor
/// lost mid-query is a 503 `cluster_unavailable` within a bound, never a hang or a success.
#[test]
fn signals_timeouts_and_lost_executors_end_cluster_jobs() {
    let lake = BigLake::generate();
    let (timeout, connect) = (
        FAULT_EXECUTOR_TIMEOUT.to_string(),
        FAULT_CONNECT_TIMEOUT.to_string(),
    );
    let mut cluster = Cluster::start_with(
        None,
        &[
            "--executor-timeout",
            &timeout,
            "--executor-heartbeat-interval",
            "1",
        ],
        &[
            "--heartbeat-interval",
            "1",
            "--scheduler-connect-timeout",
            &connect,
        ],
    );
    let files = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut whole = lake.query(&cluster, files.path());
    let status = exit_within(&mut whole, STARTUP_LIMIT).expect("the query finished");
    let answer = std::fs::read(files.path().join("stdout")).expect("stdout");
    assert!(
        status.0.success(),
        "{}",
        std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default()
    );
    println!(
        "the whole query on the cluster: {:.1} s, {} bytes",
        started.elapsed().as_secs_f64(),
        answer.len()
    );
    large_arrow_answers_are_the_local_bytes(&cluster, &lake);

    query_stopped_by_ctrl_c_cancels_its_job(&cluster, &lake);
    batch_stopped_by_sigterm_cancels_its_job_and_keeps_no_partial_result(&cluster, &lake);
    serve_request_timeout_during_submission_cancels_the_job(&cluster, &lake);
    a_scheduler_paused_past_the_executor_timeout_leaves_a_working_cluster(
        &mut cluster,
        &lake,
        &answer,
    );
    every_executor_lost_is_a_503_within_a_bound(&mut cluster, &lake, &answer);
    a_scheduler_lost_mid_query_is_a_503_naming_it(&mut cluster, &lake);
}

/// An Arrow answer of megabytes: the executors' Flight service splits record batches
/// larger than its message size, so the cluster's batches are not the engine's; the bytes
/// are the local ones all the same.
fn large_arrow_answers_are_the_local_bytes(cluster: &Cluster, lake: &BigLake) {
    let run = |address: Option<&str>| {
        let mut command = flowlake();
        command
            .args(["query", "--format", "arrow", "--lake"])
            .arg(lake.root());
        command
            .args([
                "--org",
                &lake.org,
                "--workflow",
                &lake.workflow,
                "--payload",
            ])
            .arg(&lake.payload);
        if let Some(address) = address {
            command.args(["--cluster", address]);
        }
        command.output().expect("run flowlake query")
    };
    let (local, remote) = (run(None), run(Some(&cluster.address())));
    assert!(
        local.status.success() && remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert!(
        local.stdout == remote.stdout,
        "a large Arrow answer differs:\n{}",
        describe(Format::Arrow, &local.stdout, &remote.stdout)
    );
    println!(
        "a large Arrow answer: {} bytes, the same on the cluster",
        local.stdout.len()
    );
}

fn query_stopped_by_ctrl_c_cancels_its_job(cluster: &Cluster, lake: &BigLake) {
    let files = tempfile::tempdir().expect("tempdir");
    let known = cluster.jobs().len();
    let mut client = lake.query(cluster, files.path());
    let job = cluster.next_job(known, &mut client);
    signal(&client, "INT");
    let (status, took) =
        exit_within(&mut client, STOP_LIMIT).expect("query --cluster did not exit after SIGINT");
    let stderr = std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("stopped by SIGINT; 1 job(s) cancelled on the cluster"),
        "{stderr}"
    );
    // The client exits once the scheduler has taken the cancellation.
    assert!(
        cluster.was_cancelled(&job),
        "job {job} was not cancelled:\n{}",
        cluster.log("scheduler")
    );
    println!(
        "query --cluster stopped by SIGINT in {:.2} s, job {job} cancelled",
        took.as_secs_f64()
    );
}

fn batch_stopped_by_sigterm_cancels_its_job_and_keeps_no_partial_result(
    cluster: &Cluster,
    lake: &BigLake,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lake.payload).expect("payload")).expect("JSON");
    let lines: Vec<String> = (1..=3)
        .map(|i| serde_json::json!({"name": format!("q{i}"), "organization_id": lake.org, "workflow_id": lake.workflow, "payload": payload}).to_string())
        .collect();
    let queries = dir.path().join("queries.ndjson");
    std::fs::write(&queries, lines.join("\n")).expect("queries");
    let out = dir.path().join("out");
    let known = cluster.jobs().len();
    let mut client = flowlake()
        .args(["batch", "--jobs", "1", "--format", "csv", "--lake"])
        .arg(lake.root())
        .arg("--queries")
        .arg(&queries)
        .arg("--out")
        .arg(&out)
        .args(["--cluster", &cluster.address()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
        .spawn()
        .expect("start flowlake batch");
    let job = cluster.next_job(known, &mut client);
    signal(&client, "TERM");
    let (status, _) =
        exit_within(&mut client, STOP_LIMIT).expect("batch --cluster did not exit after SIGTERM");
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    assert!(
        cluster.was_cancelled(&job),
        "job {job} was not cancelled:\n{}",
        cluster.log("scheduler")
    );
    let left: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left.iter().any(|name| name.ends_with(".csv")
            || name.contains("partial")
            || name == "summary.json"),
        "left behind: {left:?}"
    );
}

/// `serve --request-timeout 1` with a scheduler that does not name the job within it
/// (frozen, as under load): the client gets its 503, and the job, named once the scheduler
/// runs again, is cancelled rather than run to its end.
fn serve_request_timeout_during_submission_cancels_the_job(cluster: &Cluster, lake: &BigLake) {
    let (mut server, port) = cluster.serve("serve-timeout", |serve| {
        serve
            .args(["--request-timeout", "1", "--lake"])
            .arg(lake.root());
    });
    let known = cluster.jobs().len();
    let payload = std::fs::read(&lake.payload).expect("payload");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "POST /api/reporting/workflow/v1/orgs/{}/workflows/{}/source_data HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        lake.org, lake.workflow, payload.len()
    )
    .expect("request");
    stream.write_all(&payload).expect("body");
    signal(cluster.process("scheduler"), "STOP");
    std::thread::sleep(Duration::from_millis(2500));
    signal(cluster.process("scheduler"), "CONT");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("response");
    let text = String::from_utf8_lossy(&response[..response.len().min(400)]);
    assert!(
        text.starts_with("HTTP/1.1 503") && text.contains("\"timeout\""),
        "{text}"
    );
    let waited = Instant::now();
    let job = loop {
        if let Some(job) = cluster.jobs().get(known) {
            break job.clone();
        }
        assert!(
            waited.elapsed() < STOP_LIMIT,
            "no job was submitted:\n{}",
            cluster.log("scheduler")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    while !cluster
        .log("scheduler")
        .contains(&format!("Job cancelled: [{job}]"))
    {
        assert!(
            waited.elapsed() < STOP_LIMIT,
            "job {job} was not cancelled after the request timed out:\n{}\n{}",
            cluster.log("scheduler"),
            cluster.log("serve-timeout")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !cluster
            .log("scheduler")
            .contains(&format!("Job finished successfully: [{job}]")),
        "job {job} ran to its end"
    );
    println!(
        "a request timed out during submission: job {job} cancelled {:.1} s after the scheduler resumed",
        waited.elapsed().as_secs_f64()
    );
    signal(&server.0, "TERM");
    let _ = exit_within(&mut server.0, STOP_LIMIT);
}
