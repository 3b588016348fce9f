//! The aggregate's state: the first `last_step` path events of each session, kept sorted
//! and checked against the constraints, for many sessions at once (grouped) or for one.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Builder, LargeStringArray,
    ListBuilder, StringArray, StringBuilder, StringViewArray,
};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::*;

/// The first `last_step` path events of each session (group), kept sorted.
#[derive(Debug)]
pub(super) struct Sessions {
    constraints: Arc<Constraints>,
    first_steps: Vec<Kept>,
    /// The bytes of kept steps' event ids, appended as steps are kept.
    ids: Vec<u8>,
    /// Bytes of `ids` that no kept step refers to any more; compacted away when they
    /// are half of it.
    dropped_id_bytes: usize,
    /// Steps held outside their session's inline space, for `size`.
    spilled_steps: usize,
}

impl Sessions {
    pub(super) fn new(constraints: Arc<Constraints>) -> Sessions {
        Sessions {
            constraints,
            first_steps: Vec::new(),
            ids: Vec::new(),
            dropped_id_bytes: 0,
            spilled_steps: 0,
        }
    }

    fn id(ids: &[u8], id: IdRef) -> Option<&[u8]> {
        (id.len != NO_ID).then(|| &ids[id.start as usize..id.start as usize + id.len as usize])
    }

