//! The workflow side of SPEC §3: which events belong to the workflow, each session's entry
//! time, and which sessions match `step_data`.

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{min, sum};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, ExprFunctionExt, col, lit, when};
use datafusion::prelude::in_list;

use crate::error::Result;
use crate::lake::WorkflowKind;
use crate::query::StepConstraint;

/// Column names of the sessions relation, chosen not to collide with event columns.
pub const WF_SESSION: &str = "wf_session";
pub const ENTRY_TIME: &str = "entry_time";
const STEP: &str = "step";
const SATISFIED: &str = "satisfied";
const ON_PATH: &str = "on_path";

/// How the events of one workflow type are recognised and how their path is read.
#[derive(Debug, Clone)]
pub struct WorkflowEvents {
    /// Selects the workflow events *W* among the org events of the interval.
    pub predicate: Expr,
    /// Among *W*, the events that make up the session path, and the column that holds
    /// each step's action; `None` when `step_data` is ignored (user-generated workflows).
    pub path: Option<(Expr, &'static str)>,
}

impl WorkflowEvents {
    /// The rules of SPEC §3 for a workflow of this kind and id. `None` for kinds the engine
    /// does not implement.
    pub fn for_kind(kind: &WorkflowKind, workflow_id: &str) -> Option<WorkflowEvents> {
        match kind {
            WorkflowKind::Interaction { interaction_ids } => Some(WorkflowEvents {
                predicate: col("category")
                    .eq(lit("widget"))
                    .and(in_list(col("label"), interaction_ids.iter().map(|id| lit(id.as_str())).collect(), false)),
                path: Some((col("action").eq(lit("view")).and(col("view_uid").is_not_null()), "view_uid")),
            }),
            WorkflowKind::WebNavigation => Some(WorkflowEvents {
                predicate: col("category").eq(lit("pageview")).and(col("page_url").is_not_null()),
                path: Some((lit(true), "page_url")),
            }),
            WorkflowKind::UserGenerated => Some(WorkflowEvents {
                predicate: col("category").eq(lit("workflowReportingEvent")).and(col("label").eq(lit(workflow_id))),
                path: None,
            }),
            WorkflowKind::Unsupported { .. } => None,
        }
    }
}

/// Sessions in the workflow that match `steps`, as (`wf_session`, `entry_time`): one row
/// per session. `workflow_events` are the workflow events of the interval; they are read
/// once: entry times and step matches come out of the same pass.
pub fn matching_sessions(workflow_events: DataFrame, rules: &WorkflowEvents, steps: &[StepConstraint]) -> Result<DataFrame> {
    let (path_predicate, action_column) = match (&rules.path, steps.is_empty()) {
        (Some(path), false) => path.clone(),
        // No constrained step, or a workflow type whose step_data is ignored.
        _ => {
            return Ok(workflow_events
                .aggregate(vec![col("session_id")], vec![min(col("timestamp")).alias(ENTRY_TIME)])?
                .select(vec![col("session_id").alias(WF_SESSION), col(ENTRY_TIME)])?);
        }
    };

    let last_step = steps.iter().map(|s| s.index).max().unwrap_or(0) as u64;
    let step_matches = steps
        .iter()
        .map(|s| {
            col(STEP).eq(lit(s.index as u64)).and(in_list(
                col(action_column),
                s.actions.iter().map(|a| lit(a.as_str())).collect(),
                false,
            ))
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    // Path events are numbered within (session, on_path = true); other workflow events get
    // numbers too, in their own partition, and are never counted.
    let step_number = row_number()
        .partition_by(vec![col("session_id"), col(ON_PATH)])
        .order_by(vec![col("timestamp").sort(true, false), col("event_id").sort(true, false)])
        .build()?
        .alias(STEP);
    let satisfied_step = when(col(ON_PATH).and(col(STEP).lt_eq(lit(last_step))).and(step_matches), lit(1i64)).otherwise(lit(0i64))?;
    Ok(workflow_events
        .select(vec![col("session_id"), col("timestamp"), col("event_id"), col(action_column), path_predicate.alias(ON_PATH)])?
        .window(vec![step_number])?
        .aggregate(vec![col("session_id")], vec![min(col("timestamp")).alias(ENTRY_TIME), sum(satisfied_step).alias(SATISFIED)])?
        .filter(col(SATISFIED).eq(lit(ScalarValue::Int64(Some(steps.len() as i64)))))?
        .select(vec![col("session_id").alias(WF_SESSION), col(ENTRY_TIME)])?)
}
