//! Job names and label values, compatible with Druid's `KubernetesOverlordUtils` (spec §2).
//!
//! The job name is `<head>-<hash>`: `head` is the first 30 characters of the lowercased,
//! ASCII-alphanumeric-only prefix (or task id), and `hash` is Guava's `murmur3_128` (x64, seed 0)
//! of the task id's UTF-8 bytes, printed as Guava's `HashCode.toString()` does. Jobs created by
//! Druid's Java runner and by this crate therefore have the same names.

/// Longest head (prefix or task-id part) of a job name.
pub const JOB_NAME_HEAD_MAX: usize = 30;

/// Longest Kubernetes label value (and DNS-1123 label).
pub const LABEL_VALUE_MAX: usize = 63;

const C1: u64 = 0x87c3_7b91_1142_53d5;
const C2: u64 = 0x4cf5_ad43_2745_937f;

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

fn mix_k1(k1: u64) -> u64 {
    k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2)
}

fn mix_k2(k2: u64) -> u64 {
    k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1)
}

fn le_u64(bytes: &[u8]) -> u64 {
    // `bytes` has at most 8 elements; missing high bytes are zero (the tail rule of murmur3).
    bytes
        .iter()
        .enumerate()
        .fold(0u64, |acc, (i, b)| acc | (u64::from(*b) << (8 * i)))
}

/// MurmurHash3 x64 128-bit with seed 0, returned as Guava's 16 output bytes
/// (`h1` little-endian, then `h2` little-endian).
pub fn murmur3_x64_128(data: &[u8]) -> [u8; 16] {
    let mut h1: u64 = 0;
    let mut h2: u64 = 0;
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        let (lo, hi) = block.split_at(8);
        h1 ^= mix_k1(le_u64(lo));
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix_k2(le_u64(hi));
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= mix_k2(le_u64(&tail[8..]));
    }
    if !tail.is_empty() {
        h1 ^= mix_k1(le_u64(&tail[..tail.len().min(8)]));
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&h1.to_le_bytes());
    out[8..].copy_from_slice(&h2.to_le_bytes());
    out
}

