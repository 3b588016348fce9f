//! One event row with every column of the event schema, as the generator, ingest and tests
//! that build lakes by hand hold it, and rows as a record batch.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, ListBuilder, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::format::schema::file_schema;

/// An event with every column of SPEC §1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub timestamp_us: i64,
    pub event_id: String,
    pub vendor: Option<String>,
    pub source: Option<String>,
    pub category: String,
    pub action: String,
    pub label: String,
    pub value: Option<f64>,
    pub properties: Option<Vec<String>>,
    pub room_ids: Option<Vec<String>>,
    pub view_uid: Option<String>,
    pub page_url: Option<String>,
    pub dims: [Option<String>; 5],
    pub visitor_id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub browser_name: Option<String>,
    pub browser_version: Option<String>,
    pub device_type: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub geo_country: Option<String>,
    pub geo_city: Option<String>,
    pub ip_organization: Option<String>,
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for v in values {
        builder.append_option(v);
    }
    Arc::new(builder.finish())
}

fn string_lists<'a>(values: impl Iterator<Item = Option<&'a Vec<String>>>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for v in values {
        match v {
            Some(items) => {
                for item in items {
                    builder.values().append_value(item);
                }
                builder.append(true);
            }
            None => builder.append(false),
        }
    }
    Arc::new(builder.finish())
}

/// The rows as one record batch of the event schema.
pub fn to_record_batch(events: &[Event]) -> Result<RecordBatch> {
    to_record_batch_with(events, file_schema())
}

/// The rows as one record batch of `schema`, which must hold a subset of the event
/// columns (tests use it to write files that lack columns).
pub fn to_record_batch_with(events: &[Event], schema: SchemaRef) -> Result<RecordBatch> {
    let column = |name: &str| -> Result<ArrayRef> {
        let e = events.iter();
        Ok(match name {
            "timestamp" => Arc::new(
                TimestampMicrosecondArray::from(
                    events.iter().map(|e| e.timestamp_us).collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            "event_id" => strings(e.map(|e| Some(e.event_id.as_str()))),
            "vendor" => strings(e.map(|e| e.vendor.as_deref())),
            "source" => strings(e.map(|e| e.source.as_deref())),
            "category" => strings(e.map(|e| Some(e.category.as_str()))),
            "action" => strings(e.map(|e| Some(e.action.as_str()))),
            "label" => strings(e.map(|e| Some(e.label.as_str()))),
            "value" => {
                let mut b = Float64Builder::new();
                events.iter().for_each(|e| b.append_option(e.value));
                Arc::new(b.finish())
            }
            "properties" => string_lists(e.map(|e| e.properties.as_ref())),
            "room_ids" => string_lists(e.map(|e| e.room_ids.as_ref())),
            "view_uid" => strings(e.map(|e| e.view_uid.as_deref())),
            "page_url" => strings(e.map(|e| e.page_url.as_deref())),
            "dim1" | "dim2" | "dim3" | "dim4" | "dim5" => {
                let i = usize::from(name.as_bytes()[3] - b'1');
                strings(e.map(move |e| e.dims[i].as_deref()))
            }
            "visitor_id" => strings(e.map(|e| Some(e.visitor_id.as_str()))),
            "session_id" => strings(e.map(|e| Some(e.session_id.as_str()))),
            "user_id" => strings(e.map(|e| e.user_id.as_deref())),
            "browser_name" => strings(e.map(|e| e.browser_name.as_deref())),
            "browser_version" => strings(e.map(|e| e.browser_version.as_deref())),
            "device_type" => strings(e.map(|e| e.device_type.as_deref())),
            "os_name" => strings(e.map(|e| e.os_name.as_deref())),
            "os_version" => strings(e.map(|e| e.os_version.as_deref())),
            "geo_country" => strings(e.map(|e| e.geo_country.as_deref())),
            "geo_city" => strings(e.map(|e| e.geo_city.as_deref())),
            "ip_organization" => strings(e.map(|e| e.ip_organization.as_deref())),
            other => return Err(Error::internal(format!("no event column '{other}'"))),
        })
    };
    let columns = schema
        .fields()
        .iter()
        .map(|f| column(f.name()))
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns)
        .map_err(|e| Error::internal(format!("building a batch: {e}")))
}
