//! SPEC §9: a real cluster from the built binary (`flowlake scheduler` and two `flowlake
//! executor` processes on 127.0.0.1) answers with the bytes of a local run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowlake::output::Format;
use flowlake::{Engine, EngineConfig, LakeLocation, Query};
use flowlake_cluster::ClusterAddress;

use super::differential::{random_case, world};
use super::s3_server::{S3Server, SECRET_KEY};
use super::support::{ORG, TestLake, WF_INTERACTION, answer, goal, run_bytes, view};

/// Upper bound for a process to come up; only a guard against hanging, never a measure.
const STARTUP_LIMIT: Duration = Duration::from_secs(120);

fn flowlake() -> Command {
    Command::new(super::support::flowlake_bin())
}

/// `n` distinct ports that were free a moment ago.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// The status line and body of `GET path` on 127.0.0.1:port, or `None` if nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    Some(text)
}

/// A scheduler and two executors, stopped with SIGTERM when dropped. Each reads S3 lakes
/// from `s3` with the credentials of its own environment. `executor-1` keeps its files in
/// `--work-dir`; `executor-2` in its default temporary folder (under its own `TMPDIR`).
struct Cluster<'a> {
    processes: Vec<(String, Child)>,
    scheduler_port: u16,
    /// Flight and gRPC ports of each executor.
    executor_ports: Vec<(String, u16, u16)>,
    executor_flags: Vec<String>,
    logs: tempfile::TempDir,
    s3: Option<&'a S3Server>,
}

impl<'a> Cluster<'a> {
    fn start(s3: &'a S3Server) -> Cluster<'a> {
        Cluster::start_with(Some(s3), &[], &[])
    }

    /// A cluster whose scheduler and executors get `scheduler_flags` and `executor_flags`.
    fn start_with(
        s3: Option<&'a S3Server>,
        scheduler_flags: &[&str],
        executor_flags: &[&str],
    ) -> Cluster<'a> {
        let ports = free_ports(5);
        let logs = tempfile::tempdir().expect("tempdir");
        let executor_ports = vec![
            ("executor-1".to_string(), ports[1], ports[2]),
            ("executor-2".to_string(), ports[3], ports[4]),
        ];
        let executor_flags = executor_flags.iter().map(|f| f.to_string()).collect();
        let mut cluster = Cluster {
            processes: Vec::new(),
            scheduler_port: ports[0],
            executor_ports,
            executor_flags,
            logs,
            s3,
        };
        let listen = format!("127.0.0.1:{}", ports[0]);
        cluster.spawn(
            "scheduler",
            &[&["scheduler", "--listen", &listen], scheduler_flags].concat(),
        );
        cluster.wait_for("the scheduler to answer /readyz", |c| {
            http_get(c.scheduler_port, "/readyz").is_some()
        });
        for name in ["executor-1", "executor-2"] {
            cluster.start_executor(name);
        }
        cluster.wait_for_executors(2);
        cluster
    }

    /// Starts (again) the executor `name`, with its ports and work folder.
    fn start_executor(&mut self, name: &str) {
        let (_, flight, grpc) = self
            .executor_ports
            .iter()
            .find(|(n, _, _)| n == name)
            .expect("an executor of the cluster")
            .clone();
        let scheduler = format!("127.0.0.1:{}", self.scheduler_port);
        let listen = format!("127.0.0.1:{flight}");
        let grpc = grpc.to_string();
        let work_dir = self
            .logs
            .path()
            .join(name)
            .to_str()
            .expect("utf-8 path")
            .to_string();
        let mut flags = vec![
            "executor",
            "--scheduler",
            &scheduler,
            "--listen",
            &listen,
            "--grpc-port",
            &grpc,
            "--concurrent-tasks",
            "2",
        ];
        if name == "executor-1" {
            flags.extend(["--work-dir", &work_dir]);
        }
        let extra = self.executor_flags.clone();
        flags.extend(extra.iter().map(String::as_str));
        self.spawn(name, &flags);
    }

    fn wait_for_executors(&mut self, n: usize) {
        let ready = format!("ready: {n} executors");
        self.wait_for(&format!("{n} executors to register"), |c| {
            http_get(c.scheduler_port, "/readyz")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") && r.contains(&ready))
        });
    }

