//! The event columns of SPEC §1: one list from which the scan schema, the advanced output
//! fields and the file-compatibility check are all derived.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The logical kind of an event column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Timestamp(µs, "UTC").
    Timestamp,
    /// Utf8.
    String,
    /// Float64.
    Number,
    /// List(Utf8).
    StringList,
}

/// One event column: its name, kind and whether SPEC §1 allows nulls in it.
#[derive(Debug, Clone, Copy)]
pub struct EventColumn {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub nullable: bool,
}

const fn column(name: &'static str, kind: ColumnKind, nullable: bool) -> EventColumn {
    EventColumn {
        name,
        kind,
        nullable,
    }
}

use ColumnKind::*;

/// Every event column, in the order of SPEC §1 (and of the advanced output).
pub const EVENT_COLUMNS: &[EventColumn] = &[
    column("timestamp", Timestamp, false),
    column("event_id", String, false),
    column("vendor", String, true),
    column("source", String, true),
    column("category", String, false),
    column("action", String, false),
    column("label", String, false),
    column("value", Number, true),
    column("properties", StringList, true),
    column("room_ids", StringList, true),
    column("view_uid", String, true),
    column("page_url", String, true),
    column("dim1", String, true),
    column("dim2", String, true),
    column("dim3", String, true),
    column("dim4", String, true),
    column("dim5", String, true),
    column("visitor_id", String, false),
    column("session_id", String, false),
    column("user_id", String, true),
    column("browser_name", String, true),
    column("browser_version", String, true),
    column("device_type", String, true),
    column("os_name", String, true),
    column("os_version", String, true),
    column("geo_country", String, true),
    column("geo_city", String, true),
    column("ip_organization", String, true),
];

/// The partition column taken from the `organization_id=` folder.
pub const ORGANIZATION_ID: &str = "organization_id";
/// The partition column taken from the `date=` folder.
pub const DATE: &str = "date";

impl ColumnKind {
    /// The Arrow type flowlake reads and writes for this kind.
    pub fn data_type(self) -> DataType {
        match self {
            Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            String => DataType::Utf8,
            Number => DataType::Float64,
            StringList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }

    /// Whether a file column of type `found` can be read as this kind without changing
    /// its meaning. String encodings (Utf8, LargeUtf8, Utf8View) and list flavours are
    /// interchangeable; timestamps must be instants in UTC, at any unit.
    pub fn accepts(self, found: &DataType) -> bool {
        fn is_string(t: &DataType) -> bool {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                || matches!(t, DataType::Dictionary(_, v) if is_string(v))
        }
        match self {
            Timestamp => matches!(found, DataType::Timestamp(_, Some(tz))
                if matches!(tz.as_ref(), "UTC" | "+00:00" | "Z" | "Etc/UTC" | "+0000")),
            String => is_string(found),
            Number => matches!(found, DataType::Float64),
            StringList => match found {
                DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) => {
                    is_string(item.data_type())
                }
                _ => false,
            },
        }
    }
}

/// The schema of the event files as the engine reads them. Every column is declared
/// nullable: files written by other tools often mark required columns optional, and the
/// scan must not assume what it cannot check. SPEC nullability is reported in `fields`.
pub fn file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(
            EVENT_COLUMNS
                .iter()
                .map(|c| Field::new(c.name, c.kind.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    });
    Arc::clone(&SCHEMA)
}

/// The schema the engine scans with: [`file_schema`] with strings read as `Utf8View`, which
/// the Parquet reader fills without copying string bytes and whose short values compare
/// inline. The response casts them back to `Utf8`.
pub fn scan_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let file = file_schema();
        let fields = file.fields().iter().map(|field| match field.data_type() {
            DataType::Utf8 => Arc::new(field.as_ref().clone().with_data_type(DataType::Utf8View)),
            _ => Arc::clone(field),
        });
        Arc::new(Schema::new(fields.collect::<Vec<_>>()))
    });
    Arc::clone(&SCHEMA)
}

/// Looks up an event column by name.
pub fn event_column(name: &str) -> Option<&'static EventColumn> {
    EVENT_COLUMNS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_has_every_spec_column_in_order() {
        let names: Vec<_> = file_schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names.first().map(|s| s.as_str()), Some("timestamp"));
        assert_eq!(names.last().map(|s| s.as_str()), Some("ip_organization"));
        assert_eq!(names.len(), 28);
    }

    #[test]
    fn string_encodings_are_interchangeable_but_numbers_are_not() {
        assert!(String.accepts(&DataType::LargeUtf8));
        assert!(String.accepts(&DataType::Utf8View));
        assert!(!String.accepts(&DataType::Int64));
        assert!(!Number.accepts(&DataType::Utf8));
        assert!(Number.accepts(&DataType::Float64));
    }

    #[test]
    fn timestamps_must_be_utc_instants() {
        assert!(Timestamp.accepts(&DataType::Timestamp(
            TimeUnit::Nanosecond,
            Some("+00:00".into())
        )));
        assert!(!Timestamp.accepts(&DataType::Timestamp(TimeUnit::Microsecond, None)));
        assert!(!Timestamp.accepts(&DataType::Utf8));
    }
}
