//! `path_matches(on_path, timestamp, event_id, action)`: per session, whether its path
//! matches `step_data` (SPEC §3). Step *k* is the *k*-th path event in (`timestamp`,
//! `event_id`) order. An aggregate that keeps, per session, only the first `last_step`
//! path events replaces sorting every workflow event and numbering it with a window
//! function: one pass, no sort, memory per session bounded by the number of steps.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, LargeStringArray, ListBuilder, StringArray,
    StringBuilder, StringViewArray,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility};

use crate::query::StepConstraint;

/// One path event: its order key and its action.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    timestamp: i64,
    event_id: Option<String>,
    action: String,
}

/// The order of path events: time, then event id, a missing id last (`ASC NULLS LAST`).
type StepKey<'a> = (i64, bool, &'a str);

impl Step {
    fn key(&self) -> StepKey<'_> {
        (self.timestamp, self.event_id.is_none(), self.event_id.as_deref().unwrap_or(""))
    }
}

/// For each constrained step (from 1), the actions it may have.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Constraints {
    steps: Vec<(usize, BTreeSet<String>)>,
    /// The highest constrained step: how many path events a session needs to keep.
    last_step: usize,
}

impl Constraints {
    fn new(steps: &[StepConstraint]) -> Constraints {
        let steps: Vec<(usize, BTreeSet<String>)> = steps.iter().map(|s| (s.index, s.actions.iter().cloned().collect())).collect();
        let last_step = steps.iter().map(|(k, _)| *k).max().unwrap_or(0);
        Constraints { steps, last_step }
    }

    /// Whether a session whose first path events are `kept` matches.
    fn matches(&self, kept: &[Step]) -> bool {
        self.steps.iter().all(|(k, actions)| kept.get(k - 1).is_some_and(|step| actions.contains(&step.action)))
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
        AggregateUDF::new_from_impl(PathMatches { constraints, signature: Signature::any(4, Volatility::Immutable) })
    }

    /// The step constraints this aggregate checks (what a plan sent to a cluster carries).
    pub fn steps(&self) -> Vec<StepConstraint> {
        self.constraints.steps.iter().map(|(index, actions)| StepConstraint { index: *index, actions: actions.iter().cloned().collect() }).collect()
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
        Ok(Box::new(SingleSession { groups: Sessions::new(Arc::clone(&self.constraints)) }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, item: DataType| {
            Arc::new(Field::new(format!("{}[{name}]", args.name), DataType::new_list(item, true), true))
        };
        Ok(vec![list("timestamps", DataType::Int64), list("event_ids", DataType::Utf8), list("actions", DataType::Utf8)])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Sessions::new(Arc::clone(&self.constraints))))
    }
}

/// The first `last_step` path events of each session (group), kept sorted.
#[derive(Debug)]
struct Sessions {
    constraints: Arc<Constraints>,
    first_steps: Vec<Vec<Step>>,
    /// Bytes held by the kept steps, for `size` (which must not walk every group).
    held_bytes: usize,
}

impl Sessions {
    fn new(constraints: Arc<Constraints>) -> Sessions {
        Sessions { constraints, first_steps: Vec::new(), held_bytes: 0 }
    }

