//! The client side: an [`Engine`] whose plans run on a Ballista cluster (`--cluster`).
//!
//! The client lists the day folders and reads the catalog itself, as locally; the plan it
//! builds (the same one) is sent to the scheduler through flowlake's logical codec, and the
//! answer streams back from the executors.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ballista::extension::SessionContextExt;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, CleanJobDataParams};
use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::TryStreamExt;
use std::sync::Arc;
use tokio::sync::watch;

use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::errors;
use flowlake::engine::{Engine, EngineConfig, session_parts};
use flowlake::error::{Error, Result};
use flowlake::runner::PlanRunner;

/// How long the client waits for the scheduler to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scheduler address as `--cluster` takes it: `df://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    pub host: String,
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST:PORT`; anything else is a usage error (a bad `--cluster` flag) that
    /// shows the expected form.
    pub fn parse(text: &str) -> Result<ClusterAddress> {
        ClusterAddress::parse_flag(text).map_err(|why| Error::Usage {
            message: format!("--cluster '{text}': {why}"),
        })
    }

    /// [`ClusterAddress::parse`] for clap: what is wrong, as text.
    pub fn parse_flag(text: &str) -> std::result::Result<ClusterAddress, String> {
        let bad = |why: &str| format!("{why}; expected df://HOST:PORT");
        let rest = text
            .strip_prefix("df://")
            .ok_or_else(|| bad("not a df:// address"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(bad("no valid host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        Ok(ClusterAddress {
            host: host.to_string(),
            port,
        })
    }

    /// The address as users write it.
    pub fn url(&self) -> String {
        format!("df://{}", self.host_port())
    }

    /// The scheduler's gRPC endpoint.
    fn grpc_url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn unavailable(&self, message: impl Into<String>) -> Error {
        Error::ClusterUnavailable {
            address: self.url(),
            message: message.into(),
        }
    }

    /// Checks, within [`CONNECT_TIMEOUT`], that the scheduler accepts connections and has
    /// an executor: a job submitted to a cluster without one would wait for it forever
    /// (Ballista fails only the jobs that were running when the last executor was lost).
    pub async fn probe(&self) -> Result<()> {
        self.check().await.map_err(|why| self.unavailable(why))
    }

    /// What keeps the scheduler from running a query, if anything.
    async fn check(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.readiness()).await {
            Ok(Ok(Some(status)))
                if status.starts_with("HTTP/1.1 503") || status.starts_with("HTTP/1.0 503") =>
            {
                let said = status.lines().last().unwrap_or_default().trim().to_string();
                Err(format!(
                    "the scheduler has no executor to run the query (GET /readyz: {said})"
                ))
            }
            // A scheduler that does not answer HTTP (behind a gRPC-only proxy) is not judged.
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the scheduler does not accept connections: {e}")),
            Err(_) => Err(format!(
                "the scheduler did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
        }
    }

    /// The scheduler's answer to `GET /readyz` (on its one port), or `None` when it gives
    /// none; an error when it does not accept connections.
    async fn readiness(&self) -> std::io::Result<Option<String>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        let request = format!(
            "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        );
        let mut answer = Vec::new();
        let exchanged = async {
            stream.write_all(request.as_bytes()).await?;
            (&mut stream).take(4096).read_to_end(&mut answer).await
        };
        Ok(exchanged
            .await
            .ok()
            .map(|_| String::from_utf8_lossy(&answer).into_owned())
            .filter(|a| a.starts_with("HTTP/")))
    }
}

/// Runs an engine's plans on the cluster whose scheduler is at its address, and tracks the
/// jobs it started (for a stopping command to cancel them).
#[derive(Debug)]
pub struct ClusterRunner {
    address: ClusterAddress,
    jobs: Arc<JobTracker>,
}

/// An engine whose queries run on the cluster whose scheduler is at `address`. Fails with
/// 503 `cluster_unavailable` when the scheduler cannot be reached.
pub async fn on_cluster(config: &EngineConfig, address: &ClusterAddress) -> Result<Engine> {
    address.probe().await?;
    let (session, runtime) = session_parts(config)?;
    // Ballista's adaptive planner (on by default in 55) neither runs the session's
    // physical optimizer rules (the checked-scan marker) nor answered every query right
    // (a filtered top-k before a left join came back empty): the static planner runs
    // the plan DataFusion makes.
    let session = session
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false)
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()));
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(session)
        .with_runtime_env(runtime)
        .build();
    let ctx = SessionContext::remote_with_state(&address.url(), state)
        .await
        .map_err(|e| address.unavailable(e.to_string()))?;
    let runner = ClusterRunner {
        address: address.clone(),
        jobs: Arc::new(JobTracker::default()),
    };
    Ok(Engine::with_runner(ctx, config, Arc::new(runner)))
}

#[async_trait::async_trait]
impl PlanRunner for ClusterRunner {
    async fn execute(
        &self,
        dataframe: DataFrame,
    ) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)> {
        execute(dataframe, &self.address, &self.jobs).await
    }

    async fn explain(&self, dataframe: DataFrame, analyze: bool) -> Result<String> {
        explain(dataframe, analyze, &self.address).await
    }

    fn is_remote(&self) -> bool {
        true
    }

    async fn started_work_identified(&self, limit: Duration) {
        self.jobs.identified(limit).await
    }

    async fn cancellations_settled(&self, limit: Duration) -> usize {
        self.jobs.settled(limit).await
    }
}

/// What the client sends the scheduler for `query`: the optimized logical plan as the
/// logical codec encodes it, then every session setting as `key=value` lines (for checking
/// that no secret is ever part of a job).
pub async fn cluster_submission(
    engine: &Engine,
    lake: &flowlake::Lake,
    query: &flowlake::Query,
) -> Result<Vec<u8>> {
    let (state, logical) = engine.plan(lake, query).await?.into_parts();
    let optimized = state.optimize(&logical)?;
    let mut bytes = datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(
        &optimized,
        &LogicalCodec::default(),
    )?
    .to_vec();
    for entry in state.config().options().entries() {
        bytes.extend_from_slice(
            format!("\n{}={}", entry.key, entry.value.unwrap_or_default()).as_bytes(),
        );
    }
    Ok(bytes)
}

/// The plans of a query on the cluster, as the scheduler made them: the logical plan, the
/// physical plan, and its stages (`distributed_plan`). With `analyze` the job runs and the
/// stages carry their metrics.
async fn explain(dataframe: DataFrame, analyze: bool, address: &ClusterAddress) -> Result<String> {
    let explained = dataframe.explain(false, analyze)?;
    let schema = explained.schema().inner().clone();
    let task_ctx = Arc::new(explained.task_ctx());
    let plan = explained.create_physical_plan().await?;
    let stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), task_ctx)?;
    let batches = name_cluster_failures(stream, address)
        .try_collect::<Vec<_>>()
        .await?;
    // The job that `--analyze` ran has left its results on the executors, of no use now.
    if let Some(job) = job_of(&plan) {
        clean_job_data(address.grpc_url(), job).await;
    }
    let mut text = String::new();
    for batch in &batches {
        let columns: Vec<&StringArray> = batch
            .columns()
            .iter()
            .filter_map(|c| c.as_any().downcast_ref::<StringArray>())
            .collect();
        let [plan_type, plan] = columns.as_slice() else {
            return Err(Error::internal(format!(
                "the scheduler's explain has columns {schema:?}"
            )));
        };
        for row in 0..batch.num_rows() {
            text.push_str(&format!(
                "== {} ==\n{}\n\n",
                plan_type.value(row).replace('_', " "),
                plan.value(row).trim_end()
            ));
        }
    }
    Ok(text.trim_end().to_string())
}

/// Runs `dataframe` on the cluster. Dropping the stream before its end (a `--request-timeout`
/// of `serve`, a client gone) cancels the job on the scheduler, as soon as its id is known;
/// read to its end, the job's results are removed from the executors at once. Returns the
/// (distributed) physical plan with the stream.
async fn execute(
    dataframe: DataFrame,
    address: &ClusterAddress,
    jobs: &Arc<JobTracker>,
) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)> {
    let task_ctx = Arc::new(dataframe.task_ctx());
    // The answer's schema is the plan's: a plan the optimizer proved empty comes back from
    // the cluster as a stream without columns.
    let schema: datafusion::arrow::datatypes::SchemaRef =
        Arc::new(dataframe.schema().as_arrow().clone());
    let plan = dataframe.create_physical_plan().await?;
    let stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), task_ctx)?;
    jobs.outstanding_add(1);
    let job = JobStream {
        jobs: Arc::clone(jobs),
        inner: stream,
        plan: Arc::clone(&plan),
        scheduler: address.grpc_url(),
        finished: false,
        awaiting_id: false,
        identified: false,
        cleaning: None,
    };
    Ok((
        plan,
        name_cluster_failures(
            Box::pin(RecordBatchStreamAdapter::new(schema, job)),
            address,
        ),
    ))
}

/// The jobs a [`ClusterRunner`] started: a command stopping on a signal waits for them.
#[derive(Debug)]
struct JobTracker {
    /// Result streams of jobs that are open, plus cancellations under way: a stopping
    /// command waits until this is zero, or its runtime (and with it the cancellation
    /// requests) would end with the process.
    outstanding: watch::Sender<usize>,
    /// Result streams that started their job but have not yet learnt its id from the
    /// scheduler (it comes with the job's first status): dropped now, their job is
    /// cancelled only once a task that takes over the stream has learnt it.
    awaiting_id: watch::Sender<usize>,
    /// Cancellations sent (for the stopping command's message).
    cancelled: AtomicUsize,
}

impl Default for JobTracker {
    fn default() -> Self {
        JobTracker {
            outstanding: watch::Sender::new(0),
            awaiting_id: watch::Sender::new(0),
            cancelled: AtomicUsize::new(0),
        }
    }
}

impl JobTracker {
    /// Waits, at most `limit`, until every job stream that has started its job knows the
    /// job's id. The streams must go on being polled meanwhile (they receive the id).
    async fn identified(&self, limit: Duration) {
        let mut awaiting = self.awaiting_id.subscribe();
        let _ = tokio::time::timeout(limit, awaiting.wait_for(|n| *n == 0)).await;
    }

    /// Waits, at most `limit`, until every dropped job stream has had its job cancelled on
    /// the scheduler; returns how many jobs were cancelled so far.
    async fn settled(&self, limit: Duration) -> usize {
        let mut outstanding = self.outstanding.subscribe();
        if tokio::time::timeout(limit, outstanding.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!(
                "gave up waiting after {limit:?} for the cluster to confirm cancelled jobs"
            );
        }
        self.cancelled.load(Ordering::Relaxed)
    }

    fn outstanding_add(&self, delta: isize) {
        self.outstanding
            .send_modify(|n| *n = n.saturating_add_signed(delta));
    }
}

/// A job's result stream: cancels the job when dropped before its end, and has the job's
/// results removed from the executors once read to the end.
struct JobStream {
    jobs: Arc<JobTracker>,
    inner: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    /// `http://HOST:PORT` of the scheduler.
    scheduler: String,
    finished: bool,
    /// Polled at least once (the job is submitted on the first poll) without its id known.
    awaiting_id: bool,
    /// The job's id has been seen.
    identified: bool,
    /// The request that removes the job's results, before the stream says it ended.
    cleaning: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// The id the scheduler gave the job of a distributed plan, once it has.
fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let exec = plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()?;
    exec.job_id().map(|job| job.as_str().to_string())
}

/// The id of the job that a plan with a distributed part (`explain --analyze`) ran.
fn job_of(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    job_id(plan).or_else(|| plan.children().into_iter().find_map(job_of))
}

impl JobStream {
    fn stop_awaiting_id(&mut self) {
        if self.awaiting_id {
            self.awaiting_id = false;
            self.jobs
                .awaiting_id
                .send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl futures::Stream for JobStream {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(cleaning) = &mut this.cleaning {
            std::task::ready!(cleaning.as_mut().poll(cx));
            this.cleaning = None;
            return Poll::Ready(None);
        }
        if this.finished {
            return Poll::Ready(None);
        }
        if !this.identified && !this.awaiting_id {
            this.awaiting_id = true;
            this.jobs.awaiting_id.send_modify(|n| *n += 1);
        }
        let polled = this.inner.as_mut().poll_next(cx);
        if this.awaiting_id && job_id(&this.plan).is_some() {
            this.identified = true;
            this.stop_awaiting_id();
        }
        match polled {
            Poll::Ready(None) => {
                this.finished = true;
                this.stop_awaiting_id();
                let Some(job) = job_id(&this.plan) else {
                    return Poll::Ready(None);
                };
                // Every result has been read: the job's files on the executors can go now
                // rather than when the scheduler's delay for finished jobs runs out.
                let mut cleaning: Pin<Box<dyn Future<Output = ()> + Send>> =
                    Box::pin(clean_job_data(this.scheduler.clone(), job));
                match cleaning.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(None),
                    Poll::Pending => {
                        this.cleaning = Some(cleaning);
                        Poll::Pending
                    }
                }
            }
            Poll::Ready(Some(Err(error))) => {
                this.finished = true;
                this.stop_awaiting_id();
                // The scheduler removes a failed job's files when it fails it; tasks of the
                // job still running then may write more: asked again once they have stopped.
                if let (Some(job), Ok(runtime)) =
                    (job_id(&this.plan), tokio::runtime::Handle::try_current())
                {
                    let scheduler = this.scheduler.clone();
                    runtime.spawn(async move {
                        tokio::time::sleep(FAILED_JOB_SETTLE).await;
                        clean_job_data(scheduler, job).await;
                    });
                }
                Poll::Ready(Some(Err(error)))
            }
            other => other,
        }
    }
}

/// How long after a job failed its files are removed once more (its cancelled tasks stop
/// within this).
const FAILED_JOB_SETTLE: Duration = Duration::from_secs(3);

/// How often a dropped job stream that is still driven checks whether the scheduler has
/// named its job.
const ID_CHECK: Duration = Duration::from_millis(20);

/// How long a dropped job stream is driven, at most, for the scheduler to name its job so
/// that it can be cancelled (the stream ends anyway when the job does).
const IDENTIFY_LIMIT: Duration = Duration::from_secs(300);

/// What became of a job whose stream was dropped before the scheduler named it.
enum Dropped {
    /// The scheduler named it while it ran: it can be cancelled.
    Named(String),
    /// It ended (finished or failed) first; with its id if it got one.
    Ended(Option<String>),
}

impl Drop for JobStream {
    fn drop(&mut self) {
        let submitted = self.awaiting_id || self.identified;
        self.stop_awaiting_id();
        let (false, true, Ok(runtime)) = (
            self.finished,
            submitted,
            tokio::runtime::Handle::try_current(),
        ) else {
            self.jobs.outstanding_add(-1);
            return;
        };
        let jobs = Arc::clone(&self.jobs);
        let scheduler = self.scheduler.clone();
        let plan = Arc::clone(&self.plan);
        let schema = self.inner.schema();
        let mut inner: SendableRecordBatchStream = std::mem::replace(
            &mut self.inner,
            Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )),
        );
        // Still outstanding until the scheduler answered (or did not, within the bound).
        runtime.spawn(async move {
            use futures::StreamExt;
            // A job dropped before its id arrived (a `--request-timeout` during submission)
            // is driven by this task, which outlives the response, until the scheduler
            // names it; the id is looked at as the stream is driven, not only between its
            // items (the first of which comes when the job has finished).
            let named = async {
                let mut check = tokio::time::interval(ID_CHECK);
                loop {
                    if let Some(id) = job_id(&plan) {
                        return Dropped::Named(id);
                    }
                    tokio::select! {
                        item = inner.next() => if item.is_none_or(|r| r.is_err()) {
                            return Dropped::Ended(job_id(&plan));
                        },
                        _ = check.tick() => {}
                    }
                }
            };
            let job_id = match tokio::time::timeout(IDENTIFY_LIMIT, named).await {
                Ok(Dropped::Named(job_id)) => job_id,
                Ok(Dropped::Ended(job)) => {
                    if let Some(job) = job {
                        clean_job_data(scheduler, job).await;
                    }
                    jobs.outstanding_add(-1);
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "a cluster job was dropped and the scheduler did not name it within {IDENTIFY_LIMIT:?}; it was not cancelled"
                    );
                    jobs.outstanding_add(-1);
                    return;
                }
            };
            drop(inner);
            match call_scheduler(&scheduler, Call::CancelJob(job_id.clone())).await {
                Ok(()) => {
                    jobs.cancelled.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("cancelled job {job_id} on the cluster");
                }
                Err(e) => tracing::warn!("could not cancel job {job_id} on the cluster: {e}"),
            }
            jobs.outstanding_add(-1);
        });
    }
}

