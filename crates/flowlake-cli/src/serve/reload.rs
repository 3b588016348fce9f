//! Live reloads (SPEC §6): the lake's catalog files and the access file are checked every
//! `--reload-interval` and on SIGHUP, by version (HEAD: ETag, modification time, size; a
//! stat for the local access file) rather than by reading them. A changed file that is
//! valid is swapped in whole (requests in flight keep the version they started with); an
//! invalid one is refused, logged with the reason, and counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;

use super::access::Access;
use super::metrics::{ReloadOutcome, ServerMetrics};
use flowlake::lake::{CatalogReload, Lake};

/// The metric label of the access file (its name is the operator's choice).
const ACCESS_LABEL: &str = "access";

/// What identifies a version of a local file without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    /// A file replaced by a rename is a new inode even within the same clock tick.
    inode: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode,
        })
    }
}

/// The access file being watched and the access rules in use.
pub(super) struct WatchedAccess {
    path: PathBuf,
    seen: Option<FileStamp>,
    current: Arc<ArcSwap<Access>>,
}

impl WatchedAccess {
    /// Watches `path`, whose current contents are `current`.
    pub(super) fn new(path: PathBuf, current: Arc<ArcSwap<Access>>) -> WatchedAccess {
        let seen = FileStamp::of(&path).ok();
        WatchedAccess {
            path,
            seen,
            current,
        }
    }
}

/// Checks the watched files and applies their valid new versions.
pub(super) struct Reloader {
    pub(super) lake: Arc<Lake>,
    pub(super) access: Option<WatchedAccess>,
    pub(super) metrics: Arc<ServerMetrics>,
}

impl Reloader {
    /// One check of every watched file.
    pub(super) async fn check(&mut self) {
        match self.lake.reload_catalog().await {
            Ok(CatalogReload::Unchanged) => {}
            Ok(CatalogReload::Applied { files }) => {
                for file in files {
                    tracing::info!(target: "flowlake::reload", file, "applied the new version");
                    self.metrics.reloaded(file, ReloadOutcome::Applied);
                }
            }
            Ok(CatalogReload::Refused { file, error }) => {
                tracing::warn!(target: "flowlake::reload", file, error = %error, "not applied: the last valid catalog stays in use");
                self.metrics.reloaded(file, ReloadOutcome::Refused);
            }
            Err(error) => {
                tracing::warn!(target: "flowlake::reload", error = %error, "could not check the catalog files; will try again")
            }
        }
        if let Some(access) = &mut self.access {
            check_access(access, &self.metrics);
        }
    }

    /// Checks every `interval` and on SIGHUP until the returned task is dropped.
    pub(super) fn spawn(mut self, interval: Duration) -> ReloadTask {
        // Registered before the server answers anything, so that an early SIGHUP does not
        // meet the default action (ending the process).
        let mut hangups = hangup_signals();
        ReloadTask(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(100)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = next_hangup(&mut hangups) => tracing::info!(target: "flowlake::reload", "SIGHUP: checking the catalog and access files"),
                }
                self.check().await;
            }
        }))
    }
}

fn check_access(access: &mut WatchedAccess, metrics: &ServerMetrics) {
    let file = access.path.display().to_string();
    let stamp = match FileStamp::of(&access.path) {
        Ok(stamp) => stamp,
        Err(e) => {
            // A file being replaced may be missing for an instant; a removed one keeps the
            // last rules rather than locking everybody out or letting everybody in.
            if access.seen.take().is_some() {
                tracing::warn!(target: "flowlake::reload", file, error = %e, "cannot read the access file: the last valid version stays in use");
            }
            return;
        }
    };
    if access.seen.as_ref() == Some(&stamp) {
        return;
    }
    access.seen = Some(stamp);
    match Access::load(&access.path) {
        Ok(rules) => {
            access.current.store(Arc::new(rules));
            tracing::info!(target: "flowlake::reload", file, "applied the new version");
            metrics.reloaded(ACCESS_LABEL, ReloadOutcome::Applied);
        }
        Err(error) => {
            tracing::warn!(target: "flowlake::reload", file, error = %error, "not applied: the last valid access rules stay in use");
            metrics.reloaded(ACCESS_LABEL, ReloadOutcome::Refused);
        }
    }
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = ();

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {}

#[cfg(unix)]
async fn next_hangup(hangups: &mut Hangups) {
    let Some(signal) = hangups else {
        return std::future::pending().await;
    };
    if signal.recv().await.is_none() {
        // The signal stream ended: no more hangups will come.
        *hangups = None;
        std::future::pending::<()>().await;
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangups) {
    std::future::pending().await
}

/// The reload loop; it stops when this is dropped (when the server stops).
pub(super) struct ReloadTask(JoinHandle<()>);

impl Drop for ReloadTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
