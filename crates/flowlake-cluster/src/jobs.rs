//! The jobs a cluster client starts: their result streams, which cancel a job dropped before
//! its end and have a finished job's files removed, and the tracker a stopping command waits
//! on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, CleanJobDataParams};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion_proto::protobuf::LogicalPlanNode;
use tokio::sync::watch;

use crate::address::{CONNECT_TIMEOUT, ClusterAddress};
use crate::errors::name_cluster_failures;
use flowlake::error::Result;

/// Runs `dataframe` on the cluster. Dropping the stream before its end (a `--request-timeout`
/// of `serve`, a client gone) cancels the job on the scheduler, as soon as its id is known;
/// read to its end, the job's results are removed from the executors at once. Returns the
/// (distributed) physical plan with the stream.
pub(crate) async fn execute(
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
    let job = JobStream {
        jobs: Arc::clone(jobs),
        _outstanding: Outstanding::new(jobs),
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
pub(crate) struct JobTracker {
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
    pub(crate) async fn identified(&self, limit: Duration) {
        let mut awaiting = self.awaiting_id.subscribe();
        let _ = tokio::time::timeout(limit, awaiting.wait_for(|n| *n == 0)).await;
    }

    /// Waits, at most `limit`, until every dropped job stream has had its job cancelled on
    /// the scheduler; returns how many jobs were cancelled so far.
    pub(crate) async fn settled(&self, limit: Duration) -> usize {
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
}

/// One of [`JobTracker`]'s outstanding streams or cancellations, given back when dropped
/// (however the work holding it ends).
struct Outstanding(Arc<JobTracker>);

impl Outstanding {
    fn new(jobs: &Arc<JobTracker>) -> Outstanding {
        jobs.outstanding.send_modify(|n| *n += 1);
        Outstanding(Arc::clone(jobs))
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.outstanding.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A job's result stream: cancels the job when dropped before its end, and has the job's
/// results removed from the executors once read to the end.
struct JobStream {
    jobs: Arc<JobTracker>,
    /// Held while the stream is open; its drop hands over to the task that cancels the job.
    _outstanding: Outstanding,
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
pub(crate) fn job_of(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
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
                // Counted as outstanding, so that a command ending on the failure waits
                // for it (`cancellations_settled`).
                if let (Some(job), Ok(runtime)) =
                    (job_id(&this.plan), tokio::runtime::Handle::try_current())
                {
                    let scheduler = this.scheduler.clone();
                    let outstanding = Outstanding::new(&this.jobs);
                    runtime.spawn(async move {
                        let _outstanding = outstanding;
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
            return;
        };
        let jobs = Arc::clone(&self.jobs);
        // Taken before the stream's own is given back, so the count never drops to zero
        // while the job may still need cancelling.
        let outstanding = Outstanding::new(&self.jobs);
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
            let _outstanding = outstanding;
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
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        "a cluster job was dropped and the scheduler did not name it within {IDENTIFY_LIMIT:?}; it was not cancelled"
                    );
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
        });
    }
}

/// Asks the scheduler to remove a job's files from its executors (best effort).
pub(crate) async fn clean_job_data(scheduler: String, job_id: String) {
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
