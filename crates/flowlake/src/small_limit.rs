//! How the engine answers a query: the whole interval in one plan, or — for a `limit` of
//! at most [`COLLECTED_MAX_LIMIT`] rows, answered here — two strategies that read less.
//!
//! - **First days.** The answer is the first `limit` goal events in time order, and every
//!   event lives in the folder of its UTC date: when the goal events of the interval's
//!   first days already give `limit` rows, no later goal event can be among them. At most
//!   two tries, each over at most half of the days, before the whole interval.
//! - **Time order, then ties.** A basic answer does not show event ids, which only order
//!   goal events of the same instant: it is first taken in time order without reading
//!   them (one row more than the limit, to see a tie at the cut), then tied rows are
//!   ordered by their ids, read for those few events only (`plan::time_order`).
//!
//! Each plan that runs is recorded in the answer's [`PlanRun`]s, so `explain --analyze`
//! shows every try and metrics count what every try read.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use crate::error::Result;
use crate::lake::WorkflowKind;
use crate::output::{PlanRun, ResponseStream};
use crate::plan::time_order::{self, Ties};
use crate::plan::{self, FirstDays, Prepared, Reading};
use crate::query::{Query, Target};
use crate::runner::PlanRunner;

/// Queries with a limit above this are not tried on their first days first, nor ordered by
/// time alone: either collects the answer before it is sent.
pub const COLLECTED_MAX_LIMIT: usize = 10_000;

/// The first plan a strategy runs (what `explain` shows without running anything).
pub(crate) struct FirstRun {
    pub(crate) step: String,
    pub(crate) reading: Reading,
    pub(crate) query: Query,
}

/// What the strategies run plans with: an engine's context, runner and memory setting.
pub(crate) struct Answers<'a> {
    pub(crate) ctx: &'a SessionContext,
    pub(crate) runner: &'a Arc<dyn PlanRunner>,
    pub(crate) memory_limited: bool,
}

