//! The differential payloads through a real cluster: the bytes of a local run in every
//! encoding, cancellation of a dropped stream, and `explain --cluster`.

use super::compare::{describe, every_encoding, query_cli};
use super::executors::{
    a_file_an_executor_cannot_see_is_missing_there,
    an_executor_killed_while_queries_run_never_gives_a_short_success,
    s3_lakes_are_read_by_the_executors_with_their_own_credentials,
};
use super::faces::{
    batch_on_the_cluster_writes_the_files_of_a_local_batch, serve_on_the_cluster_answers_like_serve,
};
use super::*;

/// The differential test's payloads (every target, step pattern, filter kind, limit, time
/// zone and error status) through the cluster and locally: the same bytes in every
/// encoding, the same errors. Then the CLI's `--cluster`, and a clean stop on SIGTERM.
#[test]
fn a_cluster_of_child_processes_answers_with_the_bytes_of_a_local_run() {
    let w = world();
    let s3 = S3Server::start();
    s3.upload(&w.root, "diff");
    let mut cluster = Cluster::start(&s3);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let address = ClusterAddress::parse(&cluster.address()).expect("address");
    let config = EngineConfig {
        target_partitions: Some(3),
        ..EngineConfig::default()
    };
    let remote = runtime
        .block_on(flowlake_cluster::on_cluster(&config, &address))
        .expect("cluster engine");
    let local = Engine::new(&config).expect("local engine");
    let (mut answered, mut with_rows, mut errors) = (0, 0, 0);
    let local_lake = runtime
        .block_on(local.open_lake(LakeLocation::Local(w.root.clone())))
        .expect("local lake");
    let remote_lake = runtime
        .block_on(remote.open_lake(LakeLocation::Local(w.root.clone())))
        .expect("lake on the cluster");
    for seed in 0..120u64 {
        let (case, payload) = random_case(seed);
        let run = |engine: &Engine, lake: &flowlake::Lake| {
            runtime.block_on(every_encoding(
                engine,
                lake,
                &case.org,
                &case.workflow,
                &payload,
            ))
        };
        match (run(&local, &local_lake), run(&remote, &remote_lake)) {
            (Ok(want), Ok(got)) => {
                for ((format, want), (_, got)) in want.iter().zip(&got) {
                    assert!(
                        want == got,
                        "seed {seed} ({format:?}): the cluster's bytes differ for {payload}\n{}",
                        describe(*format, want, got)
                    );
                }
                answered += 1;
                with_rows += usize::from(want[0].1.len() > 200);
            }
            (Err(want), Err(got)) => {
                assert_eq!(
                    want.to_json(),
                    got.to_json(),
                    "seed {seed}: the errors differ for {payload}"
                );
                errors += 1;
            }
            (want, got) => panic!(
                "seed {seed}: local {:?}, cluster {:?} for {payload}\n{}",
                want.map(|_| 200).map_err(|e| e.to_json()),
                got.map(|_| 200).map_err(|e| e.to_json()),
                cluster.log("executor-1")
            ),
        }
    }
    assert!(
        answered >= 80 && with_rows >= 30 && errors >= 3,
        "answered {answered}, with rows {with_rows}, errors {errors}"
    );

    // The CLI: `query --cluster` prints what `query` prints (with the default partitions,
    // one per core, as an operator runs it).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut compared = 0;
    for seed in (0..40u64).filter(|s| s % 4 == 1) {
        let (case, payload) = random_case(seed);
        let file = dir.path().join(format!("{seed}.json"));
        std::fs::write(&file, &payload).expect("payload file");
        let format = ["arrow", "csv"][compared % 2];
        let local = query_cli(&w.root, &case.org, &case.workflow, &file, format, None);
        let remote = query_cli(
            &w.root,
            &case.org,
            &case.workflow,
            &file,
            format,
            Some(&cluster.address()),
        );
        assert_eq!(
            local.status.code(),
            remote.status.code(),
            "seed {seed}: {}",
            String::from_utf8_lossy(&remote.stderr)
        );
        assert!(
            local.stdout == remote.stdout,
            "seed {seed}: stdout differs for {payload}"
        );
        assert_eq!(local.stderr, remote.stderr, "seed {seed}");
        compared += 1;
    }
    assert!(compared >= 10);
    // Every job read to its end had its files removed from the executors at once.
    cluster.wait_for_no_job_files("after the queries were answered", Duration::from_secs(10));

    drop(remote);
    a_stream_dropped_early_cancels_its_job(&cluster, &runtime, &local);
    explain_shows_the_stages_and_executors_check_files(&cluster);
    s3_lakes_are_read_by_the_executors_with_their_own_credentials(&cluster, &runtime, &local);
    a_file_an_executor_cannot_see_is_missing_there(&cluster, &runtime);
    batch_on_the_cluster_writes_the_files_of_a_local_batch(&cluster);
    serve_on_the_cluster_answers_like_serve(&cluster);
    an_executor_killed_while_queries_run_never_gives_a_short_success(
        &mut cluster,
        &runtime,
        &local,
    );
    cluster.wait_for_no_job_files(
        "after the cancelled, failed and answered jobs",
        Duration::from_secs(15),
    );
    for (name, clean) in cluster.stop() {
        assert!(
            clean,
            "{name} did not stop cleanly on SIGTERM:\n{}",
            cluster.log(&name)
        );
    }
    // A clean exit leaves the work folder given empty, and removes the default one.
    let given: Vec<_> = std::fs::read_dir(cluster.logs.path().join("executor-1"))
        .expect("work folder")
        .collect();
    assert!(
        given.is_empty(),
        "executor-1 left {given:?} in its --work-dir"
    );
    let temporary: Vec<_> = std::fs::read_dir(cluster.temp_root("executor-2"))
        .expect("TMPDIR")
        .collect();
    assert!(
        temporary.is_empty(),
        "executor-2 left {temporary:?} in its TMPDIR"
    );
}

