//! A scheduler paused or lost, and every executor lost: answers come back or a 503 names
//! the cluster within a bound, never a hang or a short success.

use super::compare::BigLake;
use super::*;

/// A scheduler frozen (SIGSTOP) for longer than `--executor-timeout`, then resumed, counts
/// every executor as lost and stops it; the executors register again, and the cluster
/// answers as before.
pub(super) fn a_scheduler_paused_past_the_executor_timeout_leaves_a_working_cluster(
    cluster: &mut Cluster,
    lake: &BigLake,
    answer: &[u8],
) {
    signal(cluster.process("scheduler"), "STOP");
    std::thread::sleep(Duration::from_secs(FAULT_EXECUTOR_TIMEOUT + 3));
    signal(cluster.process("scheduler"), "CONT");
    let started = Instant::now();
    // The scheduler drops the executors once it runs again, then they join again.
    while !cluster.log("scheduler").contains("heartbeat timed out") {
        assert!(
            started.elapsed() < STOP_LIMIT,
            "the resumed scheduler kept its executors:\n{}",
            cluster.log("scheduler")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.wait_for_executors(2);
    for name in ["executor-1", "executor-2"] {
        let (_, child) = cluster
            .processes
            .iter_mut()
            .find(|(n, _)| n == name)
            .expect("executor");
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "{name} exited:\n{}",
            cluster.log(name)
        );
    }
    let files = tempfile::tempdir().expect("tempdir");
    let mut client = lake.query(cluster, files.path());
    let (status, _) = exit_within(&mut client, STARTUP_LIMIT).expect("a query after the pause");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default()
    );
    assert!(
        std::fs::read(files.path().join("stdout")).expect("stdout") == answer,
        "another answer after the pause"
    );
    println!(
        "scheduler paused for {} s: executors back and answering after {:.1} s",
        FAULT_EXECUTOR_TIMEOUT + 3,
        started.elapsed().as_secs_f64()
    );
}

/// The scheduler killed while a query runs: the query is a 503 `cluster_unavailable`
/// naming it (not the HTTP/2 text of the broken stream), so is a request to `serve` after
/// it, and the executors give up after `--scheduler-connect-timeout` with exit code 8,
/// removing their work folders.
pub(super) fn a_scheduler_lost_mid_query_is_a_503_naming_it(cluster: &mut Cluster, lake: &BigLake) {
    // Executors again (every one was killed), one of them in the work folder of a killed
    // one: what that left is removed at start.
    let jobs = cluster.logs.path().join("executor-1").join("jobs");
    std::fs::create_dir_all(jobs.join("left-by-a-killed-run/1")).expect("a job folder");
    std::fs::write(jobs.join("left-by-a-killed-run/1/data.arrow"), b"x").expect("a job file");
    for name in ["executor-1", "executor-2"] {
        cluster.start_executor(name);
    }
    cluster.wait_for_executors(2);
    assert!(
        !jobs.join("left-by-a-killed-run").exists(),
        "the restarted executor kept what a killed run left"
    );

    let (mut server, port) = cluster.serve("serve-lost", |serve| {
        serve.arg("--lake").arg(lake.root());
    });

    let files = tempfile::tempdir().expect("tempdir");
    let known = cluster.jobs().len();
    let mut client = lake.query(cluster, files.path());
    cluster.next_job(known, &mut client);
    // The executors held still meanwhile, so that the job cannot end before the scheduler.
    for name in ["executor-1", "executor-2"] {
        signal(cluster.process(name), "STOP");
    }
    let position = cluster
        .processes
        .iter()
        .position(|(name, _)| name == "scheduler")
        .expect("scheduler");
    let (_, mut scheduler) = cluster.processes.remove(position);
    scheduler.kill().expect("SIGKILL the scheduler");
    let _ = scheduler.wait();
    for name in ["executor-1", "executor-2"] {
        signal(cluster.process(name), "CONT");
    }
    let (status, _) =
        exit_within(&mut client, STOP_LIMIT).expect("the query hung after the scheduler was lost");
    let stderr = std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(8), "{stderr}");
    let err: serde_json::Value = serde_json::from_str(stderr.trim()).expect("error JSON");
    assert_eq!(
        (err["status"].as_u64(), err["error"].as_str()),
        (Some(503), Some("cluster_unavailable")),
        "{stderr}"
    );
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.contains(&cluster.address()), "{message}");
    for raw in ["h2", "hyper", "tonic", "Status {", "Execution error"] {
        assert!(!message.contains(raw), "the message shows {raw}: {message}");
    }

    // `serve` asked after the loss.
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
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    assert!(
        response.starts_with("HTTP/1.1 503")
            && response.contains("\"cluster_unavailable\"")
            && response.contains(&cluster.address()),
        "{response}"
    );
    assert!(
        !response.contains("tonic") && !response.contains("transport::Error"),
        "{response}"
    );
    signal(&server.0, "TERM");
    let _ = exit_within(&mut server.0, STOP_LIMIT);

    // Executors without their scheduler: 5 missed heartbeats, then the connect timeout.
    let limit = Duration::from_secs(5 + FAULT_CONNECT_TIMEOUT + 15);
    for name in ["executor-1", "executor-2"] {
        let position = cluster
            .processes
            .iter()
            .position(|(n, _)| n == name)
            .expect("executor");
        let (_, mut executor) = cluster.processes.remove(position);
        let (status, took) = exit_within(&mut executor, limit)
            .unwrap_or_else(|| panic!("{name} ran on without a scheduler:\n{}", cluster.log(name)));
        assert_eq!(status.code(), Some(8), "{name}:\n{}", cluster.log(name));
        assert!(
            cluster.log(name).contains("--scheduler-connect-timeout"),
            "{name}:\n{}",
            cluster.log(name)
        );
        println!(
            "{name} gave up {:.1} s after the scheduler was lost",
            took.as_secs_f64()
        );
    }
    let temporary: Vec<_> = std::fs::read_dir(cluster.temp_root("executor-2"))
        .expect("TMPDIR")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    // The folder of the executor-2 killed earlier is there too.
    assert!(
        temporary.len() <= 1,
        "executor-2 left its work folder: {temporary:?}"
    );
}