impl Answers<'_> {
    /// The answer of a prepared query, up to its first batch.
    pub(crate) async fn answer(
        &self,
        prepared: &Prepared,
        query: &Query,
    ) -> Result<ResponseStream> {
        let mut runs = Vec::new();
        if let Some(answer) = self
            .answer_from_first_days(prepared, query, &mut runs)
            .await?
        {
            return Ok(answer);
        }
        if self.collects(query) {
            let (schema, batches) = self.collected(prepared, query, None, &mut runs).await?;
            return Ok(ResponseStream::of_batches(
                plan::shape_of(query),
                runs,
                schema,
                batches,
            ));
        }
        self.run_reading(prepared, Reading::default(), query, runs)
            .await
    }

    /// How the answer of `query` is sought, in words.
    pub(crate) fn strategy(&self, prepared: &Prepared, query: &Query) -> String {
        let days = prepared.events.days().len();
        let mut text = String::new();
        if self.tries_first_days(prepared, query) && days >= 2 {
            text.push_str(&format!(
                "first days: the goal events of the first day of {days}, then (if they give fewer than {} rows) of more days, at most twice; then the whole interval\n",
                query.limit.unwrap_or_default()
            ));
        } else {
            text.push_str(&format!("the whole interval ({days} days)\n"));
        }
        if self.collects(query) {
            text.push_str("time order, then ties: rows in time order without event ids, one more than the limit; goal events at tied instants read again for their ids\n");
        }
        text.trim_end().to_string()
    }

    /// The first plan the strategy of `query` runs.
    pub(crate) fn first_run(&self, prepared: &Prepared, query: &Query) -> FirstRun {
        let days = prepared.events.days();
        let first_days =
            (self.tries_first_days(prepared, query) && days.len() >= 2).then(|| FirstDays {
                events: prepared.events.through_day(days[0]),
                workflow_too: !self.constrained(prepared, query),
            });
        let reading = Reading {
            first_days,
            time_alone: self.collects(query),
        };
        let query = match (reading.time_alone, query.limit) {
            (true, Some(limit)) => Query {
                limit: Some(limit + 1),
                ..query.clone()
            },
            _ => query.clone(),
        };
        FirstRun {
            step: describe(prepared, &reading),
            reading,
            query,
        }
    }

    /// Whether a basic answer with a small limit is collected in time order, ties after.
    fn collects(&self, query: &Query) -> bool {
        query.basic
            && query.limit.is_some_and(|n| n <= COLLECTED_MAX_LIMIT)
            && !self.runner.is_remote()
    }

    /// Whether the session's path may go on after its goal (step constraints on a workflow
    /// whose events are not the goals themselves).
    fn constrained(&self, prepared: &Prepared, query: &Query) -> bool {
        !query.steps.is_empty() && !matches!(prepared.workflow.kind, WorkflowKind::UserGenerated)
    }

    /// Whether the first days are tried. Without step constraints, whether a goal at time
    /// *t* is affected (or workflow-related) depends only on workflow events up to *t*, so
    /// both sides are cut. With step constraints the workflow side reads the whole interval
    /// and only unfiltered `affected_goal` queries try (their goal events usually fill a
    /// small limit from one day; a failed try costs a workflow scan).
    fn tries_first_days(&self, prepared: &Prepared, query: &Query) -> bool {
        query.limit.is_some_and(|n| n <= COLLECTED_MAX_LIMIT)
            && (!self.constrained(prepared, query)
                || query.target == Target::AffectedGoal && query.filters.is_empty())
    }

    /// The answer of a query with a small limit, read from the interval's first days
    /// only, when those hold enough rows.
    async fn answer_from_first_days(
        &self,
        prepared: &Prepared,
        query: &Query,
        runs: &mut Vec<PlanRun>,
    ) -> Result<Option<ResponseStream>> {
        let Some(limit) = query
            .limit
            .filter(|_| self.tries_first_days(prepared, query))
        else {
            return Ok(None);
        };
        let days = prepared.events.days();
        let mut first_days = 1;
        for _ in 0..2 {
            if first_days * 2 > days.len() {
                break;
            }
            let cut = FirstDays {
                events: prepared.events.through_day(days[first_days - 1]),
                workflow_too: !self.constrained(prepared, query),
            };
            let (schema, batches) = self.collected(prepared, query, Some(cut), runs).await?;
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            if rows >= limit {
                let runs = std::mem::take(runs);
                return Ok(Some(ResponseStream::of_batches(
                    plan::shape_of(query),
                    runs,
                    schema,
                    batches,
                )));
            }
            if rows == 0 {
                break;
            }
            // Rows came at about rows / first_days a day: ask for half as many days again
            // as that predicts are needed.
            first_days = (first_days * limit)
                .div_ceil(rows)
                .saturating_mul(3)
                .div_ceil(2)
                .max(first_days * 2);
        }
        Ok(None)
    }

    /// The whole answer of a query with a small `limit` over `first_days` (all days when
    /// `None`), collected: in time order then ties when basic, else in one plan.
    async fn collected(
        &self,
        prepared: &Prepared,
        query: &Query,
        first_days: Option<FirstDays>,
        runs: &mut Vec<PlanRun>,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        if let (true, Some(limit)) = (self.collects(query), query.limit) {
            let one_more = Query {
                limit: Some(limit + 1),
                ..query.clone()
            };
            let reading = Reading {
                first_days: first_days.clone(),
                time_alone: true,
            };
            let answer = self
                .run_reading(prepared, reading, &one_more, Vec::new())
                .await?;
            runs.extend(answer.runs);
            let schema = answer.batches.schema();
            let batches: Vec<RecordBatch> = answer.batches.try_collect().await?;
            let rows = datafusion::arrow::compute::concat_batches(&schema, &batches)
                .map_err(datafusion::error::DataFusionError::from)?;
            match time_order::ties_of(&rows, limit)? {
                // Taken into fresh arrays: a slice would carry its parent's bits past its
                // end into the Arrow encoding, and answers are the same bytes everywhere.
                Ties::None => return Ok((schema, vec![time_order::first_rows(&rows, limit)?])),
                Ties::Inside(groups) => {
                    let times = time_order::tied_times(&rows, &groups)?;
                    let lookup = time_order::goal_events_at(
                        self.ctx,
                        prepared.events.clone(),
                        query,
                        &times,
                    )?;
                    let (plan, stream) = self.runner.execute(lookup).await?;
                    runs.push(PlanRun {
                        step: format!(
                            "goal events at {} tied instants, for their ids",
                            times.len()
                        ),
                        plan,
                    });
                    let events: Vec<RecordBatch> = stream.try_collect().await?;
                    if let Some(ordered) = time_order::order_ties(&rows, limit, &groups, &events)? {
                        return Ok((schema, vec![ordered]));
                    }
                }
                Ties::AtTheCut => {}
            }
            tracing::debug!(target: "flowlake::plan", "the answer's last row ties in time with the next; running again ordered by event id");
        }
        let reading = Reading {
            first_days,
            time_alone: false,
        };
        let answer = self
            .run_reading(prepared, reading, query, Vec::new())
            .await?;
        runs.extend(answer.runs);
        let schema = answer.batches.schema();
        Ok((schema, answer.batches.try_collect().await?))
    }

    /// Runs the plan of `query` read as `reading` up to its first batch (where plans run
    /// elsewhere: starts it), after the plans already run for this answer.
    async fn run_reading(
        &self,
        prepared: &Prepared,
        reading: Reading,
        query: &Query,
        mut runs: Vec<PlanRun>,
    ) -> Result<ResponseStream> {
        let step = describe(prepared, &reading);
        let dataframe = prepared.build(self.ctx, reading, query, self.memory_limited)?;
        let (plan, mut batches) = self.runner.execute(dataframe).await?;
        runs.push(PlanRun { step, plan });
        let shape = plan::shape_of(query);
        if self.runner.is_remote() {
            return Ok(ResponseStream {
                shape,
                batches,
                runs,
            });
        }
        let schema = batches.schema();
        let first = batches.next().await.transpose()?;
        let all = futures::stream::iter(first.map(Ok)).chain(batches);
        Ok(ResponseStream {
            shape,
            batches: Box::pin(RecordBatchStreamAdapter::new(schema, all)),
            runs,
        })
    }
}

/// What a plan read as `reading` reads, in words.
fn describe(prepared: &Prepared, reading: &Reading) -> String {
    let all = prepared.events.days().len();
    let mut text = match &reading.first_days {
        Some(cut) => format!(
            "the goal events of the first {} of {all} days{}",
            cut.events.days().len(),
            if cut.workflow_too {
                ", workflow events too"
            } else {
                ""
            }
        ),
        None => format!("the whole interval ({all} days)"),
    };
    if reading.time_alone {
        text.push_str(", in time order alone");
    }
    text
}

impl ResponseStream {
    /// A response over rows already collected, after `runs`.
    fn of_batches(
        shape: crate::output::Shape,
        runs: Vec<PlanRun>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> ResponseStream {
        let batches = Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        ));
        ResponseStream {
            shape,
            batches,
            runs,
        }
    }
}
