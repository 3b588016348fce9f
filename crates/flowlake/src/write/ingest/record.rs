//! One input row checked against SPEC §1, whatever format it came in: the §1 columns plus
//! `organization_id`, required columns present, types right, timestamps with an offset
//! (or read in `--time-zone`) inside the range a query can ask for, finite numbers, lists
//! without null elements, a UUID organization id.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use super::instant::fast_utc_instant;
use crate::format::event::Event;
use crate::format::schema::{ColumnKind, EVENT_COLUMNS, ORGANIZATION_ID};
use crate::query::interval::{SUPPORTED_RANGE, SUPPORTED_US};

/// A value as an input format gives it, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Text(String),
    Number(f64),
    /// A number written too large for a 64-bit float (JSON's `1e400`), as written.
    HugeNumber(String),
    /// A list; `None` for a null element.
    List(Vec<Option<String>>),
    /// Microseconds since the epoch; `zoned` when the input type carries a time zone.
    Instant {
        micros: i64,
        zoned: bool,
    },
    /// Anything else, described for the message (`a boolean`, `an object`, …).
    Other(String),
}

/// Why a row was refused: the column (when one is at fault) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub column: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(column) => write!(f, "column '{column}': {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// Why text was refused for not being UTF-8 (a whole NDJSON line, or a CSV cell).
pub fn not_utf8(column: Option<&str>, error: std::str::Utf8Error) -> Refusal {
    Refusal {
        column: column.map(str::to_string),
        reason: format!("not valid UTF-8 (byte {} is not)", error.valid_up_to() + 1),
    }
}

fn refuse(column: &str, reason: impl Into<String>) -> Refusal {
    Refusal {
        column: Some(column.to_string()),
        reason: reason.into(),
    }
}

/// How values are read: text cells (CSV) may hold numbers and lists as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cells {
    /// Typed values (JSON, Parquet): a number is not a string.
    Typed,
    /// Every value is text: an empty cell is null, numbers and JSON lists are parsed.
    Text,
}

/// Checks one row, given as `value(column)`, into its organization and event.
pub fn check_row(
    value: &mut dyn FnMut(&str) -> Raw,
    cells: Cells,
    time_zone: Option<Tz>,
) -> Result<(Uuid, Event), Refusal> {
    let organization_id = match text(ORGANIZATION_ID, value(ORGANIZATION_ID), cells, false)? {
        Some(id) => Uuid::try_parse(&id)
            .map_err(|_| refuse(ORGANIZATION_ID, format!("'{id}' is not a UUID")))?,
        None => return Err(refuse(ORGANIZATION_ID, "is missing")),
    };
    let mut event = Event::default();
    for column in EVENT_COLUMNS {
        let raw = value(column.name);
        match column.kind {
            ColumnKind::Timestamp => event.timestamp_us = instant(column.name, raw, time_zone)?,
            ColumnKind::Number => event.value = number(column.name, raw, cells)?,
            ColumnKind::StringList => {
                let list = list(column.name, raw, cells)?;
                match column.name {
                    "properties" => event.properties = list,
                    _ => event.room_ids = list,
                }
            }
            ColumnKind::String => {
                let text = text(column.name, raw, cells, !column.nullable)?;
                set_text(&mut event, column.name, text);
            }
        }
    }
    Ok((organization_id, event))
}

/// The instant of a timestamp given as text (NDJSON strings, CSV cells) as [`check_row`]
/// reads it, or `None` where it would refuse the row (the typed readers' check).
pub fn text_instant(text: &str, time_zone: Option<Tz>) -> Option<i64> {
    if text.is_empty() {
        return None;
    }
    let micros = match fast_utc_instant(text) {
        Some(micros) => micros,
        None => parse_instant(TIMESTAMP, text, time_zone).ok()?,
    };
    SUPPORTED_US.contains(&micros).then_some(micros)
}

/// The instant of a local time without a zone (`micros` after 1970 on the wall clock)
/// read in `time_zone`, as [`check_row`] reads it, or `None` where it would refuse the row.
pub fn local_instant(micros: i64, time_zone: Option<Tz>) -> Option<i64> {
    let micros = unchecked_instant(
        TIMESTAMP,
        Raw::Instant {
            micros,
            zoned: false,
        },
        time_zone,
    )
    .ok()?;
    SUPPORTED_US.contains(&micros).then_some(micros)
}

