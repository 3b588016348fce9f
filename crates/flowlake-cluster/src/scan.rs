//! The checked Parquet reader on executors. A reader factory does not survive plan
//! serialization (DataFusion's decoder installs its own), so the scheduler marks every
//! Parquet scan with a [`CheckedScanExec`] and the physical codec, decoding that marker on
//! an executor, reinstalls flowlake's [`CheckedReaderFactory`] over the executor's own
//! object store: footer and schema checks run where the files are read.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

use flowlake::lake::file_errors::FileNamingSource;
use flowlake::lake::reader::CheckedReaderFactory;

/// A Parquet scan whose reader must be flowlake's checked one; it runs its input as is.
#[derive(Debug)]
pub struct CheckedScanExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl CheckedScanExec {
    fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        let properties = Arc::clone(input.properties());
        Self { input, properties }
    }
}

impl DisplayAs for CheckedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckedScanExec")
    }
}

impl ExecutionPlan for CheckedScanExec {
    fn name(&self) -> &str {
        "CheckedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(CheckedScanExec::new(input))),
            Err(children) => Err(DataFusionError::Internal(format!(
                "CheckedScanExec has one input, got {}",
                children.len()
            ))),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// The scheduler's last physical optimizer rule: marks every Parquet scan (flowlake scans
/// nothing but event files) so that executors read it with the checked reader.
#[derive(Debug, Default)]
pub struct MarkCheckedScans;

impl PhysicalOptimizerRule for MarkCheckedScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            if let Some(marker) = node.downcast_ref::<CheckedScanExec>()
                && marker.input.downcast_ref::<CheckedScanExec>().is_some()
            {
                // Optimized twice: one marker is enough.
                return Ok(Transformed::yes(Arc::clone(&marker.input)));
            }
            // The marker holds the plain Parquet scan (what DataFusion's codec can carry);
            // executors put the checked reader and the file-naming wrapper back.
            Ok(match parquet_scan(&node) {
                Some((config, source)) => {
                    let mut config = config.clone();
                    config.file_source = Arc::new(source.clone());
                    Transformed::yes(Arc::new(CheckedScanExec::new(
                        DataSourceExec::from_data_source(config),
                    )) as _)
                }
                None => Transformed::no(node),
            })
        })
        .map(|transformed| transformed.data)
    }

    fn name(&self) -> &str {
        "flowlake_mark_checked_scans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The configuration and Parquet source of a scan, plain or wrapped so that its errors name
/// their file.
fn parquet_scan(node: &Arc<dyn ExecutionPlan>) -> Option<(&FileScanConfig, &ParquetSource)> {
    let scan = node.downcast_ref::<DataSourceExec>()?;
    if let Some(plain) = scan.downcast_to_file_source::<ParquetSource>() {
        return Some(plain);
    }
    let (config, naming) = scan.downcast_to_file_source::<FileNamingSource>()?;
    naming
        .inner()
        .downcast_ref::<ParquetSource>()
        .map(|source| (config, source))
}

/// How file locations of a store are shown in errors, as a lake shows them: `/` on local
/// disk, `s3://bucket/` on S3.
pub fn display_prefix(url: &ObjectStoreUrl) -> String {
    if url.as_str().starts_with("file://") {
        "/".to_string()
    } else {
        url.as_str().to_string()
    }
}

/// `scan` (a Parquet `DataSourceExec` as DataFusion decoded it) reading through the checked
/// reader over the store this executor has for the scan's URL; `executor` names the
/// executor in the errors of files it does not find.
pub fn with_checked_reader(
    scan: Arc<dyn ExecutionPlan>,
    ctx: &TaskContext,
    executor: Option<&Arc<str>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let Some((config, source)) = scan
        .downcast_ref::<DataSourceExec>()
        .and_then(|scan| scan.downcast_to_file_source::<ParquetSource>())
    else {
        return Err(DataFusionError::Internal(format!(
            "a checked scan must wrap a Parquet scan, got {}",
            scan.name()
        )));
    };
    let url = config.object_store_url.clone();
    let runtime = ctx.runtime_env();
    let mut reader = CheckedReaderFactory::new(
        runtime.object_store(&url)?,
        runtime.cache_manager.get_file_metadata_cache(),
        display_prefix(&url),
    );
    if let Some(executor) = executor {
        reader = reader.on_executor(Arc::clone(executor));
    }
    let prefix: Arc<str> = Arc::from(display_prefix(&url).as_str());
    let mut config = config.clone();
    config.file_source = FileNamingSource::wrapping(
        Arc::new(
            source
                .clone()
                .with_parquet_file_reader_factory(Arc::new(reader)),
        ),
        prefix,
    );
    Ok(DataSourceExec::from_data_source(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_the_ones_a_lake_shows() {
        assert_eq!(display_prefix(&ObjectStoreUrl::local_filesystem()), "/");
        assert_eq!(
            display_prefix(&ObjectStoreUrl::parse("s3://events-bucket").unwrap()),
            "s3://events-bucket/"
        );
    }
}
