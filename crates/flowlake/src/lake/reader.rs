//! The Parquet reader behind every scan: DataFusion's cached reader over reads pinned to
//! each file's listed version, plus checks that each file's footer is sound and its schema
//! agrees with the event schema.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::{ObjectMeta, ObjectStore};

use crate::error::Error;
use crate::format::schema::EVENT_COLUMNS;
use crate::storage::versions::{Found, VersionPinnedStore};

/// Makes readers that check footers and schemas, and read only the listed version of
/// each file.
#[derive(Debug)]
pub struct CheckedReaderFactory {
    store: Arc<dyn ObjectStore>,
    /// The cache of DataFusion's reader: a file found there, for its listed version, has a
    /// sound footer.
    metadata_cache: Arc<FileMetadataCache>,
    /// How file locations are shown to users (`/abs/` for local, `s3://bucket/` for S3).
    display_prefix: String,
    /// The cluster executor reading, if it is one: there a listed file that is not found was
    /// listed elsewhere (by the client) and is [`Error::MissingOnExecutor`].
    executor: Option<Arc<str>>,
}

impl CheckedReaderFactory {
    /// Readers over `store` through DataFusion's metadata-caching reader.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        metadata_cache: Arc<FileMetadataCache>,
        display_prefix: String,
    ) -> Self {
        Self {
            store,
            metadata_cache,
            display_prefix,
            executor: None,
        }
    }

    /// The readers of the cluster executor named `executor`.
    pub fn on_executor(self, executor: Arc<str>) -> Self {
        Self {
            executor: Some(executor),
            ..self
        }
    }
}

impl ParquetFileReaderFactory for CheckedReaderFactory {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> datafusion::error::Result<Box<dyn AsyncFileReader + Send>> {
        let name = format!("{}{}", self.display_prefix, file.object_meta.location);
        let meta = file.object_meta.clone();
        // DataFusion trusts a cached footer when size and modification time agree; an ETag
        // that differs means another version written within the same timestamp.
        let footer_checked = match self.metadata_cache.get(&meta.location) {
            Some(cached)
                if cached.is_valid_for(&meta)
                    && !(cached.meta.e_tag.is_some()
                        && meta.e_tag.is_some()
                        && cached.meta.e_tag != meta.e_tag) =>
            {
                true
            }
            Some(_) => {
                self.metadata_cache.remove(&meta.location);
                false
            }
            None => false,
        };
        let (pinned, found) = VersionPinnedStore::new(Arc::clone(&self.store), meta.clone());
        let cached =
            CachedParquetFileReaderFactory::new(Arc::new(pinned), Arc::clone(&self.metadata_cache));
        let inner = cached.create_reader(partition_index, file, metadata_size_hint, metrics)?;
        let drift = Drift {
            name,
            found,
            executor: self.executor.clone(),
        };
        Ok(Box::new(CheckedReader {
            inner,
            meta,
            footer_checked,
            drift,
        }))
    }
}

struct CheckedReader {
    inner: Box<dyn AsyncFileReader + Send>,
    meta: ObjectMeta,
    footer_checked: bool,
    drift: Drift,
}

/// How a failed read of one file is reported, from what the pinned store found.
struct Drift {
    /// The file as users see it.
    name: String,
    /// Set by the pinned store when a read found another version of the file, or none.
    found: Arc<Found>,
    executor: Option<Arc<str>>,
}

impl Drift {
    /// A failed read, as [`Error::ObjectChanged`] when the file is no longer the listed one
    /// ([`Error::MissingOnExecutor`] when a cluster executor found none).
    fn read_error(&self, err: ParquetError) -> ParquetError {
        if !self.found.changed() {
            return err;
        }
        let file = self.name.clone();
        let error = match &self.executor {
            Some(executor) if self.found.missing() => Error::MissingOnExecutor {
                file,
                executor: executor.to_string(),
            },
            _ => Error::ObjectChanged { file },
        };
        ParquetError::External(Box::new(error))
    }
}