fn text(column: &str, raw: Raw, cells: Cells, required: bool) -> Result<Option<String>, Refusal> {
    let text = match raw {
        Raw::Null => None,
        Raw::Text(t) if cells == Cells::Text && t.is_empty() => None,
        Raw::Text(t) => Some(t),
        Raw::Number(_) | Raw::HugeNumber(_) => {
            return Err(refuse(column, "expected a string, got a number"));
        }
        Raw::List(_) => return Err(refuse(column, "expected a string, got a list")),
        Raw::Instant { .. } => return Err(refuse(column, "expected a string, got a timestamp")),
        Raw::Other(what) => return Err(refuse(column, format!("expected a string, got {what}"))),
    };
    match text {
        None if required => Err(refuse(column, "is required but missing or null")),
        text => Ok(text),
    }
}

/// Only finite numbers are stored: answers could not show NaN or an infinity alike in JSON
/// (which has neither), CSV and Arrow.
fn number(column: &str, raw: Raw, cells: Cells) -> Result<Option<f64>, Refusal> {
    let not_finite = |shown: &str| {
        refuse(
            column,
            format!(
                "{shown} is not a finite number (NaN, infinities and numbers beyond ±1.8e308 are refused)"
            ),
        )
    };
    match raw {
        Raw::Null => Ok(None),
        Raw::Number(n) if n.is_finite() => Ok(Some(n)),
        Raw::Number(n) => Err(not_finite(&n.to_string())),
        Raw::HugeNumber(text) => Err(not_finite(&format!("'{text}'"))),
        Raw::Text(t) if cells == Cells::Text && t.is_empty() => Ok(None),
        Raw::Text(t) if cells == Cells::Text => match t.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Some(n)),
            Ok(_) => Err(not_finite(&format!("'{t}'"))),
            Err(_) => Err(refuse(column, format!("'{t}' is not a number"))),
        },
        Raw::Text(_) => Err(refuse(column, "expected a number, got a string")),
        Raw::List(_) => Err(refuse(column, "expected a number, got a list")),
        Raw::Instant { .. } => Err(refuse(column, "expected a number, got a timestamp")),
        Raw::Other(what) => Err(refuse(column, format!("expected a number, got {what}"))),
    }
}

fn list(column: &str, raw: Raw, cells: Cells) -> Result<Option<Vec<String>>, Refusal> {
    match raw {
        Raw::Null => Ok(None),
        Raw::List(items) => strings(column, items).map(Some),
        Raw::Text(t) if cells == Cells::Text && t.is_empty() => Ok(None),
        Raw::Text(t) if cells == Cells::Text => {
            match serde_json::from_str::<Vec<Option<String>>>(&t) {
                Ok(items) => strings(column, items).map(Some),
                Err(_) => Err(refuse(
                    column,
                    format!("'{t}' is not a JSON array of strings"),
                )),
            }
        }
        Raw::Text(_) => Err(refuse(column, "expected a list of strings, got a string")),
        Raw::Number(_) | Raw::HugeNumber(_) => {
            Err(refuse(column, "expected a list of strings, got a number"))
        }
        Raw::Instant { .. } => Err(refuse(
            column,
            "expected a list of strings, got a timestamp",
        )),
        Raw::Other(what) => Err(refuse(
            column,
            format!("expected a list of strings, got {what}"),
        )),
    }
}

/// A list's elements, none of them null (a null element has no place in `List(Utf8)`
/// answers: it would be read back as an empty string or break a filter).
fn strings(column: &str, items: Vec<Option<String>>) -> Result<Vec<String>, Refusal> {
    match items.iter().position(Option::is_none) {
        Some(at) => Err(refuse(
            column,
            format!("element {} is null; list elements must be strings", at + 1),
        )),
        None => Ok(items.into_iter().flatten().collect()),
    }
}

/// An instant, refused when it lies outside the range a query can ask for (its day folder
/// could never be read).
fn instant(column: &str, raw: Raw, time_zone: Option<Tz>) -> Result<i64, Refusal> {
    let micros = unchecked_instant(column, raw, time_zone)?;
    if SUPPORTED_US.contains(&micros) {
        return Ok(micros);
    }
    let shown = DateTime::<Utc>::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs after 1970"),
        |at| at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    );
    Err(refuse(
        column,
        format!("'{shown}' is outside the range a query can ask for: {SUPPORTED_RANGE}"),
    ))
}

