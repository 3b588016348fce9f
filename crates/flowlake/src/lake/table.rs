//! The events table of one query: exactly the Parquet files of the organization's day
//! folders that the interval touches, with `organization_id` and `date` taken from the path.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use super::file_errors::FileNamingSource;
use super::reader::CheckedReaderFactory;
use crate::format::schema::{DATE, ORGANIZATION_ID, scan_schema};

/// The partition columns, in the order of the advanced output.
fn partition_fields() -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(ORGANIZATION_ID, DataType::Utf8, false)),
        Arc::new(Field::new(DATE, DataType::Date32, false)),
    ]
}

/// Event files already listed for one organization and interval. It holds data only (no
/// store, no reader), so that it can travel inside a plan to a cluster: the checked reader
/// is made at scan time over the store that the scanning session has for `store_url`.
#[derive(Debug, Clone)]
pub struct DayPartitions {
    store_url: ObjectStoreUrl,
    files: Vec<PartitionedFile>,
    /// How file locations are shown in errors (`/` for local disk, `s3://bucket/` for S3).
    display_prefix: String,
    schema: SchemaRef,
}

impl DayPartitions {
    /// A table over `files`, each carrying its `organization_id` and `date` values.
    pub fn new(
        store_url: ObjectStoreUrl,
        files: Vec<PartitionedFile>,
        display_prefix: String,
    ) -> Self {
        let mut fields: Vec<FieldRef> = scan_schema().fields().iter().cloned().collect();
        fields.extend(partition_fields());
        Self {
            store_url,
            files,
            display_prefix,
            schema: Arc::new(Schema::new(fields)),
        }
    }

    /// The store the files are in.
    pub fn store_url(&self) -> &ObjectStoreUrl {
        &self.store_url
    }

    /// The files, sorted by path, with their partition values.
    pub fn files(&self) -> &[PartitionedFile] {
        &self.files
    }

    /// How file locations are shown in errors.
    pub fn display_prefix(&self) -> &str {
        &self.display_prefix
    }

    /// The days (`date` partition values) that have files, in order.
    pub fn days(&self) -> Vec<i32> {
        let mut days: Vec<i32> = self.files.iter().filter_map(day_of).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// The same table cut to the files of the days up to `last` (a value of [`Self::days`]):
    /// the events of the interval up to the end of that day, since every event lives in
    /// the folder of its UTC date (SPEC §1).
    pub fn through_day(&self, last: i32) -> DayPartitions {
        let files = self
            .files
            .iter()
            .filter(|f| day_of(f).is_some_and(|d| d <= last))
            .cloned()
            .collect();
        DayPartitions::new(self.store_url.clone(), files, self.display_prefix.clone())
    }
}

/// The `date` partition value of a file (days since 1970-01-01).
fn day_of(file: &PartitionedFile) -> Option<i32> {
    match file.partition_values.get(1) {
        Some(datafusion::common::ScalarValue::Date32(day)) => *day,
        _ => None,
    }
}

#[async_trait]
impl TableProvider for DayPartitions {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            let projected = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let runtime = state.runtime_env();
        let reader = CheckedReaderFactory::new(
            runtime.object_store(&self.store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
            self.display_prefix.clone(),
        );
        let source = ParquetSource::new(
            TableSchema::builder(scan_schema())
                .with_table_partition_cols(partition_fields())
                .build(),
        )
        .with_table_parquet_options(state.table_options().parquet.clone())
        .with_parquet_file_reader_factory(Arc::new(reader));
        let source =
            FileNamingSource::wrapping(Arc::new(source), Arc::from(self.display_prefix.as_str()));
        // Files are spread round-robin over the target partitions; DataFusion may split
        // large files further by byte range.
        let groups = state
            .config()
            .target_partitions()
            .clamp(1, self.files.len());
        let mut file_groups = vec![Vec::new(); groups];
        for (i, file) in self.files.iter().enumerate() {
            file_groups[i % groups].push(file.clone());
        }
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(file_groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    /// Filters stay in the plan above the scan; DataFusion's physical optimizer pushes them
    /// into the Parquet source for row-group, page and bloom-filter pruning.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