impl CheckedReader {
    /// A fault of this file, in the form that survives DataFusion's wrapping.
    fn file_error(&self, message: String) -> ParquetError {
        ParquetError::External(Box::new(Error::EventFile {
            file: self.drift.name.clone(),
            message,
            source: None,
        }))
    }
}

/// DataFusion's reader says "Failed to fetch metadata for file <key>: …"; the scan names the
/// file itself (see `file_errors`), so only what follows is kept.
fn without_fetch_prefix(err: ParquetError, location: &str) -> ParquetError {
    match err {
        ParquetError::General(message) => {
            let prefix = format!("Failed to fetch metadata for file {location}: ");
            match message.strip_prefix(&prefix) {
                Some(rest) => ParquetError::General(rest.to_string()),
                None => ParquetError::General(message),
            }
        }
        other => other,
    }
}

// Byte fetches pass their errors through unchanged, so that a store that cannot be reached
// stays recognisable (503); the scan names the file of every error.
impl AsyncFileReader for CheckedReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        let drift = &self.drift;
        self.inner
            .get_bytes(range)
            .map(move |r| r.map_err(|e| drift.read_error(e)))
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        let drift = &self.drift;
        self.inner
            .get_byte_ranges(ranges)
            .map(move |r| r.map_err(|e| drift.read_error(e)))
            .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            if !self.footer_checked {
                // The Parquet footer decoder trusts the length it reads; a corrupt one
                // must be refused before it gets there.
                let size = self.meta.size;
                let tail = if size >= 8 {
                    self.inner
                        .get_bytes(size - 8..size)
                        .await
                        .map_err(|e| self.drift.read_error(e))?
                } else {
                    Bytes::new()
                };
                check_footer(&tail, size).map_err(|message| self.file_error(message))?;
                self.footer_checked = true;
            }
            let location = self.meta.location.to_string();
            let metadata = self
                .inner
                .get_metadata(options)
                .await
                .map_err(|e| self.drift.read_error(without_fetch_prefix(e, &location)))?;
            check_schema(&metadata).map_err(|message| self.file_error(message))?;
            Ok(metadata)
        }
        .boxed()
    }
}

/// The last 8 bytes of a Parquet file: the metadata length and the `PAR1` magic.
fn check_footer(tail: &[u8], size: u64) -> Result<(), String> {
    if tail.len() != 8 || &tail[4..] != b"PAR1" {
        return Err(format!("not a Parquet file ({size} bytes, no PAR1 footer)"));
    }
    let metadata_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if metadata_len + 12 > size {
        return Err(format!(
            "corrupt Parquet footer: metadata of {metadata_len} bytes cannot fit in a {size}-byte file"
        ));
    }
    Ok(())
}

/// A file may lack nullable columns and may hold columns the engine does not know; it may
/// not lack a required column nor hold a known column of another type.
fn check_schema(metadata: &ParquetMetaData) -> Result<(), String> {
    let file_metadata = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(
        file_metadata.schema_descr(),
        file_metadata.key_value_metadata(),
    )
    .map_err(|e| format!("unreadable schema: {e}"))?;
    for column in EVENT_COLUMNS {
        match schema.field_with_name(column.name) {
            Ok(field) if !column.kind.accepts(field.data_type()) => {
                return Err(format!(
                    "column '{}' has type {}, but the event schema needs {}",
                    column.name,
                    field.data_type(),
                    column.kind.data_type()
                ));
            }
            Ok(_) => {}
            Err(_) if !column.nullable => {
                return Err(format!("required column '{}' is missing", column.name));
            }
            Err(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footers_must_have_magic_and_a_length_that_fits() {
        let mut tail = 100u32.to_le_bytes().to_vec();
        tail.extend_from_slice(b"PAR1");
        assert!(check_footer(&tail, 1000).is_ok());
        assert!(check_footer(&tail, 50).unwrap_err().contains("cannot fit"));
        assert!(
            check_footer(b"PAR1PAR2", 1000)
                .unwrap_err()
                .contains("no PAR1")
        );
        assert!(check_footer(b"", 3).is_err());
    }
}
