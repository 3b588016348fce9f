//! The common shape of an RFC 3339 timestamp read without chrono's general parser: the
//! typed readers parse one per row, and this shape (what exports write) is most of them.

/// The microseconds after 1970 of `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or `None`
/// for any other text (which the general parser then reads or refuses). Every text it
/// reads, chrono's `parse_from_rfc3339` reads to the same instant (tested below).
pub fn fast_utc_instant(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let count = end - start;
        if count == 0 || count > 9 {
            return None;
        }
        // Digits beyond the sixth are below a microsecond: truncated, as chrono's
        // microseconds are.
        for (i, digit) in b[start..end].iter().take(6).enumerate() {
            micros += i64::from(digit - b'0') * 10i64.pow(5 - i as u32);
        }
        at = end;
    }
    let offset_seconds = match &b[at..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let seconds = hours * 3600 + minutes * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// The value of ASCII digits, or `None` if one is not a digit.
fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |value, b| {
        b.is_ascii_digit().then(|| value * 10 + i64::from(b - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use proptest::prelude::*;

    fn chrono_micros(text: &str) -> Option<i64> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.timestamp_micros())
    }

    #[test]
    fn common_shapes_are_read_like_chrono_reads_them() {
        for text in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00.123456Z",
            "2026-03-01T10:00:00.123456789+05:30",
            "1678-01-01T00:00:00Z",
            "2261-12-31T23:59:59.999999Z",
            "1969-12-31T23:59:59.5-00:00",
            "2024-02-29T12:00:00+23:59",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(fast_utc_instant(text), chrono_micros(text), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_general_parser() {
        for text in [
            "2026-03-01 10:00:00Z",
            "2026-03-01T10:00:00",
            "2026-02-30T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T10:00:60Z",
            "2026-03-01T10:00:00.Z",
            "2026-03-01T10:00:00+0100",
            "2026-03-01t10:00:00z",
            " 2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00Z ",
            "2026-03-01T10:00:00.1234567890Z",
        ] {
            assert_eq!(fast_utc_instant(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn whatever_it_reads_chrono_reads_alike(
            year in 0i64..=9999, month in 0i64..=13, day in 0i64..=32,
            hour in 0i64..=25, minute in 0i64..=61, second in 0i64..=61,
            fraction in proptest::option::of("[0-9]{0,10}"),
            offset in prop_oneof![Just("Z".to_string()), "[+-][0-2][0-9]:[0-6][0-9]"],
        ) {
            let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
            let text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}");
            if let Some(micros) = fast_utc_instant(&text) {
                prop_assert_eq!(Some(micros), chrono_micros(&text), "{}", text);
            }
        }
    }
}
