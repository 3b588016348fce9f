//! Errors that name their event file. DataFusion reads a file in three kinds of steps — I/O
//! (footer, pages), planning (pruning) and decoding — and only the first goes through our
//! Parquet reader; a corrupt data page behind a sound footer fails while decoding, far from
//! any file name. This wraps the Parquet source so that every step of every file maps its
//! errors to one that names the file (SPEC §5: a corrupt file is a 500 naming it).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::errors::ParquetError;
use datafusion::physical_expr::projection::ProjectionExprs;
use datafusion::physical_expr::{
    EquivalenceProperties, LexOrdering, PhysicalExpr, PhysicalSortExpr,
};
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayFormatType, SortOrderPushdownResult};
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use object_store::ObjectStore;

use crate::error::{Cause, Error};

/// A file source (the Parquet one) whose every error names the file it came from.
pub struct FileNamingSource {
    inner: Arc<dyn FileSource>,
    /// How file locations are shown to users (`/` for local, `s3://bucket/` for S3).
    display_prefix: Arc<str>,
}

impl FileNamingSource {
    pub fn wrapping(inner: Arc<dyn FileSource>, display_prefix: Arc<str>) -> Arc<dyn FileSource> {
        Arc::new(FileNamingSource {
            inner,
            display_prefix,
        })
    }

    /// The wrapped source (the cluster's scan marker carries it without the wrapper).
    pub fn inner(&self) -> &Arc<dyn FileSource> {
        &self.inner
    }

    fn wrap(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        FileNamingSource::wrapping(inner, Arc::clone(&self.display_prefix))
    }
}

impl FileSource for FileNamingSource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        // The Parquet source only offers morsels; this is here because the trait needs it.
        self.inner
            .create_file_opener(object_store, base_config, partition)
    }

    fn create_morselizer(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        partition: usize,
    ) -> Result<Box<dyn Morselizer>> {
        let inner = self
            .inner
            .create_morselizer(object_store, base_config, partition)?;
        Ok(Box::new(FileNamingMorselizer {
            inner,
            display_prefix: Arc::clone(&self.display_prefix),
        }))
    }

    fn table_schema(&self) -> &TableSchema {
        self.inner.table_schema()
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        self.wrap(self.inner.with_batch_size(batch_size))
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.inner.filter()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        self.inner.projection()
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        self.inner.metrics()
    }

    fn file_type(&self) -> &str {
        self.inner.file_type()
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)
    }

    fn supports_repartitioning(&self) -> bool {
        self.inner.supports_repartitioning()
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        self.inner.repartitioned(
            target_partitions,
            repartition_file_min_size,
            output_ordering,
            config,
        )
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let mut propagation = self.inner.try_pushdown_filters(filters, config)?;
        propagation.updated_node = propagation.updated_node.map(|inner| self.wrap(inner));
        Ok(propagation)
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &EquivalenceProperties,
    ) -> Result<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_sort(order, eq_properties)?
            .map(|inner| self.wrap(inner)))
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> Result<Option<Arc<dyn FileSource>>> {
        Ok(self
            .inner
            .try_pushdown_projection(projection)?
            .map(|inner| self.wrap(inner)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.inner.apply_expressions(f)
    }
}

#[derive(Debug)]
struct FileNamingMorselizer {
    inner: Box<dyn Morselizer>,
    display_prefix: Arc<str>,
}

impl Morselizer for FileNamingMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> Result<Box<dyn MorselPlanner>> {
        let name: Arc<str> = format!("{}{}", self.display_prefix, file.object_meta.location).into();
        let inner = self.inner.plan_file(file).map_err(|e| in_file(e, &name))?;
        Ok(Box::new(FileNamingPlanner { inner, name }))
    }
}

#[derive(Debug)]
struct FileNamingPlanner {
    inner: Box<dyn MorselPlanner>,
    name: Arc<str>,
}

impl FileNamingPlanner {
    fn boxed(inner: Box<dyn MorselPlanner>, name: &Arc<str>) -> Box<dyn MorselPlanner> {
        Box::new(FileNamingPlanner {
            inner,
            name: Arc::clone(name),
        })
    }
}

impl MorselPlanner for FileNamingPlanner {
    fn plan(self: Box<Self>) -> Result<Option<MorselPlan>> {
        let name = self.name;
        let Some(mut plan) = self.inner.plan().map_err(|e| in_file(e, &name))? else {
            return Ok(None);
        };
        let morsels: Vec<Box<dyn Morsel>> = plan
            .take_morsels()
            .into_iter()
            .map(|inner| {
                Box::new(FileNamingMorsel {
                    inner,
                    name: Arc::clone(&name),
                }) as Box<dyn Morsel>
            })
            .collect();
        let planners = plan
            .take_ready_planners()
            .into_iter()
            .map(|inner| FileNamingPlanner::boxed(inner, &name))
            .collect();
        let mut named = MorselPlan::new()
            .with_morsels(morsels)
            .with_planners(planners);
        if let Some(pending) = plan.take_pending_planner() {
            let name = Arc::clone(&name);
            named.set_pending_planner(pending.map(move |planned| match planned {
                Ok(inner) => Ok(FileNamingPlanner::boxed(inner, &name)),
                Err(e) => Err(in_file(e, &name)),
            }));
        }
        Ok(Some(named))
    }
}

