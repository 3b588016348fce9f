//! An `ObjectStore` wrapper that counts the requests made through it, so that the cost of a
//! query in LIST and GET requests can be logged and tested (SPEC §7: pruned listing).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, OBJECT_STORE_COALESCE_DEFAULT,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result,
};

/// Requests made through a [`CountingStore`], by kind.
#[derive(Debug, Default)]
pub struct RequestCounts {
    list: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    other: AtomicU64,
}

/// A reading of [`RequestCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTotals {
    /// LIST calls (a listing that pages counts once per call).
    pub list: u64,
    /// GET requests: one per call, and for a call fetching several byte ranges, one per
    /// group of ranges that object_store coalesces into one request.
    pub get: u64,
    pub head: u64,
    pub put: u64,
    pub other: u64,
}

impl RequestCounts {
    /// The counts so far.
    pub fn totals(&self) -> RequestTotals {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RequestTotals {
            list: read(&self.list),
            get: read(&self.get),
            head: read(&self.head),
            put: read(&self.put),
            other: read(&self.other),
        }
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl std::ops::Sub for RequestTotals {
    type Output = RequestTotals;

    fn sub(self, earlier: RequestTotals) -> RequestTotals {
        RequestTotals {
            list: self.list - earlier.list,
            get: self.get - earlier.get,
            head: self.head - earlier.head,
            put: self.put - earlier.put,
            other: self.other - earlier.other,
        }
    }
}

/// Forwards every call to the inner store and counts it.
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<RequestCounts>,
}

impl CountingStore {
    /// Wraps `inner`; the counts are shared with the caller.
    pub fn new(inner: Arc<dyn ObjectStore>) -> (CountingStore, Arc<RequestCounts>) {
        let counts = Arc::new(RequestCounts::default());
        (
            CountingStore {
                inner,
                counts: Arc::clone(&counts),
            },
            counts,
        )
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        RequestCounts::add(&self.counts.put, 1);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        RequestCounts::add(&self.counts.put, 1);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let counter = if options.head {
            &self.counts.head
        } else {
            &self.counts.get
        };
        RequestCounts::add(counter, 1);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        RequestCounts::add(&self.counts.get, coalesced_requests(ranges));
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let counts = Arc::clone(&self.counts);
        let counted = locations
            .inspect(move |_| RequestCounts::add(&counts.other, 1))
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        RequestCounts::add(&self.counts.list, 1);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        RequestCounts::add(&self.counts.list, 1);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        RequestCounts::add(&self.counts.list, 1);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        RequestCounts::add(&self.counts.other, 1);
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        RequestCounts::add(&self.counts.other, 1);
        self.inner.rename_opts(from, to, options).await
    }
}

/// How many requests `ranges` become once ranges less than
/// [`OBJECT_STORE_COALESCE_DEFAULT`] apart are merged, as object_store's `get_ranges` does.
fn coalesced_requests(ranges: &[Range<u64>]) -> usize {
    let mut sorted: Vec<&Range<u64>> = ranges.iter().collect();
    sorted.sort_by_key(|r| r.start);
    let mut requests = 0;
    let mut end: Option<u64> = None;
    for range in sorted {
        match end {
            Some(e) if range.start <= e.saturating_add(OBJECT_STORE_COALESCE_DEFAULT) => {
                end = Some(e.max(range.end))
            }
            _ => {
                requests += 1;
                end = Some(range.end);
            }
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn every_kind_of_request_is_counted() {
        let (store, counts) = CountingStore::new(Arc::new(InMemory::new()));
        let path = Path::from("a/b.parquet");
        store
            .put(&path, PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        store.get(&path).await.unwrap();
        store.head(&path).await.unwrap();
        store.get_ranges(&path, &[0..2, 4..6]).await.unwrap();
        assert_eq!(
            coalesced_requests(&[0..2, 4..6, (4 << 20)..(5 << 20)]),
            2,
            "near ranges are one request"
        );
        store
            .list_with_delimiter(Some(&Path::from("a")))
            .await
            .unwrap();
        let listed: Vec<_> = store.list(None).collect().await;
        assert_eq!(listed.len(), 1);
        assert_eq!(
            counts.totals(),
            RequestTotals {
                list: 2,
                get: 2,
                head: 1,
                put: 1,
                other: 0
            }
        );
    }
}
