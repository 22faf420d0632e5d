//! Property tests of the selector rules: absent = null = empty, first match wins, order.

use std::collections::BTreeSet;

use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy, Selector, Task};
use druid_k8s_select::{matches, select, template_set};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TYPES: [&str; 3] = ["index", "index_kafka", "compact"];
const SOURCES: [&str; 2] = ["wiki", "koala"];
const KEYS: [&str; 4] = ["p0", "p1", "p2", "p3"];

fn task() -> impl Strategy<Value = Task> {
    (
        prop::sample::select(TYPES.to_vec()),
        prop::option::of(prop::sample::select(SOURCES.to_vec())),
        prop::option::of(prop::collection::btree_map(
            prop::sample::select(vec!["t1", "t2"]),
            prop::sample::select(vec![json!("a"), json!("b"), json!(1), json!(true)]),
            0..3,
        )),
    )
        .prop_map(|(ty, ds, tags)| {
            let mut obj = Map::new();
            obj.insert("id".into(), json!("task-1"));
            obj.insert("type".into(), json!(ty));
            if let Some(ds) = ds {
                obj.insert("dataSource".into(), json!(ds));
            }
            if let Some(tags) = tags {
                obj.insert("context".into(), json!({ "tags": tags }));
            }
            Task::from_value(Value::Object(obj)).expect("generated task is valid")
        })
}

fn set_of(pool: &'static [&'static str]) -> impl Strategy<Value = Option<BTreeSet<String>>> {
    prop::option::of(
        prop::collection::btree_set(prop::sample::select(pool.to_vec()), 0..3)
            .prop_map(|s| s.into_iter().map(str::to_owned).collect()),
    )
}

fn selector() -> impl Strategy<Value = Selector> {
    (
        prop::sample::select(KEYS.to_vec()),
        prop::option::of(prop::collection::btree_map(
            prop::sample::select(vec!["t1".to_owned(), "t2".to_owned()]),
            prop::collection::btree_set(prop::sample::select(vec!["a", "b", "1", "true"]), 0..3)
                .prop_map(|s| s.into_iter().map(str::to_owned).collect()),
            0..2,
        )),
        set_of(&TYPES),
        set_of(&SOURCES),
    )
        .prop_map(|(key, context_tags, task_type, data_source)| Selector {
            selection_key: key.to_owned(),
            context_tags,
            task_type,
            data_source,
        })
}

/// Parses one selector given as JSON through the real dynamic-config parser.
fn parse_selector(v: Value) -> Selector {
    let config = DynamicConfig::from_value(&json!({
        "podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [v]}
    }))
    .expect("selector JSON is valid");
    match config.pod_template_select_strategy {
        Some(PodTemplateSelectStrategy::SelectorBased { mut selectors }) => selectors.remove(0),
        other => panic!("unexpected {other:?}"),
    }
}

/// The reference: the key of the first selector that matches, if its template exists, else base.
fn reference(selectors: &[Selector], task: &Task, templates: &BTreeSet<&str>) -> String {
    selectors
        .iter()
        .find(|s| matches(s, task))
        .map(|s| s.selection_key.as_str())
        .filter(|k| templates.contains(k))
        .unwrap_or("base")
        .to_owned()
}

proptest! {
    /// `type` and `dataSource`: absent, null and [] are the same wildcard; `context.tags`:
    /// absent, null and {} are the same wildcard.
    #[test]
    fn absent_null_and_empty_are_equivalent(t in task(), base in selector(), field in 0usize..3) {
        let (name, empty) = match field {
            0 => ("type", json!([])),
            1 => ("dataSource", json!([])),
            _ => ("context.tags", json!({})),
        };
        let mut v = serde_json::to_value(&base).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove(name);
        let absent = parse_selector(Value::Object(obj.clone()));
        obj.insert(name.into(), Value::Null);
        let null = parse_selector(Value::Object(obj.clone()));
        obj.insert(name.into(), empty);
        let empty = parse_selector(Value::Object(obj.clone()));
        let m = matches(&absent, &t);
        prop_assert_eq!(matches(&null, &t), m);
        prop_assert_eq!(matches(&empty, &t), m);
        // and the wildcard never makes a selector stricter than the original
        if matches(&base, &t) { prop_assert!(m); }
    }

    /// A selector without conditions matches every task.
    #[test]
    fn selector_without_conditions_matches_everything(t in task()) {
        prop_assert!(matches(&Selector::new("any"), &t));
    }

    /// `select` agrees with the reference "first match wins, missing template → base".
    #[test]
    fn first_match_wins(
        t in task(),
        selectors in prop::collection::vec(selector(), 0..6),
        configured in prop::collection::btree_set(prop::sample::select(KEYS.to_vec()), 0..4),
    ) {
        let mut templates: BTreeSet<&str> = configured;
        templates.insert("base");
        let has = template_set(templates.iter().copied());
        let strategy = PodTemplateSelectStrategy::SelectorBased { selectors: selectors.clone() };
        let chosen = select(&t, &strategy, &has, false).unwrap().key;
        prop_assert_eq!(chosen, reference(&selectors, &t, &templates));
    }

    /// Moving selectors that do not match the task anywhere does not change the result, and
    /// selectors after the first match are irrelevant.
    #[test]
    fn order_only_matters_among_matching_selectors(
        t in task(),
        selectors in prop::collection::vec(selector(), 1..6),
        extra in prop::collection::vec(selector(), 0..3),
        seed in any::<u64>(),
    ) {
        let has = template_set(KEYS.iter().copied().chain(["base"]));
        let pick = |sel: Vec<Selector>| {
            select(&t, &PodTemplateSelectStrategy::SelectorBased { selectors: sel }, &has, false)
                .unwrap()
                .key
        };
        let original = pick(selectors.clone());
        // non-matching selectors shuffled to other positions
        let (matching, non_matching): (Vec<_>, Vec<_>) =
            selectors.iter().cloned().partition(|s| matches(s, &t));
        let mut reordered = matching.clone();
        for (i, s) in non_matching.into_iter().enumerate() {
            let pos = ((seed >> (i * 3)) as usize) % (reordered.len() + 1);
            reordered.insert(pos, s);
        }
        prop_assert_eq!(pick(reordered), original.clone());
        // appending anything after a list that already has a match changes nothing
        if !matching.is_empty() {
            let mut longer = selectors.clone();
            longer.extend(extra);
            prop_assert_eq!(pick(longer), original);
        }
    }
}
