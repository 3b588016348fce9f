//! The read path: a lake opened over its store, its catalog files (reloaded when they
//! change), and the events table of a query over only the day folders it needs, read by
//! the checked Parquet reader.

pub mod catalog;
pub mod file_errors;
mod list_cache;
mod live_catalog;
pub mod reader;
pub mod table;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ListResult, ObjectMeta, ObjectStore};
use uuid::Uuid;

pub use catalog::{Catalog, Workflow, WorkflowKind};
pub use table::DayPartitions;

use list_cache::ListCache;
pub use list_cache::ListCacheCounts;
pub use live_catalog::CatalogReload;
use live_catalog::CatalogVersion;

use crate::error::{Error, Result};
use crate::format::paths::{day_folder, day_of_folder, is_event_file, org_folder};
use crate::query::Interval;
use crate::storage::{LakeLocation, RequestCounts, RequestTotals};

/// How many day folders are listed at once.
const LISTING_CONCURRENCY: usize = 16;

/// Intervals of up to this many UTC days list each day folder; longer ones list the
/// organization's day folders first (see [`Lake::days_to_list`] and the README).
const PER_DAY_LISTING_MAX_DAYS: i64 = 31;

/// An opened lake: its store, its root inside the store, and its catalog.
#[derive(Debug)]
pub struct Lake {
    location: LakeLocation,
    store: Arc<dyn ObjectStore>,
    store_url: ObjectStoreUrl,
    root: Path,
    display_prefix: String,
    /// Swapped whole when a changed catalog file is reloaded; a query keeps the version it
    /// started with.
    catalog: ArcSwap<Catalog>,
    /// The versions of the catalog files that `catalog` (or the last refused read) came from.
    catalog_version: Mutex<CatalogVersion>,
    runtime: Arc<RuntimeEnv>,
    /// What the store is, for messages: `local disk` or `s3://bucket at <endpoint>`.
    store_description: String,
    requests: Option<Arc<RequestCounts>>,
    listings: ListCache,
}

/// How a lake is read.
#[derive(Debug, Clone, Default)]
pub struct LakeOptions {
    /// How long a day folder's listing is reused; zero lists on every query.
    pub list_cache_ttl: Duration,
    /// The request counts of the lake's store, when it counts them.
    pub requests: Option<Arc<RequestCounts>>,
    /// What the store is, for messages (default: derived from the location).
    pub store_description: Option<String>,
}

impl Lake {
    /// Opens the lake at `location` with the store registered for it in `runtime`, and
    /// reads its catalog.
    pub async fn open(
        location: LakeLocation,
        runtime: Arc<RuntimeEnv>,
        options: LakeOptions,
    ) -> Result<Lake> {
        let (store_url, root, display_prefix) = match &location {
            LakeLocation::Local(path) => {
                if !path.is_dir() {
                    return Err(Error::Catalog {
                        file: path.join(catalog::WORKFLOWS_FILE).display().to_string(),
                        message: format!("the lake folder {} does not exist", path.display()),
                        source: None,
                    });
                }
                let root = Path::from_absolute_path(path).map_err(|e| {
                    Error::bad_request(format!("lake path {}: {e}", path.display()))
                })?;
                (ObjectStoreUrl::local_filesystem(), root, "/".to_string())
            }
            LakeLocation::S3 { bucket, prefix } => {
                let url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
                (url, Path::from(prefix.as_str()), format!("s3://{bucket}/"))
            }
        };
        let store = runtime.object_store(&store_url).map_err(|e| {
            Error::internal(format!(
                "no object store registered for {}: {e}",
                store_url.as_str()
            ))
        })?;
        let store_description = options
            .store_description
            .unwrap_or_else(|| match &location {
                LakeLocation::Local(_) => "local disk".to_string(),
                LakeLocation::S3 { bucket, .. } => format!("s3://{bucket}"),
            });
        let mut lake = Lake {
            location,
            store,
            store_url,
            root,
            display_prefix,
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_version: Mutex::new(CatalogVersion::default()),
            runtime,
            store_description,
            requests: options.requests,
            listings: ListCache::new(options.list_cache_ttl),
        };
        let (catalog, version) = lake.read_catalog().await.map_err(|e| lake.in_context(e))?;
        let catalog = catalog.map_err(|e| lake.in_context(e))?;
        lake.catalog.store(Arc::new(catalog));
        *lake
            .catalog_version
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = version;
        Ok(lake)
    }

    /// The lake's root as the user gave it.
    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    /// Requests made to the lake's store so far (S3 lakes; `None` on local disk).
    pub fn requests(&self) -> Option<RequestTotals> {
        self.requests.as_ref().map(|counts| counts.totals())
    }

