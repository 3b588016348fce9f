//! SPEC §9: a real cluster from the built binary (`flowlake scheduler` and two `flowlake
//! executor` processes on 127.0.0.1) answers with the bytes of a local run.
//!
//! This module starts and stops the cluster and watches its logs and work folders; its
//! parts hold the tests: the answers, what executors see, `batch` and `serve` on the
//! cluster, cancellation, lost schedulers and executors, and starting without a scheduler.

mod answers;
mod cancel;
mod compare;
mod executors;
mod faces;
mod lost;
mod startup;

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

/// Seconds the fault tests' scheduler waits for a heartbeat before it counts an executor as
/// lost (their executors beat every second).
const FAULT_EXECUTOR_TIMEOUT: u64 = 4;

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

impl Cluster<'_> {
    /// `flowlake serve --no-auth --cluster` on a free port, with what `configure` adds,
    /// logging to `<name>.log`; returns once it answers `/healthz` (panics with its log if
    /// it exits or does not come up).
    fn serve(&self, name: &str, configure: impl FnOnce(&mut Command)) -> (Stopped, u16) {
        let port = free_ports(1)[0];
        let log = std::fs::File::create(self.logs.path().join(format!("{name}.log"))).expect("log");
        let mut command = flowlake();
        command
            .args([
                "serve",
                "--no-auth",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--cluster", &self.address()])
            .stdout(Stdio::null())
            .stderr(log);
        configure(&mut command);
        let mut server = Stopped(command.spawn().expect("start serve"));
        let started = Instant::now();
        while http_get(port, "/healthz").is_none() {
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "serve did not start: {}",
                self.log(name)
            );
            assert!(
                server.0.try_wait().ok().flatten().is_none(),
                "serve exited: {}",
                self.log(name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        (server, port)
    }
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
