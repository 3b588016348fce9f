//! One day's manifest transaction: read the manifest, decide, commit compare-and-swap.
//!
//! On local disk a transaction holds the day's lock file from [`LakeWriter::begin`] to its
//! commit, so writers of one day take turns and a commit never conflicts; the new
//! manifest is renamed into place. On object stores the manifest is replaced with a
//! conditional PUT against the version the transaction read; a writer that lost the race
//! gets [`CommitOutcome::Conflict`] and begins again.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

use super::{Day, LakeWriter};
use crate::error::{Error, Result};
use crate::format::manifest::{MANIFEST_FILE, Manifest, Replaced};

/// How often a writer begins a day's transaction again after losing a race.
pub const COMMIT_ATTEMPTS: usize = 200;

/// The lock file of a day folder on local disk.
const LOCK_FILE: &str = ".manifest.lock";

/// What a commit changes in a day's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Files to name: already written into the day folder under this writer's names.
    pub add: Vec<String>,
    /// Named files to take out (a rewrite's inputs); they are recorded as replaced.
    pub remove: Vec<String>,
    /// Unnamed flowlake files to record as replaced (garbage collection's first step:
    /// from then on no writer names them, so they can be deleted).
    pub condemn: Vec<String>,
    /// Replaced entries whose files are gone.
    pub forget: Vec<String>,
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The day's manifest is now this one.
    Committed(Manifest),
    /// The commit changed nothing; the manifest (if any) is as it was.
    Unchanged,
    /// Another writer replaced the manifest since the transaction read it: begin again.
    Conflict,
    /// Files of `remove` that the manifest no longer names (another writer took them out).
    InputsGone(Vec<String>),
    /// Files of `add` that are not in the folder, or that garbage collection condemned:
    /// write them again under new names, or give up.
    Missing(Vec<String>),
}

/// A transaction on one day's manifest.
#[derive(Debug)]
pub struct DayTxn<'w> {
    writer: &'w LakeWriter,
    day: Day,
    current: Option<Manifest>,
    version: Option<UpdateVersion>,
    /// Held until the transaction ends (local disk only).
    lock: Option<std::fs::File>,
}

