//! Errors that cross the cluster. Ballista sends a failed task's error to the scheduler, and
//! on to the client, as text (its `Debug` form); the type is lost on the way. So executors
//! classify the errors of their stages as a local run would ([`Error::from`]) and put the
//! result into that text, serialized (hex of its JSON, which no `Debug` escaping touches);
//! the client takes it back out ([`carried`]) and reports the very error a local run
//! reports.
//!
//! Errors Ballista acts on itself pass unchanged: I/O errors (it retries the task) and its
//! own errors (a failed shuffle fetch makes it run the map stage again).
//!
//! On the client, [`name_cluster_failures`] turns a job's failures back into the errors a
//! local run reports, asking the cluster when the text alone does not tell.

use std::fmt;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::TryStreamExt;

use flowlake::error::Error;

use crate::address::ClusterAddress;

/// Starts a carried error in a failure's text; hex digits follow.
const MARKER: &str = "flowlake-error/1:";

/// `error` in the form that survives Ballista's text: the flowlake error it classifies as,
/// serialized after [`MARKER`]. Errors Ballista handles itself are returned unchanged.
pub fn portable(error: DataFusionError) -> DataFusionError {
    match error.find_root() {
        DataFusionError::IoError(_) => return error,
        DataFusionError::External(inner) if inner.is::<BallistaError>() => return error,
        _ => {}
    }
    let classified = Error::from(error);
    match serde_json::to_vec(&classified) {
        Ok(json) => DataFusionError::Execution(format!("{MARKER}{}", hex::encode(json))),
        Err(_) => DataFusionError::External(Box::new(classified)),
    }
}

/// The flowlake error that a remote failure's text carries, if any.
pub fn carried(text: &str) -> Option<Error> {
    let start = text.find(MARKER)? + MARKER.len();
    let digits = &text[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(digits.len());
    serde_json::from_slice(&hex::decode(&digits[..end]).ok()?).ok()
}

/// The input of a stage's shuffle writer on an executor, its errors made [`portable`].
#[derive(Debug)]
pub struct PortableErrorsExec {
    input: Arc<dyn ExecutionPlan>,
}

impl PortableErrorsExec {
    /// `input` with portable errors.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for PortableErrorsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortableErrorsExec")
    }
}

impl ExecutionPlan for PortableErrorsExec {
    fn name(&self) -> &str {
        "PortableErrorsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
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
            Ok([input]) => Ok(Arc::new(PortableErrorsExec::new(input))),
            Err(children) => Err(DataFusionError::Internal(format!(
                "PortableErrorsExec has one input, got {}",
                children.len()
            ))),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context).map_err(portable)?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            stream.schema(),
            stream.map_err(portable),
        )))
    }
}

/// Names the failures of a cluster job as a local run would (see [`name_failure`]).
pub(crate) fn name_cluster_failures(
    stream: SendableRecordBatchStream,
    address: &ClusterAddress,
) -> SendableRecordBatchStream {
    use futures::StreamExt;
    let schema = stream.schema();
    // Shared, not copied for every batch: only a failure reads it.
    let address = std::sync::Arc::new(address.clone());
    let named = stream.then(move |item| {
        let address = std::sync::Arc::clone(&address);
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
/// 2. an error of an executor is the flowlake error its text carries ([`carried`]):
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
    if let Some(carried) = carried(&text) {
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
    fn a_classified_error_survives_the_debug_text_of_ballista() {
        let file_error = Error::EventFile {
            file: "/lake/a \"b\".parquet".into(),
            message: "no PAR1 footer; é".into(),
            source: None,
        };
        let raised = DataFusionError::Shared(Arc::new(DataFusionError::External(Box::new(
            file_error.clone(),
        ))));
        let sent = BallistaError::DataFusionError(Box::new(portable(raised)));
        let text = format!("Job 7 failed: Task failed due to runtime execution error: {sent:?}");
        let received = carried(&text).expect("carried");
        assert_eq!(received.to_json(), file_error.to_json());
        assert!(carried("Job 7 failed: DataFusionError(Execution(\"boom\"))").is_none());
    }

    #[test]
    fn errors_that_ballista_retries_pass_unchanged() {
        let io = DataFusionError::IoError(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert!(matches!(portable(io), DataFusionError::IoError(_)));
        let fetch = DataFusionError::External(Box::new(BallistaError::FetchFailed(
            "e".into(),
            1,
            2,
            "gone".into(),
        )));
        assert!(carried(&portable(fetch).to_string()).is_none());
    }
}
