//! The client side: an [`Engine`] whose plans run on a Ballista cluster (`--cluster`).
//!
//! The client lists the day folders and reads the catalog itself, as locally; the plan it
//! builds (the same one) is sent to the scheduler through flowlake's logical codec, and the
//! answer streams back from the executors.

use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ballista::extension::SessionContextExt;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::protobuf::LogicalPlanNode;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use std::sync::Arc;
use tokio::sync::watch;

use super::codec::{LogicalCodec, PhysicalCodec};
use crate::engine::{Engine, EngineConfig, session_parts};
use crate::error::{Error, Result};

/// How long the client waits for the scheduler to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scheduler address as `--cluster` takes it: `df://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    pub host: String,
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST:PORT`; anything else is a 400 that shows the expected form.
    pub fn parse(text: &str) -> Result<ClusterAddress> {
        let bad = |why: &str| Error::bad_request(format!("--cluster '{text}': {why}; expected df://HOST:PORT"));
        let rest = text.strip_prefix("df://").ok_or_else(|| bad("not a df:// address"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(bad("no valid host"));
        }
        let port = port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        Ok(ClusterAddress { host: host.to_string(), port })
    }

    /// The address as users write it.
    pub fn url(&self) -> String {
        if self.host.contains(':') { format!("df://[{}]:{}", self.host, self.port) } else { format!("df://{}:{}", self.host, self.port) }
    }

    fn unavailable(&self, message: impl Into<String>) -> Error {
        Error::ClusterUnavailable { address: self.url(), message: message.into() }
    }

    /// Checks, within [`CONNECT_TIMEOUT`], that the scheduler accepts connections and has
    /// an executor: a job submitted to a cluster without one would wait for it forever
    /// (Ballista fails only the jobs that were running when the last executor was lost).
    pub async fn probe(&self) -> Result<()> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.readiness()).await {
            Ok(Ok(Some(status))) if status.starts_with("HTTP/1.1 503") || status.starts_with("HTTP/1.0 503") => {
                let said = status.lines().last().unwrap_or_default().trim().to_string();
                Err(self.unavailable(format!("the scheduler has no executor to run the query (GET /readyz: {said})")))
            }
            // A scheduler that does not answer HTTP (behind a gRPC-only proxy) is not judged.
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(self.unavailable(format!("the scheduler does not accept connections: {e}"))),
            Err(_) => Err(self.unavailable(format!("the scheduler did not answer within {} s", CONNECT_TIMEOUT.as_secs()))),
        }
    }

    /// The scheduler's answer to `GET /readyz` (on its one port), or `None` when it gives
    /// none; an error when it does not accept connections.
    async fn readiness(&self) -> std::io::Result<Option<String>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        let request = format!("GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.host);
        let mut answer = Vec::new();
        let exchanged = async {
            stream.write_all(request.as_bytes()).await?;
            (&mut stream).take(4096).read_to_end(&mut answer).await
        };
        Ok(exchanged.await.ok().map(|_| String::from_utf8_lossy(&answer).into_owned()).filter(|a| a.starts_with("HTTP/")))
    }
}

impl Engine {
    /// An engine whose queries run on the cluster whose scheduler is at `address`. Fails
    /// with 503 `cluster_unavailable` when the scheduler cannot be reached.
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
        let state = SessionStateBuilder::new().with_default_features().with_config(session).with_runtime_env(runtime).build();
        let scheduler = format!("df://{}:{}", address.host, address.port);
        let ctx = SessionContext::remote_with_state(&scheduler, state).await.map_err(|e| address.unavailable(e.to_string()))?;
        let mut engine = Engine::with_context(ctx, config);
        engine.cluster = Some((address.url(), format!("http://{}:{}", address.host, address.port)));
        Ok(engine)
    }
}

impl Engine {
    /// What the client sends the scheduler for `query`: the optimized logical plan as the
    /// logical codec encodes it, then every session setting as `key=value` lines (for
    /// checking that no secret is ever part of a job).
    pub async fn cluster_submission(&self, lake: &crate::Lake, query: &crate::Query) -> Result<Vec<u8>> {
        let (state, logical) = self.plan(lake, query).await?.into_parts();
        let optimized = state.optimize(&logical)?;
        let mut bytes =
            datafusion_proto::bytes::logical_plan_to_bytes_with_extension_codec(&optimized, &LogicalCodec::default())?.to_vec();
        for entry in state.config().options().entries() {
            bytes.extend_from_slice(format!("\n{}={}", entry.key, entry.value.unwrap_or_default()).as_bytes());
        }
        Ok(bytes)
    }
}

/// The plans of a query on the cluster, as the scheduler made them: the logical plan, the
/// physical plan, and its stages (`distributed_plan`). With `analyze` the job runs and the
/// stages carry their metrics.
pub(crate) async fn explain(dataframe: DataFrame, analyze: bool, address: &str) -> Result<String> {
    let explained = dataframe.explain(false, analyze)?;
    let schema = explained.schema().inner().clone();
    let batches = name_cluster_failures(explained.execute_stream().await?, address).try_collect::<Vec<_>>().await?;
    let mut text = String::new();
    for batch in &batches {
        let columns: Vec<&StringArray> = batch.columns().iter().filter_map(|c| c.as_any().downcast_ref::<StringArray>()).collect();
        let [plan_type, plan] = columns.as_slice() else {
            return Err(Error::internal(format!("the scheduler's explain has columns {schema:?}")));
        };
        for row in 0..batch.num_rows() {
            text.push_str(&format!("== {} ==\n{}\n\n", plan_type.value(row).replace('_', " "), plan.value(row).trim_end()));
        }
    }
    Ok(text.trim_end().to_string())
}

/// Runs `dataframe` on the cluster. Dropping the stream before its end (a `--request-timeout`
/// of `serve`, a client gone) cancels the job on the scheduler, once its id is known.
/// Returns the (distributed) physical plan with the stream.
pub(crate) async fn execute(dataframe: DataFrame, address: &str, scheduler: &str) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)> {
    let task_ctx = Arc::new(dataframe.task_ctx());
    // The answer's schema is the plan's: a plan the optimizer proved empty comes back from
    // the cluster as a stream without columns.
    let schema: datafusion::arrow::datatypes::SchemaRef = Arc::new(dataframe.schema().as_arrow().clone());
    let plan = dataframe.create_physical_plan().await?;
    let stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), task_ctx)?;
    outstanding_add(1);
    let guarded = CancelOnDrop { inner: stream, plan: Arc::clone(&plan), scheduler: scheduler.to_string(), finished: false, awaiting_id: false, identified: false };
    Ok((plan, name_cluster_failures(Box::pin(RecordBatchStreamAdapter::new(schema, guarded)), address)))
}

/// Result streams of cluster jobs that are open, plus cancellations under way: a command
/// stopping on a signal waits until this is zero, or its runtime (and with it the
/// cancellation requests) would end with the process.
static OUTSTANDING: LazyLock<watch::Sender<usize>> = LazyLock::new(|| watch::Sender::new(0));

/// Result streams that started their job but have not yet learnt its id from the scheduler
/// (it comes with the job's first status): dropped now, their job could not be cancelled.
static AWAITING_ID: LazyLock<watch::Sender<usize>> = LazyLock::new(|| watch::Sender::new(0));

/// Waits, at most `limit`, until every job stream that has started its job knows the job's
/// id. The streams must go on being polled meanwhile (they receive the id).
pub(crate) async fn jobs_identified(limit: Duration) {
    let mut awaiting = AWAITING_ID.subscribe();
    let _ = tokio::time::timeout(limit, awaiting.wait_for(|n| *n == 0)).await;
}

/// Cancellations sent since the process started (for the stopping command's message).
static CANCELLED: AtomicUsize = AtomicUsize::new(0);

/// Waits, at most `limit`, until every dropped job stream has had its job cancelled on the
/// scheduler; returns how many jobs were cancelled so far.
pub(crate) async fn cancellations_settled(limit: Duration) -> usize {
    let mut outstanding = OUTSTANDING.subscribe();
    if tokio::time::timeout(limit, outstanding.wait_for(|n| *n == 0)).await.is_err() {
        tracing::warn!("gave up waiting after {limit:?} for the cluster to confirm cancelled jobs");
    }
    CANCELLED.load(Ordering::Relaxed)
}

fn outstanding_add(delta: isize) {
    OUTSTANDING.send_modify(|n| *n = n.saturating_add_signed(delta));
}

/// A job's result stream that cancels the job when dropped before its end.
struct CancelOnDrop {
    inner: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    /// `http://HOST:PORT` of the scheduler.
    scheduler: String,
    finished: bool,
    /// Polled at least once (the job is submitted on the first poll) without its id known.
    awaiting_id: bool,
    /// The job's id has been seen.
    identified: bool,
}