    fn key<'a>(ids: &'a [u8], step: &Step) -> StepKey<'a> {
        match Self::id(ids, step.id) {
            Some(bytes) => (step.timestamp, false, bytes),
            None => (step.timestamp, true, &[]),
        }
    }

    /// Keeps a path event of `group` if it is among the group's first `last_step`. Only a
    /// kept event costs anything beyond a comparison: its id is appended to the arena and
    /// its action becomes a code. `action` is `None` for one no constraint names (as
    /// partial states carry it).
    fn offer(
        &mut self,
        group: usize,
        timestamp: i64,
        event_id: Option<&str>,
        action: Option<&str>,
    ) {
        let last_step = self.constraints.last_step;
        let key: StepKey<'_> = (
            timestamp,
            event_id.is_none(),
            event_id.map_or(&[][..], str::as_bytes),
        );
        let kept = &self.first_steps[group];
        if kept.len() == last_step
            && kept
                .last()
                .is_some_and(|last| key >= Self::key(&self.ids, last))
        {
            return;
        }
        let at = kept.partition_point(|s| Self::key(&self.ids, s) < key);
        if event_id.is_some_and(|text| self.ids.len() + text.len() >= NO_ID as usize) {
            self.compact();
        }
        let id = match event_id {
            Some(text) => {
                let start = self.ids.len() as u32;
                self.ids.extend_from_slice(text.as_bytes());
                IdRef {
                    start,
                    len: text.len() as u32,
                }
            }
            None => IdRef {
                start: 0,
                len: NO_ID,
            },
        };
        let step = Step {
            timestamp,
            id,
            action: action.map_or(OTHER, |a| self.constraints.code(a)),
        };
        let kept = &mut self.first_steps[group];
        let was_spilled = kept.spilled();
        kept.insert(at, step);
        if kept.len() > last_step
            && let Some(dropped) = kept.pop()
            && dropped.id.len != NO_ID
        {
            self.dropped_id_bytes += dropped.id.len as usize;
        }
        if kept.spilled() && !was_spilled {
            self.spilled_steps += kept.capacity();
        }
        if self.dropped_id_bytes > 1 << 16 && self.dropped_id_bytes > self.ids.len() / 2 {
            self.compact();
        }
    }

    /// Rewrites the arena with only the ids of kept steps.
    fn compact(&mut self) {
        let mut ids = Vec::with_capacity(self.ids.len().saturating_sub(self.dropped_id_bytes));
        for step in self.first_steps.iter_mut().flatten() {
            if let Some(bytes) = Self::id(&self.ids, step.id) {
                step.id = IdRef {
                    start: ids.len() as u32,
                    len: bytes.len() as u32,
                };
                ids.extend_from_slice(bytes);
            }
        }
        self.ids = ids;
        self.dropped_id_bytes = 0;
    }

    /// Accounts for `groups`, just taken out: their ids are garbage now, and the arena is
    /// emptied once no group is left.
    fn forget(&mut self, groups: &[Kept]) {
        self.dropped_id_bytes += groups
            .iter()
            .flatten()
            .filter(|s| s.id.len != NO_ID)
            .map(|s| s.id.len as usize)
            .sum::<usize>();
        let spilled: usize = groups
            .iter()
            .filter(|k| k.spilled())
            .map(|k| k.capacity())
            .sum();
        self.spilled_steps = self.spilled_steps.saturating_sub(spilled);
        if self.first_steps.is_empty() {
            self.ids.clear();
            self.dropped_id_bytes = 0;
        }
    }

    fn matches(&self, kept: &[Step]) -> bool {
        self.constraints.matches(kept)
    }

    fn grow(&mut self, total_num_groups: usize) {
        if self.first_steps.len() < total_num_groups {
            self.first_steps.resize_with(total_num_groups, Kept::new);
        }
    }

    /// The partial state of `groups`: three list columns, one element per kept step; an
    /// action no constraint names is a null.
    fn state_arrays(&self, groups: &[Kept]) -> Vec<ArrayRef> {
        let mut timestamps = ListBuilder::new(Int64Builder::new());
        let mut event_ids = ListBuilder::new(StringBuilder::new());
        let mut actions = ListBuilder::new(StringBuilder::new());
        for kept in groups {
            for step in kept {
                timestamps.values().append_value(step.timestamp);
                // The arena holds whole ids copied from `&str`s: valid UTF-8.
                event_ids
                    .values()
                    .append_option(Self::id(&self.ids, step.id).map(String::from_utf8_lossy));
                actions
                    .values()
                    .append_option(self.constraints.action(step.action));
            }
            timestamps.append(true);
            event_ids.append(true);
            actions.append(true);
        }
        vec![
            Arc::new(timestamps.finish()),
            Arc::new(event_ids.finish()),
            Arc::new(actions.finish()),
        ]
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
            if !selected || !on_path.is_valid(row) || !on_path.value(row) || timestamps.is_null(row)
            {
                continue;
            }
            let Some(action) = actions.get(row) else {
                continue;
            };
            self.offer(
                group,
                timestamps.value(row),
                event_ids.get(row),
                Some(action),
            );
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.first_steps);
        let mut out = BooleanBuilder::with_capacity(groups.len());
        for kept in &groups {
            out.append_value(self.matches(kept));
        }
        self.forget(&groups);
        Ok(Arc::new(out.finish()))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.first_steps);
        let state = self.state_arrays(&groups);
        self.forget(&groups);
        Ok(state)
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        let [timestamps, event_ids, actions] = values else {
            return exec_err!("path_matches state has 3 columns, got {}", values.len());
        };
        let (timestamps, event_ids, actions) = (
            timestamps.as_list::<i32>(),
            event_ids.as_list::<i32>(),
            actions.as_list::<i32>(),
        );
        for (row, &group) in group_indices.iter().enumerate() {
            if timestamps.is_null(row) {
                continue;
            }
            let (ts, ids, acts) = (
                timestamps.value(row),
                event_ids.value(row),
                actions.value(row),
            );
            let (ts, ids, acts) = (
                ts.as_primitive::<Int64Type>(),
                ids.as_string::<i32>(),
                acts.as_string::<i32>(),
            );
            for i in 0..ts.len() {
                self.offer(
                    group,
                    ts.value(i),
                    ids.is_valid(i).then(|| ids.value(i)),
                    acts.is_valid(i).then(|| acts.value(i)),
                );
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row on its own: a state of at most one step.
        let rows = values.first().map_or(0, |v| v.len());
        let mut alone = Sessions::new(Arc::clone(&self.constraints));
        let groups: Vec<usize> = (0..rows).collect();
        alone.update_batch(values, &groups, opt_filter, rows)?;
        Ok(alone.state_arrays(&alone.first_steps))
    }

    fn size(&self) -> usize {
        self.first_steps.capacity() * std::mem::size_of::<Kept>()
            + self.spilled_steps * std::mem::size_of::<Step>()
            + self.ids.capacity()
    }
}

/// The same logic for a single group, for aggregates without GROUP BY.
#[derive(Debug)]
pub(super) struct SingleSession {
    pub(super) groups: Sessions,
}

impl Accumulator for SingleSession {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.groups.update_batch(values, &vec![0; rows], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.groups.grow(1);
        Ok(ScalarValue::Boolean(Some(
            self.groups.matches(&self.groups.first_steps[0]),
        )))
    }

    fn size(&self) -> usize {
        self.groups.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.groups.grow(1);
        let state = self.groups.state_arrays(&self.groups.first_steps[..1]);
        state
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
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
#[path = "tests.rs"]
mod tests;
