//! The catalog of a running server: re-read when `workflows.json` or `goals.json` changes,
//! found out by a HEAD of each (ETag, modification time, size), not by reading them. A new
//! version that does not parse or validate is refused and the last valid one stays.

use std::sync::Arc;

use object_store::{ObjectMeta, ObjectStoreExt};

use super::Lake;
use super::catalog::{GOALS_FILE, WORKFLOWS_FILE};
use crate::error::{Error, Result};

/// What identifies one version of an object without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ObjectVersion {
    e_tag: Option<String>,
    last_modified: chrono::DateTime<chrono::Utc>,
    size: u64,
}

impl ObjectVersion {
    fn of(meta: &ObjectMeta) -> ObjectVersion {
        ObjectVersion {
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified,
            size: meta.size,
        }
    }
}

/// The versions of both catalog files (`None`: the file did not exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CatalogVersion {
    workflows: Option<ObjectVersion>,
    goals: Option<ObjectVersion>,
}

impl CatalogVersion {
    pub(super) fn of(workflows: Option<&ObjectMeta>, goals: Option<&ObjectMeta>) -> CatalogVersion {
        CatalogVersion {
            workflows: workflows.map(ObjectVersion::of),
            goals: goals.map(ObjectVersion::of),
        }
    }

    /// The catalog files whose version differs from `earlier`'s.
    fn changed_since(&self, earlier: &CatalogVersion) -> Vec<&'static str> {
        let mut changed = Vec::new();
        if self.workflows != earlier.workflows {
            changed.push(WORKFLOWS_FILE);
        }
        if self.goals != earlier.goals {
            changed.push(GOALS_FILE);
        }
        changed
    }
}

/// What a reload check did.
#[derive(Debug)]
pub enum CatalogReload {
    /// Neither file changed since the last check.
    Unchanged,
    /// These files changed and the new catalog is in use.
    Applied { files: Vec<&'static str> },
    /// `file` changed into something invalid: the last valid catalog stays.
    Refused { file: &'static str, error: Error },
}

impl Lake {
    /// Checks whether a catalog file changed (one HEAD per file) and, if so, reads and
    /// applies the new catalog, or refuses it and keeps the current one. A refused version
    /// is not read again until it changes. `Err` means the store could not be asked.
    pub async fn reload_catalog(&self) -> Result<CatalogReload> {
        let workflows = self.head(&self.root.clone().join(WORKFLOWS_FILE)).await?;
        let goals = self.head(&self.root.clone().join(GOALS_FILE)).await?;
        let seen = CatalogVersion::of(workflows.as_ref(), goals.as_ref());
        if seen == *self.known_catalog_version() {
            return Ok(CatalogReload::Unchanged);
        }
        let (catalog, read) = self.read_catalog().await.map_err(|e| self.in_context(e))?;
        let files = read.changed_since(&self.known_catalog_version());
        *self.known_catalog_version() = read;
        match catalog {
            Ok(catalog) => {
                self.catalog.store(Arc::new(catalog));
                Ok(CatalogReload::Applied { files })
            }
            Err(error) => {
                let file = match &error {
                    Error::Catalog { file, .. } if file.ends_with(GOALS_FILE) => GOALS_FILE,
                    _ => WORKFLOWS_FILE,
                };
                Ok(CatalogReload::Refused { file, error })
            }
        }
    }

    fn known_catalog_version(&self) -> std::sync::MutexGuard<'_, CatalogVersion> {
        self.catalog_version
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The metadata of one object, or `None` when it does not exist.
    async fn head(&self, path: &object_store::path::Path) -> Result<Option<ObjectMeta>> {
        match self.store.head(path).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.in_context(e.into())),
        }
    }
}
