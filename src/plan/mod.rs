//! Query → DataFusion plan (SPEC §3), built with the DataFrame API and typed literals.

pub mod goal_name;
pub mod goals;
pub mod workflow;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, JoinType, col, lit};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::lake::{DayPartitions, Workflow};
use crate::output::fields::{BASIC_COLUMNS, BasicSource, Shape, WORKFLOW_RELATED};
use crate::lake::schema::{DATE, EVENT_COLUMNS, ORGANIZATION_ID};
use crate::query::{Interval, Query, Target};
use workflow::{ENTRY_TIME, WF_SESSION, WorkflowEvents};

/// The response shape of a query.
pub fn shape_of(query: &Query) -> Shape {
    Shape { basic: query.basic, workflow_related: query.target == Target::AffectedGoalTotal }
}

/// The column that carries each goal's name between the join and the final projection.
const GOAL_NAME: &str = "goal_name";

fn timestamp_literal(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())))
}

fn in_interval(interval: &Interval) -> Expr {
    col("timestamp").gt_eq(timestamp_literal(interval.start_us)).and(col("timestamp").lt_eq(timestamp_literal(interval.end_us)))
}

/// Builds the whole query over `events`: workflow sessions, goal events, the target's
/// join, order, limit, and the response columns.
pub fn build(
    ctx: &SessionContext,
    events: DayPartitions,
    query: &Query,
    workflow: &Workflow,
    goal_names: BTreeMap<String, String>,
) -> Result<DataFrame> {
    let rules = WorkflowEvents::for_kind(&workflow.kind, &workflow.id.to_string()).ok_or_else(|| {
        Error::internal("plan built for an unsupported workflow type; the engine checks the type first")
    })?;
    let org_events = ctx.read_table(Arc::new(events))?.filter(in_interval(&query.interval))?;

    let workflow_events = org_events.clone().filter(rules.predicate.clone())?;
    let sessions = workflow::matching_sessions(workflow_events, &rules, &query.steps)?;
    let goal_events = org_events.filter(goals::goal_predicate(&query.filters))?;

    let entered = col("timestamp").gt_eq(col(ENTRY_TIME));
    let joined = match query.target {
        Target::AffectedGoal => {
            goal_events.join(sessions, JoinType::Inner, &["session_id"], &[WF_SESSION], Some(entered))?
        }
        Target::AffectedGoalTotal => goal_events
            .join(sessions, JoinType::Left, &["session_id"], &[WF_SESSION], None)?
            .with_column(WORKFLOW_RELATED, col(ENTRY_TIME).is_not_null().and(entered))?,
    };

    // goal_name is computed before the sort: an expression above the sort would invite the
    // optimizer to spread the sorted stream over several partitions and lose its order.
    let named = if query.basic {
        let goal_name = Arc::new(goal_name::GoalName::udf(goal_names));
        joined.with_column(GOAL_NAME, goal_name.call(vec![col("label")]))?
    } else {
        joined
    };
    let ordered = named.sort(vec![col("timestamp").sort(true, false), col("event_id").sort(true, false)])?;
    let limited = match query.limit {
        Some(n) => ordered.limit(0, Some(n))?,
        None => ordered,
    };
    Ok(limited.select(response_columns(shape_of(query)))?)
}

/// The final projection: the response columns of SPEC §4, in order.
/// Plain columns only, so the sorted order reaches the encoder unchanged.
fn response_columns(shape: Shape) -> Vec<Expr> {
    let mut columns: Vec<Expr> = if shape.basic {
        BASIC_COLUMNS
            .iter()
            .map(|(name, source)| match source {
                BasicSource::Column(column) => col(*column).alias(*name),
                BasicSource::GoalName => col(GOAL_NAME).alias(*name),
            })
            .collect()
    } else {
        EVENT_COLUMNS.iter().map(|c| col(c.name)).chain([col(ORGANIZATION_ID), col(DATE)]).collect()
    };
    if shape.workflow_related {
        columns.push(col(WORKFLOW_RELATED));
    }
    columns
}
