//! Small helpers: uids, generated names, timestamps.

use std::time::{Duration, Instant};

use rand::Rng;

/// Kubernetes' alphabet for generated name suffixes (no vowels, no confusable characters).
pub(crate) const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random RFC 4122 version-4 uid.
pub(crate) fn new_uid() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `n` random characters from [`NAME_ALPHABET`].
pub(crate) fn random_suffix(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char)
        .collect()
}

/// Random lowercase hex of `n` characters.
pub(crate) fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Now, in the API's `metav1.Time` form (RFC 3339, seconds).
pub(crate) fn now_str() -> String {
    fmt_ts(jiff::Timestamp::now())
}

/// Formats a timestamp as `2026-11-23T06:51:31Z`.
pub(crate) fn fmt_ts(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses an API timestamp.
pub(crate) fn parse_ts(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// The `Instant` corresponding to a wall-clock timestamp (now if it is in the past).
pub(crate) fn instant_at(ts: jiff::Timestamp) -> Instant {
    let now = jiff::Timestamp::now();
    let delta = ts.as_millisecond() - now.as_millisecond();
    if delta <= 0 {
        Instant::now()
    } else {
        Instant::now() + Duration::from_millis(delta as u64)
    }
}

/// `ts + secs`.
pub(crate) fn add_secs(ts: jiff::Timestamp, secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(
        ts.as_millisecond()
            .saturating_add(secs.saturating_mul(1000)),
    )
    .unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_and_suffix_shapes() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        let s = random_suffix(5);
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|c| NAME_ALPHABET.contains(&c)));
        assert_eq!(random_hex(16).len(), 16);
    }

    #[test]
    fn timestamps_round_trip() {
        let s = now_str();
        assert!(s.ends_with('Z') && s.len() == 20, "{s}");
        let t = parse_ts(&s).unwrap();
        assert_eq!(fmt_ts(t), s);
        assert_eq!(
            fmt_ts(add_secs(t, 2)),
            fmt_ts(parse_ts(&s).unwrap() + jiff::SignedDuration::from_secs(2))
        );
    }
}
