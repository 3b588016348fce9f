//! The Parquet reader behind every scan: DataFusion's cached reader, plus a check that each
//! file's schema agrees with the event schema, and errors that name the file.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::schema::EVENT_COLUMNS;

/// Makes readers that check schemas and name files in their errors.
#[derive(Debug)]
pub struct CheckedReaderFactory {
    inner: CachedParquetFileReaderFactory,
    /// How file locations are shown to users (`/abs/` for local, `s3://bucket/` for S3).
    display_prefix: String,
}

impl CheckedReaderFactory {
    /// Wraps DataFusion's metadata-caching reader factory.
    pub fn new(inner: CachedParquetFileReaderFactory, display_prefix: String) -> Self {
        Self { inner, display_prefix }
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
        let inner = self.inner.create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(CheckedReader { inner, name }))
    }
}

struct CheckedReader {
    inner: Box<dyn AsyncFileReader + Send>,
    name: String,
}

impl CheckedReader {
    fn name_error(name: &str, err: ParquetError) -> ParquetError {
        ParquetError::General(format!("event file {name}: {err}"))
    }
}

impl AsyncFileReader for CheckedReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        let name = &self.name;
        self.inner.get_bytes(range).map(move |r| r.map_err(|e| Self::name_error(name, e))).boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        let name = &self.name;
        self.inner.get_byte_ranges(ranges).map(move |r| r.map_err(|e| Self::name_error(name, e))).boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        let name = self.name.clone();
        async move {
            let metadata = self.inner.get_metadata(options).await.map_err(|e| Self::name_error(&name, e))?;
            check_schema(&metadata).map_err(|message| ParquetError::General(format!("event file {name}: {message}")))?;
            Ok(metadata)
        }
        .boxed()
    }
}

/// A file may lack nullable columns and may hold columns the engine does not know; it may
/// not lack a required column nor hold a known column of another type.
fn check_schema(metadata: &ParquetMetaData) -> Result<(), String> {
    let file_metadata = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file_metadata.schema_descr(), file_metadata.key_value_metadata())
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
            Err(_) if !column.nullable => return Err(format!("required column '{}' is missing", column.name)),
            Err(_) => {}
        }
    }
    Ok(())
}
