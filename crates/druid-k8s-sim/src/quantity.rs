//! Kubernetes resource quantities (`500m`, `2Gi`, `2400M`, `1e3`): parsing and the API server's
//! canonical form.

/// Parses a quantity to its value in base units (cores, bytes). `None` when malformed.
pub(crate) fn parse(q: &str) -> Option<f64> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let num_end = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(num_end);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0f64.powi(2),
        "Gi" => 1024.0f64.powi(3),
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        "Ei" => 1024.0f64.powi(6),
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse::<i32>().ok()?),
        _ => return None,
    };
    let v = n * mult;
    v.is_finite().then_some(v)
}

/// The canonical form the API server stores: binary suffixes stay binary, decimal values get
/// the largest exact SI suffix (`2400000000` → `2400M`, `1000m` → `1`, `0.5` → `500m`).
pub(crate) fn canonical(q: &str) -> String {
    let t = q.trim();
    let binary = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        .iter()
        .any(|s| t.ends_with(s));
    if binary {
        return t.to_owned();
    }
    let Some(v) = parse(t) else {
        return t.to_owned();
    };
    // Work in milli-units when exact; otherwise leave the input alone.
    let milli = v * 1000.0;
    if (milli - milli.round()).abs() > 1e-6 || milli.abs() > 9.0e18 {
        return t.to_owned();
    }
    let milli = milli.round() as i128;
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut units = milli / 1000;
    if units == 0 {
        return "0".to_owned();
    }
    let suffixes = ["", "k", "M", "G", "T", "P", "E"];
    let mut i = 0;
    while i + 1 < suffixes.len() && units % 1000 == 0 {
        units /= 1000;
        i += 1;
    }
    format!("{units}{}", suffixes[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("1"), Some(1.0));
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2Gi"), Some(2.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("2400M"), Some(2.4e9));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("1Q"), None);
    }

    #[test]
    fn canonicalises_like_the_api_server() {
        assert_eq!(canonical("2400000000"), "2400M");
        assert_eq!(canonical("1"), "1");
        assert_eq!(canonical("1000m"), "1");
        assert_eq!(canonical("0.5"), "500m");
        assert_eq!(canonical("2Gi"), "2Gi");
        assert_eq!(canonical("1500"), "1500");
        assert_eq!(canonical("64000"), "64k");
    }
}
