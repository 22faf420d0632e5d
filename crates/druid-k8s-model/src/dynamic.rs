//! The runner's dynamic config (`k8s.taskrunner.config`): pod template selection strategy and
//! capacity, with Druid's JSON shape and the POST merge rule.
//!
//! ```json
//! {"type": "default",
//!  "podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [
//!     {"selectionKey": "podSpec1", "context.tags": {"userProvidedTag": ["tag1", "tag2"]},
//!      "dataSource": ["wikipedia"]},
//!     {"selectionKey": "podSpec2", "type": ["index_kafka"]}]},
//!  "capacity": 12}
//! ```
//!
//! Decisions (documented differences from Druid's Jackson binding):
//! * **Unknown fields are rejected** with an error naming the field and the allowed names,
//!   at every level. Druid's mapper ignores unknown properties, so a typo such as
//!   `"datasource"` in a selector silently widens the selector to every datasource; here it is an
//!   error.
//! * The strategy `type` may be `default`, `taskType` (the name the upstream docs' history
//!   example uses; it means the same) or missing (Druid's `defaultImpl`); any other name is an
//!   error rather than a silent fallback. It is written back as `default`.
//! * The document's own `type` may be `default` or missing.
//! * Selector condition values and tag values may be JSON strings, numbers or booleans (Jackson
//!   coerces scalars to strings); they are stored as strings.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::error::{FieldError, ModelError, describe};

/// Druid's config-table key for this document.
pub const DYNAMIC_CONFIG_KEY: &str = "k8s.taskrunner.config";

/// One selector of the `selectorBased` strategy. All given conditions must hold (AND); an absent
/// condition (`None`), an empty set and (for tags) an empty map all match any task.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// The pod template key chosen when this selector matches (`selectionKey`).
    pub selection_key: String,
    /// `context.tags`: for every tag name, the allowed values.
    pub context_tags: Option<BTreeMap<String, BTreeSet<String>>>,
    /// `type`: allowed task types.
    pub task_type: Option<BTreeSet<String>>,
    /// `dataSource`: allowed datasources.
    pub data_source: Option<BTreeSet<String>>,
}

impl Selector {
    /// A selector with no conditions (matches every task).
    pub fn new(selection_key: impl Into<String>) -> Self {
        Self {
            selection_key: selection_key.into(),
            ..Self::default()
        }
    }

    /// Parses and checks one selector's JSON form.
    pub fn from_value(value: &Value) -> Result<Self, ModelError> {
        let mut errors = Vec::new();
        let parsed = parse_selector(value, "", &mut errors);
        finish(parsed, errors)
    }

    /// The JSON form (absent conditions omitted).
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("selectionKey".into(), json!(self.selection_key));
        if let Some(tags) = &self.context_tags {
            obj.insert("context.tags".into(), json!(tags));
        }
        if let Some(t) = &self.task_type {
            obj.insert("type".into(), json!(t));
        }
        if let Some(d) = &self.data_source {
            obj.insert("dataSource".into(), json!(d));
        }
        Value::Object(obj)
    }
}

/// How a pod template is chosen for a task (`podTemplateSelectStrategy`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PodTemplateSelectStrategy {
    /// `default` (Druid's `TaskTypePodTemplateSelectStrategy`): the template named after the task
    /// type if one exists, else `base`.
    #[default]
    Default,
    /// `selectorBased`: the first matching selector's key, else `base`.
    SelectorBased {
        /// Evaluated in order; the first match wins.
        selectors: Vec<Selector>,
    },
}

impl PodTemplateSelectStrategy {
    /// The JSON form.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Default => json!({"type": "default"}),
            Self::SelectorBased { selectors } => json!({
                "type": "selectorBased",
                "selectors": selectors.iter().map(Selector::to_value).collect::<Vec<_>>(),
            }),
        }
    }

    /// Parses and checks the JSON form.
    pub fn from_value(value: &Value) -> Result<Self, ModelError> {
        let mut errors = Vec::new();
        let parsed = parse_strategy(value, "", &mut errors);
        finish(parsed, errors)
    }
}

