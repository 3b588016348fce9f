//! `flowlake scheduler`: Ballista's scheduler with flowlake's codecs and scan rule.
//!
//! It plans the queries that clients send (`--cluster`), splits them into stages and hands
//! their tasks to the executors. Its port serves gRPC and, over HTTP on the same port,
//! `GET /healthz` (alive) and `GET /readyz` (200 once an executor has registered, 503
//! before): the readiness check. The line `scheduler ready on HOST:PORT` is logged once the
//! port accepts connections.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::utils::default_session_builder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::scan::MarkCheckedScans;
use crate::stores::LakeStores;
use flowlake::error::Error;
use flowlake::storage::S3Options;

/// Options of `flowlake scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address for clients (`--cluster df://HOST:PORT`) and executors (`--scheduler`);
    /// loopback unless told otherwise. Port 0 picks a free port (logged).
    pub listen: SocketAddr,
    /// Seconds without a heartbeat after which an executor counts as lost (its tasks run
    /// again elsewhere, and it is told to stop: it registers again); when the last one is
    /// lost, running jobs fail with 503 after as many seconds more unless an executor
    /// joins. Must be longer than --executor-heartbeat-interval (3 times or more is wise).
    pub executor_timeout: u64,
    /// The executors' --heartbeat-interval, in seconds: the scheduler only checks that
    /// --executor-timeout is longer.
    pub executor_heartbeat_interval: u64,
    /// Seconds a finished job's results stay on the executors for its client to fetch
    /// (a client that reads them to the end has them removed at once).
    pub finished_job_data_ttl: u64,
    /// How S3 lakes are reached (their scans are planned here; no file is read).
    pub s3: S3Options,
}

/// Default of `--executor-timeout`, seconds. Ballista's own default (180 s, then as long
/// again before failing jobs of a cluster without executors) let a query whose executors
/// all died wait six minutes.
pub const DEFAULT_EXECUTOR_TIMEOUT: u64 = 20;

/// The session of each job on the scheduler: Ballista's, over this process's stores, plus
/// the rule that marks scans for the checked reader.
fn session_state(
    config: SessionConfig,
    stores: &Arc<LakeStores>,
) -> datafusion::error::Result<SessionState> {
    let state = default_session_builder(config)?;
    let runtime = RuntimeEnvBuilder::from_runtime_env(state.runtime_env())
        .with_object_store_registry(Arc::clone(stores) as _)
        .build_arc()?;
    Ok(SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime)
        .with_physical_optimizer_rule(Arc::new(MarkCheckedScans))
        .build())
}

/// An executor timeout that a heartbeat cannot beat would stop every executor right after
/// it joins.
fn check_timeouts(args: &SchedulerOptions) -> Result<(), Error> {
    if args.executor_timeout > args.executor_heartbeat_interval {
        return Ok(());
    }
    Err(Error::Usage {
        message: format!(
            "--executor-timeout {} is not longer than the executors' heartbeat interval (--executor-heartbeat-interval {}): \
             every executor would count as lost between two heartbeats; give at least {}",
            args.executor_timeout,
            args.executor_heartbeat_interval,
            3 * args.executor_heartbeat_interval
        ),
    })
}

/// Runs the scheduler until `shutdown` completes (with the name of what stopped it).
pub async fn serve(
    args: SchedulerOptions,
    shutdown: impl std::future::Future<Output = &'static str>,
) -> Result<(), Error> {
    check_timeouts(&args)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Usage {
            message: format!("cannot listen on {} (--listen): {e}", args.listen),
        })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("the scheduler's address: {e}")))?;
    let stores = Arc::new(LakeStores::new(args.s3.clone()));
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        bind_port: address.port(),
        external_host: address.ip().to_string(),
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_session_builder: Some(Arc::new(move |session| session_state(session, &stores))),
        executor_timeout_seconds: args.executor_timeout,
        // Checked often enough that a lost executor is noticed soon after its timeout.
        expire_dead_executor_interval_seconds: (args.executor_timeout / 4).max(1),
        // Ballista's advice: no shorter than the executor timeout, so that an executor
        // dropped after a failed task launch can re-register before jobs are failed.
        no_executors_grace_period_seconds: args.executor_timeout,
        finished_job_data_clean_up_interval_seconds: args.finished_job_data_ttl,
        ..SchedulerConfig::default()
    };
    let ballista =
        |e: ballista_core::error::BallistaError| Error::internal(format!("scheduler: {e}"));
    config.validate().map_err(ballista)?;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista)?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
            .await
            .map_err(ballista)?;
    tracing::info!("scheduler ready on {address} (readiness: GET http://{address}/readyz)");
    tokio::select! {
        served = start_grpc_service_with_listener(listener, scheduler) => served.map_err(ballista),
        signal = shutdown => {
            tracing::info!("scheduler stopping on {signal}");
            Ok(())
        }
    }
}
