//! The request payload exactly as SPEC §2 shapes it. Unknown keys are errors, not silently
//! ignored; `null` for an optional key means absent.

use serde::Deserialize;

/// The JSON payload of a Workflow source data request (SPEC §2). An unknown key, a wrong
/// type or `null` for a required key is a 400 that names the key; `null` for an optional
/// key means absent.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// Filters, ANDed; the values of one filter are ORed. They apply to the goal events returned.
    pub filters: Vec<FilterSpec>,
    /// Element i describes step i of the session path; element 0 (the source step) is ignored.
    pub step_data: Option<Vec<StepSpec>>,
    pub interval: IntervalSpec,
    /// Keep the first N rows in the order timestamp, event_id; absent means all rows.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub limit: Option<u64>,
    /// `affected_goal` (default) or `affected_goal_total` (every goal event, with `workflow_related`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::query::Target>))]
    pub target: Option<String>,
    /// Basic columns for people rather than every event column (default false).
    pub basic: Option<bool>,
}

/// One element of `filters`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// An event property (SPEC §2 lists them); any other is a 406 that lists the supported ones.
    pub property: String,
    /// The event matches when its value is one of these (`room_ids`: any room; `properties`: all of them).
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub values: Vec<String>,
}

/// One element of `step_data`.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The step's action must be one of these; missing or empty leaves the step unconstrained.
    pub actions: Option<Vec<String>>,
}

/// The `interval` object: both ends inclusive; `start` after `end` is a 400.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntervalSpec {
    /// ISO 8601 date or date-time; a time without offset is read in `time_zone`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub start: String,
    /// ISO 8601 date or date-time, inclusive.
    #[cfg_attr(feature = "openapi", schema(min_length = 1))]
    pub end: String,
    /// IANA time zone name (default `UTC`).
    pub time_zone: Option<String>,
}

impl Payload {
    /// Parses strict JSON; the error names the offending key (or gives line and column
    /// when the text is not JSON at all). A leading UTF-8 byte order mark is skipped, as
    /// editors on some systems write one.
    pub fn from_json(bytes: &[u8]) -> Result<Payload, String> {
        let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
        // serde reads a JSON array into a struct positionally; SPEC §2 objects are objects.
        let tree: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|err| describe(".", &err))?;
        require_objects(&tree)?;
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let payload: Payload =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                describe(&path, &inner)
            })?;
        deserializer.end().map_err(|err| describe(".", &err))?;
        Ok(payload)
    }
}

/// The byte order mark some editors put before UTF-8 text.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Every place where SPEC §2 has an object holds an object (or `null` where optional):
/// the payload, `interval`, each element of `filters` and of `step_data`.
fn require_objects(tree: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let Value::Object(payload) = tree else {
        return Err(format!(
            "invalid payload: the payload must be a JSON object, got {}",
            kind_of(tree)
        ));
    };
    let must_be_object = |path: String, value: &Value, optional: bool| match value {
        Value::Object(_) => Ok(()),
        Value::Null if optional => Ok(()),
        other => Err(format!(
            "invalid payload at '{path}': expected a JSON object, got {}",
            kind_of(other)
        )),
    };
    if let Some(interval) = payload.get("interval") {
        // `null` for the required interval is reported by the typed pass, which names it.
        must_be_object("interval".into(), interval, true)?;
    }
    for key in ["filters", "step_data"] {
        if let Some(Value::Array(elements)) = payload.get(key) {
            for (i, element) in elements.iter().enumerate() {
                must_be_object(format!("{key}[{i}]"), element, false)?;
            }
        }
    }
    Ok(())
}

/// How a JSON value is named in messages.
fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(path: &str, err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("malformed JSON: {err}"),
        Category::Data if path == "." || path.is_empty() => format!("invalid payload: {err}"),
        Category::Data => format!("invalid payload at '{path}': {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_comma_gives_line_and_column() {
        let err = Payload::from_json(b"{\n \"filters\": [],\n}").unwrap_err();
        assert!(err.starts_with("malformed JSON"), "{err}");
        assert!(err.contains("line 3 column 1"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let err = Payload::from_json(br#"{"filters":[{"property":"label","values":[1]}],"interval":{"start":"a","end":"b"}}"#).unwrap_err();
        assert!(err.contains("filters[0].values[0]"), "{err}");
    }

    #[test]
    fn a_json_array_is_not_a_payload() {
        let positional =
            br#"[[["label",["a"]]],null,["2026-03-01","2026-03-14",null],1,null,true]"#;
        let err = Payload::from_json(positional).unwrap_err();
        assert!(err.contains("must be a JSON object, got an array"), "{err}");
        let err = Payload::from_json(b"[]").unwrap_err();
        assert!(
            err.contains("must be a JSON object") && !err.contains("struct"),
            "{err}"
        );
        let err = Payload::from_json(
            br#"{"filters":[["label",["a"]]],"interval":{"start":"a","end":"b"}}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("'filters[0]'") && err.contains("got an array"),
            "{err}"
        );
        let err = Payload::from_json(br#"{"filters":[],"interval":["2026-03-01","2026-03-02"]}"#)
            .unwrap_err();
        assert!(
            err.contains("'interval'") && err.contains("got an array"),
            "{err}"
        );
        let err = Payload::from_json(
            br#"{"filters":[],"step_data":[{},[["x"]]],"interval":{"start":"a","end":"b"}}"#,
        )
        .unwrap_err();
        assert!(err.contains("'step_data[1]'"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_before_the_payload_is_skipped() {
        let p = Payload::from_json(
            b"\xEF\xBB\xBF{\"filters\":[],\"interval\":{\"start\":\"a\",\"end\":\"b\"}}",
        )
        .unwrap();
        assert!(p.filters.is_empty());
    }

    #[test]
    fn null_optional_keys_are_absent() {
        let p = Payload::from_json(br#"{"filters":[],"interval":{"start":"a","end":"b","time_zone":null},"limit":null,"target":null,"basic":null,"step_data":null}"#).unwrap();
        assert!(
            p.limit.is_none() && p.target.is_none() && p.basic.is_none() && p.step_data.is_none()
        );
        assert!(p.interval.time_zone.is_none());
    }
}
