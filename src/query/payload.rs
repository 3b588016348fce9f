//! The request payload exactly as SPEC §2 shapes it. Unknown keys are errors, not silently
//! ignored; `null` for an optional key means absent.

use serde::Deserialize;

/// The JSON payload of a Workflow source data request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub filters: Vec<FilterSpec>,
    pub step_data: Option<Vec<StepSpec>>,
    pub interval: IntervalSpec,
    pub limit: Option<u64>,
    pub target: Option<String>,
    pub basic: Option<bool>,
}

/// One element of `filters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    pub property: String,
    pub values: Vec<String>,
}

/// One element of `step_data`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub actions: Option<Vec<String>>,
}

/// The `interval` object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalSpec {
    pub start: String,
    pub end: String,
    pub time_zone: Option<String>,
}

impl Payload {
    /// Parses strict JSON; the error names the offending key (or gives line and column
    /// when the text is not JSON at all).
    pub fn from_json(bytes: &[u8]) -> Result<Payload, String> {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let payload: Payload = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            describe(&path, &inner)
        })?;
        deserializer.end().map_err(|err| describe(".", &err))?;
        Ok(payload)
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
    fn null_optional_keys_are_absent() {
        let p = Payload::from_json(br#"{"filters":[],"interval":{"start":"a","end":"b","time_zone":null},"limit":null,"target":null,"basic":null,"step_data":null}"#).unwrap();
        assert!(p.limit.is_none() && p.target.is_none() && p.basic.is_none() && p.step_data.is_none());
        assert!(p.interval.time_zone.is_none());
    }
}
