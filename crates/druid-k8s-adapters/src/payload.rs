//! Task payload codec: gzip + standard base64, as Druid's `Base64Compression` (spec §4.1).

use std::io::{Read, Write};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use flate2::Compression;
use flate2::GzBuilder;
use flate2::read::MultiGzDecoder;

use crate::AdapterError;

/// Largest encoded payload (in characters) that is put inline in the Job (`TASK_JSON` env or the
/// `task` annotation): 127 × 1024. Larger payloads go to task-log storage as `task.json`.
pub const MAX_INLINE_PAYLOAD_CHARS: usize = 130_048;

/// Upper bound on the size of a decoded payload, so a hostile Job cannot make a decoder
/// allocate without bound (a gzip bomb). Real task JSON is far smaller.
pub const MAX_DECODED_PAYLOAD_BYTES: u64 = 256 * 1024 * 1024;

/// Standard alphabet, padding optional and trailing bits ignored when decoding, as Java's
/// `Base64.getDecoder()` (which Druid's `Base64Compression` uses) accepts.
const JAVA_DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Gzip (default level, header with mtime 0 and OS 0 like Java's `GZIPOutputStream`) and
/// base64-encode (standard alphabet, padded, no line breaks) a payload. The result starts with
/// `H4sI`.
///
/// ```
/// let encoded = druid_k8s_adapters::payload::encode(b"{\"id\":\"x\"}");
/// assert!(encoded.starts_with("H4sIAAAAAAAAA"));
/// let decoded = druid_k8s_adapters::payload::decode(&encoded).unwrap();
/// assert_eq!(decoded, "{\"id\":\"x\"}");
/// ```
pub fn encode(json: &[u8]) -> String {
    let mut gz = GzBuilder::new().operating_system(0).write(
        Vec::with_capacity(json.len() / 3 + 32),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let compressed = gz
        .write_all(json)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    STANDARD.encode(compressed)
}

/// Reverse of [`encode`]: base64-decode, gunzip, and check the result is UTF-8. Accepts what
/// Druid's decoder accepts: missing `=` padding, and gzip streams of several members (read
/// one after the other, as Java's `GZIPInputStream` does).
pub fn decode(encoded: &str) -> Result<String, AdapterError> {
    let compressed = JAVA_DECODER
        .decode(encoded.trim())
        .map_err(|e| AdapterError::Payload(format!("payload is not valid base64: {e}")))?;
    let mut out = Vec::new();
    MultiGzDecoder::new(compressed.as_slice())
        .take(MAX_DECODED_PAYLOAD_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| AdapterError::Payload(format!("payload is not valid gzip: {e}")))?;
    if out.len() as u64 > MAX_DECODED_PAYLOAD_BYTES {
        return Err(AdapterError::Payload(format!(
            "decoded payload is larger than {MAX_DECODED_PAYLOAD_BYTES} bytes"
        )));
    }
    String::from_utf8(out)
        .map_err(|e| AdapterError::Payload(format!("decoded payload is not UTF-8: {e}")))
}

/// Whether an encoded payload of this length is carried inline in the Job. `true` up to and
/// including [`MAX_INLINE_PAYLOAD_CHARS`]; above it the payload goes to task-log storage.
/// The same predicate decides both, so there is no length at which the task is lost
/// (upstream's overlord adapters lose exactly-130048-character payloads, spec §4.1).
pub fn fits_inline(encoded_len: usize) -> bool {
    encoded_len <= MAX_INLINE_PAYLOAD_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_upstream_fixture_payload() {
        // TASK_JSON of Druid's expectedSingleContainerOutput.yaml (produced by Java's encoder).
        let java = "H4sIAAAAAAAAAEVOOw7CMAy9i+cOBYmlK0KItWVhNI0BSyEOToKoqt4doxZYLPv9/EbIQyRoIIhEqICd7TYquKqUePidDjN2UrSfxYEM0xKOfDdgvalr86aW0A0z9L9bSsVnc512nZkurHSTZJJQvK+gl5DpZfwIUVmU8wDNarJ0Ssu/EfCJ7PHM3tj9p9i3ltKjWKDbYsR+sU5vP86oMNUAAAA=";
        let json = decode(java).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["id"], "id");
    }

    #[test]
    fn header_matches_java() {
        assert!(encode(b"{}").starts_with("H4sIAAAAAAAAA"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            decode("not base64!"),
            Err(AdapterError::Payload(_))
        ));
        assert!(matches!(decode("aGVsbG8="), Err(AdapterError::Payload(_))));
    }

    /// Druid decodes with `java.util.Base64.getDecoder()`, which does not require the `=`
    /// padding, and `GZIPInputStream`, which reads every member of a multi-member gzip stream.
    #[test]
    fn decodes_what_java_decodes() {
        let json = r#"{"id":"pad","type":"noop"}"#;
        let encoded = encode(json.as_bytes());
        let unpadded = encoded.trim_end_matches('=');
        assert_ne!(unpadded, encoded, "this payload must need padding");
        assert_eq!(decode(unpadded).unwrap(), json);

        let mut members = Vec::new();
        for part in [r#"{"id":"a","#, r#""type":"noop"}"#] {
            let mut gz = GzBuilder::new().write(Vec::new(), Compression::default());
            gz.write_all(part.as_bytes()).unwrap();
            members.extend(gz.finish().unwrap());
        }
        assert_eq!(
            decode(&STANDARD.encode(members)).unwrap(),
            r#"{"id":"a","type":"noop"}"#
        );
    }

    #[test]
    fn threshold_has_no_gap() {
        assert!(fits_inline(MAX_INLINE_PAYLOAD_CHARS));
        assert!(!fits_inline(MAX_INLINE_PAYLOAD_CHARS + 1));
    }
}