fn unchecked_instant(column: &str, raw: Raw, time_zone: Option<Tz>) -> Result<i64, Refusal> {
    match raw {
        Raw::Null => Err(refuse(column, "is required but missing or null")),
        Raw::Text(t) if t.is_empty() => Err(refuse(column, "is required but missing or null")),
        Raw::Instant {
            micros,
            zoned: true,
        } => Ok(micros),
        Raw::Instant {
            micros,
            zoned: false,
        } => {
            let tz = time_zone.ok_or_else(|| {
                refuse(
                    column,
                    "the input's timestamps carry no time zone: give --time-zone",
                )
            })?;
            let naive = DateTime::<Utc>::from_timestamp_micros(micros)
                .ok_or_else(|| refuse(column, "out of range"))?
                .naive_utc();
            local_to_micros(column, &naive, tz, &micros.to_string())
        }
        Raw::Text(t) => parse_instant(column, &t, time_zone),
        Raw::Number(_) | Raw::HugeNumber(_) => Err(refuse(
            column,
            "expected an RFC 3339 timestamp string, got a number",
        )),
        Raw::List(_) => Err(refuse(
            column,
            "expected an RFC 3339 timestamp string, got a list",
        )),
        Raw::Other(what) => Err(refuse(
            column,
            format!("expected an RFC 3339 timestamp string, got {what}"),
        )),
    }
}

/// RFC 3339 (`T` or a space between date and time, `Z` or an offset); without an offset,
/// read in `time_zone` when one is given.
fn parse_instant(column: &str, text: &str, time_zone: Option<Tz>) -> Result<i64, Refusal> {
    let trimmed = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(trimmed) {
        return Ok(at.timestamp_micros());
    }
    // Offsets as databases print them: `+00`, `+0530`, `+05:30`, after a `T` or a space.
    for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(at) = DateTime::parse_from_str(trimmed, format) {
            return Ok(at.timestamp_micros());
        }
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(trimmed, f).ok());
    match (naive, time_zone) {
        (Some(naive), Some(tz)) => local_to_micros(column, &naive, tz, text),
        (Some(_), None) => Err(refuse(
            column,
            format!("'{text}' has no offset: write Z or ±HH:MM, or give --time-zone"),
        )),
        (None, _) => Err(refuse(
            column,
            format!("'{text}' is not an RFC 3339 timestamp"),
        )),
    }
}

fn local_to_micros(
    column: &str,
    naive: &NaiveDateTime,
    tz: Tz,
    shown: &str,
) -> Result<i64, Refusal> {
    // An ambiguous local time takes the earlier instant; one in a gap is refused.
    tz.from_local_datetime(naive)
        .earliest()
        .map(|at| at.timestamp_micros())
        .ok_or_else(|| {
            refuse(
                column,
                format!("'{shown}' does not exist in {tz} (a clock change skips it)"),
            )
        })
}

/// The timestamp column's name, in messages.
const TIMESTAMP: &str = "timestamp";

fn set_text(event: &mut Event, column: &str, text: Option<String>) {
    let required = |t: Option<String>| t.unwrap_or_default();
    match column {
        "event_id" => event.event_id = required(text),
        "vendor" => event.vendor = text,
        "source" => event.source = text,
        "category" => event.category = required(text),
        "action" => event.action = required(text),
        "label" => event.label = required(text),
        "view_uid" => event.view_uid = text,
        "page_url" => event.page_url = text,
        "dim1" => event.dims[0] = text,
        "dim2" => event.dims[1] = text,
        "dim3" => event.dims[2] = text,
        "dim4" => event.dims[3] = text,
        "dim5" => event.dims[4] = text,
        "visitor_id" => event.visitor_id = required(text),
        "session_id" => event.session_id = required(text),
        "user_id" => event.user_id = text,
        "browser_name" => event.browser_name = text,
        "browser_version" => event.browser_version = text,
        "device_type" => event.device_type = text,
        "os_name" => event.os_name = text,
        "os_version" => event.os_version = text,
        "geo_country" => event.geo_country = text,
        "geo_city" => event.geo_city = text,
        "ip_organization" => event.ip_organization = text,
        _ => {}
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