    /// Keeps a path event of `group` if it is among the group's first `last_step`; strings
    /// are copied only then, so the many later events of a session cost no allocation.
    fn offer(&mut self, group: usize, timestamp: i64, event_id: Option<&str>, action: &str) {
        let last_step = self.constraints.last_step;
        let kept = &mut self.first_steps[group];
        let key: StepKey<'_> = (timestamp, event_id.is_none(), event_id.unwrap_or(""));
        if kept.len() == last_step && kept.last().is_some_and(|last| key >= last.key()) {
            return;
        }
        let at = kept.partition_point(|s| s.key() < key);
        let step = Step { timestamp, event_id: event_id.map(str::to_string), action: action.to_string() };
        self.held_bytes += step_bytes(&step);
        kept.insert(at, step);
        if kept.len() > last_step
            && let Some(dropped) = kept.pop()
        {
            self.held_bytes -= step_bytes(&dropped);
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Step>> {
        let taken = emit_to.take_needed(&mut self.first_steps);
        self.held_bytes -= taken.iter().flatten().map(step_bytes).sum::<usize>();
        taken
    }

    fn matches(&self, kept: &[Step]) -> bool {
        self.constraints.matches(kept)
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.first_steps.len() < total_num_groups {
            self.first_steps.resize_with(total_num_groups, Vec::new);
        }
    }
}

impl GroupsAccumulator for Sessions {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let [on_path, timestamps, event_ids, actions] = values else {
            return exec_err!("path_matches takes 4 arguments, got {}", values.len());
        };
        let on_path = on_path.as_boolean();
        let timestamps = timestamps.as_primitive::<TimestampMicrosecondType>();
        let (event_ids, actions) = (Strings::of(event_ids)?, Strings::of(actions)?);
        for (row, &group) in group_indices.iter().enumerate() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if !selected || !on_path.is_valid(row) || !on_path.value(row) || timestamps.is_null(row) {
                continue;
            }
            let Some(action) = actions.get(row) else { continue };
            self.offer(group, timestamps.value(row), event_ids.get(row), action);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = self.take(emit_to);
        let mut out = BooleanBuilder::with_capacity(groups.len());
        for kept in &groups {
            out.append_value(self.matches(kept));
        }
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = self.take(emit_to);
        Ok(state_arrays(&groups))
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        let [timestamps, event_ids, actions] = values else {
            return exec_err!("path_matches state has 3 columns, got {}", values.len());
        };
        let (timestamps, event_ids, actions) = (timestamps.as_list::<i32>(), event_ids.as_list::<i32>(), actions.as_list::<i32>());
        for (row, &group) in group_indices.iter().enumerate() {
            if timestamps.is_null(row) {
                continue;
            }
            let (ts, ids, acts) = (timestamps.value(row), event_ids.value(row), actions.value(row));
            let (ts, ids, acts) = (ts.as_primitive::<Int64Type>(), ids.as_string::<i32>(), acts.as_string::<i32>());
            for i in 0..ts.len() {
                self.offer(group, ts.value(i), ids.is_valid(i).then(|| ids.value(i)), acts.value(i));
            }
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a state of at most one step.
        let rows = values.first().map_or(0, |v| v.len());
        let mut alone = Sessions::new(Arc::clone(&self.constraints));
        let groups: Vec<usize> = (0..rows).collect();
        alone.update_batch(values, &groups, opt_filter, rows)?;
        Ok(state_arrays(&alone.first_steps))
    }

    fn size(&self) -> usize {
        self.first_steps.capacity() * std::mem::size_of::<Vec<Step>>() + self.held_bytes
    }
}

fn step_bytes(step: &Step) -> usize {
    std::mem::size_of::<Step>() + step.event_id.as_ref().map_or(0, String::len) + step.action.len()
}

/// The partial state of groups: three list columns, one element per kept step.
fn state_arrays(groups: &[Vec<Step>]) -> Vec<ArrayRef> {
    let mut timestamps = ListBuilder::new(Int64Builder::new());
    let mut event_ids = ListBuilder::new(StringBuilder::new());
    let mut actions = ListBuilder::new(StringBuilder::new());
    for kept in groups {
        for step in kept {
            timestamps.values().append_value(step.timestamp);
            event_ids.values().append_option(step.event_id.as_deref());
            actions.values().append_value(&step.action);
        }
        timestamps.append(true);
        event_ids.append(true);
        actions.append(true);
    }
    vec![Arc::new(timestamps.finish()), Arc::new(event_ids.finish()), Arc::new(actions.finish())]
}

/// The same logic for a single group, for aggregates without GROUP BY.
#[derive(Debug)]
struct SingleSession {
    groups: Sessions,
}

impl Accumulator for SingleSession {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.groups.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.groups.grow(1);
        Ok(ScalarValue::Boolean(Some(self.groups.matches(&self.groups.first_steps[0]))))
    }

    fn size(&self) -> usize {
        self.groups.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.groups.grow(1);
        let kept = self.groups.first_steps[0].clone();
        let state = self.groups.state(EmitTo::All)?;
        self.groups.first_steps = vec![kept];
        state.iter().map(|array| ScalarValue::try_from_array(array, 0)).collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let rows = states.first().map_or(0, |v| v.len());
        self.groups.merge_batch(states, &vec![0; rows], 1)
    }
}

/// A string column in any of Arrow's string layouts.
enum Strings<'a> {
    View(&'a StringViewArray),
    Plain(&'a StringArray),
    Large(&'a LargeStringArray),
}

impl<'a> Strings<'a> {
    fn of(array: &'a ArrayRef) -> Result<Strings<'a>> {
        Ok(match array.data_type() {
            DataType::Utf8View => Strings::View(array.as_string_view()),
            DataType::Utf8 => Strings::Plain(array.as_string::<i32>()),
            DataType::LargeUtf8 => Strings::Large(array.as_string::<i64>()),
            other => return exec_err!("path_matches expects strings, got {other}"),
        })
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Strings::View(a) => a.is_valid(row).then(|| a.value(row)),
            Strings::Plain(a) => a.is_valid(row).then(|| a.value(row)),
            Strings::Large(a) => a.is_valid(row).then(|| a.value(row)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(timestamp: i64, id: &'static str, action: &'static str) -> (i64, Option<&'static str>, &'static str) {
        (timestamp, Some(id), action)
    }

    fn sessions(steps: &[(usize, &[&str])]) -> Sessions {
        let steps: Vec<StepConstraint> =
            steps.iter().map(|(k, a)| StepConstraint { index: *k, actions: a.iter().map(|s| s.to_string()).collect() }).collect();
        Sessions::new(Arc::new(Constraints::new(&steps)))
    }

    #[test]
    fn keeps_the_first_steps_in_time_then_id_order() {
        let mut s = sessions(&[(1, &["a"]), (2, &["b", "c"])]);
        s.grow(1);
        for (timestamp, id, action) in [step(5, "e5", "x"), step(2, "e2", "b"), step(1, "e9", "a"), step(2, "e1", "c")] {
            s.offer(0, timestamp, id, action);
        }
        // Order: (1,e9,a), (2,e1,c), (2,e2,b), (5,e5,x) → steps 1 and 2 are a and c.
        assert_eq!(s.first_steps[0].iter().map(|s| s.action.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert!(s.matches(&s.first_steps[0]));
        let mut missing = sessions(&[(3, &["a"])]);
        missing.grow(1);
        missing.offer(0, 1, Some("e"), "a");
        assert!(!missing.matches(&missing.first_steps[0]), "step 3 does not exist");
    }

    #[test]
    fn partial_states_merge_into_the_same_answer() {
        let mut left = sessions(&[(1, &["a"]), (2, &["b"])]);
        left.grow(1);
        left.offer(0, 3, Some("e3"), "b");
        let state = left.state(EmitTo::All).unwrap();
        let mut right = sessions(&[(1, &["a"]), (2, &["b"])]);
        right.grow(1);
        right.offer(0, 1, Some("e1"), "a");
        right.offer(0, 9, Some("e9"), "z");
        right.merge_batch(&state, &[0], 1).unwrap();
        let answer = right.evaluate(EmitTo::All).unwrap();
        assert!(answer.as_boolean().value(0));
    }

    #[test]
    fn rows_converted_to_states_merge_like_rows_aggregated() {
        use datafusion::arrow::array::{BooleanArray, StringArray, TimestampMicrosecondArray};
        let values: Vec<ArrayRef> = vec![
            Arc::new(BooleanArray::from(vec![true, false, true, true])),
            Arc::new(TimestampMicrosecondArray::from(vec![5, 1, 2, 3]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![Some("e5"), Some("e1"), None, Some("e3")])),
            Arc::new(StringArray::from(vec!["z", "skip", "a", "b"])),
        ];
        let constraints = sessions(&[(1, &["a"]), (2, &["b"])]);
        let states = constraints.convert_to_state(&values, None).unwrap();
        let mut merged = sessions(&[(1, &["a"]), (2, &["b"])]);
        merged.merge_batch(&states, &[0, 0, 0, 0], 1).unwrap();
        let mut direct = sessions(&[(1, &["a"]), (2, &["b"])]);
        direct.update_batch(&values, &[0, 0, 0, 0], None, 1).unwrap();
        assert_eq!(merged.first_steps, direct.first_steps);
        assert!(merged.evaluate(EmitTo::All).unwrap().as_boolean().value(0), "steps a then b; the off-path row is ignored");
        assert_eq!(merged.size(), std::mem::size_of::<Vec<Step>>() * merged.first_steps.capacity());
    }
}
