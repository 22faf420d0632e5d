//! ISO-8601 periods as Druid writes them (`PT4H`, `P2D`, `PT10m`, `PT300S`), converted to
//! durations the way Joda's `Period.toStandardDuration()` does: weeks are 7 days, days 24 hours;
//! months and years are rejected because their length varies.

use std::time::Duration;

use jiff::{Span, SpanRelativeTo};

/// The expected form, for error messages.
pub const PERIOD_FORM: &str = "an ISO-8601 period of weeks, days, hours, minutes and seconds such as PT4H, P2D, PT10M or PT300S";

/// Parses an ISO-8601 period into a duration. Designators are case-insensitive (Druid's own
/// default `PT10m` uses a lower-case `m`). Months, years, negative periods and jiff's "friendly"
/// forms (`4h`) are rejected with a message that says why.
///
/// ```
/// use druid_k8s_model::config::parse_period;
/// use std::time::Duration;
/// assert_eq!(parse_period("P2D").unwrap(), Duration::from_secs(172_800));
/// assert_eq!(parse_period("PT10m").unwrap(), Duration::from_secs(600));
/// assert!(parse_period("P1M").unwrap_err().contains("months"));
/// ```
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if !(text.starts_with('P') || text.starts_with('p')) {
        return Err(format!("\"{text}\" is not {PERIOD_FORM}"));
    }
    let span: Span = text
        .parse()
        .map_err(|e| format!("\"{text}\" is not {PERIOD_FORM} ({e})"))?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!(
            "\"{text}\" uses months or years, whose length varies; use days instead (e.g. P30D)"
        ));
    }
    let signed = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("\"{text}\" cannot be converted to a duration ({e})"))?;
    Duration::try_from(signed)
        .map_err(|_| format!("\"{text}\" is negative; expected {PERIOD_FORM}"))
}

/// Formats a duration as a canonical ISO-8601 period (`PT4H`, `P2D`, `PT1M30S`, `PT0.5S`).
///
/// ```
/// use druid_k8s_model::config::format_period;
/// use std::time::Duration;
/// assert_eq!(format_period(Duration::from_secs(172_800)), "P2D");
/// assert_eq!(format_period(Duration::from_secs(600)), "PT10M");
/// assert_eq!(format_period(Duration::ZERO), "PT0S");
/// ```
pub fn format_period(d: Duration) -> String {
    let total = d.as_secs();
    let nanos = d.subsec_nanos();
    let days = total / 86_400;
    let hours = (total % 86_400) / 3600;
    let minutes = (total % 3600) / 60;
    let seconds = total % 60;
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 || seconds > 0 || nanos > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if nanos > 0 {
            let frac = format!("{nanos:09}");
            out.push_str(&format!("{seconds}.{}S", frac.trim_end_matches('0')));
        } else if seconds > 0 || (hours == 0 && minutes == 0) {
            out.push_str(&format!("{seconds}S"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn druid_defaults_parse() {
        let s = |t| parse_period(t).unwrap().as_secs();
        assert_eq!(s("PT4H"), 4 * 3600);
        assert_eq!(s("P2D"), 172_800);
        assert_eq!(s("PT10m"), 600);
        assert_eq!(s("PT10M"), 600);
        assert_eq!(s("PT1M"), 60);
        assert_eq!(s("PT1H"), 3600);
        assert_eq!(s("PT300S"), 300);
        assert_eq!(s("PT5M"), 300);
        assert_eq!(s("P1W"), 7 * 86_400);
        assert_eq!(s("P1DT12H"), 129_600);
        assert_eq!(s("pt90s"), 90);
        assert_eq!(parse_period("PT0.5S").unwrap(), Duration::from_millis(500));
    }

    #[test]
    fn bad_periods_are_explained() {
        for (bad, needle) in [
            ("P1M", "months or years"),
            ("P1Y", "months or years"),
            ("P1Y2D", "months or years"),
            ("4h", "ISO-8601"),
            ("", "ISO-8601"),
            ("PT", "ISO-8601"),
            ("P2X", "ISO-8601"),
            ("-PT1H", "ISO-8601"),
        ] {
            let e = parse_period(bad).unwrap_err();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn format_round_trips() {
        for secs in [0u64, 1, 59, 60, 61, 3600, 3661, 86_400, 90_061, 172_800] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_period(&format_period(d)).unwrap(), d, "{secs}");
        }
        let d = Duration::from_millis(1500);
        assert_eq!(format_period(d), "PT1.5S");
        assert_eq!(parse_period(&format_period(d)).unwrap(), d);
    }
}
