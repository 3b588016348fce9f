//! Query → DataFusion plan (SPEC §3), built with the DataFrame API and typed literals.

pub mod goal_name;
pub mod goals;
pub mod path_steps;
pub mod time_order;
pub mod workflow;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, SortExpr, cast, col, lit};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::format::schema::{ColumnKind, DATE, EVENT_COLUMNS, ORGANIZATION_ID, event_column};
use crate::lake::{DayPartitions, Workflow, WorkflowKind};
use crate::query::shape::{BASIC_COLUMNS, BasicSource, Shape, WORKFLOW_RELATED};
use crate::query::{Interval, Query, Target};
use workflow::{ENTRY_TIME, WF_SESSION, WorkflowEvents};

/// How a plan reads the lake beyond what the query says (see `Engine::execute`): both
/// change what is read, never the answer.
#[derive(Debug, Default, Clone)]
pub struct Reading {
    /// Only the first days of the events: for goal events, or for both sides.
    pub first_days: Option<FirstDays>,
    /// A basic answer is ordered by time alone, without reading event ids; the caller
    /// orders the rows that tie (`time_order`) and asks for one row more than the limit,
    /// to see a tie at the cut.
    pub time_alone: bool,
}

/// The events of the interval's first days (a cut of the query's table).
#[derive(Debug, Clone)]
pub struct FirstDays {
    pub events: DayPartitions,
    /// Workflow events are cut too (without step constraints a goal's answer depends on
    /// workflow events up to its time only); otherwise only goal events.
    pub workflow_too: bool,
}

/// A query's checked workflow, listed event files and goal names: what its plans are built
/// from.
pub struct Prepared {
    pub workflow: Workflow,
    pub events: DayPartitions,
    pub goal_names: BTreeMap<String, String>,
}

impl Prepared {
    /// The plan of `query` over these files, reading them as `reading` says.
    pub fn build(
        &self,
        ctx: &SessionContext,
        reading: Reading,
        query: &Query,
        memory_limited: bool,
    ) -> Result<DataFrame> {
        build(
            ctx,
            self.events.clone(),
            reading,
            query,
            &self.workflow,
            self.goal_names.clone(),
            memory_limited,
        )
    }
}

/// The response shape of a query.
pub fn shape_of(query: &Query) -> Shape {
    Shape {
        basic: query.basic,
        workflow_related: query.target == Target::AffectedGoalTotal,
    }
}

/// The name of the events table in plans.
pub const EVENTS_TABLE: &str = "events";

/// The event id that orders basic answers, which do not show it.
const SORT_EVENT_ID: &str = "__sort_event_id";

fn timestamp_literal(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(micros),
        Some("UTC".into()),
    ))
}

fn in_interval(interval: &Interval) -> Expr {
    col("timestamp")
        .gt_eq(timestamp_literal(interval.start_us))
        .and(col("timestamp").lt_eq(timestamp_literal(interval.end_us)))
}

/// The events of `table` inside `interval`, scanned under a name, so that plans say
/// `TableScan: events` rather than `?table?`.
fn interval_events(
    ctx: &SessionContext,
    table: DayPartitions,
    interval: &Interval,
) -> Result<DataFrame> {
    let scan = LogicalPlanBuilder::scan(EVENTS_TABLE, provider_as_source(Arc::new(table)), None)?
        .build()?;
    Ok(DataFrame::new(ctx.state(), scan).filter(in_interval(interval))?)
}

