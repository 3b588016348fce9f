//! The `interval` of SPEC §2: ISO 8601 bounds, read in `time_zone` when they carry no
//! offset, turned into an inclusive range of UTC microseconds (the events' precision).

use std::ops::RangeInclusive;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The instants a query can ask for, in UTC microseconds: the whole UTC days from
/// 1678-01-01 to 2261-12-31, inside what bounds parsed at nanosecond precision can express.
/// `ingest` refuses events outside it, so that every event of the lake can be asked for.
pub const SUPPORTED_US: RangeInclusive<i64> = -9_214_560_000_000_000..=9_214_646_399_999_999;

/// [`SUPPORTED_US`] in messages.
pub const SUPPORTED_RANGE: &str = "1678-01-01 to 2261-12-31 (UTC)";

/// An inclusive range of instants, in microseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// The first microsecond included.
    pub start_us: i64,
    /// The last microsecond included.
    pub end_us: i64,
}

/// Which end of the interval a bound is; a date without a time means the whole day, so
/// it stands for the day's first instant at the start and its last instant at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Start,
    End,
}

impl Interval {
    /// Parses the two bounds; `time_zone` (IANA name) applies to bounds without an offset.
    pub fn parse(start: &str, end: &str, time_zone: Option<&str>) -> Result<Interval, String> {
        let tz: Tz = match time_zone {
            None => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| format!("interval.time_zone: unknown time zone '{name}' (use an IANA name such as 'Europe/Paris')"))?,
        };
        let start_ns =
            parse_bound(start, tz, End::Start).map_err(|e| format!("interval.start: {e}"))?;
        let end_ns = parse_bound(end, tz, End::End).map_err(|e| format!("interval.end: {e}"))?;
        // Events have microsecond precision: a start inside a microsecond excludes it, an
        // end inside a microsecond includes it.
        let (start_us, end_us) = (
            start_ns.div_euclid(1000) + i64::from(start_ns.rem_euclid(1000) != 0),
            end_ns.div_euclid(1000),
        );
        if !SUPPORTED_US.contains(&start_us) {
            return Err(format!("interval.start: {}", out_of_range(start)));
        }
        if !SUPPORTED_US.contains(&end_us) {
            return Err(format!("interval.end: {}", out_of_range(end)));
        }
        if start_ns > end_ns {
            return Err(format!("interval: start '{start}' is after end '{end}'"));
        }
        Ok(Interval { start_us, end_us })
    }

    /// The UTC dates the interval touches, first to last (empty when it holds no instant).
    pub fn utc_days(&self) -> Vec<NaiveDate> {
        let (Some(first), Some(last)) = (
            DateTime::<Utc>::from_timestamp_micros(self.start_us),
            DateTime::<Utc>::from_timestamp_micros(self.end_us),
        ) else {
            return Vec::new();
        };
        if self.start_us > self.end_us {
            return Vec::new();
        }
        first
            .date_naive()
            .iter_days()
            .take_while(|d| *d <= last.date_naive())
            .collect()
    }
}

fn out_of_range(text: &str) -> String {
    format!("'{text}' is outside the range a query can ask for: {SUPPORTED_RANGE}")
}

/// Parses one bound into nanoseconds since the epoch.
fn parse_bound(text: &str, tz: Tz, end: End) -> Result<i64, String> {
    let invalid = || format!("'{text}' is not an ISO 8601 date or date-time");
    let out_of_range = || out_of_range(text);
    let instant = if let Some((naive, offset)) = split_offset(text) {
        let local = parse_naive_datetime(naive).ok_or_else(invalid)?;
        let offset = match offset {
            Some(offset) => offset,
            None => local_offset(tz, local),
        };
        local.checked_sub_signed(Duration::seconds(i64::from(offset.local_minus_utc())))
    } else {
        let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid())?;
        match end {
            End::Start => at_local_midnight(tz, date),
            End::End => {
                let next = date.succ_opt().ok_or_else(out_of_range)?;
                at_local_midnight(tz, next)
                    .and_then(|midnight| midnight.checked_sub_signed(Duration::nanoseconds(1)))
            }
        }
    };
    // Arithmetic at the edges of the calendar has no answer rather than a panic.
    let instant = instant.ok_or_else(out_of_range)?;
    instant
        .and_utc()
        .timestamp_nanos_opt()
        .ok_or_else(out_of_range)
}

