//! Property tests: the environment-variable convention and dynamic config round trips.

use druid_k8s_model::config::{env_to_property, property_round_trips_through_env, property_to_env};
use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy, Selector};
use proptest::prelude::*;

proptest! {
    /// Property names made of alphanumeric segments joined by `.`, with single `_` inside
    /// segments (no `._`, no `..`), survive the trip through an environment variable name.
    #[test]
    fn well_formed_property_names_round_trip(
        segments in prop::collection::vec("[A-Za-z0-9]{1,6}(_[A-Za-z0-9]{1,6}){0,2}", 1..6)
    ) {
        let property = format!("druid.{}", segments.join("."));
        let env = property_to_env(&property);
        prop_assert!(env.starts_with("druid_"));
        prop_assert!(env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        prop_assert_eq!(env_to_property(&env), Some(property.clone()));
        prop_assert!(property_round_trips_through_env(&property));
    }

    /// `property_round_trips_through_env` is exactly the round-trip condition, for any name over
    /// an alphabet rich in separators.
    #[test]
    fn round_trip_predicate_is_exact(tail in "[a._]{0,12}") {
        let property = format!("druid.{tail}");
        let back = env_to_property(&property_to_env(&property));
        prop_assert_eq!(back.as_deref() == Some(property.as_str()), property_round_trips_through_env(&property));
    }

    /// Every environment variable name maps to a distinct property: `property_to_env` undoes
    /// `env_to_property` for names of `[A-Za-z0-9_]`.
    #[test]
    fn env_names_are_recovered(tail in "[A-Za-z0-9_]{0,20}") {
        let env = format!("druid_{tail}");
        let property = env_to_property(&env).expect("druid_ prefix");
        prop_assert_eq!(property_to_env(&property), env);
    }

    /// Names without the `druid_` prefix are ignored.
    #[test]
    fn other_env_names_are_ignored(name in "[A-Za-z0-9_]{0,20}") {
        prop_assume!(!name.starts_with("druid_"));
        prop_assert_eq!(env_to_property(&name), None);
    }

    /// Any dynamic config built from parts serializes to JSON that parses back to itself.
    #[test]
    fn dynamic_config_round_trips(
        capacity in prop::option::of(0u32..=i32::MAX as u32),
        selectors in prop::option::of(prop::collection::vec(selector(), 0..4)),
    ) {
        let config = DynamicConfig {
            pod_template_select_strategy: selectors.map(|selectors| {
                if selectors.is_empty() { PodTemplateSelectStrategy::Default }
                else { PodTemplateSelectStrategy::SelectorBased { selectors } }
            }),
            capacity,
        };
        let text = config.to_json_string();
        prop_assert_eq!(DynamicConfig::from_json(&text).unwrap(), config);
    }
}

fn string_set() -> impl Strategy<Value = Option<std::collections::BTreeSet<String>>> {
    prop::option::of(prop::collection::btree_set("[a-z_]{1,8}", 0..3))
}

fn selector() -> impl Strategy<Value = Selector> {
    (
        "[A-Za-z0-9]{1,8}",
        prop::option::of(prop::collection::btree_map(
            "[a-z]{1,5}",
            prop::collection::btree_set("[a-z0-9]{1,4}", 0..3),
            0..3,
        )),
        string_set(),
        string_set(),
    )
        .prop_map(
            |(selection_key, context_tags, task_type, data_source)| Selector {
                selection_key,
                context_tags,
                task_type,
                data_source,
            },
        )
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z.]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// A task keeps every field it does not know, in order, through parse and serialize.
    #[test]
    fn task_json_is_lossless(
        extra in prop::collection::vec(("[a-zA-Z]{1,8}", json_value()), 0..6),
        id in "[a-z0-9_]{1,12}",
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), "index_parallel".into());
        for (k, v) in extra {
            if k != "id" && k != "type" && k != "groupId" && k != "dataSource" && k != "context" {
                obj.insert(k, v);
            }
        }
        obj.insert("id".into(), id.clone().into());
        let text = serde_json::Value::Object(obj).to_string();
        let task = druid_k8s_model::Task::from_json(&text).unwrap();
        prop_assert_eq!(task.id(), id.as_str());
        prop_assert_eq!(task.to_json_string(), text.clone());
        let via_serde: druid_k8s_model::Task = serde_json::from_str(&serde_json::to_string(&task).unwrap()).unwrap();
        prop_assert_eq!(via_serde.to_json_string(), text);
    }
}
