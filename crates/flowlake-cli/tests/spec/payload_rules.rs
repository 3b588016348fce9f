//! SPEC §2: the request. Each rule, its status, and a message that names the culprit.

use flowlake::Query;
use proptest::prelude::*;

const ORG: &str = "0A000000-0000-4000-8000-000000000001";
const WF: &str = "1a000000-0000-4000-8000-000000000001";

fn err(payload: &str) -> (u16, String) {
    let e = Query::from_request(ORG, WF, payload.as_bytes()).expect_err("should be refused");
    (e.status(), e.to_string())
}

fn ok(payload: &str) -> Query {
    Query::from_request(ORG, WF, payload.as_bytes()).expect("valid payload")
}

const INTERVAL: &str =
    r#""interval":{"start":"2026-03-01T00:00:00Z","end":"2026-03-02T00:00:00Z"}"#;

#[test]
fn minimal_payload_gets_the_defaults() {
    let q = ok(&format!(r#"{{"filters":[],{INTERVAL}}}"#));
    assert_eq!(q.limit, None);
    assert_eq!(q.target, flowlake::query::Target::AffectedGoal);
    assert!(!q.basic && q.steps.is_empty() && q.filters.is_empty());
    assert_eq!(q.organization_id.to_string(), ORG.to_lowercase());
}

#[test]
fn url_attributes_must_be_hyphenated_uuids() {
    for bad in [
        "not-a-uuid",
        "0a000000000040008000000000000001",
        "{0a000000-0000-4000-8000-000000000001}",
        "",
    ] {
        let e = Query::from_request(bad, WF, b"{}").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("organization_id"), "{e}");
    }
    let e = Query::from_request(ORG, "nope", b"{}").unwrap_err();
    assert!(e.to_string().contains("workflow_id"));
}

#[test]
fn unknown_key_is_400_naming_it() {
    let (status, message) = err(&format!(r#"{{"filters":[],{INTERVAL},"colour":"red"}}"#));
    assert_eq!(status, 400);
    assert!(message.contains("colour"), "{message}");
    let (_, message) = err(&format!(
        r#"{{"filters":[{{"property":"label","values":["a"],"op":"eq"}}],{INTERVAL}}}"#
    ));
    assert!(message.contains("op"), "{message}");
}

#[test]
fn missing_or_null_required_key_is_400_naming_it() {
    for (payload, key) in [
        (format!("{{{INTERVAL}}}"), "filters"),
        (format!(r#"{{"filters":null,{INTERVAL}}}"#), "filters"),
        (r#"{"filters":[]}"#.to_string(), "interval"),
        (r#"{"filters":[],"interval":null}"#.to_string(), "interval"),
        (
            r#"{"filters":[],"interval":{"start":"2026-03-01T00:00:00Z"}}"#.to_string(),
            "end",
        ),
    ] {
        let (status, message) = err(&payload);
        assert_eq!(status, 400, "{payload}");
        assert!(message.contains(key), "{payload}: {message}");
    }
}

#[test]
fn wrong_types_are_400_naming_the_key() {
    for (payload, key) in [
        (format!(r#"{{"filters":{{}},{INTERVAL}}}"#), "filters"),
        (
            format!(r#"{{"filters":[],{INTERVAL},"limit":"10"}}"#),
            "limit",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"limit":1.5}}"#),
            "limit",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"limit":-1}}"#),
            "limit",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"basic":"yes"}}"#),
            "basic",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"target":7}}"#),
            "target",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"step_data":[{{"actions":"x"}}]}}"#),
            "step_data[0].actions",
        ),
        (
            format!(r#"{{"filters":[],{INTERVAL},"step_data":[null]}}"#),
            "step_data[0]",
        ),
        (
            format!(r#"{{"filters":[{{"property":"label","values":[1]}}],{INTERVAL}}}"#),
            "filters[0].values[0]",
        ),
        (
            format!(r#"{{"filters":[{{"property":5,"values":["a"]}}],{INTERVAL}}}"#),
            "filters[0].property",
        ),
    ] {
        let (status, message) = err(&payload);
        assert_eq!(status, 400, "{payload}");
        assert!(message.contains(key), "{payload}: {message}");
    }
}

#[test]
fn null_optional_keys_mean_absent() {
    let q = ok(&format!(
        r#"{{"filters":[],{INTERVAL},"limit":null,"target":null,"basic":null,"step_data":null}}"#
    ));
    assert_eq!(q.limit, None);
}

#[test]
fn trailing_comma_is_400_with_line_and_column() {
    let (status, message) = err("{\n  \"filters\": [],\n  \"limit\": 5,\n}");
    assert_eq!(status, 400);
    assert!(message.contains("line 4 column 1"), "{message}");
    let (status, message) = err("{\"filters\": [}");
    assert_eq!(status, 400);
    assert!(message.contains("line 1"), "{message}");
}

#[test]
fn limit_below_one_is_400() {
    let (status, message) = err(&format!(r#"{{"filters":[],{INTERVAL},"limit":0}}"#));
    assert_eq!(status, 400);
    assert!(message.contains("limit"), "{message}");
    assert_eq!(
        ok(&format!(r#"{{"filters":[],{INTERVAL},"limit":1}}"#)).limit,
        Some(1)
    );
}

#[test]
fn unknown_target_is_400() {
    let (status, message) = err(&format!(r#"{{"filters":[],{INTERVAL},"target":"goals"}}"#));
    assert_eq!(status, 400);
    assert!(
        message.contains("goals") && message.contains("affected_goal_total"),
        "{message}"
    );
}

#[test]
fn empty_filter_values_are_400() {
    let (status, message) = err(&format!(
        r#"{{"filters":[{{"property":"label","values":[]}}],{INTERVAL}}}"#
    ));
    assert_eq!(status, 400);
    assert!(message.contains("filters[0].values"), "{message}");
}

#[test]
fn unknown_filter_property_is_406_listing_supported_ones() {
    let (status, message) = err(&format!(
        r#"{{"filters":[{{"property":"colour","values":["red"]}}],{INTERVAL}}}"#
    ));
    assert_eq!(status, 406);
    assert!(
        message.contains("'colour'")
            && message.contains("label, action")
            && message.contains("properties"),
        "{message}"
    );
}

#[test]
fn shape_errors_come_before_unsupported_properties() {
    let (status, _) = err(
        r#"{"filters":[{"property":"colour","values":["red"]}],"interval":{"start":"x","end":"y"}}"#,
    );
    assert_eq!(status, 400);
    let e = Query::from_request(
        "bad",
        WF,
        br#"{"filters":[{"property":"colour","values":["red"]}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.status(), 400);
}

#[test]
fn bad_interval_and_time_zone_are_400() {
    for (interval, needle) in [
        (
            r#"{"start":"2026-03-02T00:00:00Z","end":"2026-03-01T00:00:00Z"}"#,
            "after",
        ),
        (
            r#"{"start":"March 1st","end":"2026-03-01T00:00:00Z"}"#,
            "interval.start",
        ),
        (
            r#"{"start":"2026-03-01","end":"2026-03-02","time_zone":"Mars/Base"}"#,
            "Mars/Base",
        ),
        (
            r#"{"start":"2026-03-01","end":"2026-03-02","tz":"UTC"}"#,
            "tz",
        ),
    ] {
        let (status, message) = err(&format!(r#"{{"filters":[],"interval":{interval}}}"#));
        assert_eq!(status, 400, "{interval}");
        assert!(message.contains(needle), "{interval}: {message}");
    }
}

#[test]
fn step_data_element_zero_is_ignored_and_empty_actions_leave_steps_free() {
    let q = ok(&format!(
        r#"{{"filters":[],{INTERVAL},"step_data":[{{"actions":["src"]}},{{}},{{"actions":[]}},{{"actions":["v3"]}}]}}"#
    ));
    assert_eq!(
        q.steps,
        vec![flowlake::query::StepConstraint {
            index: 3,
            actions: vec!["v3".into()]
        }]
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random bytes never panic the parser: they are accepted or refused with 400/406.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Err(e) = Query::from_request(ORG, WF, &bytes) {
            prop_assert!(e.status() == 400 || e.status() == 406);
        }
    }

    /// Mutations of a valid payload (a byte changed, cut or doubled) never panic.
    #[test]
    fn mutated_payloads_never_panic(at in 0usize..400, byte in any::<u8>(), cut in any::<bool>()) {
        let valid = format!(r#"{{"filters":[{{"property":"room_ids","values":["r1"]}}],"step_data":[{{}},{{"actions":["v"]}}],{INTERVAL},"limit":5,"target":"affected_goal_total","basic":true}}"#);
        let mut bytes = valid.into_bytes();
        let at = at % bytes.len();
        if cut { bytes.truncate(at) } else { bytes[at] = byte }
        if let Err(e) = Query::from_request(ORG, WF, &bytes) {
            prop_assert!(e.status() == 400 || e.status() == 406, "{}", e);
        }
    }
}

#[test]
fn limit_above_the_signed_64_bit_range_is_400_naming_the_maximum() {
    for huge in ["9223372036854775808", "18446744073709551615"] {
        let (status, message) = err(&format!(r#"{{"filters":[],{INTERVAL},"limit":{huge}}}"#));
        assert_eq!(status, 400, "{huge}");
        assert!(message.contains("9223372036854775807"), "{message}");
    }
    let (status, message) = err(&format!(
        r#"{{"filters":[],{INTERVAL},"limit":18446744073709551616}}"#
    ));
    assert_eq!(status, 400);
    assert!(message.contains("limit"), "{message}");
    assert_eq!(
        ok(&format!(
            r#"{{"filters":[],{INTERVAL},"limit":9223372036854775807}}"#
        ))
        .limit,
        Some(i64::MAX as usize)
    );
}

#[test]
fn a_payload_that_is_not_an_object_is_400() {
    for payload in [
        r#"[[["label",["a"]]],null,["2026-03-01","2026-03-14",null],1,null,true]"#,
        "[]",
        "\"filters\"",
        "42",
        "null",
    ] {
        let (status, message) = err(payload);
        assert_eq!(status, 400, "{payload}");
        assert!(message.contains("JSON object"), "{payload}: {message}");
        assert!(
            !message.contains("struct"),
            "the message speaks of the input, not our types: {message}"
        );
    }
}

#[test]
fn step_data_longer_than_the_maximum_is_400_naming_it() {
    let steps = vec!["{}"; flowlake::query::MAX_STEPS + 2].join(",");
    let (status, message) = err(&format!(
        r#"{{"filters":[],{INTERVAL},"step_data":[{steps}]}}"#
    ));
    assert_eq!(status, 400);
    assert!(
        message.contains("step_data")
            && message.contains(&(flowlake::query::MAX_STEPS + 1).to_string()),
        "{message}"
    );
    let steps = vec!["{}"; flowlake::query::MAX_STEPS + 1].join(",");
    ok(&format!(
        r#"{{"filters":[],{INTERVAL},"step_data":[{steps}]}}"#
    ));
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let payload = format!("\u{feff}{{\"filters\":[],{INTERVAL}}}");
    assert!(ok(&payload).filters.is_empty());
}