/// The id the scheduler gave the job of a distributed plan, once it has.
fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    let exec = plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()?;
    exec.job_id().map(|job| job.as_str().to_string())
}

impl CancelOnDrop {

    fn stop_awaiting_id(&mut self) {
        if self.awaiting_id {
            self.awaiting_id = false;
            AWAITING_ID.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl futures::Stream for CancelOnDrop {
    type Item = datafusion::error::Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.identified && !self.awaiting_id {
            self.awaiting_id = true;
            AWAITING_ID.send_modify(|n| *n += 1);
        }
        let polled = self.inner.as_mut().poll_next(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.finished = true;
        }
        if self.awaiting_id && (self.finished || job_id(&self.plan).is_some()) {
            self.identified = true;
            self.stop_awaiting_id();
        }
        polled
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let submitted = self.awaiting_id || self.identified;
        self.stop_awaiting_id();
        let (false, true, Ok(runtime)) = (self.finished, submitted, tokio::runtime::Handle::try_current()) else {
            outstanding_add(-1);
            return;
        };
        let scheduler = self.scheduler.clone();
        let plan = Arc::clone(&self.plan);
        // A job dropped before its id arrived (a `--request-timeout` during submission) is
        // still driven, for a bounded time, until the scheduler names it; then cancelled.
        let schema = self.inner.schema();
        let mut inner: SendableRecordBatchStream =
            std::mem::replace(&mut self.inner, Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::empty())));
        // Still outstanding until the scheduler answered (or did not, within the bound).
        runtime.spawn(async move {
            use futures::StreamExt;
            let identified = async {
                loop {
                    if let Some(id) = job_id(&plan) {
                        return Some(id);
                    }
                    if inner.next().await.is_none_or(|r| r.is_err()) {
                        return job_id(&plan);
                    }
                }
            };
            let Ok(Some(job_id)) = tokio::time::timeout(IDENTIFY_TIMEOUT, identified).await else {
                tracing::warn!("a cluster job was dropped before the scheduler named it; it was not cancelled");
                outstanding_add(-1);
                return;
            };
            drop(inner);
            let cancelled = async {
                let mut client = SchedulerGrpcClient::connect(scheduler).await.map_err(|e| e.to_string())?;
                client.cancel_job(CancelJobParams { job_id: job_id.clone() }).await.map_err(|e| e.to_string())
            };
            match tokio::time::timeout(CONNECT_TIMEOUT, cancelled).await {
                Ok(Ok(_)) => {
                    CANCELLED.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("cancelled job {job_id} on the cluster");
                }
                Ok(Err(e)) => tracing::warn!("could not cancel job {job_id} on the cluster: {e}"),
                Err(_) => tracing::warn!("could not cancel job {job_id} on the cluster: no answer"),
            }
            outstanding_add(-1);
        });
    }
}

