//! `path_matches(on_path, timestamp, event_id, action)`: per session, whether its path
//! matches `step_data` (SPEC §3). Step *k* is the *k*-th path event in (`timestamp`,
//! `event_id`) order. An aggregate that keeps, per session, only the first `last_step`
//! path events replaces sorting every workflow event and numbering it with a window
//! function: one pass, no sort, memory per session bounded by the number of steps.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};
use smallvec::SmallVec;

use crate::query::StepConstraint;
use sessions::{Sessions, SingleSession};

mod sessions;

/// A kept step's action: its index in [`Constraints::actions`], or [`OTHER`] for an action
/// no constraint names (such a step fails every constraint alike).
type ActionCode = u32;
const OTHER: ActionCode = ActionCode::MAX;

/// Where a kept step's event id is in its accumulator's byte arena.
#[derive(Debug, Clone, Copy)]
struct IdRef {
    start: u32,
    /// [`NO_ID`] for a step without an event id.
    len: u32,
}
const NO_ID: u32 = u32::MAX;

/// One kept path event: its order key and its action. Plain data: the id's bytes are in
/// the accumulator's arena, so keeping a step allocates nothing of its own.
#[derive(Debug, Clone, Copy)]
struct Step {
    timestamp: i64,
    id: IdRef,
    action: ActionCode,
}

/// The order of path events: time, then event id, a missing id last (`ASC NULLS LAST`).
type StepKey<'a> = (i64, bool, &'a [u8]);

/// The kept steps of one session. Most queries constrain two or three steps, which fit
/// inline: no allocation per session.
type Kept = SmallVec<[Step; 3]>;

/// For each constrained step (from 1), the actions it may have.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constraints {
    /// Each constrained step with the codes of its allowed actions, sorted.
    steps: Vec<(usize, Vec<ActionCode>)>,
    /// Every action some step allows, sorted: a code is an index in it.
    actions: Vec<String>,
    /// The highest constrained step: how many path events a session needs to keep.
    last_step: usize,
}

impl Constraints {
    fn new(steps: &[StepConstraint]) -> Constraints {
        let actions: Vec<String> = steps
            .iter()
            .flat_map(|s| s.actions.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let steps: Vec<(usize, Vec<ActionCode>)> = steps
            .iter()
            .map(|s| {
                let mut codes: Vec<ActionCode> = s
                    .actions
                    .iter()
                    .filter_map(|a| actions.binary_search(a).ok())
                    .map(|i| i as ActionCode)
                    .collect();
                codes.sort_unstable();
                codes.dedup();
                (s.index, codes)
            })
            .collect();
        let last_step = steps.iter().map(|(k, _)| *k).max().unwrap_or(0);
        Constraints {
            steps,
            actions,
            last_step,
        }
    }

    fn code(&self, action: &str) -> ActionCode {
        self.actions
            .binary_search_by(|a| a.as_str().cmp(action))
            .map_or(OTHER, |i| i as ActionCode)
    }

    /// The action a code stands for (`None` for [`OTHER`]).
    fn action(&self, code: ActionCode) -> Option<&str> {
        self.actions.get(code as usize).map(String::as_str)
    }

    /// Whether a session whose first path events are `kept` matches.
    fn matches(&self, kept: &[Step]) -> bool {
        self.steps.iter().all(|(k, codes)| {
            kept.get(k - 1)
                .is_some_and(|step| codes.binary_search(&step.action).is_ok())
        })
    }

    /// The constraints as given (what a plan sent to a cluster carries).
    fn step_constraints(&self) -> Vec<StepConstraint> {
        self.steps
            .iter()
            .map(|(index, codes)| StepConstraint {
                index: *index,
                actions: codes
                    .iter()
                    .filter_map(|&c| self.action(c))
                    .map(str::to_string)
                    .collect(),
            })
            .collect()
    }
}

/// The aggregate function over one query's constraints.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PathMatches {
    constraints: Arc<Constraints>,
    signature: Signature,
}

impl PathMatches {
    /// The aggregate for these constraints (`steps` must not be empty).
    pub fn udaf(steps: &[StepConstraint]) -> AggregateUDF {
        let constraints = Arc::new(Constraints::new(steps));
        AggregateUDF::new_from_impl(PathMatches {
            constraints,
            signature: Signature::any(4, Volatility::Immutable),
        })
    }

    /// The step constraints this aggregate checks (what a plan sent to a cluster carries).
    pub fn steps(&self) -> Vec<StepConstraint> {
        self.constraints.step_constraints()
    }
}

impl AggregateUDFImpl for PathMatches {
    fn name(&self) -> &str {
        "path_matches"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleSession {
            groups: Sessions::new(Arc::clone(&self.constraints)),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, item: DataType| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::new_list(item, true),
                true,
            ))
        };
        Ok(vec![
            list("timestamps", DataType::Int64),
            list("event_ids", DataType::Utf8),
            list("actions", DataType::Utf8),
        ])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Sessions::new(Arc::clone(&self.constraints))))
    }
}
