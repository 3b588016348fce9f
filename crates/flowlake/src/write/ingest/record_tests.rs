//! Unit tests of the per-row checks (`record.rs`).

use super::*;

const ORG: &str = "0A000000-0000-4000-8000-000000000001";

fn json_row(row: serde_json::Value, tz: Option<Tz>) -> Result<(Uuid, Event), Refusal> {
    let map = row.as_object().unwrap().clone();
    check_row(
        &mut |c| crate::write::ingest::json_lines::json_raw(map.get(c)),
        Cells::Typed,
        tz,
    )
}

fn valid() -> serde_json::Value {
    serde_json::json!({"organization_id": ORG, "timestamp": "2026-03-01T10:00:00.123456+01:00", "event_id": "e", "category": "goal",
        "action": "trigger", "label": "g", "visitor_id": "v", "session_id": "s", "value": 2.5, "room_ids": ["r"], "dim5": "3", "extra": true})
}

#[test]
fn a_valid_row_is_read_into_its_organization_and_event() {
    let (org, event) = json_row(valid(), None).unwrap();
    assert_eq!(org.to_string(), ORG.to_lowercase());
    assert_eq!(
        event.timestamp_us,
        DateTime::parse_from_rfc3339("2026-03-01T09:00:00.123456Z")
            .unwrap()
            .timestamp_micros()
    );
    assert_eq!(
        (event.value, event.room_ids.clone(), event.dims[4].clone()),
        (
            Some(2.5),
            Some(vec!["r".to_string()]),
            Some("3".to_string())
        )
    );
}

#[test]
fn each_fault_names_its_column() {
    for (key, value, column, words) in [
        (
            "session_id",
            serde_json::Value::Null,
            "session_id",
            "required",
        ),
        (
            "organization_id",
            serde_json::json!("nope"),
            "organization_id",
            "not a UUID",
        ),
        (
            "timestamp",
            serde_json::json!("2026-03-01T10:00:00"),
            "timestamp",
            "--time-zone",
        ),
        (
            "timestamp",
            serde_json::json!(1700000000),
            "timestamp",
            "number",
        ),
        ("value", serde_json::json!("2.5"), "value", "got a string"),
        ("room_ids", serde_json::json!([1]), "room_ids", "list"),
        ("label", serde_json::json!(7), "label", "got a number"),
        (
            "room_ids",
            serde_json::json!(["a", null]),
            "room_ids",
            "element 2 is null",
        ),
        (
            "timestamp",
            serde_json::json!("0001-01-01T00:00:00Z"),
            "timestamp",
            "outside the range a query can ask for: 1678-01-01 to 2261-12-31",
        ),
    ] {
        let mut row = valid();
        row[key] = value;
        let refusal = json_row(row, None).unwrap_err();
        assert_eq!(refusal.column.as_deref(), Some(column));
        assert!(refusal.reason.contains(words), "{refusal}");
    }
}

#[test]
fn text_cells_refuse_non_finite_numbers_and_null_list_elements() {
    let row = |column: &str, cell: &str| {
        let mut cells: std::collections::HashMap<&str, &str> = [
            ("organization_id", ORG),
            ("timestamp", "2026-03-01T10:00:00Z"),
            ("event_id", "e"),
            ("category", "goal"),
            ("action", "trigger"),
            ("label", "g"),
            ("visitor_id", "v"),
            ("session_id", "s"),
        ]
        .into();
        cells.insert(column, cell);
        check_row(
            &mut |c| cells.get(c).map_or(Raw::Null, |t| Raw::Text(t.to_string())),
            Cells::Text,
            None,
        )
    };
    for text in ["1e400", "-infinity", "NaN", "inf"] {
        let refusal = row("value", text).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            format!(
                "column 'value': '{text}' is not a finite number (NaN, infinities and numbers beyond ±1.8e308 are refused)"
            )
        );
    }
    assert_eq!(row("value", " 2.5e3 ").unwrap().1.value, Some(2500.0));
    assert_eq!(
        row("room_ids", r#"["a",null]"#).unwrap_err().to_string(),
        "column 'room_ids': element 2 is null; list elements must be strings"
    );
    assert_eq!(
        row("room_ids", r#"["a","b"]"#).unwrap().1.room_ids,
        Some(vec!["a".to_string(), "b".to_string()])
    );
    assert!(
        row("timestamp", "9999-12-31T23:59:59Z")
            .unwrap_err()
            .reason
            .contains("outside the range")
    );
    assert!(
        row("timestamp", "2261-12-31T23:59:59.999999Z").is_ok(),
        "the last instant a query can ask for"
    );
}

#[test]
fn offsets_as_databases_print_them_are_read() {
    for (text, utc) in [
        ("2026-03-01 10:00:00.5+00", "2026-03-01T10:00:00.5Z"),
        ("2026-03-01 10:00:00+0530", "2026-03-01T04:30:00Z"),
        ("2026-03-01 10:00:00-05:00", "2026-03-01T15:00:00Z"),
        ("2026-03-01T10:00:00+01", "2026-03-01T09:00:00Z"),
    ] {
        let mut row = valid();
        row["timestamp"] = serde_json::json!(text);
        let (_, event) = json_row(row, None).unwrap();
        assert_eq!(
            event.timestamp_us,
            DateTime::parse_from_rfc3339(utc)
                .unwrap()
                .timestamp_micros(),
            "{text}"
        );
    }
}

#[test]
fn a_time_without_offset_is_read_in_the_given_zone() {
    let mut row = valid();
    row["timestamp"] = serde_json::json!("2026-07-01 12:00:00");
    let (_, event) = json_row(row, Some("Europe/Paris".parse().unwrap())).unwrap();
    assert_eq!(
        event.timestamp_us,
        DateTime::parse_from_rfc3339("2026-07-01T10:00:00Z")
            .unwrap()
            .timestamp_micros()
    );
}
