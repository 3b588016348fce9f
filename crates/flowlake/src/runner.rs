//! Where the engine's plans run: here ([`LocalRunner`]), or elsewhere through a runner
//! another crate provides (the Ballista cluster's). The engine builds every plan the same
//! way and hands it to its runner.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use futures::StreamExt;

use crate::error::Result;

/// Runs the plans an [`Engine`](crate::Engine) builds.
#[async_trait]
pub trait PlanRunner: Send + Sync + std::fmt::Debug {
    /// Starts `dataframe`: its physical plan (as it runs) and its rows.
    async fn execute(
        &self,
        dataframe: DataFrame,
    ) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)>;

    /// The plans of `dataframe` as text; with `analyze` it runs and the physical plan
    /// carries its metrics.
    async fn explain(&self, dataframe: DataFrame, analyze: bool) -> Result<String>;

    /// Whether plans run away from this process. The engine then sends each query as one
    /// plan: the strategies that collect a small answer here first
    /// (`crate::small_limit`) would each cost a remote job.
    fn is_remote(&self) -> bool {
        false
    }

    /// For a stopping command: waits, at most `limit`, until every plan this runner started
    /// elsewhere can be cancelled (knows its remote id). The streams must go on being
    /// polled meanwhile. Plans that run here need no wait.
    async fn started_work_identified(&self, limit: Duration) {
        let _ = limit;
    }

    /// For a stopping command whose streams were dropped: waits, at most `limit`, until
    /// the remote work of those streams is cancelled; returns how many plans were
    /// cancelled so far. Plans that run here stop when dropped: zero.
    async fn cancellations_settled(&self, limit: Duration) -> usize {
        let _ = limit;
        0
    }
}

/// Runs plans in this process, on the engine's `SessionContext`.
#[derive(Debug, Default)]
pub struct LocalRunner;

#[async_trait]
impl PlanRunner for LocalRunner {
    async fn execute(
        &self,
        dataframe: DataFrame,
    ) -> Result<(Arc<dyn ExecutionPlan>, SendableRecordBatchStream)> {
        let task = Arc::new(dataframe.task_ctx());
        let physical = dataframe.create_physical_plan().await?;
        let batches = datafusion::physical_plan::execute_stream(Arc::clone(&physical), task)?;
        Ok((physical, batches))
    }

    async fn explain(&self, dataframe: DataFrame, analyze: bool) -> Result<String> {
        let task = Arc::new(dataframe.task_ctx());
        let (state, logical) = dataframe.into_parts();
        let optimized = state.optimize(&logical)?;
        let physical = state.create_physical_plan(&logical).await?;
        let mut text = format!("== logical plan ==\n{}\n\n", optimized.display_indent());
        if analyze {
            let mut stream =
                datafusion::physical_plan::execute_stream(Arc::clone(&physical), task)?;
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
