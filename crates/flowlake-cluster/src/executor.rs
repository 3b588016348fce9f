//! `flowlake executor`: Ballista's executor with flowlake's codecs. It registers with the
//! scheduler, runs the tasks it is given (reading the lake itself: the same local path as
//! the client, or S3), and serves their results to the next stage and to clients.
//!
//! It opens two ports: `--listen` (Arrow Flight: results and shuffle data) and
//! `--grpc-port` (task launch and status, default: the `--listen` port + 1). Two executors
//! on one host run side by side with nothing but distinct values for both.
//!
//! It outlives its scheduler's moods: stopped by the scheduler (which stops executors it
//! has not heard from, e.g. after it was itself paused) or cut off from it, it registers
//! again as a new executor; only a scheduler that stays unreachable for
//! `--scheduler-connect-timeout` makes it exit, with code 8, for a supervisor to restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use crate::ClusterAddress;
use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::stores::LakeStores;
use crate::work_folder::{JOBS, SPILL, WorkFolder};
use flowlake::error::Error;
use flowlake::storage::S3Options;

/// Default of `--scheduler-connect-timeout`, seconds.
pub const DEFAULT_SCHEDULER_CONNECT_TIMEOUT: u64 = 30;

/// Default of `--heartbeat-interval`, seconds (the scheduler's `--executor-heartbeat-interval`
/// expects it).
pub const DEFAULT_HEARTBEAT_INTERVAL: u64 = 5;

/// Options of `flowlake executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, as HOST:PORT.
    pub scheduler: String,
    /// Address of this executor's Arrow Flight service (results and shuffle data); also the
    /// host advertised to the scheduler. Loopback unless told otherwise.
    pub listen: SocketAddr,
    /// Port of this executor's gRPC service (default: the --listen port + 1).
    pub grpc_port: Option<u16>,
    /// Tasks run at once (default: the number of cores).
    pub concurrent_tasks: Option<usize>,
    /// Folder for job files (shuffle data, results) and spills, this executor's alone: empty
    /// or used by an executor before; what earlier runs left in it is removed at start, and
    /// everything on a clean exit. Default: a temporary folder, removed on a clean exit.
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler; shorter than the scheduler's
    /// --executor-timeout, which counts missed heartbeats to tell that an executor is lost.
    pub heartbeat_interval: u64,
    /// Seconds to keep trying to reach the scheduler, at start and after losing it; then the
    /// executor exits with code 8.
    pub scheduler_connect_timeout: u64,
    /// Seconds after which a job's files that no longer change are removed even if the
    /// scheduler never asks (it was restarted, or lost the job); checked every
    /// --job-data-cleanup-interval seconds.
    pub job_data_ttl: u64,
    /// Seconds between checks for job files older than --job-data-ttl (0: never).
    pub job_data_cleanup_interval: u64,
    /// How S3 lakes are reached, with this executor's own `AWS_*` credentials.
    pub s3: S3Options,
}

/// The functions executors decode plans with: Ballista's registry lacks DataFusion's nested
/// (array) functions, which filters on list columns use (`array_has_any`, …).
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for function in datafusion::functions_nested::all_default_nested_functions() {
        registry
            .scalar_functions
            .insert(function.name().to_string(), function);
    }
    registry
}

