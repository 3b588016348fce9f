//! What executors see: files only the client can reach, S3 lakes read with the
//! executors' own credentials, and an executor killed while queries run.

use super::compare::describe;
use super::*;

/// A lake the client sees but the executors do not (here: an S3 server of the client's
/// own): the error names the file and says it is missing on the executor, rather than
/// that it changed.
pub(super) fn a_file_an_executor_cannot_see_is_missing_there(
    cluster: &Cluster,
    runtime: &tokio::runtime::Runtime,
) {
    let w = world();
    let own = S3Server::start();
    own.upload(&w.root, "only-client");
    let address = ClusterAddress::parse(&cluster.address()).expect("address");
    let config = EngineConfig {
        s3: own.options(),
        ..EngineConfig::default()
    };
    let remote = runtime
        .block_on(flowlake_cluster::on_cluster(&config, &address))
        .expect("cluster engine");
    let lake = runtime
        .block_on(remote.open_lake(LakeLocation::parse("s3://lake/only-client").expect("location")))
        .expect("S3 lake");
    let local = Engine::new(&EngineConfig::default()).expect("local engine");
    let (case, payload) = (0..100u64)
        .map(random_case)
        .find(|(case, payload)| {
            runtime
                .block_on(run_bytes(
                    &local,
                    &w.root,
                    &case.org,
                    &case.workflow,
                    payload,
                    Format::Csv,
                ))
                .is_ok_and(|b| b.iter().filter(|&&c| c == b'\n').count() > 1)
        })
        .expect("a case with rows");
    let error = runtime
        .block_on(answer(
            &remote,
            &lake,
            &case.org,
            &case.workflow,
            &payload,
            Format::Csv,
        ))
        .expect_err("the executors cannot see the lake");
    let message = error.to_string();
    assert_eq!(
        (error.status(), error.code()),
        (500, "internal"),
        "{message}"
    );
    assert!(
        message.contains("s3://lake/only-client/")
            && message.contains("was not found on executor 127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("changed"), "{message}");
}

/// An S3 lake: the client lists it, the executors read it with the keys of their own
/// environment; answers are the local bytes, and the job sent to the scheduler (plan and
/// settings) never holds the secret key.
pub(super) fn s3_lakes_are_read_by_the_executors_with_their_own_credentials(
    cluster: &Cluster,
    runtime: &tokio::runtime::Runtime,
    local: &Engine,
) {
    let w = world();
    let address = ClusterAddress::parse(&cluster.address()).expect("address");
    let config = EngineConfig {
        target_partitions: Some(3),
        s3: cluster.s3.expect("an S3 server").options(),
        ..EngineConfig::default()
    };
    let remote = runtime
        .block_on(flowlake_cluster::on_cluster(&config, &address))
        .expect("cluster engine");
    let s3_lake = runtime
        .block_on(remote.open_lake(LakeLocation::parse("s3://lake/diff").expect("location")))
        .expect("S3 lake");
    let local_lake = runtime
        .block_on(local.open_lake(LakeLocation::Local(w.root.clone())))
        .expect("local lake");
    let (mut answered, mut jobs_naming_the_bucket) = (0, 0);
    for seed in 200..260u64 {
        let (case, payload) = random_case(seed);
        let format = [Format::Json, Format::Ndjson, Format::Csv, Format::Arrow][seed as usize % 4];
        let want = runtime.block_on(answer(
            local,
            &local_lake,
            &case.org,
            &case.workflow,
            &payload,
            format,
        ));
        let got = runtime.block_on(answer(
            &remote,
            &s3_lake,
            &case.org,
            &case.workflow,
            &payload,
            format,
        ));
        match (want, got) {
            (Ok(want), Ok(got)) => {
                assert!(
                    want == got,
                    "seed {seed}: the S3 lake on the cluster differs for {payload}\n{}",
                    describe(format, &want, &got)
                );
                answered += 1;
            }
            (Err(want), Err(got)) => assert_eq!(want.to_json(), got.to_json(), "seed {seed}"),
            (want, got) => panic!(
                "seed {seed}: local {:?}, cluster {:?}",
                want.map(|_| 200).map_err(|e| e.to_json()),
                got.map(|_| 200).map_err(|e| e.to_json())
            ),
        }
        if let Ok(query) = Query::from_request(&case.org, &case.workflow, payload.as_bytes())
            && let Ok(job) = runtime.block_on(flowlake_cluster::cluster_submission(
                &remote, &s3_lake, &query,
            ))
        {
            let secret = SECRET_KEY.as_bytes();
            assert!(
                !job.windows(secret.len()).any(|w| w == secret),
                "seed {seed}: the secret key is in the job"
            );
            jobs_naming_the_bucket += usize::from(job.windows(10).any(|w| w == b"s3://lake/"));
        }
    }
    assert!(answered >= 40, "only {answered} S3 answers");
    // The check above looked at real jobs: most of them scan the bucket.
    assert!(
        jobs_naming_the_bucket >= 30,
        "only {jobs_naming_the_bucket} jobs name the bucket"
    );
}

/// SIGKILL of an executor while queries run: each query still gives the local bytes (the
/// scheduler retries its tasks on the other executor) or fails with a 503; none hangs and
/// none succeeds with fewer rows.
pub(super) fn an_executor_killed_while_queries_run_never_gives_a_short_success(
    cluster: &mut Cluster,
    runtime: &tokio::runtime::Runtime,
    local: &Engine,
) {
    let w = world();
    let address = ClusterAddress::parse(&cluster.address()).expect("address");
    let config = EngineConfig {
        target_partitions: Some(3),
        ..EngineConfig::default()
    };
    let remote = runtime
        .block_on(flowlake_cluster::on_cluster(&config, &address))
        .expect("cluster engine");
    let position = cluster
        .processes
        .iter()
        .position(|(name, _)| name == "executor-2")
        .expect("executor-2");
    let mut victim = Some(cluster.processes.remove(position).1);
    let (mut killer, mut answered, mut unavailable) = (None, 0, 0);
    let seeds: Vec<u64> = (300..400u64)
        .filter(|s| random_case(*s).0.limit.is_none())
        .take(24)
        .collect();
    for (i, seed) in seeds.iter().enumerate() {
        if i == 4
            && let Some(mut child) = victim.take()
        {
            // Killed while the next query runs.
            killer = Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(40));
                let _ = child.kill();
                let _ = child.wait();
            }));
        }
        let (case, payload) = random_case(*seed);
        let format = Format::Csv;
        let want = runtime.block_on(run_bytes(
            local,
            &w.root,
            &case.org,
            &case.workflow,
            &payload,
            format,
        ));
        let got = runtime.block_on(async {
            tokio::time::timeout(
                STARTUP_LIMIT,
                run_bytes(
                    &remote,
                    &w.root,
                    &case.org,
                    &case.workflow,
                    &payload,
                    format,
                ),
            )
            .await
        });
        let got = got
            .unwrap_or_else(|_| panic!("seed {seed}: the query hung after an executor was killed"));
        match (want, got) {
            (Ok(want), Ok(got)) => {
                assert!(
                    want == got,
                    "seed {seed}: a different answer after an executor was killed"
                );
                answered += 1;
            }
            (_, Err(got)) if got.status() == 503 => unavailable += 1,
            (Err(want), Err(got)) => assert_eq!(want.to_json(), got.to_json(), "seed {seed}"),
            (want, got) => panic!(
                "seed {seed}: local {:?}, cluster {:?}",
                want.map(|_| 200).map_err(|e| e.to_json()),
                got.map(|_| 200).map_err(|e| e.to_json())
            ),
        }
    }
    if let Some(killer) = killer {
        let _ = killer.join();
    }
    println!("an executor killed: {answered} answers, {unavailable} unavailable");
    assert!(
        answered >= 12,
        "only {answered} answers after the kill ({unavailable} unavailable)"
    );
    // The killed executor could not remove its temporary folder: set aside, then it joins
    // again (as a supervisor would restart it) with a new one.
    let killed = cluster.temp_root("executor-2");
    std::fs::rename(&killed, killed.with_extension("killed"))
        .expect("set the killed executor's folder aside");
    cluster.start_executor("executor-2");
    cluster.wait_for_executors(2);
}