/// The dynamic config document (`{"type":"default", "podTemplateSelectStrategy":…, "capacity":…}`).
///
/// ```
/// use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy};
/// let stored = DynamicConfig::from_json(r#"{"type":"default","capacity":5}"#).unwrap();
/// let request = DynamicConfig::from_json(r#"{"podTemplateSelectStrategy":{"type":"default"}}"#).unwrap();
/// let merged = DynamicConfig::merge(Some(&stored), request);
/// assert_eq!(merged.capacity, Some(5));
/// assert_eq!(merged.pod_template_select_strategy, Some(PodTemplateSelectStrategy::Default));
/// assert!(DynamicConfig::from_json(r#"{"capacity":-1}"#).unwrap_err().to_string().contains("capacity"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DynamicConfig {
    /// The selection strategy; `None` means "not set" (the default strategy applies).
    pub pod_template_select_strategy: Option<PodTemplateSelectStrategy>,
    /// Capacity override (`@Min(0)`); `None` means "use the static capacity".
    pub capacity: Option<u32>,
}

impl DynamicConfig {
    /// Parses and checks dynamic config JSON text. Every problem is reported.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
            what: "dynamic config",
            source,
        })?;
        Self::from_value(&value)
    }

    /// Parses and checks a dynamic config JSON value. Every problem is reported.
    pub fn from_value(value: &Value) -> Result<Self, ModelError> {
        let mut errors = Vec::new();
        let parsed = parse_dynamic(value, &mut errors);
        finish(parsed, errors)
    }

    /// The JSON form: `type` is always `default`; unset fields are omitted.
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), json!("default"));
        if let Some(s) = &self.pod_template_select_strategy {
            obj.insert("podTemplateSelectStrategy".into(), s.to_value());
        }
        if let Some(c) = self.capacity {
            obj.insert("capacity".into(), json!(c));
        }
        Value::Object(obj)
    }

    /// The JSON text.
    pub fn to_json_string(&self) -> String {
        self.to_value().to_string()
    }

    /// The POST merge rule: every field set in `request` overrides the stored one; unset fields
    /// keep the stored value. With nothing stored, the request is returned as-is (static values
    /// are never folded in).
    pub fn merge(stored: Option<&DynamicConfig>, request: DynamicConfig) -> DynamicConfig {
        match stored {
            None => request,
            Some(stored) => DynamicConfig {
                pod_template_select_strategy: request
                    .pod_template_select_strategy
                    .or_else(|| stored.pod_template_select_strategy.clone()),
                capacity: request.capacity.or(stored.capacity),
            },
        }
    }

    /// The effective capacity: the dynamic value when set, else `static_capacity`.
    pub fn effective_capacity(config: Option<&DynamicConfig>, static_capacity: u32) -> u32 {
        config.and_then(|c| c.capacity).unwrap_or(static_capacity)
    }

    /// The effective strategy: the dynamic one when set, else [`PodTemplateSelectStrategy::Default`].
    pub fn effective_strategy(config: Option<&DynamicConfig>) -> PodTemplateSelectStrategy {
        config
            .and_then(|c| c.pod_template_select_strategy.clone())
            .unwrap_or_default()
    }
}

impl Serialize for DynamicConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DynamicConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DynamicConfig::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for PodTemplateSelectStrategy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PodTemplateSelectStrategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        PodTemplateSelectStrategy::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Selector::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn finish<T>(parsed: Option<T>, errors: Vec<FieldError>) -> Result<T, ModelError> {
    match parsed {
        Some(v) if errors.is_empty() => Ok(v),
        _ => Err(ModelError::DynamicConfig(errors)),
    }
}

