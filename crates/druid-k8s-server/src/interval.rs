//! ISO-8601 intervals as Druid (Joda `Intervals.of`) accepts them in query parameters:
//! `start/end`, `start/period` and `period/end`, where an instant is a date (`2023-07-13`), a
//! date-time without offset (taken as UTC) or a date-time with `Z` or an offset.

use std::str::FromStr;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

/// A half-open-or-closed time range in epoch milliseconds (`start <= end`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Start, epoch ms.
    pub start_ms: i64,
    /// End, epoch ms.
    pub end_ms: i64,
}

fn parse_instant(text: &str) -> Result<Zoned, String> {
    let t = text.trim();
    if let Ok(ts) = Timestamp::from_str(t) {
        return Ok(ts.to_zoned(TimeZone::UTC));
    }
    if let Ok(dt) = DateTime::from_str(t) {
        return dt
            .to_zoned(TimeZone::UTC)
            .map_err(|e| format!("[{t}] is out of range: {e}"));
    }
    if let Ok(d) = Date::from_str(t) {
        return d
            .to_zoned(TimeZone::UTC)
            .map_err(|e| format!("[{t}] is out of range: {e}"));
    }
    Err(format!(
        "[{t}] is not an ISO-8601 instant (expected e.g. 2023-07-13 or 2023-07-13T10:00:00Z)"
    ))
}

fn parse_period(text: &str) -> Option<Span> {
    let t = text.trim();
    if !(t.starts_with('P') || t.starts_with('p')) {
        return None;
    }
    Span::from_str(t).ok()
}

/// Parses `start/end`, `start/PERIOD` or `PERIOD/end`.
pub fn parse_interval(text: &str) -> Result<Interval, String> {
    let (left, right) = text.split_once('/').ok_or_else(|| {
        format!(
            "Invalid interval [{text}]: expected ISO-8601 'start/end' (e.g. 2023-07-13/2023-07-19)"
        )
    })?;
    let bad = |m: String| format!("Invalid interval [{text}]: {m}");
    let (start, end) = match (parse_period(left), parse_period(right)) {
        (Some(_), Some(_)) => return Err(bad("both sides are periods".into())),
        (None, Some(p)) => {
            let s = parse_instant(left).map_err(bad)?;
            let e = s.checked_add(p).map_err(|e| bad(e.to_string()))?;
            (s, e)
        }
        (Some(p), None) => {
            let e = parse_instant(right).map_err(bad)?;
            let s = e.checked_sub(p).map_err(|e| bad(e.to_string()))?;
            (s, e)
        }
        (None, None) => (
            parse_instant(left).map_err(bad)?,
            parse_instant(right).map_err(bad)?,
        ),
    };
    let (start_ms, end_ms) = (
        start.timestamp().as_millisecond(),
        end.timestamp().as_millisecond(),
    );
    if end_ms < start_ms {
        return Err(bad("the end is before the start".into()));
    }
    Ok(Interval { start_ms, end_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        Timestamp::from_str(s).unwrap().as_millisecond()
    }

    #[test]
    fn forms() {
        let i = parse_interval("2023-07-13/2023-07-19").unwrap();
        assert_eq!(i.start_ms, ms("2023-07-13T00:00:00Z"));
        assert_eq!(i.end_ms, ms("2023-07-19T00:00:00Z"));
        let i = parse_interval("2024-06-13T20:59:51.622Z/2024-06-13T21:00:00+01:00").unwrap_err();
        assert!(i.contains("end is before"), "{i}");
        let i = parse_interval("2024-06-13T20:00:00/PT1H").unwrap();
        assert_eq!(i.end_ms - i.start_ms, 3_600_000);
        let i = parse_interval("P1D/2024-06-14").unwrap();
        assert_eq!(i.start_ms, ms("2024-06-13T00:00:00Z"));
        let i = parse_interval("2024-01-31/P1M").unwrap();
        assert_eq!(i.end_ms, ms("2024-02-29T00:00:00Z"));
    }

    #[test]
    fn malformed_is_an_error_naming_the_input() {
        for bad in [
            "",
            "yesterday",
            "2023-07-13",
            "2023-13-01/2023-12-01",
            "P1D/P2D",
            "a/b",
        ] {
            let err = parse_interval(bad).unwrap_err();
            assert!(err.contains(&format!("[{bad}]")), "{bad}: {err}");
        }
    }
}
