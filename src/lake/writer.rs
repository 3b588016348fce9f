//! Writing into a lake (`ingest`, `compact`): event files that appear whole, and day
//! manifests replaced compare-and-swap, on local disk and on object stores alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use uuid::Uuid;

use super::manifest::{MANIFEST_FILE, Manifest};
use super::store::s3_store;
use super::{LakeLocation, S3Options};
use crate::error::{Error, Result};

/// How often a manifest update is tried against other writers before giving up.
const CAS_ATTEMPTS: usize = 200;

/// A lake opened for writing.
#[derive(Debug, Clone)]
pub struct LakeWriter {
    store: Arc<dyn ObjectStore>,
    root: Path,
    /// The lake folder on local disk, where manifest updates take a lock file.
    local_root: Option<PathBuf>,
    shown: String,
}

/// One organization's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub organization_id: Uuid,
    pub date: NaiveDate,
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "organization_id={}/date={}", self.organization_id, self.date.format("%Y-%m-%d"))
    }
}

impl LakeWriter {
    /// Opens the lake at `location` for writing; a local folder must exist.
    pub async fn open(location: &LakeLocation, s3: &S3Options) -> Result<LakeWriter> {
        match location {
            LakeLocation::Local(folder) => {
                if !folder.is_dir() {
                    return Err(Error::Usage { message: format!("--lake {}: the lake folder does not exist", folder.display()) });
                }
                let store = LocalFileSystem::new_with_prefix(folder)
                    .map_err(|e| Error::internal(format!("opening {}: {e}", folder.display())))?;
                Ok(LakeWriter { store: Arc::new(store), root: Path::default(), local_root: Some(folder.clone()), shown: format!("{}/", folder.display()) })
            }
            LakeLocation::S3 { bucket, prefix } => {
                let (store, _, _) = s3_store(bucket, s3).await?;
                let shown = if prefix.is_empty() { format!("s3://{bucket}/") } else { format!("s3://{bucket}/{prefix}/") };
                Ok(LakeWriter { store, root: Path::from(prefix.as_str()), local_root: None, shown })
            }
        }
    }

    /// The object store (for reading files back).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// How a path of this lake is shown to users.
    pub fn show(&self, path: &Path) -> String {
        let relative = path.as_ref().strip_prefix(self.root.as_ref()).unwrap_or(path.as_ref()).trim_start_matches('/');
        format!("{}{relative}", self.shown)
    }

    /// The folder of a day.
    pub fn day_prefix(&self, day: Day) -> Path {
        super::day_folder(&self.root, day.organization_id, day.date)
    }

    /// The objects directly in a day folder.
    pub async fn list_day(&self, day: Day) -> Result<Vec<ObjectMeta>> {
        match self.store.list_with_delimiter(Some(&self.day_prefix(day))).await {
            Ok(listing) => Ok(listing.objects),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every day folder of the lake (of one organization, when given), sorted.
    pub async fn days(&self, organization_id: Option<Uuid>) -> Result<Vec<Day>> {
        let events = self.root.clone().join("events");
        let organizations = match organization_id {
            Some(id) => vec![id],
            None => self
                .subfolders(&events)
                .await?
                .iter()
                .filter_map(|name| name.strip_prefix("organization_id=").and_then(|id| Uuid::try_parse(id).ok()))
                .collect(),
        };
        let mut days = Vec::new();
        for organization_id in organizations {
            let folder = super::org_folder(&self.root, organization_id);
            for name in self.subfolders(&folder).await? {
                if let Some(date) = name.strip_prefix("date=").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
                    days.push(Day { organization_id, date });
                }
            }
        }
        days.sort();
        Ok(days)
    }

    async fn subfolders(&self, prefix: &Path) -> Result<Vec<String>> {
        match self.store.list_with_delimiter(Some(prefix)).await {
            Ok(listing) => Ok(listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a whole object: readers see all of it or nothing (a staged file renamed into
    /// place on local disk, one PUT on object stores).
    pub async fn put(&self, path: &Path, bytes: Vec<u8>) -> Result<()> {
        self.store.put(path, PutPayload::from(bytes)).await.map_err(|e| Error::internal(format!("writing {}: {e}", self.show(path))))?;
        Ok(())
    }

    /// Deletes an object; one already gone is fine.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::internal(format!("deleting {}: {e}", self.show(path)))),
        }
    }

    /// The day's manifest and the version it was read at, or `None` when it has none.
    pub async fn manifest(&self, day: Day) -> Result<Option<(Manifest, UpdateVersion)>> {
        let path = self.day_prefix(day).join(MANIFEST_FILE);
        match self.store.get(&path).await {
            Ok(result) => {
                let version = UpdateVersion { e_tag: result.meta.e_tag.clone(), version: result.meta.version.clone() };
                let bytes = result.bytes().await?;
                Ok(Some((Manifest::parse(&bytes, &self.show(&path))?, version)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the day's manifest with what `change` makes of the current one (`None`:
    /// the day has none yet), compare-and-swap: if another writer replaced it meanwhile,
    /// `change` runs again on the new one. `change` returning `None` leaves it as it is.
    /// Returns the manifest in force afterwards.
    pub async fn update_manifest<F>(&self, day: Day, mut change: F) -> Result<Option<Manifest>>
    where
        F: FnMut(Option<&Manifest>) -> Result<Option<Manifest>>,
    {
        let path = self.day_prefix(day).join(MANIFEST_FILE);
        if let Some(root) = &self.local_root {
            // Local disk has no conditional overwrite: writers of one day take turns on a
            // lock file, and the new manifest is renamed into place (readers see one or
            // the other).
            let lock_path = root.join(self.day_prefix(day).as_ref().trim_start_matches(self.root.as_ref())).join(".manifest.lock");
            let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                if let Some(parent) = lock_path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
                file.lock()?;
                Ok(file)
            })
            .await
            .map_err(|e| Error::internal(format!("locking the manifest of {day}: {e}")))?
            .map_err(|e| Error::internal(format!("locking the manifest of {day}: {e}")))?;
            let current = self.manifest(day).await?.map(|(m, _)| m);
            let outcome = match change(current.as_ref())? {
                Some(next) => {
                    self.put(&path, next.to_bytes()).await?;
                    Ok(Some(next))
                }
                None => Ok(current),
            };
            drop(lock);
            return outcome;
        }
        for attempt in 0..CAS_ATTEMPTS {
            let current = self.manifest(day).await?;
            let Some(next) = change(current.as_ref().map(|(m, _)| m))? else {
                return Ok(current.map(|(m, _)| m));
            };
            let mode = match current {
                Some((_, version)) => PutMode::Update(version),
                None => PutMode::Create,
            };
            let options = PutOptions { mode, ..PutOptions::default() };
            match self.store.put_opts(&path, PutPayload::from(next.to_bytes()), options).await {
                Ok(_) => return Ok(Some(next)),
                Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                    // Another writer won this round: back off a little, differently each time.
                    let pause = 5 + (attempt as u64 * 7 + u64::from(Uuid::new_v4().as_bytes()[0])) % 50;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(Error::internal(format!("replacing {}: {e}", self.show(&path)))),
            }
        }
        Err(Error::StorageUnavailable { message: format!("{}: {CAS_ATTEMPTS} writers in a row replaced the manifest first; try again", self.show(&path)) })
    }
}