fn err(errors: &mut Vec<FieldError>, path: &str, message: impl Into<String>) {
    errors.push(FieldError {
        path: path.to_owned(),
        message: message.into(),
    });
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn check_unknown(
    obj: &Map<String, Value>,
    allowed: &[&str],
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            err(
                errors,
                &join(path, key),
                format!(
                    "unknown field; expected one of {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

fn parse_dynamic(value: &Value, errors: &mut Vec<FieldError>) -> Option<DynamicConfig> {
    let Some(obj) = value.as_object() else {
        err(
            errors,
            "",
            format!("expected a JSON object, found {}", describe(value)),
        );
        return None;
    };
    check_unknown(
        obj,
        &["type", "podTemplateSelectStrategy", "capacity"],
        "",
        errors,
    );
    match obj.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "default" => {}
        Some(other) => err(
            errors,
            "type",
            format!(
                "expected \"default\" (the only dynamic config type), found {}",
                describe(other)
            ),
        ),
    }
    let strategy = match obj.get("podTemplateSelectStrategy") {
        None | Some(Value::Null) => None,
        Some(v) => parse_strategy(v, "podTemplateSelectStrategy", errors),
    };
    let capacity = match obj.get("capacity") {
        None | Some(Value::Null) => None,
        // Jackson (Druid) also takes a string holding an integer and a whole float.
        Some(v @ (Value::Number(_) | Value::String(_))) => {
            let whole = match v {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match whole {
                Some(c) if (0..=i64::from(i32::MAX)).contains(&c) => u32::try_from(c).ok(),
                _ => {
                    err(
                        errors,
                        "capacity",
                        format!("expected an integer from 0 to 2147483647, found {v}"),
                    );
                    None
                }
            }
        }
        Some(other) => {
            err(
                errors,
                "capacity",
                format!(
                    "expected an integer from 0 to 2147483647, found {}",
                    describe(other)
                ),
            );
            None
        }
    };
    Some(DynamicConfig {
        pod_template_select_strategy: strategy,
        capacity,
    })
}

fn parse_strategy(
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<PodTemplateSelectStrategy> {
    let Some(obj) = value.as_object() else {
        err(
            errors,
            path,
            format!(
                "expected an object with a `type` (\"default\" or \"selectorBased\"), found {}",
                describe(value)
            ),
        );
        return None;
    };
    let ty = match obj.get("type") {
        None | Some(Value::Null) => "default",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            err(
                errors,
                &join(path, "type"),
                format!(
                    "expected \"default\" or \"selectorBased\", found {}",
                    describe(other)
                ),
            );
            return None;
        }
    };
    match ty {
        "default" | "taskType" => {
            check_unknown(obj, &["type"], path, errors);
            Some(PodTemplateSelectStrategy::Default)
        }
        "selectorBased" => {
            check_unknown(obj, &["type", "selectors"], path, errors);
            let spath = join(path, "selectors");
            match obj.get("selectors") {
                None | Some(Value::Null) => {
                    err(
                        errors,
                        &spath,
                        "required for the selectorBased strategy: a list of selector objects",
                    );
                    None
                }
                Some(Value::Array(items)) => {
                    let selectors: Vec<Selector> = items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, item)| {
                            parse_selector(item, &format!("{spath}[{i}]"), errors)
                        })
                        .collect();
                    Some(PodTemplateSelectStrategy::SelectorBased { selectors })
                }
                Some(other) => {
                    err(
                        errors,
                        &spath,
                        format!(
                            "expected a list of selector objects, found {}",
                            describe(other)
                        ),
                    );
                    None
                }
            }
        }
        other => {
            err(
                errors,
                &join(path, "type"),
                format!(
                    "unknown strategy \"{other}\"; expected \"default\" (alias \"taskType\") or \"selectorBased\""
                ),
            );
            None
        }
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_string_set(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<BTreeSet<String>> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut set = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                match scalar_string(item) {
                    Some(s) => {
                        set.insert(s);
                    }
                    None => err(
                        errors,
                        &format!("{path}[{i}]"),
                        format!("expected a string, found {}", describe(item)),
                    ),
                }
            }
            Some(set)
        }
        Some(other) => {
            err(
                errors,
                path,
                format!(
                    "expected a list of strings (or null), found {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

fn parse_selector(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Selector> {
    let Some(obj) = value.as_object() else {
        err(
            errors,
            path,
            format!("expected a selector object, found {}", describe(value)),
        );
        return None;
    };
    check_unknown(
        obj,
        &["selectionKey", "context.tags", "type", "dataSource"],
        path,
        errors,
    );
    let selection_key = match obj.get("selectionKey") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        None | Some(Value::Null) => {
            err(
                errors,
                &join(path, "selectionKey"),
                "required: the pod template key to use when the selector matches",
            );
            String::new()
        }
        Some(other) => {
            err(
                errors,
                &join(path, "selectionKey"),
                format!("expected a non-empty string, found {}", describe(other)),
            );
            String::new()
        }
    };
    let tags_path = join(path, "context.tags");
    let context_tags = match obj.get("context.tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(tags)) => {
            let mut map = BTreeMap::new();
            for (tag, allowed) in tags {
                let tag_path = format!("{tags_path}.{tag}");
                if allowed.is_null() {
                    err(
                        errors,
                        &tag_path,
                        "expected a list of allowed values, found null",
                    );
                    continue;
                }
                if let Some(set) = parse_string_set(Some(allowed), &tag_path, errors) {
                    map.insert(tag.clone(), set);
                }
            }
            Some(map)
        }
        Some(other) => {
            err(
                errors,
                &tags_path,
                format!(
                    "expected an object of tag name to a list of allowed values, found {}",
                    describe(other)
                ),
            );
            None
        }
    };
    let task_type = parse_string_set(obj.get("type"), &join(path, "type"), errors);
    let data_source = parse_string_set(obj.get("dataSource"), &join(path, "dataSource"), errors);
    Some(Selector {
        selection_key,
        context_tags,
        task_type,
        data_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_every_bad_field() {
        let err = DynamicConfig::from_json(
            r#"{"type":"other","capacity":"x","podTemplateSelectStrategy":{"type":"selectorBased",
               "selectors":[{"selectionKey":"a","datasource":["w"]},{"type":"index"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        for needle in [
            "`type`",
            "`capacity`",
            "`podTemplateSelectStrategy.selectors[0].datasource`: unknown field",
            "`podTemplateSelectStrategy.selectors[1].selectionKey`: required",
            "`podTemplateSelectStrategy.selectors[1].type`: expected a list",
        ] {
            assert!(err.contains(needle), "{needle} not in {err}");
        }
    }

    #[test]
    fn strategy_names() {
        let s = |t: &str| PodTemplateSelectStrategy::from_value(&serde_json::from_str(t).unwrap());
        assert_eq!(
            s(r#"{"type":"taskType"}"#).unwrap(),
            PodTemplateSelectStrategy::Default
        );
        assert_eq!(s(r#"{}"#).unwrap(), PodTemplateSelectStrategy::Default);
        let e = s(r#"{"type":"selectorbased"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown strategy \"selectorbased\""), "{e}");
        let e = s(r#"{"type":"selectorBased"}"#).unwrap_err().to_string();
        assert!(e.contains("selectors`: required"), "{e}");
        let e = s(r#"{"type":"default","selectors":[]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`selectors`: unknown field"), "{e}");
    }

    #[test]
    fn single_selector() {
        let s: Selector =
            serde_json::from_str(r#"{"selectionKey":"a","type":["index"],"dataSource":null}"#)
                .unwrap();
        assert_eq!(s.task_type, Some(["index".to_owned()].into()));
        assert_eq!(s.data_source, None);
        let e = serde_json::from_str::<Selector>(r#"{"type":["index"]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`selectionKey`: required"), "{e}");
    }

    #[test]
    fn capacity_bounds() {
        assert_eq!(
            DynamicConfig::from_json(r#"{"capacity":0}"#)
                .unwrap()
                .capacity,
            Some(0)
        );
        assert!(DynamicConfig::from_json(r#"{"capacity":2147483648}"#).is_err());
        assert!(DynamicConfig::from_json(r#"{"capacity":1.5}"#).is_err());
        // Jackson coerces a string holding an integer, and a whole float, into the Integer.
        for text in [r#"{"capacity":"12"}"#, r#"{"capacity":12.0}"#] {
            assert_eq!(
                DynamicConfig::from_json(text).unwrap().capacity,
                Some(12),
                "{text}"
            );
        }
        assert!(DynamicConfig::from_json(r#"{"capacity":"-1"}"#).is_err());
        assert!(DynamicConfig::from_json(r#"{"capacity":"many"}"#).is_err());
        assert_eq!(
            DynamicConfig::from_json(r#"{"capacity":null}"#)
                .unwrap()
                .capacity,
            None
        );
    }

    #[test]
    fn merge_rules() {
        let stored = DynamicConfig {
            pod_template_select_strategy: Some(PodTemplateSelectStrategy::SelectorBased {
                selectors: vec![Selector::new("a")],
            }),
            capacity: Some(3),
        };
        let req = DynamicConfig {
            pod_template_select_strategy: None,
            capacity: Some(7),
        };
        let merged = DynamicConfig::merge(Some(&stored), req.clone());
        assert_eq!(merged.capacity, Some(7));
        assert_eq!(
            merged.pod_template_select_strategy,
            stored.pod_template_select_strategy
        );
        assert_eq!(DynamicConfig::merge(None, req.clone()), req);
        assert_eq!(
            DynamicConfig::merge(Some(&stored), DynamicConfig::default()),
            stored
        );
        assert_eq!(DynamicConfig::effective_capacity(Some(&req), 100), 7);
        assert_eq!(
            DynamicConfig::effective_capacity(Some(&DynamicConfig::default()), 100),
            100
        );
        assert_eq!(DynamicConfig::effective_capacity(None, 100), 100);
    }
}