/// Builds the whole query over `events`: workflow sessions, goal events, the target's
/// join, order, limit, and the response columns, reading the lake as `reading` says.
pub fn build(
    ctx: &SessionContext,
    events: DayPartitions,
    reading: Reading,
    query: &Query,
    workflow: &Workflow,
    goal_names: BTreeMap<String, String>,
    bounded_memory: bool,
) -> Result<DataFrame> {
    let rules =
        WorkflowEvents::for_kind(&workflow.kind, &workflow.id.to_string()).ok_or_else(|| {
            Error::internal(
                "plan built for an unsupported workflow type; the engine checks the type first",
            )
        })?;
    let org_events = |table: DayPartitions| interval_events(ctx, table, &query.interval);
    let Reading {
        first_days,
        time_alone,
    } = reading;
    let time_alone = time_alone && query.basic;
    let (all_events, goal_side) = match first_days {
        Some(FirstDays {
            events: cut,
            workflow_too: true,
        }) => {
            let cut = org_events(cut)?;
            (cut.clone(), cut)
        }
        Some(FirstDays {
            events: cut,
            workflow_too: false,
        }) => (org_events(events)?, org_events(cut)?),
        None => {
            let all = org_events(events)?;
            (all.clone(), all)
        }
    };

    let workflow_events = all_events.filter(rules.predicate.clone())?;
    let sessions = workflow::matching_sessions(workflow_events, &rules, &query.steps)?;
    let goal_events = goal_side.filter(goals::goal_predicate(&query.filters))?;
    // With affected_goal_total every goal event is answered exactly once (sessions are
    // unique), so the first `limit` of them are the answer's rows: take them before the
    // join, where the Top-K's dynamic filter reaches the Parquet scan and skips row groups.
    let goal_events = match (query.target, query.limit) {
        (Target::AffectedGoalTotal, Some(n)) => goal_events
            .sort(answer_order("timestamp", "event_id", time_alone))?
            .limit(0, Some(n))?,
        _ => goal_events,
    };

    // The hash table is the side expected to be smaller. Goal events are, when filtered,
    // cut by a Top-K, or set against every page view of a web workflow: they are the table,
    // and their session ids prune the scan of the workflow events (a dynamic filter).
    // Otherwise, and always under a memory limit, the sessions (one small row each) are the
    // table and the goal events stream past it: memory does not grow with them, and the
    // sort above can spill.
    let entered = col("timestamp").gt_eq(col(ENTRY_TIME));
    let goals_are_few = !query.filters.is_empty()
        || query.limit.is_some() && query.target == Target::AffectedGoalTotal
        || matches!(workflow.kind, WorkflowKind::WebNavigation);
    let goals_as_table = goals_are_few && !bounded_memory;
    let joined = match (query.target, goals_as_table) {
        (Target::AffectedGoal, true) => goal_events.join(
            sessions,
            JoinType::LeftSemi,
            &["session_id"],
            &[WF_SESSION],
            Some(entered.clone()),
        )?,
        (Target::AffectedGoal, false) => sessions.join(
            goal_events,
            JoinType::RightSemi,
            &[WF_SESSION],
            &["session_id"],
            Some(entered.clone()),
        )?,
        (Target::AffectedGoalTotal, true) => goal_events.join(
            sessions,
            JoinType::Left,
            &["session_id"],
            &[WF_SESSION],
            None,
        )?,
        (Target::AffectedGoalTotal, false) => sessions.join(
            goal_events,
            JoinType::Right,
            &[WF_SESSION],
            &["session_id"],
            None,
        )?,
    };
    let joined = match query.target {
        Target::AffectedGoal => joined,
        Target::AffectedGoalTotal => {
            joined.with_column(WORKFLOW_RELATED, col(ENTRY_TIME).is_not_null().and(entered))?
        }
    };

    // Every response column is computed before the sort (goal_name, strings read as views
    // cast back to Utf8), so that the projection after it is plain columns: an expression
    // above the sort would invite the optimizer to spread the sorted stream over several
    // partitions and lose its order.
    let shape = shape_of(query);
    let (columns, order) = presort_columns(shape, goal_names, time_alone);
    let ordered = joined.select(columns)?.sort(order)?;
    let limited = match query.limit {
        Some(n) => ordered.limit(0, Some(n))?,
        None => ordered,
    };
    Ok(limited.select(
        shape
            .fields()
            .iter()
            .map(|f| col(f.name.as_str()))
            .collect::<Vec<_>>(),
    )?)
}

/// The response columns of SPEC §4 under their final names, plus what the sort needs, and
/// the sort: `timestamp`, then `event_id`.
fn presort_columns(
    shape: Shape,
    goal_names: BTreeMap<String, String>,
    time_alone: bool,
) -> (Vec<Expr>, Vec<SortExpr>) {
    let wire = |column: &str, name: &str| -> Expr {
        match event_column(column).map(|c| c.kind) {
            Some(ColumnKind::String) => cast(col(column), DataType::Utf8).alias(name),
            _ => col(column).alias(name),
        }
    };
    let mut columns: Vec<Expr> = if shape.basic {
        let goal_name = Arc::new(goal_name::GoalName::udf(goal_names));
        BASIC_COLUMNS
            .iter()
            .map(|(name, source)| match source {
                BasicSource::Column(column) => wire(column, name),
                BasicSource::GoalName => goal_name.call(vec![col("label")]).alias(*name),
            })
            .chain((!time_alone).then(|| col("event_id").alias(SORT_EVENT_ID)))
            .collect()
    } else {
        EVENT_COLUMNS
            .iter()
            .map(|c| wire(c.name, c.name))
            .chain([col(ORGANIZATION_ID), col(DATE)])
            .collect()
    };
    if shape.workflow_related {
        columns.push(col(WORKFLOW_RELATED));
    }
    let order = if shape.basic {
        answer_order("time", SORT_EVENT_ID, time_alone)
    } else {
        answer_order("timestamp", "event_id", false)
    };
    (columns, order)
}

/// SPEC §3's order of the answer: time ascending, then event id (not with `time_alone`).
fn answer_order(time: &str, event_id: &str, time_alone: bool) -> Vec<SortExpr> {
    let mut order = vec![col(time).sort(true, false)];
    if !time_alone {
        order.push(col(event_id).sort(true, false));
    }
    order
}
