use super::*;
use druid_k8s_model::DynamicConfig;
use serde_json::json;

/// The dynamic config of the upstream docs' "Example" section.
const SEED_DYNAMIC_CONFIG: &str = r#"{
  "type": "default",
  "podTemplateSelectStrategy": {
    "type": "selectorBased",
    "selectors": [
      {
        "selectionKey": "podSpec1",
        "context.tags": { "userProvidedTag": ["tag1", "tag2"] },
        "dataSource": ["wikipedia"]
      },
      {
        "selectionKey": "podSpec2",
        "type": ["index_kafka"]
      }
    ]
  }
}"#;

/// Template keys of the example's runtime properties (base, podSpec1, podSpec2).
const SEED_TEMPLATES: [&str; 3] = ["base", "podSpec1", "podSpec2"];

fn task(v: serde_json::Value) -> Task {
    Task::from_value(v).expect("valid task")
}

fn seed_strategy() -> PodTemplateSelectStrategy {
    let config = DynamicConfig::from_json(SEED_DYNAMIC_CONFIG).expect("seed config parses");
    DynamicConfig::effective_strategy(Some(&config))
}

/// Selects with the seed's strategy and templates; returns the key.
fn check(t: serde_json::Value) -> String {
    let has = template_set(SEED_TEMPLATES);
    select(&task(t), &seed_strategy(), &has, false)
        .expect("selection succeeds")
        .key
}

#[test]
fn seed_example_index_kafka_wikipedia_tag1_gets_pod_spec1() {
    // "if there is an index_kafka task for the wikipedia datasource with the tag
    // userProvidedTag: tag1, Druid selects the pod template podSpecWithHighMemRequests.yaml"
    assert_eq!(
        check(
            json!({"id": "t", "type": "index_kafka", "dataSource": "wikipedia",
                     "context": {"tags": {"userProvidedTag": "tag1"}}})
        ),
        "podSpec1"
    );
}

#[test]
fn seed_example_rules() {
    // 1. tag tag1 or tag2 AND datasource wikipedia → podSpec1 (any type)
    assert_eq!(
        check(
            json!({"id": "t", "type": "index_parallel", "dataSource": "wikipedia",
                     "context": {"tags": {"userProvidedTag": "tag2"}}})
        ),
        "podSpec1"
    );
    // 2. index_kafka otherwise → podSpec2
    assert_eq!(
        check(
            json!({"id": "t", "type": "index_kafka", "dataSource": "wikipedia",
                     "context": {"tags": {"userProvidedTag": "tag3"}}})
        ),
        "podSpec2"
    );
    assert_eq!(
        check(json!({"id": "t", "type": "index_kafka", "dataSource": "koalas"})),
        "podSpec2"
    );
    // 3. everything else → base
    assert_eq!(
        check(json!({"id": "t", "type": "index_parallel", "dataSource": "wikipedia"})),
        "base"
    );
    assert_eq!(
        check(json!({"id": "t", "type": "compact", "dataSource": "koalas",
                     "context": {"tags": {"userProvidedTag": "tag1"}}})),
        "base"
    );
}

#[test]
fn explanation_names_the_first_failing_condition_of_each_selector() {
    let has = template_set(SEED_TEMPLATES);
    let s = select(
        &task(
            json!({"id": "t", "type": "index", "dataSource": "wikipedia",
                     "context": {"tags": {"userProvidedTag": "tag9"}}}),
        ),
        &seed_strategy(),
        &has,
        false,
    )
    .unwrap();
    assert_eq!(
        s.to_string(),
        "template `base`: no selector matched, fallback to base; \
         selector #0 (selectionKey `podSpec1`): context tag `userProvidedTag` is `tag9`, not one of [tag1, tag2]; \
         selector #1 (selectionKey `podSpec2`): task type `index` is not one of [index_kafka]"
    );
    let s = select(
        &task(json!({"id": "t", "type": "index_kafka"})),
        &seed_strategy(),
        &has,
        false,
    )
    .unwrap();
    assert_eq!(
        s.reason,
        SelectionReason::SelectorMatched {
            index: 1,
            selection_key: "podSpec2".into(),
            misses: vec![SelectorMiss {
                index: 0,
                selection_key: "podSpec1".into(),
                failed: FailedCondition::TagMissing {
                    tag: "userProvidedTag".into()
                },
            }],
        }
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["key"], "podSpec2");
    assert_eq!(json["reason"]["kind"], "selectorMatched");
    assert_eq!(
        json["reason"]["misses"][0]["failed"]["condition"],
        "tagMissing"
    );
}

#[test]
fn datasource_condition_without_datasource() {
    let strategy = PodTemplateSelectStrategy::SelectorBased {
        selectors: vec![Selector {
            data_source: Some(["wiki".to_owned()].into()),
            ..Selector::new("w")
        }],
    };
    let s = select(
        &task(json!({"id": "t", "type": "noop"})),
        &strategy,
        &template_set(["base", "w"]),
        false,
    )
    .unwrap();
    assert_eq!(s.key, "base");
    assert!(s.to_string().contains("the task has no dataSource"), "{s}");
}

