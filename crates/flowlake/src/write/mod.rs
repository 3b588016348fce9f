//! The write room: everything that changes a lake (`ingest`, `compact`) goes through the
//! commit protocol here. A writer puts event files under names of its own, then publishes
//! them in one [`Commit`] per day, compare-and-swap on the day's manifest; garbage
//! collection ([`sweep`]) goes through the same commits. The rules (SPEC §8):
//!
//! 1. no writer deletes a file that the day's current manifest names;
//! 2. garbage collection deletes only files flowlake wrote that no manifest names, after
//!    their grace, and reports any other unnamed file;
//! 3. a manifest is published only after checking that every file it names exists;
//! 4. an invalid manifest (a name twice, an unknown version or field) is left untouched.

pub mod commit;
pub mod compact;
pub mod day_reader;
pub mod ingest;
pub mod layout;
pub mod names;
pub mod sweep;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::format::paths;
use crate::storage::listing::list_folder;
use crate::storage::store::s3_store;
use crate::storage::{LakeLocation, S3Options};

pub use commit::{Commit, CommitOutcome, DayTxn};

/// A lake opened for writing.
#[derive(Debug, Clone)]
pub struct LakeWriter {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// The lake folder on local disk, where day transactions take a lock file.
    local_root: Option<PathBuf>,
    shown: String,
}

/// The objects of the files `names` in a day folder's listing, in that order; `Err` is the
/// first name the listing lacks.
pub fn named_objects<'a>(
    listing: &[ObjectMeta],
    names: &'a [String],
) -> Result<Vec<ObjectMeta>, &'a str> {
    names
        .iter()
        .map(|name| {
            listing
                .iter()
                .find(|m| m.location.filename() == Some(name.as_str()))
                .cloned()
                .ok_or(name.as_str())
        })
        .collect()
}

/// One organization's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub organization_id: Uuid,
    pub date: NaiveDate,
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            paths::org_folder_name(self.organization_id),
            paths::day_folder_name(self.date)
        )
    }
}

impl LakeWriter {
    /// Opens the lake at `location` for writing (the command line has checked that a local
    /// folder exists and says which flag was wrong).
    pub async fn open(location: &LakeLocation, s3: &S3Options) -> Result<LakeWriter> {
        match location {
            LakeLocation::Local(folder) => {
                let store = LocalFileSystem::new_with_prefix(folder)
                    .map_err(|e| Error::internal(format!("opening {}: {e}", folder.display())))?;
                Ok(LakeWriter {
                    store: Arc::new(store),
                    root: Path::default(),
                    local_root: Some(folder.clone()),
                    shown: format!("{}/", folder.display()),
                })
            }
            LakeLocation::S3 { bucket, prefix } => {
                let (store, _, _) = s3_store(bucket, s3).await?;
                let shown = if prefix.is_empty() {
                    format!("s3://{bucket}/")
                } else {
                    format!("s3://{bucket}/{prefix}/")
                };
                Ok(LakeWriter {
                    store,
                    root: Path::from(prefix.as_str()),
                    local_root: None,
                    shown,
                })
            }
        }
    }

    /// The object store (for reading files back).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// How a path of this lake is shown to users.
    pub fn show(&self, path: &Path) -> String {
        let relative = path
            .as_ref()
            .strip_prefix(self.root.as_ref())
            .unwrap_or(path.as_ref())
            .trim_start_matches('/');
        format!("{}{relative}", self.shown)
    }

    /// The folder of a day.
    pub fn day_prefix(&self, day: Day) -> Path {
        paths::day_folder(&self.root, day.organization_id, day.date)
    }

    /// The path of a file of a day folder.
    pub fn day_file(&self, day: Day, name: &str) -> Path {
        self.day_prefix(day).join(name)
    }

    /// The error of a day whose manifest names a file that is not in its folder.
    pub fn missing_file(&self, day: Day, name: &str) -> Error {
        Error::Data {
            message: format!(
                "the manifest of {} names {name}, which is not in the folder",
                self.show(&self.day_prefix(day))
            ),
            source: None,
        }
    }

    /// The objects directly in a day folder.
    pub async fn list_day(&self, day: Day) -> Result<Vec<ObjectMeta>> {
        Ok(list_folder(self.store.as_ref(), &self.day_prefix(day))
            .await?
            .objects)
    }

    /// Every day folder of the lake (of one organization, when given), sorted.
    pub async fn days(&self, organization_id: Option<Uuid>) -> Result<Vec<Day>> {
        let events = paths::events_folder(&self.root);
        let organizations = match organization_id {
            Some(id) => vec![id],
            None => self
                .subfolders(&events)
                .await?
                .iter()
                .filter_map(|name| paths::organization_of_folder_name(name))
                .collect(),
        };
        let mut days = Vec::new();
        for organization_id in organizations {
            let folder = paths::org_folder(&self.root, organization_id);
            for name in self.subfolders(&folder).await? {
                if let Some(date) = paths::day_of_folder_name(&name) {
                    days.push(Day {
                        organization_id,
                        date,
                    });
                }
            }
        }
        days.sort();
        Ok(days)
    }

    async fn subfolders(&self, prefix: &Path) -> Result<Vec<String>> {
        Ok(list_folder(self.store.as_ref(), prefix)
            .await?
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect())
    }

    /// Writes a whole object: readers see all of it or nothing (a staged file renamed into
    /// place on local disk, one PUT on object stores).
    pub async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.store
            .put(path, PutPayload::from(bytes))
            .await
            .map_err(|e| Error::internal(format!("writing {}: {e}", self.show(path))))?;
        Ok(())
    }

    /// Uploads a local file as a whole object, streaming (a multipart upload on object
    /// stores, a staged file renamed into place on local disk): readers see all or nothing.
    pub async fn upload(&self, file: &std::path::Path, path: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let failed = |e: &dyn std::fmt::Display| {
            Error::internal(format!(
                "writing {} from {}: {e}",
                self.show(path),
                file.display()
            ))
        };
        let mut source = tokio::fs::File::open(file).await.map_err(|e| failed(&e))?;
        let mut target =
            object_store::buffered::BufWriter::new(Arc::clone(&self.store), path.clone());
        if let Err(e) = tokio::io::copy(&mut source, &mut target).await {
            let _ = target.abort().await;
            return Err(failed(&e));
        }
        target.shutdown().await.map_err(|e| failed(&e))
    }

    /// Deletes an object; one already gone is fine.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::internal(format!(
                "deleting {}: {e}",
                self.show(path)
            ))),
        }
    }
}
