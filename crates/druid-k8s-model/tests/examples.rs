//! The example configurations in the workspace's `examples/` directory (among them the seeds'
//! runtime-properties blocks): each validates, and its effective configuration is snapshotted.

use std::collections::BTreeMap;

use druid_k8s_model::{RawConfig, RunnerConfig};
use serde::Serialize;

#[derive(Serialize)]
struct Effective {
    effective: BTreeMap<String, String>,
    warnings: Vec<String>,
}

/// Validates one properties file (no environment) and returns what `druid-k8s validate` shows.
fn check(text: &str) -> Effective {
    let raw = RawConfig::from_properties(text).expect("the example parses as .properties");
    let config = RunnerConfig::from_raw(&raw)
        .unwrap_or_else(|e| panic!("the example must validate, but:\n{e}"));
    Effective {
        effective: config.effective_properties(),
        warnings: config.warnings.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn example_properties_validate() {
    insta::glob!("../../../examples", "{seed-*,runtime}.properties", |path| {
        let text = std::fs::read_to_string(path).expect("example is readable");
        insta::assert_yaml_snapshot!(check(&text));
    });
}

#[test]
fn seed_properties_are_covered() {
    // The glob above must see the seed files; a rename would otherwise silently drop them.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for name in [
        "seed-overlord-single.properties",
        "seed-overlord-multi.properties",
        "seed-custom-template.properties",
        "seed-k8s-and-worker.properties",
        "runtime.properties",
    ] {
        assert!(dir.join(name).is_file(), "{name} is missing");
    }
}