    /// The `TMPDIR` of an executor without `--work-dir`.
    fn temp_root(&self, name: &str) -> std::path::PathBuf {
        self.logs.path().join(format!("tmp-{name}"))
    }

    /// The work folder of executor `name`, if it has one now.
    fn work_folder(&self, name: &str) -> Option<std::path::PathBuf> {
        if name == "executor-1" {
            return Some(self.logs.path().join(name));
        }
        let entries = std::fs::read_dir(self.temp_root(name)).ok()?;
        entries.filter_map(Result::ok).map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("flowlake-executor-"))
        })
    }

    /// The job folders the executors hold now.
    fn job_folders(&self) -> Vec<std::path::PathBuf> {
        ["executor-1", "executor-2"]
            .iter()
            .filter_map(|name| self.work_folder(name))
            .flat_map(|folder| {
                std::fs::read_dir(folder.join("jobs"))
                    .map(|e| {
                        e.filter_map(Result::ok)
                            .map(|e| e.path())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Waits until the executors hold no job folder; panics with what is left after `limit`.
    fn wait_for_no_job_files(&self, what: &str, limit: Duration) {
        let started = Instant::now();
        loop {
            let left = self.job_folders();
            if left.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "{what}: the executors still hold {left:?} after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(&mut self, name: &str, args: &[&str]) {
        let log =
            std::fs::File::create(self.logs.path().join(format!("{name}.log"))).expect("log file");
        let mut command = flowlake();
        command.args(args);
        if let Some(s3) = self.s3 {
            s3.command_env(&mut command);
        }
        if name == "executor-2" {
            let temp = self.temp_root(name);
            std::fs::create_dir_all(&temp).expect("TMPDIR");
            command.env("TMPDIR", temp);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start flowlake");
        self.processes.retain(|(n, _)| n != name);
        self.processes.push((name.to_string(), child));
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until `ready` holds; panics with the logs if a process exits or it never does.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            for (name, child) in &mut self.processes {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(self.logs.path().join(format!("{name}.log")))
                        .unwrap_or_default();
                    panic!("{name} exited ({status}) while waiting for {what}:\n{log}");
                }
            }
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "gave up waiting for {what}:\n{}",
                self.log("scheduler")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn address(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// SIGTERM to every process; returns whether each stopped by itself with status 0.
    fn stop(&mut self) -> Vec<(String, bool)> {
        for (_, child) in &self.processes {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let mut stopped = Vec::new();
        for (name, child) in &mut self.processes {
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    _ if Instant::now() > deadline => break None,
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            };
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            stopped.push((name.clone(), status.is_some_and(|s| s.success())));
        }
        self.processes.clear();
        stopped
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What differs between two answers, readably: text as text, Arrow streams as batch sizes.
fn describe(format: Format, local: &[u8], cluster: &[u8]) -> String {
    if format != Format::Arrow {
        return format!(
            "local:   {}\ncluster: {}",
            String::from_utf8_lossy(local),
            String::from_utf8_lossy(cluster)
        );
    }
    let batches = |bytes: &[u8]| -> Vec<usize> {
        match datafusion::arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(bytes.to_vec()),
            None,
        ) {
            Ok(reader) => reader
                .map(|b| b.map(|b| b.num_rows()).unwrap_or(usize::MAX))
                .collect(),
            Err(_) => vec![usize::MAX],
        }
    };
    let rows = |bytes: &[u8]| -> Vec<String> {
        let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(
            std::io::Cursor::new(bytes.to_vec()),
            None,
        )
        .expect("arrow");
        let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("pretty")
            .to_string()
            .lines()
            .map(String::from)
            .collect()
    };
    let (a, b) = (rows(local), rows(cluster));
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    format!(
        "local batches {:?}, cluster batches {:?} ({} vs {} bytes); first differing row: {:?}",
        batches(local),
        batches(cluster),
        local.len(),
        cluster.len(),
        first.map(|i| (&a[i], &b[i])),
    )
}

/// The answer to one request in every encoding, from one run: each encoding is made from
/// the record batches exactly as the engine streamed them (an encoder sees nothing else), so
/// a difference in batching shows in the Arrow bytes as it would through the CLI or serve.
async fn every_encoding(
    engine: &Engine,
    lake: &flowlake::Lake,
    org: &str,
    workflow: &str,
    payload: &str,
) -> Result<Vec<(Format, Vec<u8>)>, flowlake::Error> {
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    use futures::TryStreamExt;
    let query = Query::from_request(org, workflow, payload.as_bytes())?;
    let flowlake::ResponseStream { shape, batches, .. } = engine.execute(lake, &query).await?;
    let schema = batches.schema();
    let batches: Vec<datafusion::arrow::record_batch::RecordBatch> =
        batches.try_collect().await.map_err(flowlake::Error::from)?;
    let mut encoded = Vec::new();
    for format in Format::ALL {
        let stream = RecordBatchStreamAdapter::new(
            schema.clone(),
            futures::stream::iter(batches.clone().into_iter().map(Ok)),
        );
        let response = flowlake::ResponseStream {
            shape,
            batches: Box::pin(stream),
            runs: Vec::new(),
        };
        let mut bytes = Vec::new();
        flowlake::output::write_response(response, format, &mut bytes).await?;
        encoded.push((format, bytes));
    }
    Ok(encoded)
}

fn query_cli(
    root: &Path,
    org: &str,
    workflow: &str,
    payload: &Path,
    format: &str,
    cluster: Option<&str>,
) -> std::process::Output {
    let mut command = flowlake();
    command
        .args(["query", "--lake"])
        .arg(root)
        .args([
            "--org",
            org,
            "--workflow",
            workflow,
            "--format",
            format,
            "--payload",
        ])
        .arg(payload);
    if let Some(address) = cluster {
        command.args(["--cluster", address]);
    }
    command.output().expect("run flowlake query")
}

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

/// A lake the client sees but the executors do not (here: an S3 server of the client's
/// own): the error names the file and says it is missing on the executor, rather than
/// that it changed.
fn a_file_an_executor_cannot_see_is_missing_there(
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
fn s3_lakes_are_read_by_the_executors_with_their_own_credentials(
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
fn an_executor_killed_while_queries_run_never_gives_a_short_success(
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

/// `batch --cluster` over `queries/batch.ndjson` on the sample lake writes the result files
/// of a local batch run, and the same summary but for the timings.
fn batch_on_the_cluster_writes_the_files_of_a_local_batch(cluster: &Cluster) {
    for format in ["json", "arrow"] {
        batch_files_are_the_local_ones(cluster, format);
    }
}

fn batch_files_are_the_local_ones(cluster: &Cluster, format: &str) {
    let repo = crate::support::repo();
    let out = tempfile::tempdir().expect("tempdir");
    let run = |dir: &str, cluster_address: Option<&str>| {
        let mut command = flowlake();
        command
            .current_dir(repo)
            .args([
                "batch",
                "--format",
                format,
                "--queries",
                "queries/batch.ndjson",
                "--out",
            ])
            .arg(out.path().join(dir));
        if let Some(address) = cluster_address {
            command.args(["--cluster", address]);
        }
        command.output().expect("run flowlake batch")
    };
    let (local, remote) = (run("local", None), run("cluster", Some(&cluster.address())));
    assert_eq!(
        local.status.code(),
        remote.status.code(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let without_timings = |path: &Path| -> serde_json::Value {
        fn strip(value: &mut serde_json::Value) {
            match value {
                serde_json::Value::Object(map) => {
                    map.retain(|key, _| key != "ms" && key != "elapsed_ms");
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let mut summary =
            serde_json::from_slice(&std::fs::read(path).expect("summary")).expect("summary JSON");
        strip(&mut summary);
        summary
    };
    let mut files = 0;
    for entry in std::fs::read_dir(out.path().join("local")).expect("local results") {
        let name = entry.expect("entry").file_name();
        let (a, b) = (
            out.path().join("local").join(&name),
            out.path().join("cluster").join(&name),
        );
        if name == "summary.json" {
            assert_eq!(without_timings(&a), without_timings(&b));
        } else if !name.to_string_lossy().starts_with('.') {
            let (want, got) = (
                std::fs::read(&a).expect("local file"),
                std::fs::read(&b).expect("cluster file"),
            );
            let shown = if format == "arrow" {
                Format::Arrow
            } else {
                Format::Json
            };
            assert!(
                want == got,
                "batch --format {format}: {name:?} differs\n{}",
                describe(shown, &want, &got)
            );
            files += 1;
        }
    }
    assert!(files >= 10, "only {files} result files");
}

/// `serve --cluster` answers a request with the bytes `query` prints locally, in JSON and
/// (the encoding whose bytes show the record batches) Arrow.
fn serve_on_the_cluster_answers_like_serve(cluster: &Cluster) {
    let repo = crate::support::repo();
    let port = free_ports(1)[0];
    let log = std::fs::File::create(cluster.logs.path().join("serve.log")).expect("log");
    let mut server = Stopped(
        flowlake()
            .current_dir(repo)
            .args([
                "serve",
                "--no-auth",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--cluster",
                &cluster.address(),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start serve"),
    );
    let started = Instant::now();
    while http_get(port, "/healthz").is_none() {
        assert!(
            started.elapsed() < STARTUP_LIMIT,
            "serve did not start: {}",
            cluster.log("serve")
        );
        assert!(
            server.0.try_wait().ok().flatten().is_none(),
            "serve exited: {}",
            cluster.log("serve")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (org, workflow) = (
        "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d",
        "5887c297-1e03-45e4-863e-7a9f784c5a2c",
    );
    for (payload_file, format) in [
        ("queries/api-example.json", Format::Json),
        ("queries/all-goals-advanced.json", Format::Arrow),
        ("queries/api-example.json", Format::Arrow),
    ] {
        let payload = std::fs::read(repo.join(payload_file)).expect("payload");
        let name = if format == Format::Arrow {
            "arrow"
        } else {
            "json"
        };
        let local = flowlake()
            .current_dir(repo)
            .args([
                "query",
                "--org",
                org,
                "--workflow",
                workflow,
                "--format",
                name,
                "--payload",
                payload_file,
            ])
            .output()
            .expect("run flowlake query");
        assert!(
            local.status.success(),
            "{}",
            String::from_utf8_lossy(&local.stderr)
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            stream,
            "POST /api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Accept: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            format.media_type(),
            payload.len()
        )
        .expect("request");
        stream.write_all(&payload).expect("body");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("response");
        let text = String::from_utf8_lossy(&response);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        let body = dechunk(&response[text.find("\r\n\r\n").expect("head") + 4..]);
        assert!(
            body == local.stdout,
            "serve --cluster ({name}, {payload_file}) differs from query:\n{}",
            describe(format, &local.stdout, &body)
        );
    }
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return body;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

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

/// Seconds the fault tests' scheduler waits for a heartbeat before it counts an executor as
/// lost (their executors beat every second).
const FAULT_EXECUTOR_TIMEOUT: u64 = 4;

/// A lake on which one query runs for seconds on the cluster (written by `flowlake
/// generate`), with a payload that reads all of it.
struct BigLake {
    dir: tempfile::TempDir,
    org: String,
    workflow: String,
    payload: std::path::PathBuf,
}

impl BigLake {
    fn generate() -> BigLake {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("lake");
        let out = flowlake()
            .args(["generate", "--out"])
            .arg(&root)
            .args(["--orgs", "1", "--days", "7", "--events-per-day", "60000"])
            .output()
            .expect("run flowlake generate");
        assert!(
            out.status.success(),
            "generate: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let workflows: serde_json::Value = serde_json::from_slice(
            &std::fs::read(root.join("workflows.json")).expect("workflows.json"),
        )
        .expect("JSON");
        let workflow = workflows
            .as_array()
            .and_then(|all| all.iter().find(|w| w["type"] == "interaction"))
            .expect("an interaction workflow");
        let (org, workflow) = (
            workflow["organization_id"]
                .as_str()
                .expect("org")
                .to_string(),
            workflow["id"].as_str().expect("id").to_string(),
        );
        let payload = dir.path().join("all.json");
        std::fs::write(
            &payload,
            r#"{"filters": [], "interval": {"start": "2026-03-01", "end": "2026-03-07"}}"#,
        )
        .expect("payload");
        BigLake {
            dir,
            org,
            workflow,
            payload,
        }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("lake")
    }

    /// `flowlake query --cluster …` over the whole lake, its stdout and stderr into `files`.
    fn query(&self, cluster: &Cluster, files: &Path) -> Child {
        flowlake()
            .args(["query", "--format", "csv", "--lake"])
            .arg(self.root())
            .args([
                "--org",
                &self.org,
                "--workflow",
                &self.workflow,
                "--payload",
            ])
            .arg(&self.payload)
            .args(["--cluster", &cluster.address()])
            .stdout(std::fs::File::create(files.join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(files.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start flowlake query")
    }
}

impl Cluster<'_> {
    /// Ids of the jobs the scheduler accepted, in order.
    fn jobs(&self) -> Vec<String> {
        let log = self.log("scheduler");
        log.lines()
            .filter_map(|line| line.split_once("Job submitted: ["))
            .map(|(_, rest)| rest.trim_end().trim_end_matches(']').to_string())
            .collect()
    }

    /// The first job accepted after the first `known` ones; panics if `client` exits before.
    fn next_job(&self, known: usize, client: &mut Child) -> String {
        let started = Instant::now();
        loop {
            if let Some(job) = self.jobs().get(known) {
                return job.clone();
            }
            if let Ok(Some(status)) = client.try_wait() {
                panic!(
                    "the client exited ({status}) before its job was submitted:\n{}",
                    self.log("scheduler")
                );
            }
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "no job was submitted:\n{}",
                self.log("scheduler")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn was_cancelled(&self, job: &str) -> bool {
        self.log("scheduler")
            .contains(&format!("Received cancellation request for job {job}"))
    }
}

fn signal(child: &Child, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{name}");
}

/// The exit status of `child` and how long it took, or `None` if it runs past `limit`
/// (then it is killed).
fn exit_within(child: &mut Child, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status, started.elapsed()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// How fast a stopped client must exit: it waits only for the scheduler to confirm the
/// cancellation.
const STOP_LIMIT: Duration = Duration::from_secs(15);

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

/// Seconds the fault tests' executors try to reach a scheduler they lost.
const FAULT_CONNECT_TIMEOUT: u64 = 3;

impl Cluster<'_> {
    fn process(&self, name: &str) -> &Child {
        &self
            .processes
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .1
    }
}

/// A scheduler frozen (SIGSTOP) for longer than `--executor-timeout`, then resumed, counts
/// every executor as lost and stops it; the executors register again, and the cluster
/// answers as before.
fn a_scheduler_paused_past_the_executor_timeout_leaves_a_working_cluster(
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
fn a_scheduler_lost_mid_query_is_a_503_naming_it(cluster: &mut Cluster, lake: &BigLake) {
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

    let port = free_ports(1)[0];
    let log = std::fs::File::create(cluster.logs.path().join("serve-lost.log")).expect("log");
    let mut server = Stopped(
        flowlake()
            .args([
                "serve",
                "--no-auth",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--lake",
            ])
            .arg(lake.root())
            .args(["--cluster", &cluster.address()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start serve"),
    );
    let started = Instant::now();
    while http_get(port, "/healthz").is_none() {
        assert!(
            started.elapsed() < STARTUP_LIMIT,
            "serve did not start: {}",
            cluster.log("serve-lost")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

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
    let port = free_ports(1)[0];
    let log = std::fs::File::create(cluster.logs.path().join("serve-timeout.log")).expect("log");
    let mut server = Stopped(
        flowlake()
            .args([
                "serve",
                "--no-auth",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--request-timeout",
                "1",
                "--lake",
            ])
            .arg(lake.root())
            .args(["--cluster", &cluster.address()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start serve"),
    );
    let started = Instant::now();
    while http_get(port, "/healthz").is_none() {
        assert!(
            started.elapsed() < STARTUP_LIMIT,
            "serve did not start: {}",
            cluster.log("serve-timeout")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
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

/// A child process killed when dropped, so that a failed test leaves none behind (children
/// inherit the build lock's descriptor from `flock cargo test`).
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn every_executor_lost_is_a_503_within_a_bound(
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