    /// How often day-folder listings came from the listing cache or from the store.
    pub fn listing_cache_counts(&self) -> ListCacheCounts {
        self.listings.counts()
    }

    /// Names the store in a storage error, so that "unavailable" says which endpoint.
    fn in_context(&self, error: Error) -> Error {
        match error {
            Error::StorageUnavailable { message, source }
                if !message.contains(&self.store_description) =>
            {
                Error::StorageUnavailable {
                    message: format!("{}: {message}", self.store_description),
                    source,
                }
            }
            other => other,
        }
    }

    /// The current catalog: the one read when the lake was opened, or the last valid one
    /// reloaded since ([`Lake::reload_catalog`]).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    fn display(&self, path: &Path) -> String {
        format!("{}{}", self.display_prefix, path)
    }

    /// Reads both catalog files. The outer error is the store's (could not read); the inner
    /// one says what is wrong with what was read, and comes with the versions read.
    async fn read_catalog(&self) -> Result<(Result<Catalog>, CatalogVersion)> {
        let workflows_path = self.root.clone().join(catalog::WORKFLOWS_FILE);
        let workflows_name = self.display(&workflows_path);
        let goals_path = self.root.clone().join(catalog::GOALS_FILE);
        let goals_name = self.display(&goals_path);
        let workflows = self.read(&workflows_path).await?;
        let goals = self.read(&goals_path).await?;
        let version = CatalogVersion::of(
            workflows.as_ref().map(|(_, meta)| meta),
            goals.as_ref().map(|(_, meta)| meta),
        );
        let Some((workflows, _)) = workflows else {
            let missing = Error::Catalog {
                file: workflows_name,
                message: "not found: a lake needs workflows.json at its root".into(),
                source: None,
            };
            return Ok((Err(missing), version));
        };
        let goals = goals
            .as_ref()
            .map(|(bytes, _)| (bytes.as_ref(), goals_name.as_str()));
        Ok((Catalog::parse(&workflows, &workflows_name, goals), version))
    }

    /// The bytes of one object and its metadata, or `None` when it does not exist.
    async fn read(&self, path: &Path) -> Result<Option<(bytes::Bytes, ObjectMeta)>> {
        use object_store::ObjectStoreExt;
        match self.store.get(path).await {
            Ok(result) => {
                let meta = result.meta.clone();
                Ok(Some((result.bytes().await?, meta)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The folder of one organization's days.
    fn org_prefix(&self, organization_id: Uuid) -> Path {
        org_folder(&self.root, organization_id)
    }

    /// The folder of one organization's day.
    fn day_prefix(&self, organization_id: Uuid, day: NaiveDate) -> Path {
        day_folder(&self.root, organization_id, day)
    }

    /// The Parquet files of the organization's days that the interval touches, sorted by
    /// path so plans are deterministic. Only those folders are listed; a missing one holds
    /// no events.
    pub async fn day_files(
        &self,
        organization_id: Uuid,
        interval: &Interval,
    ) -> Result<Vec<PartitionedFile>> {
        let days = self
            .days_to_list(organization_id, interval)
            .await
            .map_err(|e| self.in_context(e))?;
        let org_value = ScalarValue::Utf8(Some(organization_id.to_string()));
        let listings = futures::stream::iter(days)
            .map(|day| {
                let prefix = self.day_prefix(organization_id, day);
                let org_value = org_value.clone();
                async move {
                    let objects = self
                        .day_objects(&prefix)
                        .await
                        .map_err(|e| self.in_context(e))?;
                    let date = ScalarValue::Date32(Some(days_since_epoch(day)));
                    Ok::<_, Error>(
                        objects
                            .iter()
                            .map(|meta| {
                                PartitionedFile::new_from_meta(meta.clone())
                                    .with_partition_values(vec![org_value.clone(), date.clone()])
                            })
                            .collect::<Vec<_>>(),
                    )
                }
            })
            .buffered(LISTING_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        let mut files: Vec<PartitionedFile> = listings.into_iter().flatten().collect();
        files.sort_by(|a, b| a.object_meta.location.cmp(&b.object_meta.location));
        Ok(files)
    }

    /// The event files of one day folder: those its manifest names when it has one
    /// (SPEC §1), otherwise every visible `*.parquet` file.
    async fn day_objects(&self, prefix: &Path) -> Result<Vec<ObjectMeta>> {
        let mut listing = self.list_folder(prefix, false).await?;
        let manifest_path = prefix.clone().join(crate::format::manifest::MANIFEST_FILE);
        if !listing
            .objects
            .iter()
            .any(|meta| meta.location == manifest_path)
        {
            return Ok(listing
                .objects
                .iter()
                .filter(|meta| is_event_file(&meta.location))
                .cloned()
                .collect());
        }
        let shown = self.display(&manifest_path);
        let bytes = self
            .read(&manifest_path)
            .await?
            .ok_or_else(|| Error::Data {
                message: format!("day manifest {shown} vanished while it was read"),
                source: None,
            })?;
        let manifest = crate::format::manifest::Manifest::parse(&bytes.0, &shown)?;
        for fresh in [false, true] {
            if fresh {
                // A listing older than the manifest may lack files written just before it.
                listing = self.list_folder(prefix, true).await?;
            }
            let selected: Vec<ObjectMeta> = listing
                .objects
                .iter()
                .filter(|meta| {
                    meta.location
                        .filename()
                        .is_some_and(|name| manifest.files.iter().any(|f| f == name))
                })
                .cloned()
                .collect();
            if selected.len() == manifest.files.len() {
                return Ok(selected);
            }
        }
        let missing = manifest.files.iter().find(|f| {
            !listing
                .objects
                .iter()
                .any(|meta| meta.location.filename() == Some(f.as_str()))
        });
        Err(Error::Data {
            message: format!(
                "day manifest {shown} names {}, which is not in the folder",
                missing.map(String::as_str).unwrap_or("a file")
            ),
            source: None,
        })
    }

    /// The day folders worth listing for the interval. A short interval lists each of its
    /// days (one request each, all at once); a longer one lists the organization's folder
    /// once (one request per 1,000 day folders) and keeps the days that exist, so that its
    /// cost follows the data, not the calendar (SPEC §7).
    async fn days_to_list(
        &self,
        organization_id: Uuid,
        interval: &Interval,
    ) -> Result<Vec<NaiveDate>> {
        let Some((first, last)) = utc_day_span(interval) else {
            return Ok(Vec::new());
        };
        if (last - first).num_days() < PER_DAY_LISTING_MAX_DAYS {
            return Ok(first.iter_days().take_while(|day| *day <= last).collect());
        }
        let listing = self
            .list_folder(&self.org_prefix(organization_id), false)
            .await?;
        let mut days: Vec<NaiveDate> = listing
            .common_prefixes
            .iter()
            .filter_map(day_of_folder)
            .filter(|day| (first..=last).contains(day))
            .collect();
        days.sort_unstable();
        days.dedup();
        Ok(days)
    }

    /// The objects and subfolders directly in one folder (none when it does not exist),
    /// from the listing cache while it is fresh unless `fresh` is asked for.
    async fn list_folder(&self, prefix: &Path, fresh: bool) -> Result<Arc<ListResult>> {
        if !fresh && let Some(listing) = self.listings.get(prefix) {
            return Ok(listing);
        }
        let listing = crate::storage::listing::list_folder(self.store.as_ref(), prefix).await?;
        Ok(self.listings.put(prefix, listing))
    }

    /// Forgets what the caches hold about the lake's files once `file` (as named in
    /// [`Error::ObjectChanged`]) was found rewritten or deleted: every listing, since a
    /// rewrite seldom comes alone (a compaction rewrites whole days), and the file's cached
    /// Parquet metadata.
    pub fn forget_cached_versions(&self, file: &str) {
        self.listings.clear();
        if let Some(location) = file.strip_prefix(self.display_prefix.as_str())
            && let Ok(path) = Path::parse(location)
        {
            self.runtime
                .cache_manager
                .get_file_metadata_cache()
                .remove(&path);
        }
    }

    /// The events table of one organization and interval.
    pub async fn events_table(
        &self,
        organization_id: Uuid,
        interval: &Interval,
    ) -> Result<DayPartitions> {
        let files = self.day_files(organization_id, interval).await?;
        Ok(DayPartitions::new(
            self.store_url.clone(),
            files,
            self.display_prefix.clone(),
        ))
    }
}

/// The first and last UTC dates the interval touches (none when it holds no instant).
fn utc_day_span(interval: &Interval) -> Option<(NaiveDate, NaiveDate)> {
    let first = chrono::DateTime::from_timestamp_micros(interval.start_us)?.date_naive();
    let last = chrono::DateTime::from_timestamp_micros(interval.end_us)?.date_naive();
    (interval.start_us <= interval.end_us).then_some((first, last))
}

fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_span_covers_both_ends_and_is_empty_when_reversed() {
        let us = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .timestamp_micros()
        };
        let interval = Interval {
            start_us: us("2026-03-01T23:00:00Z"),
            end_us: us("2026-03-03T00:00:00Z"),
        };
        let span = utc_day_span(&interval).unwrap();
        assert_eq!(
            (span.0.to_string(), span.1.to_string()),
            ("2026-03-01".to_string(), "2026-03-03".to_string())
        );
        assert_eq!(
            utc_day_span(&Interval {
                start_us: 10,
                end_us: 9
            }),
            None
        );
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(
            days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()),
            1
        );
    }
}
