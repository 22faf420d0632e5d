//! runtime.properties text → `RawConfig` → validated `RunnerConfig`: never a panic.
#![no_main]

use druid_k8s_model::config::{RawConfig, RunnerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(raw) = RawConfig::from_properties(text) {
        let _ = RunnerConfig::from_raw(&raw);
    }
});
