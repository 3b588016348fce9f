//! SIGINT and SIGTERM for `query` and `batch`: their work is dropped (which cancels their
//! cluster jobs), the cancellations are awaited for a bounded time, and the command exits
//! with the signal's conventional code.

use std::sync::Arc;
use std::time::Duration;

use flowlake::PlanRunner;

/// A signal that asks `query` or `batch` to stop before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGINT (Ctrl-C): exit code 130.
    Interrupt,
    /// SIGTERM: exit code 143.
    Terminate,
}

impl Stop {
    /// The conventional exit code of a process stopped by this signal (128 + its number).
    pub(crate) fn exit_code(self) -> i32 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed by this call, before the
/// future is first polled (so a signal that comes right after, say, a server printed its
/// address is not missed); from then on these signals no longer kill the process: the
/// command drops its work, which cancels cluster jobs, and exits itself.
pub(crate) fn stop_requested() -> impl std::future::Future<Output = Stop> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                    _ = interrupt.recv() => Stop::Interrupt,
                    _ = terminate.recv() => Stop::Terminate,
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    Stop::Interrupt
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupt
    }
}

/// How long a stopping command lets the work it has just handed to a remote runner (cluster
/// jobs) go on until that work can be cancelled (the scheduler has told the jobs' ids).
const JOB_ID_LIMIT: Duration = Duration::from_secs(2);

/// Runs `work` a moment more after a stop signal: until all the remote work it has started
/// can be cancelled, at most [`JOB_ID_LIMIT`]. With plans that run here (or no engine yet)
/// it returns at once.
pub(crate) async fn identify_jobs<F: std::future::Future>(
    work: std::pin::Pin<&mut F>,
    runner: Option<&Arc<dyn PlanRunner>>,
) {
    let Some(runner) = runner.filter(|runner| runner.is_remote()) else {
        return;
    };
    tokio::select! {
        _ = work => {}
        () = runner.started_work_identified(JOB_ID_LIMIT) => {}
    }
}

/// How long a stopping command waits for the cancellation of its remote work to be
/// confirmed before it exits anyway.
const CANCEL_LIMIT: Duration = Duration::from_secs(6);

/// What a command does once its work failed: waits (boundedly) until the cluster was
/// asked to remove the failed jobs' files, a request that would otherwise die with the
/// process once their tasks stopped.
pub(crate) async fn failed_jobs_settled(runner: Option<&Arc<dyn PlanRunner>>) {
    if let Some(runner) = runner {
        runner.cancellations_settled(CANCEL_LIMIT).await;
    }
}

/// What a command does once its work was dropped on `stop`: waits (boundedly) until the
/// remote work of the dropped streams is cancelled, says so, and returns the exit code.
pub(crate) async fn stopped(stop: Stop, what: &str, runner: Option<&Arc<dyn PlanRunner>>) -> i32 {
    let cancelled = match runner {
        Some(runner) => runner.cancellations_settled(CANCEL_LIMIT).await,
        None => 0,
    };
    match cancelled {
        0 => note!("flowlake: stopped by {}; {what}", stop.name()),
        jobs => note!(
            "flowlake: stopped by {}; {jobs} job(s) cancelled on the cluster; {what}",
            stop.name()
        ),
    }
    stop.exit_code()
}
