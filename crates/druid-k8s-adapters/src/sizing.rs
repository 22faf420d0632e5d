//! Peon container sizing from Java options (spec §5.3), with Druid's `HumanReadableBytes`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::AdapterError;

/// Heap size assumed when no `-Xmx` is given (`"1G"` = 10⁹ bytes in Druid's decimal units).
pub const DEFAULT_HEAP_BYTES: u64 = 1_000_000_000;

/// CPU in millicores used when `cpuCoreInMicro` is zero or negative.
pub const DEFAULT_CPU_MILLICORES: i64 = 1000;

const XMX: &str = "-Xmx";
const MAX_DIRECT: &str = "-XX:MaxDirectMemorySize=";

/// Parses a byte count the way Druid's `HumanReadableBytes.parse` does: case-insensitive,
/// surrounding whitespace ignored, decimal `k m g t p` (10³ … 10¹⁵) and binary `Ki Mi Gi Ti Pi`
/// (optionally followed by `B`), no fractions, no minus sign (a leading `+` is accepted, as
/// Java's `Long.parseLong` does). Overflow is an error.
///
/// ```
/// use druid_k8s_adapters::sizing::parse_human_readable_bytes;
/// assert_eq!(parse_human_readable_bytes("1g"), Ok(1_000_000_000));
/// assert_eq!(parse_human_readable_bytes("512MiB"), Ok(512 * 1024 * 1024));
/// assert!(parse_human_readable_bytes("1.5g").is_err());
/// ```
pub fn parse_human_readable_bytes(raw: &str) -> Result<u64, String> {
    let number = raw.trim().to_ascii_lowercase();
    if number.is_empty() {
        return Err("the value is blank".to_owned());
    }
    if number.starts_with('-') {
        return Err(format!("{raw:?} is negative"));
    }
    let (digits, binary) = if let Some(rest) = number.strip_suffix("ib") {
        (rest, true)
    } else if let Some(rest) = number.strip_suffix('i') {
        (rest, true)
    } else {
        (number.as_str(), false)
    };
    let (digits, base) = match digits.chars().last() {
        Some(unit @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            let power = match unit {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                _ => 5,
            };
            let base: u64 = if binary {
                1024u64.pow(power)
            } else {
                1000u64.pow(power)
            };
            (&digits[..digits.len() - 1], base)
        }
        _ if binary => {
            return Err(format!(
                "{raw:?} has an unknown unit (expected one of k, m, g, t, p, KiB, MiB, GiB, TiB, PiB)"
            ));
        }
        _ => (digits, 1),
    };
    // Druid hands the digits to Java's `Long.parseLong`, which accepts one leading `+`.
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{raw:?} is not a whole number of bytes with an optional unit (k, m, g, t, p, KiB, MiB, GiB, TiB, PiB)"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(base))
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| format!("{raw:?} is too large"))
}

/// The last token starting with `qualifier`, and its value parsed as bytes.
fn last_option_bytes(
    qualifier: &str,
    java_opts: &[String],
) -> Result<Option<(String, u64)>, AdapterError> {
    match java_opts.iter().rev().find(|t| t.starts_with(qualifier)) {
        None => Ok(None),
        Some(token) => parse_human_readable_bytes(&token[qualifier.len()..])
            .map(|bytes| Some((token.clone(), bytes)))
            .map_err(|reason| AdapterError::InvalidJavaOption {
                option: token.clone(),
                reason,
            }),
    }
}

/// How the container memory was derived from the Java options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemorySizing {
    /// Heap bytes.
    pub heap: u64,
    /// The `-Xmx` token used (`None`: the 10⁹ default).
    pub heap_option: Option<String>,
    /// Direct memory bytes.
    pub direct: u64,
    /// The `-XX:MaxDirectMemorySize=` token used (`None`: same as the heap).
    pub direct_option: Option<String>,
    /// The container memory: `(heap + direct) × 1.2`, truncated.
    pub bytes: u64,
}

impl std::fmt::Display for MemorySizing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let heap = self.heap_option.as_deref().unwrap_or("default 1G");
        let direct = self
            .direct_option
            .as_deref()
            .unwrap_or("default: same as the heap");
        write!(
            f,
            "{} bytes = (heap {} [{heap}] + direct {} [{direct}]) x 1.2",
            self.bytes, self.heap, self.direct
        )
    }
}

/// Container memory from the Java options, with where each number came from; see
/// [`container_memory_bytes`].
pub fn memory_sizing(java_opts: &[String]) -> Result<MemorySizing, AdapterError> {
    let heap_opt = last_option_bytes(XMX, java_opts)?;
    let heap = heap_opt.as_ref().map_or(DEFAULT_HEAP_BYTES, |(_, b)| *b);
    let direct_opt = last_option_bytes(MAX_DIRECT, java_opts)?;
    let direct = direct_opt.as_ref().map_or(heap, |(_, b)| *b);
    let sum = heap
        .checked_add(direct)
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| AdapterError::InvalidJavaOption {
            option: format!("{XMX}{heap} + {MAX_DIRECT}{direct}"),
            reason: "the sum does not fit in 64 bits".to_owned(),
        })?;
    // Druid computes this in double precision and truncates toward zero; do the same so the
    // number is identical. `as` saturates, like Java's (long) cast.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let bytes = ((sum as f64) * 1.2) as u64;
    Ok(MemorySizing {
        heap,
        heap_option: heap_opt.map(|(t, _)| t),
        direct,
        direct_option: direct_opt.map(|(t, _)| t),
        bytes,
    })
}

