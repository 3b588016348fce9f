//! The workflow side of SPEC §3: which events belong to the workflow, each session's entry
//! time, and which sessions match `step_data`.

use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::in_list;

use crate::error::Result;
use crate::lake::WorkflowKind;
use crate::query::StepConstraint;

use super::path_steps::PathMatches;

/// Column names of the sessions relation, chosen not to collide with event columns.
pub const WF_SESSION: &str = "wf_session";
pub const ENTRY_TIME: &str = "entry_time";
const MATCHED: &str = "matched";

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
                    .and(label_is_one_of(interaction_ids.iter().map(String::as_str))),
                path: Some((
                    col("action")
                        .eq(lit("view"))
                        .and(col("view_uid").is_not_null()),
                    "view_uid",
                )),
            }),
            WorkflowKind::WebNavigation => Some(WorkflowEvents {
                predicate: col("category")
                    .eq(lit("pageview"))
                    .and(col("page_url").is_not_null()),
                path: Some((lit(true), "page_url")),
            }),
            WorkflowKind::UserGenerated => Some(WorkflowEvents {
                predicate: col("category")
                    .eq(lit("workflowReportingEvent"))
                    .and(label_is_one_of([workflow_id])),
                path: None,
            }),
            WorkflowKind::Unsupported { .. } => None,
        }
    }
}

/// `label IN (…)` for catalog ids. The catalog holds UUIDs in their canonical lowercase
/// form, but writers spell labels as they like: each UUID is matched in its lowercase and
/// its uppercase spelling, which costs nothing per row (the IN list is a hash set).
fn label_is_one_of<'a>(ids: impl IntoIterator<Item = &'a str>) -> Expr {
    let mut spellings: Vec<String> = Vec::new();
    for id in ids {
        for spelling in [id.to_string(), id.to_ascii_uppercase()] {
            if !spellings.contains(&spelling) {
                spellings.push(spelling);
            }
        }
    }
    match spellings.as_slice() {
        [only] => col("label").eq(lit(only.clone())),
        _ => in_list(
            col("label"),
            spellings.into_iter().map(lit).collect(),
            false,
        ),
    }
}

/// Sessions in the workflow that match `steps`, as (`wf_session`, `entry_time`): one row
/// per session. `workflow_events` are the workflow events of the interval; they are read
/// once: entry times and step matches come out of one aggregate (see `path_steps`).
pub fn matching_sessions(
    workflow_events: DataFrame,
    rules: &WorkflowEvents,
    steps: &[StepConstraint],
) -> Result<DataFrame> {
    let mut per_session = vec![min(col("timestamp")).alias(ENTRY_TIME)];
    // Without a constrained step, or for a workflow type whose step_data is ignored, every
    // session in the workflow matches.
    let path = rules.path.as_ref().filter(|_| !steps.is_empty());
    if let Some((path_predicate, action_column)) = path {
        let arguments = vec![
            path_predicate.clone(),
            col("timestamp"),
            col("event_id"),
            col(*action_column),
        ];
        per_session.push(PathMatches::udaf(steps).call(arguments).alias(MATCHED));
    }
    let sessions = workflow_events.aggregate(vec![col("session_id")], per_session)?;
    let sessions = if path.is_some() {
        sessions.filter(col(MATCHED))?
    } else {
        sessions
    };
    Ok(sessions.select(vec![col("session_id").alias(WF_SESSION), col(ENTRY_TIME)])?)
}
