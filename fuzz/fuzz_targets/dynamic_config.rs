//! Dynamic config JSON → `DynamicConfig` (and back): never a panic.
#![no_main]

use druid_k8s_model::DynamicConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = DynamicConfig::from_json(text) {
        let _ = serde_json::to_string(&c.to_value());
    }
});