/// Container memory in bytes: `(MaxDirectMemorySize + Xmx) × 1.2`, truncated, where each value is
/// the **last** matching token; `Xmx` defaults to 10⁹ and `MaxDirectMemorySize` to `Xmx`.
///
/// ```
/// use druid_k8s_adapters::sizing::container_memory_bytes;
/// assert_eq!(container_memory_bytes(&[]).unwrap(), 2_400_000_000);
/// let opts = ["-Xmx512m".to_owned(), "-XX:MaxDirectMemorySize=1g".to_owned()];
/// assert_eq!(container_memory_bytes(&opts).unwrap(), 1_814_400_000);
/// ```
pub fn container_memory_bytes(java_opts: &[String]) -> Result<u64, AdapterError> {
    memory_sizing(java_opts).map(|m| m.bytes)
}

/// The cpu quantity for `cpuCoreInMicro` (millicores despite the name): `"<n>m"`, or `"1000m"`
/// when zero or negative.
pub fn cpu_quantity(cpu_core_in_micro: i64) -> Quantity {
    let millis = if cpu_core_in_micro > 0 {
        cpu_core_in_micro
    } else {
        DEFAULT_CPU_MILLICORES
    };
    Quantity(format!("{millis}m"))
}

/// Merges `cpu` and `memory` into existing requirements as Druid does: an absent or empty
/// `requests`/`limits` map becomes `{cpu, memory}`; otherwise only those two keys are replaced
/// and other keys (such as `ephemeral-storage`) are kept (#14201).
pub fn merge_resources(
    existing: Option<ResourceRequirements>,
    cpu: Quantity,
    memory_bytes: u64,
) -> ResourceRequirements {
    let mut req = existing.unwrap_or_default();
    let memory = Quantity(memory_bytes.to_string());
    for map in [&mut req.requests, &mut req.limits] {
        let m = map.get_or_insert_with(BTreeMap::new);
        m.insert("cpu".to_owned(), cpu.clone());
        m.insert("memory".to_owned(), memory.clone());
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn units() {
        for (input, want) in [
            ("1", 1),
            ("1k", 1000),
            ("1K", 1000),
            ("2m", 2_000_000),
            ("3G", 3_000_000_000),
            ("1t", 1_000_000_000_000),
            ("1p", 1_000_000_000_000_000),
            ("1Ki", 1024),
            ("1KiB", 1024),
            ("1mib", 1 << 20),
            ("1GiB", 1 << 30),
            ("1TiB", 1 << 40),
            ("1PiB", 1 << 50),
            (" 7g ", 7_000_000_000),
            // Java's Long.parseLong accepts one leading plus sign.
            ("+1g", 1_000_000_000),
            ("+5", 5),
            ("+2GiB", 2 << 30),
        ] {
            assert_eq!(parse_human_readable_bytes(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn invalid_values() {
        for input in [
            "",
            "-1g",
            "1.5g",
            "1kb",
            "1KB",
            "g",
            "Gi",
            "1x",
            "1 g",
            "99999999999999999999",
            "9999999p",
            "+",
            "++1g",
            "+-1",
            "1+g",
        ] {
            assert!(parse_human_readable_bytes(input).is_err(), "{input}");
        }
    }

    #[test]
    fn druid_examples() {
        assert_eq!(container_memory_bytes(&[]).unwrap(), 2_400_000_000);
        assert_eq!(
            container_memory_bytes(&opts("-Xms512m -Xmx512m -XX:MaxDirectMemorySize=1g")).unwrap(),
            1_814_400_000
        );
        assert_eq!(
            container_memory_bytes(&opts("-Xms1G -Xmx2G -XX:MaxDirectMemorySize=3G")).unwrap(),
            6_000_000_000
        );
    }

    #[test]
    fn last_token_wins() {
        assert_eq!(
            container_memory_bytes(&opts("-Xmx10g -Xmx1g")).unwrap(),
            2_400_000_000
        );
    }

    #[test]
    fn invalid_option_is_named() {
        let err = container_memory_bytes(&opts("-Xmx1.5g")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("-Xmx1.5g"), "{msg}");
        let err = container_memory_bytes(&opts("-XX:MaxDirectMemorySize=lots")).unwrap_err();
        assert!(err.to_string().contains("-XX:MaxDirectMemorySize=lots"));
    }

    #[test]
    fn sizing_tells_where_numbers_come_from() {
        let m = memory_sizing(&opts("-Xmx1g -Xmx3g")).unwrap();
        assert_eq!(m.heap_option.as_deref(), Some("-Xmx3g"));
        assert_eq!(m.direct_option, None);
        assert_eq!(
            m.to_string(),
            "7200000000 bytes = (heap 3000000000 [-Xmx3g] + direct 3000000000 [default: same as the heap]) x 1.2"
        );
    }

    #[test]
    fn cpu() {
        assert_eq!(cpu_quantity(0).0, "1000m");
        assert_eq!(cpu_quantity(-5).0, "1000m");
        assert_eq!(cpu_quantity(2000).0, "2000m");
    }

    #[test]
    fn merge_keeps_other_keys() {
        let existing = ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("1m".to_owned())),
                ("ephemeral-storage".to_owned(), Quantity("10Gi".to_owned())),
            ])),
            requests: Some(BTreeMap::new()),
            ..Default::default()
        };
        let merged = merge_resources(Some(existing), cpu_quantity(0), 5);
        let limits = merged.limits.unwrap();
        assert_eq!(limits["ephemeral-storage"].0, "10Gi");
        assert_eq!(limits["memory"].0, "5");
        let requests = merged.requests.unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests["cpu"].0, "1000m");
    }
}