fn at_local_midnight(tz: Tz, date: NaiveDate) -> Option<NaiveDateTime> {
    let local = date.and_hms_opt(0, 0, 0)?;
    local.checked_sub_signed(Duration::seconds(i64::from(
        local_offset(tz, local).local_minus_utc(),
    )))
}

/// The offset of `tz` at a local wall-clock time. Ambiguous times (clocks set back) take
/// the earlier instant; times skipped by a forward jump use the offset in force before
/// the jump. Both are what Python's `zoneinfo` does with `fold=0`.
fn local_offset(tz: Tz, local: NaiveDateTime) -> FixedOffset {
    match tz.offset_from_local_datetime(&local) {
        chrono::LocalResult::Single(offset) => offset.fix(),
        chrono::LocalResult::Ambiguous(earliest, latest) => {
            // The earlier instant is the one with the larger offset.
            if earliest.fix().local_minus_utc() >= latest.fix().local_minus_utc() {
                earliest.fix()
            } else {
                latest.fix()
            }
        }
        chrono::LocalResult::None => tz
            .offset_from_utc_datetime(&local.checked_sub_signed(Duration::days(1)).unwrap_or(local))
            .fix(),
    }
}

/// Splits a date-time into its wall-clock part and its offset (`None` when it has none).
/// Returns `None` when the text is a date without a time.
fn split_offset(text: &str) -> Option<(&str, Option<FixedOffset>)> {
    let time_at = text.find(['T', 't', ' '])?;
    if let Some(rest) = text.strip_suffix(['Z', 'z']) {
        return Some((rest, FixedOffset::east_opt(0)));
    }
    let time = &text[time_at + 1..];
    match time.rfind(['+', '-']) {
        Some(sign_at) => {
            let at = time_at + 1 + sign_at;
            let offset = parse_offset(&text[at..]);
            // An unparsable offset leaves the text whole, so the time parse reports it.
            match offset {
                Some(offset) => Some((&text[..at], Some(offset))),
                None => Some((text, None)),
            }
        }
        None => Some((text, None)),
    }
}

