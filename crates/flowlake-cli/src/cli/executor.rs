//! `flowlake executor`: its flags, resolved into the cluster crate's options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use flowlake_cluster::executor::{self, ExecutorOptions};

use super::S3Args;

/// Options of `flowlake executor`.
#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler, as HOST:PORT.
    #[arg(long)]
    pub scheduler: String,
    /// Address of this executor's Arrow Flight service (results and shuffle data); also the
    /// host advertised to the scheduler. Loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8051")]
    pub listen: SocketAddr,
    /// Port of this executor's gRPC service (default: the --listen port + 1).
    #[arg(long)]
    pub grpc_port: Option<u16>,
    /// Tasks run at once (default: the number of cores).
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Folder for job files (shuffle data, results) and spills, this executor's alone: empty
    /// or used by an executor before; what earlier runs left in it is removed at start, and
    /// everything on a clean exit. Default: a temporary folder, removed on a clean exit.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Seconds between heartbeats to the scheduler; shorter than the scheduler's
    /// --executor-timeout, which counts missed heartbeats to tell that an executor is lost.
    #[arg(long, default_value_t = executor::DEFAULT_HEARTBEAT_INTERVAL, value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_interval: u64,
    /// Seconds to keep trying to reach the scheduler, at start and after losing it; then the
    /// executor exits with code 8.
    #[arg(long, default_value_t = executor::DEFAULT_SCHEDULER_CONNECT_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..))]
    pub scheduler_connect_timeout: u64,
    /// Seconds after which a job's files that no longer change are removed even if the
    /// scheduler never asks (it was restarted, or lost the job); checked every
    /// --job-data-cleanup-interval seconds.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub job_data_ttl: u64,
    /// Seconds between checks for job files older than --job-data-ttl (0: never).
    #[arg(long, default_value_t = 60)]
    pub job_data_cleanup_interval: u64,
    /// How S3 lakes are reached, with this executor's own `AWS_*` credentials.
    #[command(flatten)]
    pub s3: S3Args,
}

impl ExecutorArgs {
    fn options(self) -> ExecutorOptions {
        ExecutorOptions {
            scheduler: self.scheduler,
            listen: self.listen,
            grpc_port: self.grpc_port,
            concurrent_tasks: self.concurrent_tasks,
            work_dir: self.work_dir,
            heartbeat_interval: self.heartbeat_interval,
            scheduler_connect_timeout: self.scheduler_connect_timeout,
            job_data_ttl: self.job_data_ttl,
            job_data_cleanup_interval: self.job_data_cleanup_interval,
            s3: self.s3.options(),
        }
    }
}

/// Runs the executor until SIGTERM or Ctrl-C (Ballista's own handling: it tells the
/// scheduler, lets running tasks finish and stops); returns the exit code.
pub(super) async fn run(args: ExecutorArgs) -> i32 {
    match executor::serve(args.options()).await {
        Ok(()) => 0,
        Err(error) => super::fail(&error),
    }
}
