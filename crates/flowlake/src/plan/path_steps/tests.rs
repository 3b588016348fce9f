//! Unit tests of `path_matches` (`path_steps.rs`).

use super::*;

fn step(
    timestamp: i64,
    id: &'static str,
    action: &'static str,
) -> (i64, Option<&'static str>, &'static str) {
    (timestamp, Some(id), action)
}

fn sessions(steps: &[(usize, &[&str])]) -> Sessions {
    let steps: Vec<StepConstraint> = steps
        .iter()
        .map(|(k, a)| StepConstraint {
            index: *k,
            actions: a.iter().map(|s| s.to_string()).collect(),
        })
        .collect();
    Sessions::new(Arc::new(Constraints::new(&steps)))
}

/// The kept steps of `group` as (timestamp, id, action), `None` for an unnamed action.
fn kept(s: &Sessions, group: usize) -> Vec<(i64, Option<String>, Option<String>)> {
    s.first_steps[group]
        .iter()
        .map(|step| {
            let id = Sessions::id(&s.ids, step.id).map(|b| String::from_utf8(b.to_vec()).unwrap());
            (
                step.timestamp,
                id,
                s.constraints.action(step.action).map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn keeps_the_first_steps_in_time_then_id_order() {
    let mut s = sessions(&[(1, &["a"]), (2, &["b", "c"])]);
    s.grow(1);
    for (timestamp, id, action) in [
        step(5, "e5", "x"),
        step(2, "e2", "b"),
        step(1, "e9", "a"),
        step(2, "e1", "c"),
    ] {
        s.offer(0, timestamp, id, Some(action));
    }
    // Order: (1,e9,a), (2,e1,c), (2,e2,b), (5,e5,x) → steps 1 and 2 are a and c.
    let actions: Vec<Option<String>> = kept(&s, 0).into_iter().map(|(_, _, a)| a).collect();
    assert_eq!(actions, [Some("a".to_string()), Some("c".to_string())]);
    assert!(s.matches(&s.first_steps[0]));
    let mut missing = sessions(&[(3, &["a"])]);
    missing.grow(1);
    missing.offer(0, 1, Some("e"), Some("a"));
    assert!(
        !missing.matches(&missing.first_steps[0]),
        "step 3 does not exist"
    );
}

#[test]
fn an_action_no_constraint_names_holds_its_place_and_fails() {
    let mut s = sessions(&[(1, &["a"]), (2, &["b"])]);
    s.grow(2);
    // Session 0: an unnamed action first pushes `a` to step 2, where `b` is needed.
    s.offer(0, 2, Some("e2"), Some("a"));
    s.offer(0, 1, Some("e1"), Some("unnamed"));
    assert!(!s.matches(&s.first_steps[0]));
    // Its state says null for it, and merging the state keeps the same answer.
    let state = s.state(EmitTo::First(1)).unwrap();
    assert!(
        state[2].as_list::<i32>().value(0).is_null(0),
        "an unnamed action travels as null"
    );
    let mut merged = sessions(&[(1, &["a"]), (2, &["b"])]);
    merged.merge_batch(&state, &[0], 1).unwrap();
    assert_eq!(
        kept(&merged, 0),
        [
            (1, Some("e1".into()), None),
            (2, Some("e2".into()), Some("a".into()))
        ]
    );
    assert!(!merged.matches(&merged.first_steps[0]));
}

#[test]
fn the_id_arena_is_compacted_and_keeps_the_right_ids() {
    let mut s = sessions(&[(1, &["a"]), (2, &["b"])]);
    s.grow(1);
    // Events in falling time order: every one displaces a kept step.
    for t in (0..20_000i64).rev() {
        let id = format!("event-{t:08}");
        s.offer(0, t, Some(&id), Some(if t == 0 { "a" } else { "b" }));
    }
    assert_eq!(
        kept(&s, 0),
        [
            (0, Some("event-00000000".into()), Some("a".into())),
            (1, Some("event-00000001".into()), Some("b".into()))
        ]
    );
    assert!(s.matches(&s.first_steps[0]));
    assert!(
        s.ids.len() < 1 << 18,
        "the arena holds {} bytes for 2 kept ids",
        s.ids.len()
    );
}

#[test]
fn partial_states_merge_into_the_same_answer() {
    let mut left = sessions(&[(1, &["a"]), (2, &["b"])]);
    left.grow(1);
    left.offer(0, 3, Some("e3"), Some("b"));
    let state = left.state(EmitTo::All).unwrap();
    let mut right = sessions(&[(1, &["a"]), (2, &["b"])]);
    right.grow(1);
    right.offer(0, 1, Some("e1"), Some("a"));
    right.offer(0, 9, Some("e9"), Some("z"));
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
        Arc::new(StringArray::from(vec![
            Some("e5"),
            Some("e1"),
            None,
            Some("e3"),
        ])),
        Arc::new(StringArray::from(vec!["z", "skip", "a", "b"])),
    ];
    let constraints = sessions(&[(1, &["a"]), (2, &["b"])]);
    let states = constraints.convert_to_state(&values, None).unwrap();
    let mut merged = sessions(&[(1, &["a"]), (2, &["b"])]);
    merged.merge_batch(&states, &[0, 0, 0, 0], 1).unwrap();
    let mut direct = sessions(&[(1, &["a"]), (2, &["b"])]);
    direct
        .update_batch(&values, &[0, 0, 0, 0], None, 1)
        .unwrap();
    assert_eq!(kept(&merged, 0), kept(&direct, 0));
    assert!(
        merged.evaluate(EmitTo::All).unwrap().as_boolean().value(0),
        "steps a then b; the off-path row is ignored"
    );
    assert_eq!(
        merged.size(),
        std::mem::size_of::<Kept>() * merged.first_steps.capacity() + merged.ids.capacity()
    );
}

#[test]
fn constraints_travel_as_given() {
    let given = vec![
        StepConstraint {
            index: 2,
            actions: vec!["b".into(), "a".into()],
        },
        StepConstraint {
            index: 1,
            actions: vec!["c".into()],
        },
    ];
    let back = Constraints::new(&given).step_constraints();
    assert_eq!(back.len(), 2);
    assert_eq!(
        (back[0].index, back[0].actions.clone()),
        (2, vec!["a".to_string(), "b".to_string()])
    );
    assert_eq!(
        (back[1].index, back[1].actions.clone()),
        (1, vec!["c".to_string()])
    );
}
