//! The engine: the one `SessionContext`, lakes opened over it, and queries run on them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::lake::counting::RequestCounts;
use crate::lake::{DayPartitions, Lake, LakeLocation, LakeOptions, S3Options, WorkflowKind, store};
use crate::plan::time_order::{self, Ties};
use crate::plan::{self, FirstDays, Reading};
use crate::query::{Query, Target};

/// Rows per batch when a memory limit is set and no batch size is.
const LIMITED_BATCH_SIZE: usize = 1024;

/// Settings of the engine; the defaults suit a laptop.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Parallelism of scans, joins and sorts (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// Bytes the engine's operators may hold before spilling or failing (default: none).
    pub memory_limit: Option<usize>,
    /// The limit is the default derived from the machine's memory (`serve`, `batch`), not
    /// one asked for: a safety net that bounds the pool but keeps the batch size and join
    /// order of an unlimited engine, which are faster (README: Configuration).
    pub memory_limit_is_default: bool,
    /// How S3 lakes are reached (on top of the `AWS_*` environment).
    pub s3: S3Options,
    /// How long a day folder's listing is reused (zero: list on every query).
    pub list_cache_ttl: Duration,
    /// Rows per record batch inside the engine (default: DataFusion's 8192, or 1024 under a
    /// memory limit).
    pub batch_size: Option<usize>,
}

pub use crate::output::ResponseStream;

/// What the Parquet scans of an executed (or partly executed) plan read and skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Bytes read from Parquet files (DataFusion's `bytes_scanned`).
    pub bytes_scanned: u64,
    /// Row groups pruned by their min/max statistics.
    pub pruned_by_statistics: u64,
    /// Row groups pruned by bloom filters.
    pub pruned_by_bloom_filter: u64,
    /// Row groups skipped because the limit was already reached.
    pub pruned_by_limit: u64,
    /// Row groups pruned by filters learned while running (joins, top-k).
    pub pruned_by_dynamic_filter: u64,
}

impl ScanStats {
    /// The totals over every node of `plan`.
    pub fn of(plan: &dyn ExecutionPlan) -> ScanStats {
        let mut stats = ScanStats::default();
        stats.add(plan);
        stats
    }