impl LakeWriter {
    /// Begins a transaction on the day's manifest (on local disk: waits for its lock).
    /// An invalid manifest is an error that names it: writers leave such a day alone.
    pub async fn begin(&self, day: Day) -> Result<DayTxn<'_>> {
        let lock = match &self.local_root {
            Some(root) => Some(lock_day(root.join(self.day_prefix(day).as_ref()), day).await?),
            None => None,
        };
        let (current, version) = match self.read_manifest(day).await? {
            Some((manifest, version)) => (Some(manifest), Some(version)),
            None => (None, None),
        };
        Ok(DayTxn {
            writer: self,
            day,
            current,
            version,
            lock,
        })
    }

    /// The day's manifest as it is now, or `None` when it has none.
    pub async fn manifest(&self, day: Day) -> Result<Option<Manifest>> {
        Ok(self.read_manifest(day).await?.map(|(manifest, _)| manifest))
    }

    async fn read_manifest(&self, day: Day) -> Result<Option<(Manifest, UpdateVersion)>> {
        let path = self.day_file(day, MANIFEST_FILE);
        match self.store.get(&path).await {
            Ok(result) => {
                let version = UpdateVersion {
                    e_tag: result.meta.e_tag.clone(),
                    version: result.meta.version.clone(),
                };
                let bytes = result.bytes().await?;
                Ok(Some((Manifest::parse(&bytes, &self.show(&path))?, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The day's manifest, created first (naming the event files the folder holds) when
    /// the day has none: from then on files in the folder are invisible until a commit
    /// names them, so a writer's files appear all at once.
    pub async fn ensure_manifest(&self, day: Day) -> Result<Manifest> {
        for attempt in 0..COMMIT_ATTEMPTS {
            let txn = self.begin(day).await?;
            if let Some(manifest) = txn.manifest() {
                return Ok(manifest.clone());
            }
            let existing: Vec<String> = self
                .list_day(day)
                .await?
                .iter()
                .filter_map(super::names::event_file_name)
                .collect();
            match txn
                .commit(
                    Commit {
                        add: existing,
                        ..Commit::default()
                    },
                    Utc::now(),
                )
                .await?
            {
                CommitOutcome::Committed(manifest) => return Ok(manifest),
                // Files deleted between the listing and the commit, or another writer's
                // manifest first: look again.
                _ => backoff(attempt).await,
            }
        }
        Err(too_many_attempts(self, day))
    }
}

impl DayTxn<'_> {
    /// The manifest the transaction read (`None`: the day has none yet).
    pub fn manifest(&self) -> Option<&Manifest> {
        self.current.as_ref()
    }

    /// Applies `commit` to the manifest read and publishes the result, after checking that
    /// every file it names is in the folder (rule 3: no manifest names a missing file).
    pub async fn commit(self, commit: Commit, at: DateTime<Utc>) -> Result<CommitOutcome> {
        let mut next = self
            .current
            .clone()
            .unwrap_or_else(|| Manifest::new(Vec::new()));
        let gone: Vec<String> = commit
            .remove
            .iter()
            .filter(|f| !next.files.contains(f))
            .cloned()
            .collect();
        if !gone.is_empty() {
            return Ok(CommitOutcome::InputsGone(gone));
        }
        let condemned: Vec<String> = commit
            .add
            .iter()
            .filter(|f| next.replaced.iter().any(|r| &r.file == *f))
            .cloned()
            .collect();
        if !condemned.is_empty() {
            return Ok(CommitOutcome::Missing(condemned));
        }
        next.replace(&commit.remove, commit.add.iter().cloned(), at);
        for file in &commit.condemn {
            if !next.knows(file) {
                next.replaced.push(Replaced {
                    file: file.clone(),
                    at,
                });
            }
        }
        next.replaced.retain(|r| !commit.forget.contains(&r.file));
        if self.current.as_ref() == Some(&next) {
            return Ok(CommitOutcome::Unchanged);
        }

        let listing = self.writer.list_day(self.day).await?;
        let present = |name: &String| {
            listing
                .iter()
                .any(|meta| meta.location.filename() == Some(name.as_str()))
        };
        let missing: Vec<String> = next.files.iter().filter(|f| !present(f)).cloned().collect();
        if let Some(theirs) = missing.iter().find(|f| !commit.add.contains(f)) {
            return Err(self.writer.missing_file(self.day, theirs));
        }
        if !missing.is_empty() {
            return Ok(CommitOutcome::Missing(missing));
        }

        let path = self.writer.day_file(self.day, MANIFEST_FILE);
        if self.lock.is_some() {
            // Under the day's lock: nobody else can replace it meanwhile.
            self.writer.put(&path, next.to_bytes()).await?;
            return Ok(CommitOutcome::Committed(next));
        }
        let mode = match self.version {
            Some(version) => PutMode::Update(version),
            None => PutMode::Create,
        };
        match self
            .writer
            .store
            .put_opts(
                &path,
                PutPayload::from(next.to_bytes()),
                PutOptions {
                    mode,
                    ..PutOptions::default()
                },
            )
            .await
        {
            Ok(_) => Ok(CommitOutcome::Committed(next)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(CommitOutcome::Conflict),
            Err(e) => Err(Error::internal(format!(
                "replacing {}: {e}",
                self.writer.show(&path)
            ))),
        }
    }
}

/// Takes the lock file of a day folder (created with the folder when missing).
async fn lock_day(folder: PathBuf, day: Day) -> Result<std::fs::File> {
    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        std::fs::create_dir_all(&folder)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(folder.join(LOCK_FILE))?;
        file.lock()?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::internal(format!("locking the manifest of {day}: {e}")))?
    .map_err(|e| Error::internal(format!("locking the manifest of {day}: {e}")))
}

/// A pause after losing a race, longer and different each time, so writers fall apart.
pub async fn backoff(attempt: usize) {
    let ceiling = 10 + 10 * attempt.min(20) as u64;
    tokio::time::sleep(Duration::from_millis(rand::random_range(5..ceiling))).await;
}

/// The error of a writer that lost every race it tried.
pub fn too_many_attempts(writer: &LakeWriter, day: Day) -> Error {
    Error::StorageUnavailable {
        message: format!(
            "{}: {COMMIT_ATTEMPTS} writers in a row replaced the manifest first; try again",
            writer.show(&writer.day_file(day, MANIFEST_FILE))
        ),
        source: None,
    }
}
