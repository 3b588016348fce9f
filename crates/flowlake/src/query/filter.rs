//! The filter properties of SPEC §2 and how each one matches an event.

/// How a filter's values are compared with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The column's value is one of the values.
    ValueIn,
    /// Any element of the list column is one of the values (`room_ids`).
    AnyElementIn,
    /// The list column contains every one of the values (`properties`).
    ContainsAll,
}

/// A supported filter property: the event column it reads and how it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterProperty {
    pub column: &'static str,
    pub matching: Match,
}

/// Every property a filter may name, in the order the 406 message lists them.
pub const SUPPORTED_PROPERTIES: &[FilterProperty] = &{
    use Match::*;
    const fn p(column: &'static str, matching: Match) -> FilterProperty {
        FilterProperty { column, matching }
    }
    [
        p("label", ValueIn),
        p("action", ValueIn),
        p("category", ValueIn),
        p("vendor", ValueIn),
        p("source", ValueIn),
        p("event_id", ValueIn),
        p("visitor_id", ValueIn),
        p("session_id", ValueIn),
        p("user_id", ValueIn),
        p("view_uid", ValueIn),
        p("page_url", ValueIn),
        p("dim1", ValueIn),
        p("dim2", ValueIn),
        p("dim3", ValueIn),
        p("dim4", ValueIn),
        p("dim5", ValueIn),
        p("browser_name", ValueIn),
        p("browser_version", ValueIn),
        p("device_type", ValueIn),
        p("os_name", ValueIn),
        p("os_version", ValueIn),
        p("geo_country", ValueIn),
        p("geo_city", ValueIn),
        p("ip_organization", ValueIn),
        p("room_ids", AnyElementIn),
        p("properties", ContainsAll),
    ]
};

impl FilterProperty {
    /// The supported property of that exact name (names are case-sensitive, like columns).
    pub fn parse(name: &str) -> Option<FilterProperty> {
        SUPPORTED_PROPERTIES
            .iter()
            .copied()
            .find(|p| p.column == name)
    }

    /// The supported names, comma-separated, for error messages.
    pub fn supported_list() -> String {
        SUPPORTED_PROPERTIES
            .iter()
            .map(|p| p.column)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One validated filter: an event must match `property` against one of (or, for
/// `properties`, all of) `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub property: FilterProperty,
    pub values: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::schema::{ColumnKind, event_column};

    #[test]
    fn every_property_reads_an_event_column_of_the_right_kind() {
        for p in SUPPORTED_PROPERTIES {
            let col = event_column(p.column).expect("property names an event column");
            let want = if p.matching == Match::ValueIn {
                ColumnKind::String
            } else {
                ColumnKind::StringList
            };
            assert_eq!(col.kind, want, "{}", p.column);
        }
    }

    #[test]
    fn unknown_and_miscased_properties_are_not_supported() {
        assert!(FilterProperty::parse("colour").is_none());
        assert!(FilterProperty::parse("Label").is_none());
        assert!(FilterProperty::parse("timestamp").is_none());
        assert!(FilterProperty::parse("organization_id").is_none());
        assert_eq!(
            FilterProperty::parse("room_ids").unwrap().matching,
            Match::AnyElementIn
        );
    }
}
