//! Garbage collection of a day folder, through the same commits as every writer:
//!
//! - files a rewrite replaced are deleted once their grace has passed (a query that read
//!   the manifest before the swap may still be reading them);
//! - files flowlake wrote that no manifest names (a writer killed before its commit, or
//!   the output of a writer that lost a race) are first *condemned* by a commit that records
//!   them as replaced, once older than the orphan grace, and deleted after it. A writer
//!   never names a condemned file, and the commit that condemns conflicts with any commit
//!   that names it, so no file a manifest names is ever deleted;
//! - any other file that no manifest names (another tool's) is reported and left in place.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::commit::{COMMIT_ATTEMPTS, Commit, CommitOutcome, backoff, too_many_attempts};
use super::names::{event_file_name, is_flowlake_file};
use super::{Day, LakeWriter};
use crate::error::Result;

/// The graces of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct Graces {
    /// How long replaced files stay readable after the swap.
    pub replaced: Duration,
    /// How old an unnamed file of flowlake's must be before it is condemned (an ingest or
    /// compact still running has not named its files yet).
    pub orphan: Duration,
}

/// What a sweep did to a day folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Files deleted.
    pub deleted: Vec<String>,
    /// Files no manifest names that flowlake did not write: name and size, left in place.
    pub foreign: Vec<(String, u64)>,
}

/// Sweeps one day folder. A day without a manifest is left alone (all its files are read).
pub async fn sweep(writer: &LakeWriter, day: Day, graces: Graces) -> Result<Swept> {
    for attempt in 0..COMMIT_ATTEMPTS {
        let txn = writer.begin(day).await?;
        let Some(manifest) = txn.manifest().cloned() else {
            return Ok(Swept::default());
        };
        // The listing is taken after the manifest was read: every file it names is in it.
        let listing = writer.list_day(day).await?;
        let now = Utc::now();
        let passed = |since: DateTime<Utc>, grace: Duration| {
            chrono::Duration::from_std(grace)
                .ok()
                .and_then(|g| since.checked_add_signed(g))
                .is_some_and(|until| until <= now)
        };
        let mut swept = Swept::default();
        let mut condemn = Vec::new();
        let mut expired = Vec::new();
        for meta in &listing {
            let Some(name) = event_file_name(meta) else {
                continue;
            };
            if manifest.files.contains(&name) {
                continue;
            }
            match manifest.replaced.iter().find(|r| r.file == name) {
                Some(replaced) => {
                    if passed(replaced.at, graces.replaced) {
                        expired.push(name);
                    }
                }
                None if is_flowlake_file(&name) => {
                    if passed(meta.last_modified, graces.orphan) {
                        condemn.push(name);
                    }
                }
                None => swept.foreign.push((name, meta.size)),
            }
        }
        // Entries of files an earlier sweep deleted are forgotten, so manifests do not grow.
        let forget: Vec<String> = manifest
            .replaced
            .iter()
            .filter(|r| {
                passed(r.at, graces.replaced)
                    && !listing
                        .iter()
                        .any(|meta| meta.location.filename() == Some(r.file.as_str()))
            })
            .map(|r| r.file.clone())
            .collect();
        let outcome = txn
            .commit(
                Commit {
                    condemn: condemn.clone(),
                    forget,
                    ..Commit::default()
                },
                now,
            )
            .await?;
        match outcome {
            CommitOutcome::Committed(_) | CommitOutcome::Unchanged => {}
            _ => {
                backoff(attempt).await;
                continue;
            }
        }
        // Condemned files were never named: no query reads them, so they go now.
        for name in condemn.into_iter().chain(expired) {
            writer.delete(&writer.day_file(day, &name)).await?;
            swept.deleted.push(name);
        }
        swept.deleted.sort();
        swept.foreign.sort();
        return Ok(swept);
    }
    Err(too_many_attempts(writer, day))
}