/// Asks the scheduler to remove a job's files from its executors (best effort).
async fn clean_job_data(scheduler: String, job_id: String) {
    if let Err(e) = call_scheduler(&scheduler, Call::CleanJobData(job_id.clone())).await {
        tracing::debug!("could not have the files of job {job_id} removed: {e}");
    }
}

/// A request to the scheduler about one job.
enum Call {
    CancelJob(String),
    CleanJobData(String),
}

/// One call to the scheduler's gRPC service, within [`CONNECT_TIMEOUT`].
async fn call_scheduler(scheduler: &str, call: Call) -> std::result::Result<(), String> {
    let exchange = async {
        let mut client = SchedulerGrpcClient::connect(scheduler.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let answered = match call {
            Call::CancelJob(job_id) => client
                .cancel_job(CancelJobParams { job_id })
                .await
                .map(|_| ()),
            Call::CleanJobData(job_id) => client
                .clean_job_data(CleanJobDataParams {
                    job_id,
                    remove_stage_ids: Vec::new(),
                })
                .await
                .map(|_| ()),
        };
        answered.map_err(|status| status.message().to_string())
    };
    tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("no answer".to_string()))
}

/// Names the failures of a cluster job as a local run would (see [`name_failure`]).
pub(crate) fn name_cluster_failures(
    stream: SendableRecordBatchStream,
    address: &ClusterAddress,
) -> SendableRecordBatchStream {
    use futures::StreamExt;
    let schema = stream.schema();
    let address = address.clone();
    let named = stream.then(move |item| {
        let address = address.clone();
        async move {
            match item {
                Ok(batch) => Ok(batch),
                Err(error) => Err(name_failure(error, &address).await),
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, named))
}

/// A failure of a cluster job, as the client reports it. Ballista's client gives every
/// failure as `Execution` text, so the facts are looked up:
/// 1. an error of this process (the client's own checks) keeps its type;
/// 2. an error of an executor is the flowlake error its text carries ([`errors::carried`]):
///    the one a local run reports;
/// 3. the scheduler failing the job because its executors were lost (text of the scheduler,
///    which sends nothing else) is 503 `cluster_unavailable`;
/// 4. a scheduler that no longer accepts connections, or has no executor left (asked
///    now), is 503 `cluster_unavailable` naming it;
/// 5. an executor that could not be reached for results (Ballista's connection errors) is
///    503 `cluster_unavailable`;
/// 6. anything else is a 500 with the job's failure text.
async fn name_failure(error: DataFusionError, address: &ClusterAddress) -> DataFusionError {
    let cluster = |error: Error| DataFusionError::External(Box::new(error));
    if flowlake::error::ours_in_chain(&error).is_some() {
        return error;
    }
    let DataFusionError::Execution(text) = error else {
        return error;
    };
    if let Some(carried) = errors::carried(&text) {
        return cluster(carried);
    }
    if text.contains("executors were lost") {
        return cluster(address.unavailable(text));
    }
    if let Err(why) = address.check().await {
        return cluster(address.unavailable(format!("lost during the query: {why}")));
    }
    if [
        "GrpcConnectionError",
        "Error connecting to Ballista",
        "ExecutorLost",
        "executor lost",
    ]
    .iter()
    .any(|phrase| text.contains(phrase))
    {
        return cluster(address.unavailable(format!(
            "an executor could not be reached during the query: {text}"
        )));
    }
    cluster(Error::internal(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_df_urls_with_a_port() {
        assert_eq!(
            ClusterAddress::parse("df://127.0.0.1:50050").unwrap(),
            ClusterAddress {
                host: "127.0.0.1".into(),
                port: 50050
            }
        );
        assert_eq!(
            ClusterAddress::parse("df://sched.internal:7/")
                .unwrap()
                .url(),
            "df://sched.internal:7"
        );
        assert_eq!(
            ClusterAddress::parse("df://[::1]:9").unwrap().url(),
            "df://[::1]:9"
        );
        for bad in [
            "127.0.0.1:50050",
            "df://host",
            "df://:1",
            "df://h:0",
            "df://h:x",
            "http://h:1",
        ] {
            assert_eq!(
                ClusterAddress::parse(bad).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn an_unreachable_scheduler_is_a_503_naming_it() {
        // A port just released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = ClusterAddress {
            host: "127.0.0.1".into(),
            port,
        };
        let err = on_cluster(&EngineConfig::default(), &address)
            .await
            .err()
            .unwrap();
        assert_eq!((err.status(), err.code()), (503, "cluster_unavailable"));
        assert!(
            err.to_string().contains(&format!("df://127.0.0.1:{port}")),
            "{err}"
        );
    }
}
