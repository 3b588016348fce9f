//! `flowlake scheduler`: its flags, resolved into the cluster crate's options.

use std::net::SocketAddr;

use clap::Args;
use flowlake_cluster::scheduler::{self, SchedulerOptions};

use super::S3Args;

/// Options of `flowlake scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address for clients (`--cluster df://HOST:PORT`) and executors (`--scheduler`);
    /// loopback unless told otherwise. Port 0 picks a free port (logged).
    #[arg(long, default_value = "127.0.0.1:8050")]
    pub listen: SocketAddr,
    /// Seconds without a heartbeat after which an executor counts as lost (its tasks run
    /// again elsewhere, and it is told to stop: it registers again); when the last one is
    /// lost, running jobs fail with 503 after as many seconds more unless an executor
    /// joins. Must be longer than --executor-heartbeat-interval (3 times or more is wise).
    #[arg(long, default_value_t = scheduler::DEFAULT_EXECUTOR_TIMEOUT, value_parser = clap::value_parser!(u64).range(2..))]
    pub executor_timeout: u64,
    /// The executors' --heartbeat-interval, in seconds: the scheduler only checks that
    /// --executor-timeout is longer.
    #[arg(long, default_value_t = flowlake_cluster::executor::DEFAULT_HEARTBEAT_INTERVAL, value_parser = clap::value_parser!(u64).range(1..))]
    pub executor_heartbeat_interval: u64,
    /// Seconds a finished job's results stay on the executors for its client to fetch
    /// (a client that reads them to the end has them removed at once).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub finished_job_data_ttl: u64,
    /// How S3 lakes are reached (their scans are planned here; no file is read).
    #[command(flatten)]
    pub s3: S3Args,
}

impl SchedulerArgs {
    fn options(self) -> SchedulerOptions {
        SchedulerOptions {
            listen: self.listen,
            executor_timeout: self.executor_timeout,
            executor_heartbeat_interval: self.executor_heartbeat_interval,
            finished_job_data_ttl: self.finished_job_data_ttl,
            s3: self.s3.options(),
        }
    }
}

/// Runs the scheduler until SIGTERM or Ctrl-C; returns the exit code.
pub(super) async fn run(args: SchedulerArgs) -> i32 {
    let stop = super::signals::stop_requested();
    let shutdown = async move { stop.await.name() };
    match scheduler::serve(args.options(), shutdown).await {
        Ok(()) => 0,
        Err(error) => super::fail(&error),
    }
}
