//! No panic anywhere on bad input, and every rejection is an error that names what was wrong:
//! the CI-sized counterpart of the `cargo fuzz` targets in `fuzz/` (task JSON → render,
//! properties → config, PodTemplate YAML, dynamic config JSON, the history `interval`).

use druid_k8s_adapters::{InMemoryTemplateSource, RenderRequest, parse_pod_template, render};
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_model::{DynamicConfig, Task};
use proptest::prelude::*;
use serde_json::{Value, json};

const TEMPLATE: &str = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n";

fn config() -> RunnerConfig {
    let raw = RawConfig::from_properties(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/t/base.yaml\n\
         druid.indexer.task.encapsulatedTask=true\n",
    )
    .expect("properties parse");
    RunnerConfig::from_raw(&raw).expect("valid config")
}

/// Arbitrary JSON values, small and nested.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const TASK_FIELDS: &[&str] = &[
    "id",
    "type",
    "dataSource",
    "groupId",
    "context",
    "resource",
    "spec",
    "ioConfig",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any text: the task parser answers, never panics.
    #[test]
    fn task_json_text_never_panics(text in "\\PC{0,200}") {
        let _ = Task::from_json(&text);
    }

    /// A valid task with one field replaced by any JSON value: parsing and rendering never
    /// panic; a rejected task's error names the field.
    #[test]
    fn task_fields_render_or_name_the_field(
        field in prop::sample::select(TASK_FIELDS),
        value in json_value(),
    ) {
        let mut task = json!({
            "type": "index_parallel", "id": "t1", "dataSource": "wiki",
            "context": {"priority": 50}
        });
        task[field] = value;
        match Task::from_value(task.clone()) {
            Ok(t) => {
                let cfg = config();
                let mut templates = InMemoryTemplateSource::new();
                templates.insert_yaml("base", TEMPLATE).expect("template");
                let req = RenderRequest::new(&cfg, &t).with_templates(&templates);
                if let Err(e) = render(&req) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(field), "error for {field} = {}: {msg}", task[field]);
            }
        }
    }

    /// One runner property set to any text: the config is valid, or the error names the key.
    #[test]
    fn properties_name_the_bad_key(
        key in prop::sample::select(druid_k8s_model::config::RUNNER_KEYS),
        value in "\\PC{0,24}",
    ) {
        let full = format!("druid.indexer.runner.{key}");
        let mut raw = RawConfig::from_properties(
            "druid.indexer.runner.type=k8s\ndruid.indexer.runner.namespace=druid\n",
        ).expect("parse");
        raw.insert(full.clone(), value.clone());
        if let Err(e) = RunnerConfig::from_raw(&raw) {
            let msg = e.to_string();
            prop_assert!(msg.contains(&full) || msg.contains(key), "{full}={value:?}: {msg}");
        }
    }

    /// Any text as a properties file: parsed or rejected, never a panic.
    #[test]
    fn properties_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(raw) = RawConfig::from_properties(&text) {
            let _ = RunnerConfig::from_raw(&raw);
        }
    }

    /// Any text as a pod template: parsed or rejected with the template's origin named.
    #[test]
    fn pod_template_yaml_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = parse_pod_template(&text, "fuzz.yaml") {
            prop_assert!(e.to_string().contains("fuzz.yaml"), "{e}");
        }
    }

    /// Any JSON value under a dynamic-config key: accepted, or the error names the key.
    #[test]
    fn dynamic_config_names_the_bad_key(
        key in prop::sample::select(&["type", "capacity", "podTemplateSelectStrategy"][..]),
        value in json_value(),
    ) {
        let doc = json!({ key: value });
        if let Err(e) = DynamicConfig::from_value(&doc) {
            let msg = e.to_string();
            prop_assert!(msg.contains(key), "{doc}: {msg}");
        }
    }

    /// Any text as a dynamic config: never a panic.
    #[test]
    fn dynamic_config_text_never_panics(text in "\\PC{0,200}") {
        let _ = DynamicConfig::from_json(&text);
    }

    /// Any text as a history `interval`: parsed (start ≤ end) or a message, never a panic.
    #[test]
    fn interval_never_panics(text in "[-0-9TZP:/.+WDHMSY ]{0,40}|\\PC{0,40}") {
        match druid_k8s_server::interval::parse_interval(&text) {
            Ok(i) => prop_assert!(i.start_ms <= i.end_ms, "{text}: {i:?}"),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }
}
