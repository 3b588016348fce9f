//! Payload → Query: the one place where a request is validated (SPEC §2). Everything after
//! this module works with typed values and never re-checks input.

pub mod filter;
pub mod interval;
pub mod payload;
pub mod shape;

use uuid::Uuid;

pub use filter::{Filter, FilterProperty, Match};
pub use interval::Interval;
pub use payload::Payload;

use crate::error::{Error, Result};

/// The largest `limit`: DataFusion's limits are signed 64-bit.
pub const MAX_LIMIT: u64 = i64::MAX as u64;

/// The most steps `step_data` may describe after the source step: each session keeps its
/// first path events up to the last constrained step, so this bounds that memory.
pub const MAX_STEPS: usize = 1000;

/// Which goal events the response holds (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
pub enum Target {
    /// Goal events of matching sessions at or after the session's entry.
    AffectedGoal,
    /// All goal events, each with `workflow_related`.
    AffectedGoalTotal,
}

/// A step of the session path constrained by `step_data`: step `index` (from 1) must exist
/// and its action must be one of `actions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepConstraint {
    pub index: usize,
    pub actions: Vec<String>,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub organization_id: Uuid,
    pub workflow_id: Uuid,
    pub filters: Vec<Filter>,
    /// Only the constrained steps, in increasing index; empty means every session matches.
    pub steps: Vec<StepConstraint>,
    pub interval: Interval,
    pub limit: Option<usize>,
    pub target: Target,
    pub basic: bool,
}

impl Query {
    /// Validates URL attributes and payload, in the order of SPEC §5: URL attributes (400),
    /// payload JSON and shape (400), filter properties (406).
    pub fn from_request(organization_id: &str, workflow_id: &str, payload: &[u8]) -> Result<Query> {
        let organization_id = parse_uuid("organization_id", organization_id)?;
        let workflow_id = parse_uuid("workflow_id", workflow_id)?;
        let payload = Payload::from_json(payload).map_err(Error::bad_request)?;

        for (i, f) in payload.filters.iter().enumerate() {
            if f.values.is_empty() {
                return Err(Error::bad_request(format!(
                    "filters[{i}].values must not be empty"
                )));
            }
        }
        let interval = Interval::parse(
            &payload.interval.start,
            &payload.interval.end,
            payload.interval.time_zone.as_deref(),
        )
        .map_err(Error::bad_request)?;
        let limit = match payload.limit {
            None => None,
            Some(0) => return Err(Error::bad_request("limit must be an integer ≥ 1, got 0")),
            Some(n) if n > MAX_LIMIT => {
                return Err(Error::bad_request(format!(
                    "limit {n} is too large; the largest accepted is {MAX_LIMIT} (omit limit for all rows)"
                )));
            }
            Some(n) => Some(usize::try_from(n).map_err(|_| {
                Error::bad_request(format!("limit {n} is too large for this machine"))
            })?),
        };
        let target = match payload.target.as_deref() {
            None | Some("affected_goal") => Target::AffectedGoal,
            Some("affected_goal_total") => Target::AffectedGoalTotal,
            Some(other) => {
                return Err(Error::bad_request(format!(
                    "target '{other}' is not valid; accepted: affected_goal, affected_goal_total"
                )));
            }
        };
        let step_data = payload.step_data.unwrap_or_default();
        if step_data.len() > MAX_STEPS + 1 {
            return Err(Error::bad_request(format!(
                "step_data has {} elements; at most {} are accepted (the source step and {MAX_STEPS} steps)",
                step_data.len(),
                MAX_STEPS + 1
            )));
        }
        let steps = step_data
            .into_iter()
            .enumerate()
            .skip(1) // element 0 is the source step
            .filter_map(|(index, step)| match step.actions {
                Some(actions) if !actions.is_empty() => Some(StepConstraint { index, actions }),
                _ => None,
            })
            .collect();

        let filters = payload
            .filters
            .into_iter()
            .map(|f| match FilterProperty::parse(&f.property) {
                Some(property) => Ok(Filter {
                    property,
                    values: f.values,
                }),
                None => Err(Error::UnsupportedFilter {
                    property: f.property,
                    supported: FilterProperty::supported_list(),
                }),
            })
            .collect::<Result<Vec<_>>>()?;

        Ok(Query {
            organization_id,
            workflow_id,
            filters,
            steps,
            interval,
            limit,
            target,
            basic: payload.basic.unwrap_or(false),
        })
    }
}

/// A hyphenated UUID in any case; other spellings (braces, URN, no hyphens) are refused.
fn parse_uuid(name: &str, text: &str) -> Result<Uuid> {
    let hyphenated = text.len() == 36 && text.as_bytes().get(8) == Some(&b'-');
    match Uuid::try_parse(text) {
        Ok(id) if hyphenated => Ok(id),
        _ => Err(Error::bad_request(format!(
            "{name} '{text}' is not a hyphenated UUID"
        ))),
    }
}
