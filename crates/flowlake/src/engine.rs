//! The engine: the one `SessionContext`, lakes opened over it, and queries planned on it
//! and handed to its [`PlanRunner`]. How a query with a small `limit` is answered lives in
//! [`crate::small_limit`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::dataframe::DataFrame;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::lake::{Lake, LakeOptions, WorkflowKind};
use crate::memory::MemoryPool;
use crate::output::{PlanRun, ResponseStream};
use crate::plan::{Prepared, Reading};
use crate::query::Query;
use crate::runner::{LocalRunner, PlanRunner};
use crate::small_limit::Answers;
use crate::storage::counting::RequestCounts;
use crate::storage::{LakeLocation, S3Options, store};

/// Rows per batch when a memory limit is set and no batch size is.
const LIMITED_BATCH_SIZE: usize = 1024;

/// Settings of the engine; the defaults suit a laptop.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Parallelism of scans, joins and sorts (default: the number of cores).
    pub target_partitions: Option<usize>,
    /// Bytes the engine's operators may hold before spilling or failing, and whether that
    /// limit was asked for (default: none).
    pub memory: MemoryPool,
    /// How S3 lakes are reached (on top of the `AWS_*` environment).
    pub s3: S3Options,
    /// How long a day folder's listing is reused (zero: list on every query).
    pub list_cache_ttl: Duration,
    /// Rows per record batch inside the engine (default: DataFusion's 8192, or 1024 under a
    /// memory limit).
    pub batch_size: Option<usize>,
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
    /// Where plans run.
    runner: Arc<dyn PlanRunner>,
}

/// The session settings and runtime of an engine: flowlake's defaults, `DATAFUSION_*`
/// variables and the config on top.
pub fn session_parts(config: &EngineConfig) -> Result<(SessionConfig, Arc<RuntimeEnv>)> {
    // DATAFUSION_* environment variables (e.g. DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS)
    // tune the engine; flowlake's own defaults below apply where none is set.
    let mut session = SessionConfig::from_env()?.with_information_schema(false);
    if let Some(partitions) = config.target_partitions {
        session = session.with_target_partitions(partitions.max(1));
    }
    // Plans and batches are shaped for the limit only when one was asked for.
    let bounded = config.memory.shapes_plans();
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
    if let Some(bytes) = config.memory.bytes() {
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
    /// Creates the engine and its `SessionContext`; its plans run in this process.
    pub fn new(config: &EngineConfig) -> Result<Engine> {
        let (session, runtime) = session_parts(config)?;
        Ok(Engine::with_runner(
            SessionContext::new_with_config_rt(session, runtime),
            config,
            Arc::new(LocalRunner),
        ))
    }

    /// The engine over `ctx` (made from [`session_parts`]) whose plans `runner` runs.
    pub fn with_runner(
        ctx: SessionContext,
        config: &EngineConfig,
        runner: Arc<dyn PlanRunner>,
    ) -> Engine {
        Engine {
            ctx,
            s3: config.s3.clone(),
            list_cache_ttl: config.list_cache_ttl,
            memory_limited: config.memory.shapes_plans(),
            buckets: Mutex::new(HashMap::new()),
            runner,
        }
    }

    /// Where this engine's plans run.
    pub fn runner(&self) -> &Arc<dyn PlanRunner> {
        &self.runner
    }

    /// How this engine answers queries (the strategies of [`crate::small_limit`]).
    fn answers(&self) -> Answers<'_> {
        Answers {
            ctx: &self.ctx,
            runner: &self.runner,
            memory_limited: self.memory_limited,
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

    /// The plan of a validated query over its whole interval (the plan of every query
    /// without a small `limit`): checks the workflow (404, then 406 for its type), lists
    /// the day folders, and builds the DataFrame.
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
            // Where plans run elsewhere, a file deleted after the listing is missing there.
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
        self.answers().answer(&prepared, query).await
    }

    /// The strategy and the plans of a query, as text. Without `analyze`: how the answer
    /// would be sought, and the optimized logical plan and the physical plan of its first
    /// run. With `analyze` the query runs, and every plan that ran (a small limit may try
    /// the first days before the whole interval) is shown with its metrics (rows, bytes,
    /// files and row groups pruned).
    pub async fn explain(&self, lake: &Lake, query: &Query, analyze: bool) -> Result<String> {
        let prepared = self.prepare(lake, query).await?;
        if self.runner.is_remote() {
            let dataframe =
                prepared.build(&self.ctx, Reading::default(), query, self.memory_limited)?;
            return self.runner.explain(dataframe, analyze).await;
        }
        let answers = self.answers();
        let mut text = format!("== strategy ==\n{}\n\n", answers.strategy(&prepared, query));
        if !analyze {
            let first = answers.first_run(&prepared, query);
            let dataframe =
                prepared.build(&self.ctx, first.reading, &first.query, self.memory_limited)?;
            text.push_str(&format!("== first run: {} ==\n\n", first.step));
            text.push_str(&self.runner.explain(dataframe, false).await?);
            return Ok(text);
        }
        let mut response = answers.answer(&prepared, query).await?;
        let mut rows = 0usize;
        while let Some(batch) = response.batches.next().await {
            rows += batch?.num_rows();
        }
        let count = response.runs.len();
        for (n, PlanRun { step, plan }) in response.runs.iter().enumerate() {
            let produced = match n + 1 == count {
                true => rows,
                false => plan.metrics().and_then(|m| m.output_rows()).unwrap_or(0),
            };
            text.push_str(&format!(
                "== physical plan with metrics ({produced} rows): run {} of {count}, {step} ==\n{}\n",
                n + 1,
                DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true)
            ));
        }
        Ok(text.trim_end().to_string())
    }
}