/// Splits HOST:PORT (a bracketed IPv6 host is unwrapped).
fn host_port(text: &str) -> Result<(String, u16), Error> {
    let bad = || Error::Usage {
        message: format!("--scheduler '{text}': expected HOST:PORT"),
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(bad)?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// SIGTERM and SIGINT, registered for the whole life of the process: Ballista stops an
/// executor on them too, and on a stop request of the scheduler; these tell which it was.
struct StopSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> Result<StopSignals, Error> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind| {
                signal(kind).map_err(|e| Error::internal(format!("listening for signals: {e}")))
            };
            Ok(StopSignals {
                terminate: listen(SignalKind::terminate())?,
                interrupt: listen(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Whether SIGTERM or SIGINT has arrived (without waiting).
    fn received(&mut self) -> bool {
        use futures::FutureExt;
        #[cfg(unix)]
        return self.terminate.recv().now_or_never().is_some()
            || self.interrupt.recv().now_or_never().is_some();
        #[cfg(not(unix))]
        false
    }

    /// Completes on SIGTERM or SIGINT.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn serve(args: ExecutorOptions) -> Result<(), Error> {
    let (scheduler_host, scheduler_port) = host_port(&args.scheduler)?;
    let grpc_port = match args.grpc_port {
        Some(port) => port,
        None => args
            .listen
            .port()
            .checked_add(1)
            .ok_or_else(|| Error::Usage {
                message: "--listen port 65535 leaves no --grpc-port; give one".into(),
            })?,
    };
    if grpc_port == args.listen.port() {
        return Err(Error::Usage {
            message: format!(
                "--grpc-port {grpc_port} is the --listen port; give two distinct ports"
            ),
        });
    }
    // Ballista reports a taken port without saying which: check both first.
    for (flag, port) in [("--listen", args.listen.port()), ("--grpc-port", grpc_port)] {
        let address = SocketAddr::new(args.listen.ip(), port);
        std::net::TcpListener::bind(address).map_err(|e| Error::Usage {
            message: format!("cannot listen on {address} ({flag}): {e}"),
        })?;
    }
    let mut signals = StopSignals::register()?;
    let folder = WorkFolder::open(args.work_dir.as_deref())?;
    tracing::info!(
        "executor work folder: {} (job files in {JOBS}/, spills in {SPILL}/)",
        folder.root.display()
    );
    let scheduler = Scheduler {
        address: ClusterAddress {
            host: scheduler_host,
            port: scheduler_port,
        },
        connect_timeout: Duration::from_secs(args.scheduler_connect_timeout),
    };
    let stores = Arc::new(LakeStores::new(args.s3.clone()));
    let outcome = async {
        // Since when joining has failed without a registration that worked in between.
        let mut failing_since: Option<Instant> = None;
        loop {
            if !scheduler.reachable(&mut signals, failing_since).await? {
                return Ok(());
            }
            tracing::info!("executor on {} (gRPC port {grpc_port}) joining the scheduler at {}", args.listen, scheduler.address.host_port());
            // A new executor each time: the scheduler forgot the previous one.
            ballista_executor::executor_server::TERMINATING.store(false, Ordering::Release);
            let config = process_config(&args, grpc_port, &scheduler, &folder, &stores);
            let started = Instant::now();
            let process = start_executor_process(Arc::new(config));
            tokio::pin!(process);
            let ran = tokio::select! {
                ran = &mut process => ran,
                () = signals.next() => {
                    stopped_by_signal(process).await;
                    return Ok(());
                }
            };
            if signals.received() {
                return Ok(());
            }
            match ran {
                // Stopped by the scheduler (it had not heard from it for --executor-timeout)
                // or after failed heartbeats: what it ran is forgotten; join again.
                Ok(()) => {
                    failing_since = None;
                    tracing::warn!("the executor was stopped by the scheduler or lost it; registering again");
                }
                // Refused or cut off while registering: the scheduler may be restarting.
                Err(e) => {
                    let since = *failing_since.get_or_insert(started);
                    if since.elapsed() >= scheduler.connect_timeout {
                        return Err(scheduler.address.unavailable(format!(
                            "the executor could not join it within {} s (--scheduler-connect-timeout): {e}",
                            scheduler.connect_timeout.as_secs()
                        )));
                    }
                    tracing::warn!("joining the scheduler failed ({e}); trying again");
                }
            }
            if let Ok(removed) = folder.empty()
                && removed > 0
            {
                tracing::info!("removed the files of {removed} job(s) of the executor's previous registration");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    .await;
    folder.close();
    outcome
}

/// How long Ballista gets to start stopping on a signal it listens to as well.
const SIGNAL_SEEN: Duration = Duration::from_secs(1);

/// Lets Ballista's executor stop on the SIGTERM or SIGINT just received: it tells the
/// scheduler and lets its running tasks finish (marking itself terminating at once). A
/// signal that came while it was still starting is not seen by it: then it is dropped.
async fn stopped_by_signal(
    process: std::pin::Pin<
        &mut impl std::future::Future<Output = ballista_core::error::Result<()>>,
    >,
) {
    let mut process = process;
    let terminating = async {
        while !ballista_executor::executor_server::TERMINATING.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = &mut process => return,
        () = tokio::time::sleep(SIGNAL_SEEN) => {
            tracing::warn!("the executor was still starting when it was told to stop; stopping it now");
            return;
        }
        () = terminating => {}
    }
    if let Err(e) = process.await {
        tracing::warn!("stopping the executor: {e}");
    }
}

/// The scheduler an executor joins.
struct Scheduler {
    address: ClusterAddress,
    /// `--scheduler-connect-timeout`.
    connect_timeout: Duration,
}

impl Scheduler {
    /// Waits until the scheduler accepts connections, until `connect_timeout` after `since`
    /// (default: now): `true` once it does, `false` on SIGTERM or SIGINT meanwhile, a 503
    /// when it never did. Ballista's own retry loop cannot be used: it never ends (see
    /// docs/ballista-55.md).
    async fn reachable(
        &self,
        signals: &mut StopSignals,
        since: Option<Instant>,
    ) -> Result<bool, Error> {
        let started = since.unwrap_or_else(Instant::now);
        let mut told = Instant::now();
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect((self.address.host.as_str(), self.address.port)),
            );
            let why = match attempt.await {
                Ok(Ok(_)) => return Ok(true),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 2 s".to_string(),
            };
            let waited = started.elapsed();
            if waited >= self.connect_timeout {
                return Err(self.address.unavailable(format!(
                    "the executor could not reach the scheduler within {} s (--scheduler-connect-timeout): {why}",
                    self.connect_timeout.as_secs()
                )));
            }
            if told.elapsed() >= Duration::from_secs(5) || waited < Duration::from_millis(10) {
                told = Instant::now();
                tracing::warn!(
                    "the scheduler at {} does not accept connections ({why}); trying for {} s more",
                    self.address.host_port(),
                    (self.connect_timeout - waited).as_secs()
                );
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = signals.next() => return Ok(false),
            }
        }
    }
}

/// Ballista's configuration of one registration of the executor.
fn process_config(
    args: &ExecutorOptions,
    grpc_port: u16,
    scheduler: &Scheduler,
    folder: &WorkFolder,
    stores: &Arc<LakeStores>,
) -> ExecutorProcessConfig {
    let stores = Arc::clone(stores);
    let spill = folder.spill();
    let runtime = move |_: &SessionConfig| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores) as _)
            .with_temp_file_path(&spill)
            .build_arc()
    };
    let defaults = ExecutorProcessConfig::default();
    ExecutorProcessConfig {
        bind_host: args.listen.ip().to_string(),
        external_host: Some(args.listen.ip().to_string()),
        port: args.listen.port(),
        grpc_port,
        scheduler_host: scheduler.address.host.clone(),
        scheduler_port: scheduler.address.port,
        // One try: the scheduler was just seen accepting connections, and Ballista's retry
        // loop never ends.
        scheduler_connect_timeout_seconds: 0,
        vcores: args.concurrent_tasks.unwrap_or(defaults.vcores).max(1),
        executor_heartbeat_interval_seconds: args.heartbeat_interval,
        work_dir: Some(folder.jobs()),
        job_data_ttl_seconds: args.job_data_ttl,
        job_data_clean_up_interval_seconds: args.job_data_cleanup_interval,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::on_executor(
            &args.listen.to_string(),
        ))),
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(Arc::new(runtime)),
        ..defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses_are_host_and_port() {
        assert_eq!(
            host_port("127.0.0.1:8050").unwrap(),
            ("127.0.0.1".to_string(), 8050)
        );
        assert_eq!(host_port("[::1]:7").unwrap(), ("::1".to_string(), 7));
        assert!(host_port("no-port").is_err());
        assert!(host_port(":1").is_err());
    }
}