pub(super) fn every_executor_lost_is_a_503_within_a_bound(
    cluster: &mut Cluster,
    lake: &BigLake,
    answer: &[u8],
) {
    let files = tempfile::tempdir().expect("tempdir");
    let known = cluster.jobs().len();
    let mut client = lake.query(cluster, files.path());
    let job = cluster.next_job(known, &mut client);
    for (name, executor) in cluster
        .processes
        .iter_mut()
        .filter(|(name, _)| name.starts_with("executor"))
    {
        executor
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL {name}: {e}"));
        let _ = executor.wait();
    }
    // Lost after missing heartbeats for the timeout (checked every second), then as long
    // again for an executor to come back: well within this.
    let limit = Duration::from_secs(4 * FAULT_EXECUTOR_TIMEOUT + 10);
    let (status, took) = exit_within(&mut client, limit).unwrap_or_else(|| {
        panic!(
            "the query hung after every executor was lost:\n{}",
            cluster.log("scheduler")
        )
    });
    let stderr = std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(8), "{stderr}");
    let err: serde_json::Value = serde_json::from_str(stderr.trim()).expect("error JSON");
    assert_eq!(
        (err["status"].as_u64(), err["error"].as_str()),
        (Some(503), Some("cluster_unavailable")),
        "{stderr}"
    );
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&cluster.address()) && message.contains("executors were lost"),
        "{message}"
    );
    assert!(message.contains(&job), "{message}");
    let printed = std::fs::read(files.path().join("stdout")).expect("stdout");
    assert!(printed != answer, "a failed query printed the whole answer");
    println!(
        "every executor lost: 503 after {:.1} s ({message})",
        took.as_secs_f64()
    );

    // A query sent to the cluster without executors is refused at once.
    let files = tempfile::tempdir().expect("tempdir");
    let mut client = lake.query(cluster, files.path());
    let (status, _) =
        exit_within(&mut client, STOP_LIMIT).expect("a query to a cluster without executors hung");
    let stderr = std::fs::read_to_string(files.path().join("stderr")).unwrap_or_default();
    assert_eq!(status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("no executor"), "{stderr}");
}
