//! The client side: an [`Engine`] whose plans run on a Ballista cluster (`--cluster`).
//!
//! The client lists the day folders and reads the catalog itself, as locally; the plan it
//! builds (the same one) is sent to the scheduler through flowlake's logical codec, and the
//! answer streams back from the executors.

use std::time::Duration;

use ballista::extension::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use datafusion::arrow::array::{Array, StringArray};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use std::sync::Arc;

use crate::address::ClusterAddress;
use crate::codec::{LogicalCodec, PhysicalCodec};
use crate::errors::name_cluster_failures;
use crate::jobs::{JobTracker, clean_job_data, job_of};
use flowlake::engine::{Engine, EngineConfig, session_parts};
use flowlake::error::{Error, Result};
use flowlake::runner::PlanRunner;

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
        crate::jobs::execute(dataframe, &self.address, &self.jobs).await
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

#[cfg(test)]
mod tests {
    use super::*;

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
