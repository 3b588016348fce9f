//! Scale-out on Apache DataFusion Ballista (SPEC §9), behind the `cluster` feature.
//!
//! `flowlake scheduler` and `flowlake executor` embed Ballista's scheduler and executor
//! with flowlake's plan codecs; `--cluster df://HOST:PORT` makes an [`Engine`] whose
//! plans run there ([`client`]). The plan is the one a local run builds: the codecs
//! ([`codec`]) carry its flowlake parts, and [`scan`] keeps the checked Parquet reader on
//! executors.
//!
//! [`Engine`]: crate::Engine

pub mod client;
pub mod codec;
pub mod errors;
pub mod executor;
pub mod scan;
pub mod scheduler;
pub mod stores;

pub use client::ClusterAddress;

/// Completes on SIGTERM or SIGINT, naming the signal.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "SIGINT"
}
