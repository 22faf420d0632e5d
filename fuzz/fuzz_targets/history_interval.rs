//! The history `interval` parser (`druid_k8s_server::interval::parse_interval`): never a panic;
//! a parsed interval has start ≤ end.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(i) = druid_k8s_server::interval::parse_interval(text) {
        assert!(i.start_ms <= i.end_ms, "{text}: {i:?}");
    }
});
