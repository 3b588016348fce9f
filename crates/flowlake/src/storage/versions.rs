//! Reads pinned to the version of an object that its listing saw. A listing (possibly
//! from the listing cache) fixes each file's size, modification time and ETag; the Parquet
//! metadata cache is valid for that version only. Every read of the file is made
//! conditional on it (`If-Match` with the ETag, else `If-Unmodified-Since`) and the answer
//! is checked again, so that a file rewritten in place is never decoded with another
//! version's offsets: the read fails with [`ObjectChanged`](crate::Error::ObjectChanged)
//! and the engine lists again and retries.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, OBJECT_STORE_COALESCE_DEFAULT,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
    Result, coalesce_ranges,
};

/// One file's reads, pinned to its listed version; other objects pass through.
#[derive(Debug)]
pub(crate) struct VersionPinnedStore {
    inner: Arc<dyn ObjectStore>,
    listed: ObjectMeta,
    /// What the reads found: the error the reader reports follows from it, whatever text
    /// wraps the store's error.
    found: Arc<Found>,
}

/// What the reads of a pinned file found besides the listed version.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Another version, or no object: [`crate::Error::ObjectChanged`].
    changed: AtomicBool,
    /// No object at all (on a cluster executor, [`crate::Error::MissingOnExecutor`]).
    missing: AtomicBool,
}

impl Found {
    /// A read found another version than the listed one, or none.
    pub(crate) fn changed(&self) -> bool {
        self.changed.load(Ordering::SeqCst)
    }

    /// A read found no object.
    pub(crate) fn missing(&self) -> bool {
        self.missing.load(Ordering::SeqCst)
    }
}

impl VersionPinnedStore {
    /// Pins reads of `listed.location` to `listed`; [`Found`] says what reads found instead.
    pub(crate) fn new(
        inner: Arc<dyn ObjectStore>,
        listed: ObjectMeta,
    ) -> (VersionPinnedStore, Arc<Found>) {
        let found = Arc::new(Found::default());
        (
            VersionPinnedStore {
                inner,
                listed,
                found: Arc::clone(&found),
            },
            found,
        )
    }

    fn conditional(&self, mut options: GetOptions) -> GetOptions {
        match &self.listed.e_tag {
            Some(tag) => options.if_match = Some(tag.clone()),
            None => options.if_unmodified_since = Some(self.listed.last_modified),
        }
        options
    }

    fn changed(&self, why: String) -> object_store::Error {
        self.found.changed.store(true, Ordering::SeqCst);
        object_store::Error::Precondition {
            path: self.listed.location.to_string(),
            source: format!("the object changed after it was listed: {why}").into(),
        }
    }

    /// Whether `current` is another version than the listed one. Stores that list without
    /// ETags (some S3-compatible servers) are compared by size and modification second
    /// (HTTP dates have no fractions).
    fn difference(&self, current: &ObjectMeta) -> Option<String> {
        let listed = &self.listed;
        if current.size != listed.size {
            return Some(format!(
                "{} bytes, listed with {}",
                current.size, listed.size
            ));
        }
        match (&current.e_tag, &listed.e_tag) {
            (Some(now), Some(then)) if now != then => {
                Some(format!("ETag {now}, listed with {then}"))
            }
            (_, None) if current.last_modified.timestamp() > listed.last_modified.timestamp() => {
                Some(format!(
                    "modified at {}, listed as of {}",
                    current.last_modified, listed.last_modified
                ))
            }
            _ => None,
        }
    }
}

impl fmt::Display for VersionPinnedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (reads of {} pinned to its listed version)",
            self.inner, self.listed.location
        )
    }
}

#[async_trait]
impl ObjectStore for VersionPinnedStore {
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if location != &self.listed.location {
            return self.inner.get_opts(location, options).await;
        }
        match self
            .inner
            .get_opts(location, self.conditional(options))
            .await
        {
            Ok(result) => match self.difference(&result.meta) {
                Some(why) => Err(self.changed(why)),
                None => Ok(result),
            },
            Err(object_store::Error::Precondition { source, .. }) => {
                Err(self.changed(source.to_string()))
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.found.missing.store(true, Ordering::SeqCst);
                Err(self.changed("it no longer exists".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// Near ranges are merged into one request as object_store does, each made
    /// conditional through [`Self::get_opts`].
    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        coalesce_ranges(
            ranges,
            |range| async move {
                let options = GetOptions {
                    range: Some(range.into()),
                    ..GetOptions::default()
                };
                self.get_opts(location, options).await?.bytes().await
            },
            OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await
    }

    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;

    use super::*;

    #[tokio::test]
    async fn reads_of_the_listed_version_pass_and_a_rewrite_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let path = Path::from("day/a.parquet");
        store
            .put(&path, PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        let listed = store.head(&path).await.unwrap();

        let (pinned, found) = VersionPinnedStore::new(Arc::clone(&store), listed.clone());
        assert_eq!(
            pinned.get_ranges(&path, &[0..2, 4..6]).await.unwrap(),
            vec![Bytes::from("01"), Bytes::from("45")]
        );
        assert!(!found.changed());

        std::thread::sleep(std::time::Duration::from_millis(5));
        store
            .put(&path, PutPayload::from_static(b"abcdefghij"))
            .await
            .unwrap();
        let refused = pinned.get_range(&path, 0..2).await.unwrap_err();
        assert!(
            matches!(refused, object_store::Error::Precondition { .. }),
            "{refused}"
        );
        assert!(found.changed() && !found.missing());

        let (pinned, found) = VersionPinnedStore::new(Arc::clone(&store), listed);
        store.delete(&path).await.unwrap();
        assert!(pinned.get_range(&path, 0..2).await.is_err());
        assert!(found.changed(), "a deleted file changed too");
        assert!(found.missing());
    }

    #[test]
    fn without_etags_size_and_modification_second_decide() {
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 500_000_000).unwrap();
        let meta = |size: u64, second: i64| ObjectMeta {
            location: Path::from("a"),
            last_modified: at(second),
            size,
            e_tag: None,
            version: None,
        };
        let (pinned, _) = VersionPinnedStore::new(
            Arc::new(object_store::memory::InMemory::new()),
            meta(10, 100),
        );
        assert!(
            pinned
                .difference(&ObjectMeta {
                    e_tag: Some("\"md5\"".into()),
                    ..meta(10, 100)
                })
                .is_none()
        );
        assert!(pinned.difference(&meta(11, 100)).is_some());
        assert!(pinned.difference(&meta(10, 101)).is_some());
    }
}
