//! The response columns of SPEC §4: names, wire types and nullability, for the advanced
//! and the basic shapes. The plan's final projection and the encoders both read this.

use serde::Serialize;

use crate::format::schema::{ColumnKind, DATE, EVENT_COLUMNS, ORGANIZATION_ID};

/// The `type` of a response field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldType {
    #[serde(rename = "string")]
    String,
    #[serde(rename = "integer")]
    Integer,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "boolean")]
    Boolean,
    #[serde(rename = "timestamp")]
    Timestamp,
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "array<string>")]
    StringArray,
}

impl From<ColumnKind> for FieldType {
    fn from(kind: ColumnKind) -> Self {
        match kind {
            ColumnKind::Timestamp => FieldType::Timestamp,
            ColumnKind::String => FieldType::String,
            ColumnKind::Number => FieldType::Number,
            ColumnKind::StringList => FieldType::StringArray,
        }
    }
}

/// One element of `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub nullable: bool,
}

impl OutputField {
    fn new(name: &str, kind: FieldType, nullable: bool) -> Self {
        Self {
            name: name.to_string(),
            kind,
            nullable,
        }
    }
}

/// Where a basic column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicSource {
    /// An event column of that name.
    Column(&'static str),
    /// The goal's name from `goals.json`, looked up by label.
    GoalName,
}

/// The basic columns of SPEC §4 (without `workflow_related`).
pub const BASIC_COLUMNS: &[(&str, BasicSource)] = &[
    ("time", BasicSource::Column("timestamp")),
    ("goal_id", BasicSource::Column("label")),
    ("goal_name", BasicSource::GoalName),
    ("goal_value", BasicSource::Column("value")),
    ("visitor_id", BasicSource::Column("visitor_id")),
    ("session_id", BasicSource::Column("session_id")),
    ("country", BasicSource::Column("geo_country")),
    ("city", BasicSource::Column("geo_city")),
    ("device", BasicSource::Column("device_type")),
    ("browser", BasicSource::Column("browser_name")),
];

/// The name of the column added by `affected_goal_total`.
pub const WORKFLOW_RELATED: &str = "workflow_related";

/// Which columns a response has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Basic (for people) rather than advanced (raw) columns.
    pub basic: bool,
    /// Whether `workflow_related` is present (target `affected_goal_total`).
    pub workflow_related: bool,
}

impl Shape {
    /// The fields of this shape, in order.
    pub fn fields(&self) -> Vec<OutputField> {
        let mut fields: Vec<OutputField> = if self.basic {
            BASIC_COLUMNS
                .iter()
                .map(|(name, source)| match source {
                    BasicSource::GoalName => OutputField::new(name, FieldType::String, true),
                    BasicSource::Column(column) => {
                        let c = EVENT_COLUMNS
                            .iter()
                            .find(|c| c.name == *column)
                            .expect("basic columns name event columns");
                        OutputField::new(name, c.kind.into(), c.nullable)
                    }
                })
                .collect()
        } else {
            let mut fields: Vec<_> = EVENT_COLUMNS
                .iter()
                .map(|c| OutputField::new(c.name, c.kind.into(), c.nullable))
                .collect();
            fields.push(OutputField::new(ORGANIZATION_ID, FieldType::String, false));
            fields.push(OutputField::new(DATE, FieldType::Date, false));
            fields
        };
        if self.workflow_related {
            fields.push(OutputField::new(
                WORKFLOW_RELATED,
                FieldType::Boolean,
                false,
            ));
        }
        fields
    }

    /// Fraction digits of timestamps: milliseconds for people, microseconds for tools.
    pub fn timestamp_digits(&self) -> usize {
        if self.basic { 3 } else { 6 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_fields_are_event_columns_then_partitions() {
        let fields = Shape {
            basic: false,
            workflow_related: true,
        }
        .fields();
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names[0], "timestamp");
        assert_eq!(
            &names[names.len() - 3..],
            ["organization_id", "date", "workflow_related"]
        );
        assert_eq!(fields[0].kind, FieldType::Timestamp);
        assert!(!fields[0].nullable);
    }

    #[test]
    fn basic_fields_follow_the_spec_table() {
        let fields = Shape {
            basic: true,
            workflow_related: false,
        }
        .fields();
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "time",
                "goal_id",
                "goal_name",
                "goal_value",
                "visitor_id",
                "session_id",
                "country",
                "city",
                "device",
                "browser"
            ]
        );
        assert!(fields[2].nullable && fields[3].nullable && !fields[4].nullable);
        assert_eq!(
            serde_json::to_string(&fields[3]).unwrap(),
            r#"{"name":"goal_value","type":"number","nullable":true}"#
        );
    }
}
