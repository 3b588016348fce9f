//! Where data lives: the lake's location and object store, its catalog files, and the
//! events table of a query over only the day folders it needs.

pub mod catalog;
pub mod counting;
mod list_cache;
pub mod location;
pub mod reader;
pub mod schema;
pub mod store;
pub mod table;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use object_store::path::Path;
use uuid::Uuid;

pub use catalog::{Catalog, Workflow, WorkflowKind};
pub use counting::{RequestCounts, RequestTotals};
pub use location::LakeLocation;
pub use store::{S3Credentials, S3Options};
pub use table::DayPartitions;

use list_cache::ListCache;

use crate::error::{Error, Result};
use crate::query::Interval;

/// How many day folders are listed at once.
const LISTING_CONCURRENCY: usize = 16;

/// An opened lake: its store, its root inside the store, and its catalog.
#[derive(Debug)]
pub struct Lake {
    location: LakeLocation,
    store: Arc<dyn ObjectStore>,
    store_url: ObjectStoreUrl,
    root: Path,
    display_prefix: String,
    catalog: Catalog,
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
    pub async fn open(location: LakeLocation, runtime: Arc<RuntimeEnv>, options: LakeOptions) -> Result<Lake> {
        let (store_url, root, display_prefix) = match &location {
            LakeLocation::Local(path) => {
                if !path.is_dir() {
                    return Err(Error::Catalog {
                        file: path.join(catalog::WORKFLOWS_FILE).display().to_string(),
                        message: format!("the lake folder {} does not exist", path.display()),
                    });
                }
                let root = Path::from_absolute_path(path)
                    .map_err(|e| Error::bad_request(format!("lake path {}: {e}", path.display())))?;
                (ObjectStoreUrl::local_filesystem(), root, "/".to_string())
            }
            LakeLocation::S3 { bucket, prefix } => {
                let url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
                (url, Path::from(prefix.as_str()), format!("s3://{bucket}/"))
            }
        };
        let store = runtime.object_store(&store_url).map_err(|e| {
            Error::internal(format!("no object store registered for {}: {e}", store_url.as_str()))
        })?;
        let store_description = options.store_description.unwrap_or_else(|| match &location {
            LakeLocation::Local(_) => "local disk".to_string(),
            LakeLocation::S3 { bucket, .. } => format!("s3://{bucket}"),
        });
        let mut lake = Lake {
            location,
            store,
            store_url,
            root,
            display_prefix,
            catalog: Catalog::default(),
            store_description,
            requests: options.requests,
            listings: ListCache::new(options.list_cache_ttl),
        };
        lake.catalog = lake.read_catalog().await.map_err(|e| lake.in_context(e))?;
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

    /// Names the store in a storage error, so that "unavailable" says which endpoint.
    fn in_context(&self, error: Error) -> Error {
        match error {
            Error::StorageUnavailable { message } if !message.contains(&self.store_description) => {
                Error::StorageUnavailable { message: format!("{}: {message}", self.store_description) }
            }
            other => other,
        }
    }

    /// The catalog read when the lake was opened.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn display(&self, path: &Path) -> String {
        format!("{}{}", self.display_prefix, path)
    }

    async fn read_catalog(&self) -> Result<Catalog> {
        let workflows_path = self.root.clone().join(catalog::WORKFLOWS_FILE);
        let workflows_name = self.display(&workflows_path);
        let workflows = match self.read(&workflows_path).await? {
            Some(bytes) => bytes,
            None => {
                return Err(Error::Catalog {
                    file: workflows_name,
                    message: "not found: a lake needs workflows.json at its root".into(),
                });
            }
        };
        let goals_path = self.root.clone().join(catalog::GOALS_FILE);
        let goals_name = self.display(&goals_path);
        let goals = self.read(&goals_path).await?;
        Catalog::parse(&workflows, &workflows_name, goals.as_deref().map(|g| (g, goals_name.as_str())))
    }

    /// The bytes of one object, or `None` when it does not exist.
    async fn read(&self, path: &Path) -> Result<Option<bytes::Bytes>> {
        use object_store::ObjectStoreExt;
        match self.store.get(path).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The folder of one organization's day.
    fn day_prefix(&self, organization_id: Uuid, day: NaiveDate) -> Path {
        self.root.clone()
            .join("events")
            .join(format!("organization_id={organization_id}"))
            .join(format!("date={}", day.format("%Y-%m-%d")))
    }

    /// The Parquet files of the organization's days that the interval touches, sorted by
    /// path so plans are deterministic. Only those folders are listed; a missing one holds
    /// no events.
    pub async fn day_files(&self, organization_id: Uuid, interval: &Interval) -> Result<Vec<PartitionedFile>> {
        let org_value = ScalarValue::Utf8(Some(organization_id.to_string()));
        let listings = futures::stream::iter(interval.utc_days())
            .map(|day| {
                let prefix = self.day_prefix(organization_id, day);
                let org_value = org_value.clone();
                async move {
                    let objects = self.list_day(&prefix).await.map_err(|e| self.in_context(e))?;
                    let date = ScalarValue::Date32(Some(days_since_epoch(day)));
                    Ok::<_, Error>(
                        objects
                            .iter()
                            .filter(|meta| is_event_file(&meta.location))
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

    /// The objects directly in one day folder (none when it does not exist), from the
    /// listing cache while it is fresh.
    async fn list_day(&self, prefix: &Path) -> Result<Arc<Vec<ObjectMeta>>> {
        if let Some(objects) = self.listings.get(prefix) {
            return Ok(objects);
        }
        let objects = match self.store.list_with_delimiter(Some(prefix)).await {
            Ok(listing) => listing.objects,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(Error::from(e)),
        };
        Ok(self.listings.put(prefix, objects))
    }

    /// The events table of one organization and interval.
    pub async fn events_table(&self, organization_id: Uuid, interval: &Interval) -> Result<DayPartitions> {
        let files = self.day_files(organization_id, interval).await?;
        Ok(DayPartitions::new(self.store_url.clone(), files, self.display_prefix.clone()))
    }
}

/// `<any-name>.parquet`, skipping hidden and underscore-prefixed names (files being
/// written, `_SUCCESS` markers), as Spark and Hive do.
fn is_event_file(path: &Path) -> bool {
    path.filename().is_some_and(|name| name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_'))
}

fn days_since_epoch(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_parquet_files_are_events() {
        assert!(is_event_file(&Path::from("a/date=2026-03-01/part-0.parquet")));
        assert!(!is_event_file(&Path::from("a/date=2026-03-01/.part-0.parquet")));
        assert!(!is_event_file(&Path::from("a/date=2026-03-01/_SUCCESS")));
        assert!(!is_event_file(&Path::from("a/date=2026-03-01/part-0.parquet.tmp")));
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_since_epoch(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
    }
}