#[test]
fn matched_selector_without_template_falls_back_to_base() {
    let has = template_set(["base", "podSpec1"]);
    let s = select(
        &task(json!({"id": "t", "type": "index_kafka"})),
        &seed_strategy(),
        &has,
        false,
    )
    .unwrap();
    assert_eq!(s.key, "base");
    assert!(matches!(
        s.reason,
        SelectionReason::SelectorMatchedWithoutTemplate { index: 1, .. }
    ));
    assert!(s.to_string().contains("matched but no template"), "{s}");
}

#[test]
fn default_strategy_uses_the_task_type_template() {
    let has = template_set(["base", "index_kafka"]);
    let d = PodTemplateSelectStrategy::Default;
    let s = select(
        &task(json!({"id": "t", "type": "index_kafka"})),
        &d,
        &has,
        false,
    )
    .unwrap();
    assert_eq!(
        (s.key.as_str(), &s.reason),
        ("index_kafka", &SelectionReason::TaskType)
    );
    let s = select(&task(json!({"id": "t", "type": "index"})), &d, &has, false).unwrap();
    assert_eq!(s.key, "base");
    assert_eq!(
        s.to_string(),
        "template `base`: default strategy, no template for task type `index`, fallback to base"
    );
}

#[test]
fn task_context_key_needs_the_flag_and_a_template() {
    let has = template_set(["base", "big", "index_kafka"]);
    let t = task(json!({"id": "t1", "type": "index_kafka",
                        "context": {"podTemplateSelectionKey": "big"}}));
    let d = PodTemplateSelectStrategy::Default;
    // flag off: the context key is ignored
    assert_eq!(select(&t, &d, &has, false).unwrap().key, "index_kafka");
    // flag on: it wins over every strategy
    let s = select(&t, &d, &has, true).unwrap();
    assert_eq!(
        (s.key.as_str(), &s.reason),
        ("big", &SelectionReason::TaskContextKey)
    );
    assert_eq!(select(&t, &seed_strategy(), &has, true).unwrap().key, "big");
    // flag on and no such template: an error, not a fallback
    let t = task(json!({"id": "t1", "type": "index_kafka",
                        "context": {"podTemplateSelectionKey": "huge"}}));
    let err = select(&t, &d, &has, true).unwrap_err();
    assert_eq!(
        err,
        SelectError::SelectionKeyWithoutTemplate {
            task_id: "t1".into(),
            key: "huge".into()
        }
    );
    assert!(err.to_string().contains("podTemplate.huge"), "{err}");
}

#[test]
fn missing_base_is_an_error() {
    let err = select(
        &task(json!({"id": "t1", "type": "index"})),
        &PodTemplateSelectStrategy::Default,
        &template_set(["index_kafka"]),
        false,
    )
    .unwrap_err();
    assert_eq!(
        err,
        SelectError::NoBaseTemplate {
            task_id: "t1".into()
        }
    );
}

#[test]
fn tag_values_compare_as_text() {
    let sel = Selector {
        context_tags: Some([("n".to_owned(), ["3".to_owned(), "true".to_owned()].into())].into()),
        ..Selector::new("k")
    };
    assert!(matches(
        &sel,
        &task(json!({"id": "t", "type": "x", "context": {"tags": {"n": 3}}}))
    ));
    assert!(matches(
        &sel,
        &task(json!({"id": "t", "type": "x", "context": {"tags": {"n": true}}}))
    ));
    assert!(!matches(
        &sel,
        &task(json!({"id": "t", "type": "x", "context": {"tags": {"n": [3]}}}))
    ));
    assert!(!matches(
        &sel,
        &task(json!({"id": "t", "type": "x", "context": {"tags": {"n": null}}}))
    ));
    assert!(!matches(
        &sel,
        &task(json!({"id": "t", "type": "x", "context": {"tags": {}}}))
    ));
    // `{}` conditions match even a task without tags
    let any = Selector {
        context_tags: Some(BTreeMap::new()),
        ..Selector::new("k")
    };
    assert!(matches(&any, &task(json!({"id": "t", "type": "x"}))));
}

/// Druid accepts a task whose context `tags` is not a map; only a selector with tag conditions
/// cannot match it (Selector.evaluate casts `tags` to a map).
#[test]
fn non_map_tags_only_fail_tag_conditions() {
    let odd = task(json!({"id": "t", "type": "index_kafka", "context": {"tags": "team-a"}}));
    let by_tag = Selector {
        context_tags: Some([("team".to_owned(), ["team-a".to_owned()].into())].into()),
        ..Selector::new("tagged")
    };
    assert_eq!(
        first_failed_condition(&by_tag, &odd),
        Some(FailedCondition::TagMissing { tag: "team".into() })
    );
    let by_type = Selector {
        task_type: Some(["index_kafka".to_owned()].into()),
        ..Selector::new("kafka")
    };
    let strategy = PodTemplateSelectStrategy::SelectorBased {
        selectors: vec![by_tag, by_type],
    };
    let has = |k: &str| ["base", "tagged", "kafka"].contains(&k);
    assert_eq!(select(&odd, &strategy, &has, false).unwrap().key, "kafka");
}