    fn add(&mut self, plan: &dyn ExecutionPlan) {
        use datafusion::physical_plan::metrics::MetricValue;
        if let Some(metrics) = plan.metrics() {
            for metric in metrics.iter() {
                match metric.value() {
                    MetricValue::Count { name, count } => match name.as_ref() {
                        "bytes_scanned" => self.bytes_scanned += count.value() as u64,
                        "row_groups_pruned_dynamic_filter" => {
                            self.pruned_by_dynamic_filter += count.value() as u64
                        }
                        _ => {}
                    },
                    MetricValue::PruningMetrics {
                        name,
                        pruning_metrics,
                    } => {
                        let pruned = pruning_metrics.pruned() as u64;
                        match name.as_ref() {
                            "row_groups_pruned_statistics" => self.pruned_by_statistics += pruned,
                            "row_groups_pruned_bloom_filter" => {
                                self.pruned_by_bloom_filter += pruned
                            }
                            "limit_pruned_row_groups" => self.pruned_by_limit += pruned,
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
        for child in plan.children() {
            self.add(child.as_ref());
        }
    }

    /// The pruned row groups by what pruned them, as metric labels.
    pub fn row_groups_pruned(&self) -> [(&'static str, u64); 4] {
        [
            ("statistics", self.pruned_by_statistics),
            ("bloom_filter", self.pruned_by_bloom_filter),
            ("limit", self.pruned_by_limit),
            ("dynamic_filter", self.pruned_by_dynamic_filter),
        ]
    }
}

/// Runs Workflow source data queries over lakes.
pub struct Engine {
    ctx: SessionContext,
    s3: S3Options,
    list_cache_ttl: Duration,
    /// Whether a memory limit was asked for: plans then prefer the join order whose memory
    /// does not grow with the answer.
    memory_limited: bool,
    /// The S3 stores registered so far, by bucket: their request counts and description.
    buckets: Mutex<HashMap<String, (Arc<RequestCounts>, String)>>,
    /// The scheduler's address when plans run on a Ballista cluster.
    #[cfg(feature = "cluster")]
    pub(crate) cluster: Option<crate::cluster::ClusterAddress>,
}

/// The session settings and runtime of an engine: flowlake's defaults, `DATAFUSION_*`
/// variables and the config on top.
pub(crate) fn session_parts(config: &EngineConfig) -> Result<(SessionConfig, Arc<RuntimeEnv>)> {
    // DATAFUSION_* environment variables (e.g. DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS)
    // tune the engine; flowlake's own defaults below apply where none is set.
    let mut session = SessionConfig::from_env()?.with_information_schema(false);
    if let Some(partitions) = config.target_partitions {
        session = session.with_target_partitions(partitions.max(1));
    }
    // Plans and batches are shaped for the limit only when one was asked for.
    let bounded = config.memory_limit.is_some() && !config.memory_limit_is_default;
    match (config.batch_size, bounded) {
        (Some(rows), _) => session = session.with_batch_size(rows.max(1)),
        // Under a memory limit, merging spilled sort runs holds a batch per run: smaller
        // batches let an unlimited answer of any size finish within the limit.
        (None, true) if std::env::var_os("DATAFUSION_EXECUTION_BATCH_SIZE").is_none() => {
            session = session.with_batch_size(LIMITED_BATCH_SIZE)
        }
        _ => {}
    }
    let options = session.options_mut();
    // Filters are evaluated while decoding Parquet, cheapest first, so rows that fail
    // them are never materialised.
    let unset = |name: &str| std::env::var_os(name).is_none();
    if unset("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS") {
        options.execution.parquet.pushdown_filters = true;
    }
    if unset("DATAFUSION_EXECUTION_PARQUET_REORDER_FILTERS") {
        options.execution.parquet.reorder_filters = true;
    }
    // Reading the page index cost more than it saved on every benchmark query, on
    // time- and category-sorted lakes alike (5-13%, BENCHMARKS.md): row-group
    // statistics, bloom filters and the decoder's row filters do the pruning.
    if unset("DATAFUSION_EXECUTION_PARQUET_ENABLE_PAGE_INDEX") {
        options.execution.parquet.enable_page_index = false;
    }
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(bytes) = config.memory_limit {
        // A fair pool: every spilling operator (the sorts of each partition, the
        // aggregates) gets its share and spills beyond it, rather than the first one
        // taking everything and the others failing.
        let fair = FairSpillPool::new(bytes);
        let top = std::num::NonZeroUsize::new(5).unwrap_or(std::num::NonZeroUsize::MIN);
        runtime = runtime.with_memory_pool(Arc::new(TrackConsumersPool::new(fair, top)));
    }
    Ok((session, runtime.build_arc()?))
}

impl Engine {
    /// Creates the engine and its `SessionContext` (the only place one is made for local
    /// runs; `cluster` makes the one that runs plans on a Ballista cluster).
    pub fn new(config: &EngineConfig) -> Result<Engine> {
        let (session, runtime) = session_parts(config)?;
        Ok(Engine::with_context(
            SessionContext::new_with_config_rt(session, runtime),
            config,
        ))
    }

    /// The engine over an existing context made from [`session_parts`].
    pub(crate) fn with_context(ctx: SessionContext, config: &EngineConfig) -> Engine {
        Engine {
            ctx,
            s3: config.s3.clone(),
            list_cache_ttl: config.list_cache_ttl,
            memory_limited: config.memory_limit.is_some() && !config.memory_limit_is_default,
            buckets: Mutex::new(HashMap::new()),
            #[cfg(feature = "cluster")]
            cluster: None,
        }
    }

    /// Opens a lake: registers its store (S3 buckets once each, configured from the
    /// `AWS_*` environment and [`EngineConfig::s3`]) and reads its catalog.
    pub async fn open_lake(&self, location: LakeLocation) -> Result<Lake> {
        let mut options = LakeOptions {
            list_cache_ttl: self.list_cache_ttl,
            ..LakeOptions::default()
        };
        if let LakeLocation::S3 { bucket, .. } = &location {
            let (counts, described) = {
                // Held while a bucket is registered (which may ask the AWS credential chain),
                // so that each bucket is registered once.
                let mut buckets = self.buckets.lock().await;
                match buckets.get(bucket) {
                    Some(known) => known.clone(),
                    None => {
                        let registered =
                            store::register_s3(&self.ctx.runtime_env(), bucket, &self.s3).await?;
                        buckets.insert(bucket.clone(), registered.clone());
                        registered
                    }
                }
            };
            options.requests = Some(counts);
            options.store_description = Some(described);
        }
        Lake::open(location, self.ctx.runtime_env(), options).await
    }

    /// The plan of a validated query: checks the workflow (404, then 406 for its type),
    /// lists the day folders, and builds the DataFrame.
    pub async fn plan(&self, lake: &Lake, query: &Query) -> Result<DataFrame> {
        self.prepare(lake, query).await?.build(
            &self.ctx,
            Reading::default(),
            query,
            self.memory_limited,
        )
    }

    /// What a plan of the query is built from: the workflow (checked), the listed event
    /// files and the goal names.
    async fn prepare(&self, lake: &Lake, query: &Query) -> Result<Prepared> {
        // One version of the catalog for the whole query, whatever reloads happen meanwhile.
        let catalog = lake.catalog();
        let workflow = catalog
            .workflow(query.organization_id, query.workflow_id)?
            .clone();
        if let WorkflowKind::Unsupported { kind } = &workflow.kind {
            return Err(Error::UnsupportedWorkflowType {
                workflow_id: workflow.id.to_string(),
                kind: kind.clone(),
            });
        }
        let events = lake
            .events_table(query.organization_id, &query.interval)
            .await?;
        let goal_names = catalog
            .goal_names(query.organization_id)
            .into_iter()
            .collect();
        Ok(Prepared {
            workflow,
            events,
            goal_names,
        })
    }

    /// Runs a query: its rows arrive batch by batch. When an event file turns out to have
    /// changed since its (possibly cached) listing, the lake's listings are dropped and the
    /// query runs once more from fresh ones, before any row has left the engine.
    pub async fn execute(&self, lake: &Lake, query: &Query) -> Result<ResponseStream> {
        match self.execute_until_first_batch(lake, query).await {
            // On a cluster, a file deleted after the listing is missing on the executor.
            Err(Error::ObjectChanged { file } | Error::MissingOnExecutor { file, .. }) => {
                tracing::info!(target: "flowlake::lake", %file, "an event file changed after it was listed; listing again and retrying once");
                lake.forget_cached_versions(&file);
                self.execute_until_first_batch(lake, query).await
            }
            answer => answer,
        }
    }

    /// Plans and runs a query up to its first batch. Every plan ends in a sort, so by then
    /// every file has been read (or pruned): a file that changed under the caches is found
    /// here, while the query can still be run again.
    async fn execute_until_first_batch(
        &self,
        lake: &Lake,
        query: &Query,
    ) -> Result<ResponseStream> {
        let prepared = self.prepare(lake, query).await?;
        if let Some(answer) = self.answer_from_first_days(&prepared, query).await? {
            return Ok(answer);
        }
        if query.basic
            && query.limit.is_some_and(|n| n <= COLLECTED_MAX_LIMIT)
            && !self.runs_on_cluster()
        {
            let (plan, schema, batches) = self.collected(&prepared, query, None).await?;
            return Ok(ResponseStream::of_batches(
                plan::shape_of(query),
                plan,
                schema,
                batches,
            ));
        }
        self.answer(&prepared, query, None, false).await
    }

    /// The whole answer of a query with a small `limit`, collected. A basic answer does not
    /// show event ids, which only order goal events of the same instant: it is first taken
    /// in time order without reading them, then tied rows are ordered by their ids, read
    /// for those few events only (`plan::time_order`). A tie at the cut runs the query
    /// again, ordered by time and event id.
    async fn collected(
        &self,
        prepared: &Prepared,
        query: &Query,
        first_days: Option<FirstDays>,
    ) -> Result<(Arc<dyn ExecutionPlan>, SchemaRef, Vec<RecordBatch>)> {
        use futures::TryStreamExt;

        if let (true, Some(limit)) = (query.basic && !self.runs_on_cluster(), query.limit) {
            let one_more = Query {
                limit: Some(limit + 1),
                ..query.clone()
            };
            let answer = self
                .answer(prepared, &one_more, first_days.clone(), true)
                .await?;
            let (physical, schema) = (answer.plan, answer.batches.schema());
            let batches: Vec<RecordBatch> = answer.batches.try_collect().await?;
            let rows = datafusion::arrow::compute::concat_batches(&schema, &batches)
                .map_err(datafusion::error::DataFusionError::from)?;
            match time_order::ties_of(&rows, limit)? {
                // Taken into fresh arrays: a slice would carry its parent's bits past its
                // end into the Arrow encoding, and answers are the same bytes everywhere.
                Ties::None => {
                    return Ok((
                        physical,
                        schema,
                        vec![time_order::first_rows(&rows, limit)?],
                    ));
                }
                Ties::Inside(groups) => {
                    let times = time_order::tied_times(&rows, &groups)?;
                    let events = time_order::goal_events_at(
                        &self.ctx,
                        prepared.events.clone(),
                        query,
                        &times,
                    )?
                    .collect()
                    .await?;
                    if let Some(ordered) = time_order::order_ties(&rows, limit, &groups, &events)? {
                        return Ok((physical, schema, vec![ordered]));
                    }
                }
                Ties::AtTheCut => {}
            }
            tracing::debug!(target: "flowlake::plan", "the answer's last row ties in time with the next; running again ordered by event id");
        }
        let answer = self.answer(prepared, query, first_days, false).await?;
        let (physical, schema) = (answer.plan, answer.batches.schema());
        let batches = answer.batches.try_collect().await?;
        Ok((physical, schema, batches))
    }

    /// The answer, up to its first batch, over `first_days` (all days when `None`), ordered
    /// by time alone with `time_alone` (see [`Self::collected`]).
    async fn answer(
        &self,
        prepared: &Prepared,
        query: &Query,
        first_days: Option<FirstDays>,
        time_alone: bool,
    ) -> Result<ResponseStream> {
        self.first_batch(
            prepared,
            Reading {
                first_days,
                time_alone,
            },
            query,
        )
        .await
    }

    /// Runs one plan up to its first batch (on a cluster: starts it).
    async fn first_batch(
        &self,
        prepared: &Prepared,
        reading: Reading,
        query: &Query,
    ) -> Result<ResponseStream> {
        use futures::StreamExt;

        let dataframe = prepared.build(&self.ctx, reading, query, self.memory_limited)?;
        let (physical, mut batches) = self.run(dataframe).await?;
        if self.runs_on_cluster() {
            return Ok(ResponseStream {
                shape: plan::shape_of(query),
                batches,
                plan: physical,
            });
        }
        let schema = batches.schema();
        let first = batches.next().await.transpose()?;
        let all = futures::stream::iter(first.map(Ok)).chain(batches);
        Ok(ResponseStream {
            shape: plan::shape_of(query),
            batches: Box::pin(RecordBatchStreamAdapter::new(schema, all)),
            plan: physical,
        })
    }

    /// Whether plans run on a cluster.
    fn runs_on_cluster(&self) -> bool {
        #[cfg(feature = "cluster")]
        return self.cluster.is_some();
        #[cfg(not(feature = "cluster"))]
        false
    }

    /// Runs a plan here, or on the cluster when there is one.
    async fn run(
        &self,
        dataframe: DataFrame,
    ) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)> {
        #[cfg(feature = "cluster")]
        if let Some(address) = &self.cluster {
            return crate::cluster::client::execute(dataframe, address).await;
        }
        let task = Arc::new(dataframe.task_ctx());
        let physical = dataframe.create_physical_plan().await?;
        let batches = datafusion::physical_plan::execute_stream(Arc::clone(&physical), task)?;
        Ok((physical, batches))
    }

    /// The answer of a query with a small limit, read from the interval's first days
    /// only, when those hold enough rows.
    ///
    /// The answer is the first `limit` goal events in time order (of those affected), and
    /// every event lives in the folder of its UTC date (SPEC §1): when the goal events of
    /// the first *d* days already give `limit` rows, no later goal event can be among the
    /// first `limit`. Without step constraints, whether a goal at time *t* is affected (or
    /// workflow-related) depends only on workflow events up to *t*, so both sides are cut:
    /// a try reads *d* days instead of the whole interval, whatever the filters and target.
    /// With step constraints a session's path may go on after its goal, so the workflow
    /// side reads the whole interval and only unfiltered `affected_goal` queries try (their
    /// goal events usually fill a small limit from one day; a failed try costs a workflow
    /// scan). At most two tries, each over at most half of the days; then the whole
    /// interval, as without this.
    async fn answer_from_first_days(
        &self,
        prepared: &Prepared,
        query: &Query,
    ) -> Result<Option<ResponseStream>> {
        let Some(limit) = query.limit.filter(|&n| n <= COLLECTED_MAX_LIMIT) else {
            return Ok(None);
        };
        let constrained = !query.steps.is_empty()
            && !matches!(prepared.workflow.kind, WorkflowKind::UserGenerated);
        if constrained && (query.target != Target::AffectedGoal || !query.filters.is_empty()) {
            return Ok(None);
        }
        let days = prepared.events.days();
        let mut first_days = 1;
        for _ in 0..2 {
            if first_days * 2 > days.len() {
                break;
            }
            let cut = FirstDays {
                events: prepared.events.through_day(days[first_days - 1]),
                workflow_too: !constrained,
            };
            let (physical, schema, batches) = self.collected(prepared, query, Some(cut)).await?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows >= limit {
                return Ok(Some(ResponseStream::of_batches(
                    plan::shape_of(query),
                    physical,
                    schema,
                    batches,
                )));
            }
            if rows == 0 {
                break;
            }
            // Rows came at about rows / first_days a day: ask for half as many days again
            // as that predicts are needed.
            first_days = (first_days * limit)
                .div_ceil(rows)
                .saturating_mul(3)
                .div_ceil(2)
                .max(first_days * 2);
        }
        Ok(None)
    }
}

/// Queries with a limit above this are not tried on their first days first, nor ordered by
/// time alone: either collects the answer before it is sent.
const COLLECTED_MAX_LIMIT: usize = 10_000;

impl ResponseStream {
    /// A response over rows already collected.
    fn of_batches(
        shape: crate::output::Shape,
        plan: Arc<dyn ExecutionPlan>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> ResponseStream {
        let batches = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        ));
        ResponseStream {
            shape,
            batches,
            plan,
        }
    }
}

/// A query's checked workflow, listed event files and goal names: what its plans are built
/// from.
struct Prepared {
    workflow: crate::lake::Workflow,
    events: DayPartitions,
    goal_names: std::collections::BTreeMap<String, String>,
}

impl Prepared {
    fn build(
        &self,
        ctx: &SessionContext,
        reading: Reading,
        query: &Query,
        memory_limited: bool,
    ) -> Result<DataFrame> {
        plan::build(
            ctx,
            self.events.clone(),
            reading,
            query,
            &self.workflow,
            self.goal_names.clone(),
            memory_limited,
        )
    }
}

impl Engine {
    /// The optimized logical plan and the physical plan of a query, as text. With
    /// `analyze`, the query runs and the physical plan carries its metrics (rows, bytes,
    /// files and row groups pruned).
    pub async fn explain(&self, lake: &Lake, query: &Query, analyze: bool) -> Result<String> {
        use datafusion::physical_plan::display::DisplayableExecutionPlan;
        use futures::StreamExt;

        let dataframe = self.plan(lake, query).await?;
        #[cfg(feature = "cluster")]
        if let Some(address) = &self.cluster {
            return crate::cluster::client::explain(dataframe, analyze, address).await;
        }
        let (state, logical) = dataframe.into_parts();
        let optimized = state.optimize(&logical)?;
        let physical = state.create_physical_plan(&logical).await?;
        let mut text = format!("== logical plan ==\n{}\n\n", optimized.display_indent());
        if analyze {
            let mut stream = datafusion::physical_plan::execute_stream(
                std::sync::Arc::clone(&physical),
                self.ctx.task_ctx(),
            )?;
            let mut rows = 0usize;
            while let Some(batch) = stream.next().await {
                rows += batch?.num_rows();
            }
            text.push_str(&format!(
                "== physical plan with metrics ({rows} rows) ==\n{}",
                DisplayableExecutionPlan::with_metrics(physical.as_ref()).indent(true)
            ));
        } else {
            text.push_str(&format!(
                "== physical plan ==\n{}",
                DisplayableExecutionPlan::new(physical.as_ref()).indent(true)
            ));
        }
        Ok(text)
    }
}