/// How long a dropped job stream is driven for the scheduler to name its job, so that it
/// can be cancelled.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Names failures to reach the cluster while a query streams as 503 `cluster_unavailable`;
/// other errors (a corrupt file read by an executor, …) keep their own status.
pub(crate) fn name_cluster_failures(stream: SendableRecordBatchStream, address: &str) -> SendableRecordBatchStream {
    let schema = stream.schema();
    let address = address.to_string();
    let named = stream.map_err(move |e| match says_cluster_unreachable(&e) {
        true => DataFusionError::External(Box::new(Error::ClusterUnavailable { address: address.clone(), message: e.to_string() })),
        false => e,
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, named))
}

/// Whether Ballista's error says the scheduler or an executor could not be reached (its
/// gRPC errors arrive as text).
fn says_cluster_unreachable(error: &DataFusionError) -> bool {
    if let DataFusionError::External(source) = error
        && source.downcast_ref::<Error>().is_some()
    {
        return false;
    }
    let text = error.to_string();
    // "all executors were lost": Ballista failing the jobs of a cluster left without executors.
    [
        "GrpcConnectionError",
        "Error connecting to Ballista",
        "tonic::transport",
        "transport error",
        "ExecutorLost",
        "executor lost",
        "executors were lost",
    ]
        .iter()
        .any(|phrase| text.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_df_urls_with_a_port() {
        assert_eq!(ClusterAddress::parse("df://127.0.0.1:50050").unwrap(), ClusterAddress { host: "127.0.0.1".into(), port: 50050 });
        assert_eq!(ClusterAddress::parse("df://sched.internal:7/").unwrap().url(), "df://sched.internal:7");
        assert_eq!(ClusterAddress::parse("df://[::1]:9").unwrap().url(), "df://[::1]:9");
        for bad in ["127.0.0.1:50050", "df://host", "df://:1", "df://h:0", "df://h:x", "http://h:1"] {
            assert_eq!(ClusterAddress::parse(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_scheduler_is_a_503_naming_it() {
        // A port just released: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = ClusterAddress { host: "127.0.0.1".into(), port };
        let err = Engine::on_cluster(&EngineConfig::default(), &address).await.err().unwrap();
        assert_eq!((err.status(), err.code()), (503, "cluster_unavailable"));
        assert!(err.to_string().contains(&format!("df://127.0.0.1:{port}")), "{err}");
    }
}