/// Guava `Hashing.murmur3_128().hashString(s, UTF_8).toString()`: 32 lowercase hex characters.
pub fn murmur3_hex(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = murmur3_x64_128(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Keeps ASCII letters and digits (Java's `[a-zA-Z0-9]`), lowercased, at most `max` characters.
///
/// Unlike upstream's regex (which by accident keeps `\` and drops whitespace, spec §2.1),
/// every other character is removed, so the result is always a valid name fragment.
fn alnum_lower(s: &str, max: usize) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(max)
        .collect()
}

/// Kubernetes Job name for a task (spec §2.1).
///
/// `prefix` is `druid.indexer.runner.k8sTaskPodNamePrefix` (empty when unset). The hash is
/// always taken over the original task id. The result is a DNS-1123 label of at most 63
/// characters. When the head has no ASCII letter or digit at all (Druid would emit an invalid
/// name starting with `-`), the name is the hash alone.
///
/// ```
/// assert_eq!(druid_k8s_adapters::job_name("", "id"), "id-3e70afe5cd823dfc7dd308eea616426b");
/// ```
pub fn job_name(prefix: &str, task_id: &str) -> String {
    let base = if prefix.is_empty() { task_id } else { prefix };
    let head = alnum_lower(base, JOB_NAME_HEAD_MAX);
    let hash = murmur3_hex(task_id);
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// Task-id style label value (`druid.task.id`, `druid.task.group.id`): ASCII letters and digits
/// only, lowercased, at most 63 characters (spec §2.3).
///
/// ```
/// assert_eq!(druid_k8s_adapters::task_id_label("Index_Kafka-1"), "indexkafka1");
/// ```
pub fn task_id_label(value: &str) -> String {
    alnum_lower(value, LABEL_VALUE_MAX)
}

/// Generic label value (`druid.task.type`, `druid.task.datasource`): characters outside
/// `[A-Za-z0-9_.-]` removed (case kept), truncated to 63, then leading and trailing `_`, `.`
/// and `-` stripped (Druid's newer behaviour, spec §2.3).
///
/// ```
/// assert_eq!(druid_k8s_adapters::generic_label("_wiki pedia."), "wikipedia");
/// ```
pub fn generic_label(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(LABEL_VALUE_MAX)
        .collect();
    kept.trim_matches(|c| matches!(c, '_' | '.' | '-'))
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_vectors() {
        assert_eq!(job_name("", "id"), "id-3e70afe5cd823dfc7dd308eea616426b");
        let long = "api-issued_kill_wikipedia3_omjobnbc_1000-01-01T00:00:00.000Z_2023-05-14T00:00:00.000Z_2023-05-15T17:03:01.220Z";
        assert_eq!(
            job_name("", long),
            "apiissuedkillwikipedia3omjobnb-18ed64f09a02fab468b9bba38739871f"
        );
        assert_eq!(
            task_id_label(long),
            "apiissuedkillwikipedia3omjobnbc10000101t000000000z20230514t0000"
        );
    }

    /// Vectors of Druid's `KubernetesOverlordUtilsTest` and `K8sTaskIdTest`.
    #[test]
    fn upstream_unit_test_vectors() {
        assert_eq!(generic_label("data_source"), "data_source");
        assert_eq!(
            generic_label("_.-data_source-1.wikipedia.-_"),
            "data_source-1.wikipedia"
        );
        let kill = "api-issued_kill_wikipedia_new_balhnoib_1000-01-01T00:00:00.000Z_2023-05-14T00:00:00.000Z_2023-05-15T17:28:42.526Z";
        assert_eq!(
            task_id_label(kill),
            "apiissuedkillwikipedianewbalhnoib10000101t000000000z20230514t00"
        );
        assert_eq!(
            job_name("", kill),
            "apiissuedkillwikipedianewbalhn-8916017dfd5469fe9a8881b1035497a2"
        );
        let compact = "coordinator-issued_compact_k8smetrics_aeifmefd_2022-08-18T15:33:26.094Z";
        assert_eq!(
            job_name("", compact),
            "coordinatorissuedcompactk8smet-2e2c1862cb7ad1d01f4794b27a4438b0"
        );
        assert_eq!(
            job_name("this-is_a:VERY-very-long-task-name-prefix", compact),
            "thisisaveryverylongtasknamepre-2e2c1862cb7ad1d01f4794b27a4438b0"
        );
        for filler in ["--------", "........", "________"] {
            let long = format!(
                "very-long-datasource-name-with-many-illegal_label_endings-that-exceeds-the{filler}limit-12345678"
            );
            let label = generic_label(&long);
            assert!(
                !label.is_empty() && label.len() <= LABEL_VALUE_MAX,
                "{label}"
            );
            assert!(
                label.ends_with(|c: char| c.is_ascii_alphanumeric()),
                "{label}"
            );
        }
    }

    #[test]
    fn prefix_replaces_head_but_not_hash() {
        let name = job_name("My_Cluster.Prefix", "id");
        assert_eq!(name, "myclusterprefix-3e70afe5cd823dfc7dd308eea616426b");
    }

    #[test]
    fn whitespace_and_backslash_are_removed() {
        assert_eq!(
            job_name("", "a b\\c").split('-').next(),
            Some("abc"),
            "upstream's regex would keep the backslash"
        );
    }

    #[test]
    fn non_ascii_letters_are_removed() {
        assert_eq!(task_id_label("Ünïcødé-ID"), "ncdid");
    }

    #[test]
    fn no_alphanumerics_gives_the_hash_alone() {
        let name = job_name("", "___");
        assert_eq!(name.len(), 32);
        assert!(!name.starts_with('-'));
    }

    #[test]
    fn murmur_blocks_and_tails() {
        // Every tail length 0..=15 and more than one block go through the same code path as the
        // upstream vectors; pin the empty input (seed 0 hashes to all zeroes).
        assert_eq!(murmur3_hex(""), "00000000000000000000000000000000");
        // Guava's own test vector (seed 0): h1 = 0xe34bbc7bbc071b6c, h2 = 0x7a433ca9c49a9347.
        assert_eq!(
            murmur3_hex("The quick brown fox jumps over the lazy dog"),
            "6c1b07bc7bbc4be347939ac4a93c437a"
        );
        let hashes: std::collections::BTreeSet<String> =
            (0..40).map(|n| murmur3_hex(&"x".repeat(n))).collect();
        assert_eq!(hashes.len(), 40);
    }

    #[test]
    fn generic_label_truncates_then_strips() {
        let value = format!("{}_x", "a".repeat(62));
        // truncated to 62 a's + '_', then the trailing '_' is stripped
        assert_eq!(generic_label(&value), "a".repeat(62));
        assert_eq!(generic_label("-.-"), "");
        assert_eq!(generic_label("Index_Kafka"), "Index_Kafka");
    }
}