#[derive(Debug)]
struct FileNamingMorsel {
    inner: Box<dyn Morsel>,
    name: Arc<str>,
}

impl Morsel for FileNamingMorsel {
    fn into_stream(self: Box<Self>) -> BoxStream<'static, Result<RecordBatch>> {
        let name = self.name;
        self.inner
            .into_stream()
            .map(move |batch| batch.map_err(|e| in_file(e, &name)))
            .boxed()
    }
}

/// The error of reading `file`, as one of ours that names it. Storage and memory failures
/// keep their kind (503, `resources exhausted`); everything else is the file's fault.
fn in_file(err: DataFusionError, file: &str) -> DataFusionError {
    if matches!(err, DataFusionError::ResourcesExhausted(_)) {
        return err;
    }
    let message = innermost_message(&err);
    let named = match Error::from(err) {
        ours @ (Error::EventFile { .. }
        | Error::ObjectChanged { .. }
        | Error::MissingOnExecutor { .. }
        | Error::ResourcesExhausted { .. }) => ours,
        Error::StorageUnavailable { message, source } => Error::StorageUnavailable {
            message: if message.contains(file) {
                message
            } else {
                format!("reading event file {file}: {message}")
            },
            source,
        },
        cause => Error::EventFile {
            file: file.to_string(),
            message,
            source: Cause::of(cause),
        },
    };
    DataFusionError::External(Box::new(named))
}

/// What went wrong, without the prefixes that each layer (DataFusion, parquet, arrow) adds
/// on the way up: the innermost error of the chain, as its own text.
fn innermost_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    let text = match (
        current.downcast_ref::<ParquetError>(),
        current.downcast_ref::<ArrowError>(),
    ) {
        (Some(ParquetError::General(message)), _) => message.clone(),
        (_, Some(ArrowError::ParquetError(message))) => message.clone(),
        _ => current.to_string(),
    };
    strip_layer_prefixes(&text).to_string()
}

/// Errors that crossed a layer as text carry its prefix ("Parquet error: …"); drop them.
fn strip_layer_prefixes(mut text: &str) -> &str {
    const PREFIXES: [&str; 6] = [
        "Parquet error: ",
        "External: ",
        "Parquet argument error: ",
        "Arrow error: ",
        "External error: ",
        "Execution error: ",
    ];
    while let Some(rest) = PREFIXES.iter().find_map(|prefix| text.strip_prefix(prefix)) {
        text = rest;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_error_names_the_file_once_without_layer_prefixes() {
        let decode = ParquetError::External(Box::new(ArrowError::ParquetError(
            "EOF: eof decoding byte array".into(),
        )));
        let named = in_file(
            DataFusionError::ParquetError(Box::new(decode)),
            "/lake/a.parquet",
        );
        let error = Error::from(named);
        assert_eq!(error.status(), 500);
        assert_eq!(
            error.to_string(),
            "event file /lake/a.parquet: EOF: eof decoding byte array"
        );
    }

    #[test]
    fn an_error_already_naming_the_file_is_kept() {
        let ours = Error::EventFile {
            file: "/lake/a.parquet".into(),
            message: "required column 'label' is missing".into(),
            source: None,
        };
        let inside =
            DataFusionError::ParquetError(Box::new(ParquetError::External(Box::new(ours))));
        let error = Error::from(in_file(inside, "/lake/a.parquet"));
        assert_eq!(
            error.to_string(),
            "event file /lake/a.parquet: required column 'label' is missing"
        );
    }

    #[test]
    fn storage_and_memory_failures_keep_their_kind() {
        let unreachable = DataFusionError::Execution(
            "error sending request for url (http://127.0.0.1:9/lake/a.parquet)".into(),
        );
        let error = Error::from(in_file(unreachable, "s3://lake/a.parquet"));
        assert_eq!(error.status(), 503);
        assert!(error.to_string().contains("s3://lake/a.parquet"), "{error}");
        let memory = in_file(
            DataFusionError::ResourcesExhausted("pool".into()),
            "/lake/a.parquet",
        );
        assert!(matches!(
            Error::from(memory),
            Error::ResourcesExhausted { .. }
        ));
    }

    #[test]
    fn layer_prefixes_are_dropped() {
        assert_eq!(
            strip_layer_prefixes("Parquet error: External: Parquet argument error: EOF: x"),
            "EOF: x"
        );
        assert_eq!(strip_layer_prefixes("EOF: x"), "EOF: x");
    }
}
