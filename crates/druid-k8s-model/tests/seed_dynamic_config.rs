//! Every dynamic-config JSON example of the MM-less docs (seed 001) parses, and round-trips.

use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy, Selector};
use serde_json::Value;

/// Parses, re-serializes and compares with the original JSON value (which must already be in
/// canonical form: `"type": "default"` and no nulls).
fn check_round_trip(text: &str) -> DynamicConfig {
    let parsed = DynamicConfig::from_json(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let original: Value = serde_json::from_str(text).unwrap();
    assert_eq!(parsed.to_value(), original, "round trip of {text}");
    assert_eq!(
        DynamicConfig::from_json(&parsed.to_json_string()).unwrap(),
        parsed
    );
    parsed
}

fn selectors(config: &DynamicConfig) -> &[Selector] {
    match &config.pod_template_select_strategy {
        Some(PodTemplateSelectStrategy::SelectorBased { selectors }) => selectors,
        other => panic!("expected selectorBased, got {other:?}"),
    }
}

#[test]
fn get_sample_response_and_post_body() {
    // "Get dynamic configuration" sample response and "Update dynamic configuration" body.
    let text = r#"{
      "type": "default",
      "podTemplateSelectStrategy":
      {
        "type": "selectorBased",
        "selectors": [
          {
            "selectionKey": "podSpec1",
            "context.tags": {
              "userProvidedTag": ["tag1", "tag2"]
            },
            "dataSource": ["wikipedia"]
          },
          {
            "selectionKey": "podSpec2",
            "type": ["index_kafka"]
          }
        ]
      }
    }"#;
    let config = check_round_trip(text);
    let s = selectors(&config);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].selection_key, "podSpec1");
    assert_eq!(
        s[0].context_tags.as_ref().unwrap()["userProvidedTag"],
        ["tag1".to_owned(), "tag2".to_owned()].into()
    );
    assert_eq!(s[0].task_type, None);
    assert_eq!(s[1].task_type, Some(["index_kafka".to_owned()].into()));
    assert_eq!(config.capacity, None);
}

#[test]
fn example_file_matches_the_seed() {
    let file = include_str!("../../../examples/dynamic-config-selector.json");
    let config = check_round_trip(file);
    assert_eq!(selectors(&config).len(), 2);
    check_round_trip(include_str!(
        "../../../examples/dynamic-config-default.json"
    ));
}

#[test]
fn strategy_examples() {
    // "Select based on task type": { "type": "default" } as the strategy
    let config =
        check_round_trip(r#"{"type":"default","podTemplateSelectStrategy":{ "type": "default" }}"#);
    assert_eq!(
        config.pod_template_select_strategy,
        Some(PodTemplateSelectStrategy::Default)
    );
    // the bare strategy of "Select based on one or more conditions"
    let strategy: Value = serde_json::from_str(
        r#"{
          "type": "selectorBased",
          "selectors": [
            {"selectionKey": "podSpec1", "context.tags": {"userProvidedTag": ["tag1", "tag2"]}, "dataSource": ["wikipedia"]},
            {"selectionKey": "podSpec2", "type": ["index_kafka"]}
          ]
        }"#,
    )
    .unwrap();
    let parsed = PodTemplateSelectStrategy::from_value(&strategy).unwrap();
    assert_eq!(parsed.to_value(), strategy);
}

#[test]
fn the_three_equivalent_selectors() {
    let forms = [
        r#"{"selectionKey": "podSpec1", "context.tags": { "userProvidedTag": ["tag1", "tag2"] }, "dataSource": ["wikipedia"]}"#,
        r#"{"selectionKey": "podSpec1", "context.tags": { "userProvidedTag": ["tag1", "tag2"] }, "dataSource": ["wikipedia"], "type": null}"#,
        r#"{"selectionKey": "podSpec1", "context.tags": { "userProvidedTag": ["tag1", "tag2"] }, "dataSource": ["wikipedia"], "type": []}"#,
    ];
    let parsed: Vec<Selector> = forms
        .iter()
        .map(|f| {
            let doc = format!(
                r#"{{"podTemplateSelectStrategy":{{"type":"selectorBased","selectors":[{f}]}}}}"#
            );
            selectors(&DynamicConfig::from_json(&doc).unwrap())[0].clone()
        })
        .collect();
    // absent and null are the same value; [] is kept as written (it matches the same tasks)
    assert_eq!(parsed[0], parsed[1]);
    assert_eq!(parsed[2].task_type, Some(Default::default()));
    let back: Value = serde_json::from_str(forms[2]).unwrap();
    assert_eq!(parsed[2].to_value(), back);
}

#[test]
fn history_payload() {
    // The history example's payload, as printed in the docs, lacks its closing brace.
    let as_printed =
        "{\"type\": \"default\",\"podTemplateSelectStrategy\":{\"type\": \"taskType\"}";
    let err = DynamicConfig::from_json(as_printed)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("dynamic config is not valid JSON"), "{err}");
    // Completed, it parses; `taskType` means the default strategy and is written as `default`.
    let config = DynamicConfig::from_json(&format!("{as_printed}}}")).unwrap();
    assert_eq!(
        config.pod_template_select_strategy,
        Some(PodTemplateSelectStrategy::Default)
    );
    assert_eq!(
        config.to_json_string(),
        r#"{"type":"default","podTemplateSelectStrategy":{"type":"default"}}"#
    );
}

#[test]
fn typos_are_errors_not_wildcards() {
    let err = DynamicConfig::from_json(
        r#"{"podTemplateSelectStrategy":{"type":"selectorBased","selectors":[
            {"selectionKey":"podSpec1","datasource":["wikipedia"]}]}}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`podTemplateSelectStrategy.selectors[0].datasource`: unknown field; expected one of `selectionKey`, `context.tags`, `type`, `dataSource`"),
        "{err}"
    );
}