/// A response dropped before its end (as `serve` does on `--request-timeout` or when the
/// client goes away) cancels its job on the scheduler.
fn a_stream_dropped_early_cancels_its_job(
    cluster: &Cluster,
    runtime: &tokio::runtime::Runtime,
    local: &Engine,
) {
    use futures::StreamExt;
    let w = world();
    let cancellations = || {
        cluster
            .log("scheduler")
            .matches("Received cancellation request for job")
            .count()
    };
    let before = cancellations();
    let (case, payload) = (0..100u64)
        .map(random_case)
        .find(|(case, payload)| {
            let answer = runtime.block_on(run_bytes(
                local,
                &w.root,
                &case.org,
                &case.workflow,
                payload,
                Format::Ndjson,
            ));
            answer.is_ok_and(|bytes| !bytes.is_empty())
        })
        .expect("a case with rows");
    let address = ClusterAddress::parse(&cluster.address()).expect("address");
    let remote = runtime
        .block_on(flowlake_cluster::on_cluster(
            &EngineConfig::default(),
            &address,
        ))
        .expect("cluster engine");
    runtime.block_on(async {
        let lake = remote
            .open_lake(LakeLocation::Local(w.root.clone()))
            .await
            .expect("lake");
        let query =
            Query::from_request(&case.org, &case.workflow, payload.as_bytes()).expect("query");
        let mut response = remote.execute(&lake, &query).await.expect("response");
        assert!(
            matches!(response.batches.next().await, Some(Ok(_))),
            "the first batch of {payload}"
        );
        drop(response);
    });
    let started = Instant::now();
    while cancellations() == before {
        assert!(
            started.elapsed() < STARTUP_LIMIT,
            "no job was cancelled:\n{}",
            cluster.log("scheduler")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `explain --cluster` shows the stages the scheduler cut, with the checked scans; a corrupt
/// file read by an executor is a 500 naming the file with the checked reader's own words
/// (DataFusion's reader, which executors would otherwise use, says something else).
fn explain_shows_the_stages_and_executors_check_files(cluster: &Cluster) {
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
    let payload = lake.write_file(
        "p.json",
        br#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-01"}}"#,
    );
    let run = |command: &[&str]| {
        flowlake()
            .args(command)
            .arg("--lake")
            .arg(lake.root())
            .args(["--org", ORG, "--workflow", WF_INTERACTION, "--payload"])
            .arg(&payload)
            .args(["--cluster", &cluster.address()])
            .output()
            .expect("run flowlake")
    };
    let explained = run(&["explain"]);
    assert_eq!(
        explained.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    let text = String::from_utf8_lossy(&explained.stdout);
    for part in [
        "== logical plan ==",
        "== physical plan ==",
        "== distributed plan ==",
        "ShuffleWriterExec",
        "CheckedScanExec",
    ] {
        assert!(
            text.contains(part),
            "explain --cluster lacks {part}:\n{text}"
        );
    }
    // --analyze: every stage the job ran, each operator with its metrics summed over tasks.
    let analyzed = run(&["explain", "--analyze"]);
    assert_eq!(
        analyzed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&analyzed.stderr)
    );
    let text = String::from_utf8_lossy(&analyzed.stdout);
    let stages = text.matches("SuccessfulStage[stage_id=").count();
    assert!(
        stages >= 2,
        "explain --cluster --analyze shows {stages} stages:\n{text}"
    );
    for part in [
        "== Plan with Metrics ==",
        "ShuffleWriterExec",
        "CheckedScanExec",
        "metrics=[output_rows=",
        "elapsed_compute=",
    ] {
        assert!(
            text.contains(part),
            "explain --cluster --analyze lacks {part}:\n{text}"
        );
    }
    std::fs::write(
        lake.root()
            .join(TestLake::day_file(ORG, "2026-03-01", "z.parquet")),
        b"junk",
    )
    .expect("corrupt file");
    let out = run(&["query"]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("error JSON");
    assert_eq!(err["status"], 500);
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("z.parquet") && message.contains("no PAR1 footer"),
        "{message}"
    );
    // The error of a local run, word for word: no job text, no Rust `Debug` around it.
    let local = flowlake()
        .args(["query", "--lake"])
        .arg(lake.root())
        .args(["--org", ORG, "--workflow", WF_INTERACTION, "--payload"])
        .arg(&payload)
        .output()
        .expect("run flowlake query");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&local.stderr)
    );
    // The failed job's files (of its tasks that had succeeded) are removed too.
    cluster.wait_for_no_job_files("after a job failed", Duration::from_secs(15));
}