/// `+HH:MM`, `+HHMM` or `+HH` (and the same with `-`).
fn parse_offset(text: &str) -> Option<FixedOffset> {
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    let with_colon = text[1..].contains(':');
    if !digits.chars().all(|c| c.is_ascii_digit()) || (with_colon && text.len() != 6) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn parse_naive_datetime(text: &str) -> Option<NaiveDateTime> {
    let normalized: String = text
        .chars()
        .map(|c| if c == 't' || c == ' ' { 'T' } else { c })
        .collect();
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(&normalized, format).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounds_at_the_edges_of_the_calendar_are_refused_not_panics() {
        for (start, end) in [
            ("-262143-01-01T00:00:00+05:00", "2026-03-01"),
            (
                "+262142-12-31T23:59:59-05:00",
                "+262142-12-31T23:59:59-05:00",
            ),
            ("-262143-01-01", "+262142-12-31"),
            ("2026-03-01", "+262142-12-31"),
        ] {
            let outcome = std::panic::catch_unwind(|| {
                Interval::parse(start, end, Some("Pacific/Kiritimati"))
            });
            assert!(
                outcome.is_ok_and(|parsed| parsed.is_err()),
                "{start} .. {end}"
            );
        }
    }

    use super::*;

    fn us(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn the_supported_range_is_the_whole_days_its_message_names() {
        let whole = Interval::parse("1678-01-01", "2261-12-31", None).unwrap();
        assert_eq!(whole.start_us..=whole.end_us, SUPPORTED_US);
        assert_eq!(
            (whole.start_us, whole.end_us),
            (
                us("1678-01-01T00:00:00Z"),
                us("2261-12-31T23:59:59.999999Z")
            )
        );
        for (start, end) in [
            ("1677-12-31T23:59:59.999999Z", "1678-01-02"),
            ("2261-12-30", "2262-01-01T00:00:00Z"),
            ("1678-01-01", "2261-12-31T23:00:00-01:00"),
        ] {
            let refused = Interval::parse(start, end, None).unwrap_err();
            assert!(
                refused.contains(SUPPORTED_RANGE),
                "{start} .. {end}: {refused}"
            );
        }
        assert!(
            Interval::parse("1678-01-01", "1678-01-01", Some("Asia/Tokyo")).is_err(),
            "its local midnight is in 1677 in UTC"
        );
    }

    #[test]
    fn utc_bounds_with_z_are_read_as_given() {
        let i = Interval::parse("2026-03-01T00:00:00Z", "2026-03-31T23:59:59.999Z", None).unwrap();
        assert_eq!(i.start_us, us("2026-03-01T00:00:00Z"));
        assert_eq!(i.end_us, us("2026-03-31T23:59:59.999Z"));
    }

    #[test]
    fn offsets_override_the_time_zone() {
        let i = Interval::parse(
            "2026-03-01T02:00:00+02:00",
            "2026-03-01T02:00:00-0130",
            Some("Asia/Tokyo"),
        )
        .unwrap();
        assert_eq!(i.start_us, us("2026-03-01T00:00:00Z"));
        assert_eq!(i.end_us, us("2026-03-01T03:30:00Z"));
    }

    #[test]
    fn a_time_without_offset_is_read_in_the_time_zone() {
        let i = Interval::parse(
            "2026-01-10T09:00:00",
            "2026-07-10T09:00:00",
            Some("Europe/Paris"),
        )
        .unwrap();
        assert_eq!(i.start_us, us("2026-01-10T08:00:00Z"));
        assert_eq!(i.end_us, us("2026-07-10T07:00:00Z"));
    }

    #[test]
    fn a_date_alone_covers_the_whole_day_in_the_time_zone() {
        let i = Interval::parse("2026-03-02", "2026-03-02", Some("America/New_York")).unwrap();
        assert_eq!(i.start_us, us("2026-03-02T05:00:00Z"));
        assert_eq!(i.end_us, us("2026-03-03T04:59:59.999999Z"));
    }

    #[test]
    fn sub_microsecond_bounds_round_inwards() {
        let i = Interval::parse(
            "2026-03-01T00:00:00.0000001Z",
            "2026-03-01T00:00:01.0000009Z",
            None,
        )
        .unwrap();
        assert_eq!(i.start_us, us("2026-03-01T00:00:00.000001Z"));
        assert_eq!(i.end_us, us("2026-03-01T00:00:01Z"));
    }

    #[test]
    fn dst_gap_and_overlap_follow_fold_zero() {
        // 02:30 does not exist in Paris on 2026-03-29: read with the winter offset (+01:00).
        let gap = Interval::parse(
            "2026-03-29T02:30:00",
            "2026-03-29T02:30:00",
            Some("Europe/Paris"),
        )
        .unwrap();
        assert_eq!(gap.start_us, us("2026-03-29T01:30:00Z"));
        // 02:30 happens twice on 2026-10-25: the first one (+02:00).
        let overlap = Interval::parse(
            "2026-10-25T02:30:00",
            "2026-10-25T02:30:00",
            Some("Europe/Paris"),
        )
        .unwrap();
        assert_eq!(overlap.start_us, us("2026-10-25T00:30:00Z"));
    }

    #[test]
    fn start_after_end_is_an_error_but_equal_is_not() {
        assert!(
            Interval::parse("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z", None)
                .unwrap_err()
                .contains("after")
        );
        assert!(Interval::parse("2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z", None).is_ok());
    }

    #[test]
    fn bad_bounds_and_zones_name_the_key() {
        assert!(
            Interval::parse("yesterday", "2026-03-01T00:00:00Z", None)
                .unwrap_err()
                .starts_with("interval.start")
        );
        assert!(
            Interval::parse("2026-03-01T00:00:00Z", "2026-13-01T00:00:00Z", None)
                .unwrap_err()
                .starts_with("interval.end")
        );
        assert!(Interval::parse("2026-03-01T00:00:00Z", "2026-03-01T25:00:00Z", None).is_err());
        assert!(
            Interval::parse("2026-03-01T00:00:00+25:00", "2026-03-02T00:00:00Z", None).is_err()
        );
        assert!(
            Interval::parse("2026-03-01", "2026-03-02", Some("Mars/Olympus"))
                .unwrap_err()
                .contains("time_zone")
        );
    }

    #[test]
    fn utc_days_cover_both_ends() {
        let i = Interval::parse("2026-03-01T23:00:00-02:00", "2026-03-03T00:00:00Z", None).unwrap();
        let days: Vec<String> = i.utc_days().iter().map(|d| d.to_string()).collect();
        assert_eq!(days, ["2026-03-02", "2026-03-03"]);
    }
}
