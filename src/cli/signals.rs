//! SIGINT and SIGTERM for `query` and `batch`: their work is dropped (which cancels their
//! cluster jobs), the cancellations are awaited for a bounded time, and the command exits
//! with the signal's conventional code.

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

    fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when it is first polled (so
/// poll it from the start of the work it guards); from then on these signals no longer kill
/// the process: the command drops its work, which cancels cluster jobs, and exits itself.
pub(crate) async fn stop_requested() -> Stop {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    if let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        return tokio::select! {
            _ = interrupt => Stop::Interrupt,
            _ = terminate.recv() => Stop::Terminate,
        };
    }
    let _ = interrupt.await;
    Stop::Interrupt
}

/// How long a stopping command lets the cluster jobs it has just submitted run on until the
/// scheduler has told them their ids (needed to cancel them).
#[cfg(feature = "cluster")]
const JOB_ID_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs `work` a moment more after a stop signal: until every cluster job it has submitted
/// knows its id, at most [`JOB_ID_LIMIT`]. Without a cluster it returns at once.
pub(crate) async fn identify_jobs<F: std::future::Future>(work: std::pin::Pin<&mut F>) {
    #[cfg(feature = "cluster")]
    tokio::select! {
        _ = work => {}
        () = crate::cluster::client::jobs_identified(JOB_ID_LIMIT) => {}
    }
    #[cfg(not(feature = "cluster"))]
    let _ = &work;
}

/// How long a stopping command waits for the scheduler to confirm the cancellation of its
/// cluster jobs before it exits anyway.
#[cfg(feature = "cluster")]
const CANCEL_LIMIT: std::time::Duration = std::time::Duration::from_secs(6);

/// What a command does once its work was dropped on `stop`: waits (boundedly) until the
/// cluster jobs of the dropped streams are cancelled, says so, and returns the exit code.
pub(crate) async fn stopped(stop: Stop, what: &str) -> i32 {
    #[cfg(feature = "cluster")]
    let cancelled = crate::cluster::client::cancellations_settled(CANCEL_LIMIT).await;
    #[cfg(not(feature = "cluster"))]
    let cancelled = 0;
    match cancelled {
        0 => note!("flowlake: stopped by {}; {what}", stop.name()),
        jobs => note!(
            "flowlake: stopped by {}; {jobs} job(s) cancelled on the cluster; {what}",
            stop.name()
        ),
    }
    stop.exit_code()
}
