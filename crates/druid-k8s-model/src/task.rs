//! Druid tasks as lossless JSON, with the facts the Kubernetes runner needs about each task type.
//!
//! # Built-in task types
//!
//! Druid's task classes decide a task's default priority, the node type it announces, whether it
//! embeds a query stack (`supportsQueries`) and which broadcast datasources its peon loads. The
//! runner only sees JSON, so this table restates those per-class facts (read from Druid's Java
//! source: `Tasks`, `AbstractTask`, `SeekableStreamIndexTask`, `KillUnusedSegmentsTask`,
//! `MSQControllerTask`, `MSQWorkerTask`, …):
//!
//! | task `type` | default priority | node type | supports queries | broadcast loading default |
//! |---|---|---|---|---|
//! | `index_kafka`, `index_kinesis`, `index_rabbit`, `index_rocketmq` (streaming) | 75 | – | yes | `ALL` |
//! | `index_realtime`, `index_realtime_appenderator` (legacy realtime) | 75 | `realtime` | yes | `ALL` |
//! | `index`, `index_parallel`, `single_phase_sub_task`, `index_sub`, `partial_*`, `index_hadoop`, `index_materialized_view` | 50 | – | no | `ALL` |
//! | `query_worker` (MSQ worker) | 50 | – | yes | `ALL` |
//! | `query_controller` (MSQ controller) | 50 | – | no | `NONE` (always, the context is ignored) |
//! | `compact` | 25 | – | no | `ALL` |
//! | `kill` | 0 | – | no | `NONE` (always, the context is ignored) |
//! | anything else (`noop`, `archive`, `move`, `restore`, extensions) | 0 | – | no | `ALL` |
//!
//! * The priority is the task context's `priority` when present (Druid's overlord normally writes
//!   it into the context on submission), else the default above.
//! * The broadcast loading mode is the context's `broadcastDatasourceLoadingMode` (`ALL`, `NONE`,
//!   `ONLY_REQUIRED`) when present, else the default above; `kill` and `query_controller` always
//!   use `NONE`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{ModelError, describe};

/// Task-context key holding the task's priority.
pub const CONTEXT_PRIORITY: &str = "priority";
/// Task-context key holding the tags map used by `selectorBased` template selection.
pub const CONTEXT_TAGS: &str = "tags";
/// Task-context key with extra JVM options honoured by the overlord adapters.
pub const CONTEXT_JAVA_OPTS: &str = "druid.indexer.runner.javaOpts";
/// Task-context key naming a pod template directly (needs `allowTaskPodTemplateSelection`).
pub const CONTEXT_POD_TEMPLATE_SELECTION_KEY: &str = "podTemplateSelectionKey";
/// Task-context key overriding the broadcast datasource loading mode.
pub const CONTEXT_BROADCAST_LOADING_MODE: &str = "broadcastDatasourceLoadingMode";

/// Druid's `Tasks.DEFAULT_REALTIME_TASK_PRIORITY`.
pub const DEFAULT_REALTIME_TASK_PRIORITY: i32 = 75;
/// Druid's `Tasks.DEFAULT_BATCH_INDEX_TASK_PRIORITY`.
pub const DEFAULT_BATCH_INDEX_TASK_PRIORITY: i32 = 50;
/// Druid's `Tasks.DEFAULT_MERGE_TASK_PRIORITY` (compaction).
pub const DEFAULT_MERGE_TASK_PRIORITY: i32 = 25;
/// Druid's `Tasks.DEFAULT_TASK_PRIORITY`.
pub const DEFAULT_TASK_PRIORITY: i32 = 0;

/// Which broadcast datasources a peon loads (Druid's `BroadcastDatasourceLoadingSpec.Mode`).
///
/// `Display` gives Druid's names: `ALL`, `NONE`, `ONLY_REQUIRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BroadcastDatasourceLoadingMode {
    /// Load every broadcast datasource.
    All,
    /// Load none.
    None,
    /// Load only those listed in the context's `broadcastDatasourcesToLoad`.
    OnlyRequired,
}

impl BroadcastDatasourceLoadingMode {
    /// Druid's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::None => "NONE",
            Self::OnlyRequired => "ONLY_REQUIRED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "ALL" => Some(Self::All),
            "NONE" => Some(Self::None),
            "ONLY_REQUIRED" => Some(Self::OnlyRequired),
            _ => None,
        }
    }
}

impl fmt::Display for BroadcastDatasourceLoadingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The per-class facts of a task type (see the module docs for the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTypeFacts {
    /// Priority used when the context has none.
    pub default_priority: i32,
    /// `Task.getNodeType()`: the node type the peon announces, if any.
    pub node_type: Option<&'static str>,
    /// `Task.supportsQueries()`.
    pub supports_queries: bool,
    /// Broadcast loading mode used when the context does not set one.
    pub default_broadcast_loading: BroadcastDatasourceLoadingMode,
    /// True when the context cannot override the broadcast loading mode (`kill`,
    /// `query_controller`).
    pub broadcast_loading_fixed: bool,
}

/// The facts for a task type string (unknown types get Druid's `AbstractTask` defaults).
pub fn task_type_facts(task_type: &str) -> TaskTypeFacts {
    use BroadcastDatasourceLoadingMode as B;
    let base = TaskTypeFacts {
        default_priority: DEFAULT_TASK_PRIORITY,
        node_type: None,
        supports_queries: false,
        default_broadcast_loading: B::All,
        broadcast_loading_fixed: false,
    };
    match task_type {
        "index_kafka" | "index_kinesis" | "index_rabbit" | "index_rocketmq" => TaskTypeFacts {
            default_priority: DEFAULT_REALTIME_TASK_PRIORITY,
            supports_queries: true,
            ..base
        },
        "index_realtime" | "index_realtime_appenderator" => TaskTypeFacts {
            default_priority: DEFAULT_REALTIME_TASK_PRIORITY,
            node_type: Some("realtime"),
            supports_queries: true,
            ..base
        },
        "index"
        | "index_parallel"
        | "single_phase_sub_task"
        | "index_sub"
        | "index_hadoop"
        | "index_materialized_view" => TaskTypeFacts {
            default_priority: DEFAULT_BATCH_INDEX_TASK_PRIORITY,
            ..base
        },
        t if t.starts_with("partial_") => TaskTypeFacts {
            default_priority: DEFAULT_BATCH_INDEX_TASK_PRIORITY,
            ..base
        },
        "query_worker" => TaskTypeFacts {
            default_priority: DEFAULT_BATCH_INDEX_TASK_PRIORITY,
            supports_queries: true,
            ..base
        },
        // MSQControllerTask overrides getBroadcastDatasourceLoadingSpec() to return NONE
        // without reading the context.
        "query_controller" => TaskTypeFacts {
            default_priority: DEFAULT_BATCH_INDEX_TASK_PRIORITY,
            default_broadcast_loading: B::None,
            broadcast_loading_fixed: true,
            ..base
        },
        "compact" => TaskTypeFacts {
            default_priority: DEFAULT_MERGE_TASK_PRIORITY,
            ..base
        },
        "kill" => TaskTypeFacts {
            default_broadcast_loading: B::None,
            broadcast_loading_fixed: true,
            ..base
        },
        _ => base,
    }
}

/// A Druid task, held as its JSON object so that fields this crate does not know survive a round
/// trip unchanged.
///
/// Construction checks that `id` and `type` are non-empty strings and that `groupId`,
/// `dataSource` and `context` (when present and non-null) have the right JSON kind; the accessors
/// therefore never fail.
///
/// ```
/// use druid_k8s_model::Task;
/// let task = Task::from_json(r#"{"type":"index_kafka","id":"t1","dataSource":"wiki",
///     "context":{"tags":{"team":"a"}},"spec":{"custom":1}}"#).unwrap();
/// assert_eq!(task.group_id(), "t1");
/// assert_eq!(task.priority(), 75);
/// assert!(task.supports_queries());
/// assert!(task.to_json_string().contains(r#""spec":{"custom":1}"#));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    value: Value,
}

impl Task {
    /// Parses task JSON text.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
            what: "task JSON",
            source,
        })?;
        Self::from_value(value)
    }

    /// Wraps and checks a task JSON value.
    pub fn from_value(value: Value) -> Result<Self, ModelError> {
        let Some(obj) = value.as_object() else {
            return Err(ModelError::InvalidTaskField {
                field: String::new(),
                expected: "a JSON object",
                found: describe(&value),
            });
        };
        for field in ["id", "type"] {
            match obj.get(field) {
                None | Some(Value::Null) => {
                    return Err(ModelError::MissingTaskField { field });
                }
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                Some(other) => {
                    return Err(ModelError::InvalidTaskField {
                        field: field.to_owned(),
                        expected: "a non-empty string",
                        found: describe(other),
                    });
                }
            }
        }
        for field in ["groupId", "dataSource"] {
            match obj.get(field) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(other) => {
                    return Err(ModelError::InvalidTaskField {
                        field: field.to_owned(),
                        expected: "a string",
                        found: describe(other),
                    });
                }
            }
        }
        match obj.get("context") {
            None | Some(Value::Null) => {}
            // Any `tags` value is accepted, as Druid's context map accepts it; `tags()` only
            // returns a map.
            Some(Value::Object(_)) => {}
            Some(other) => {
                return Err(ModelError::InvalidTaskField {
                    field: "context".to_owned(),
                    expected: "an object",
                    found: describe(other),
                });
            }
        }
        Ok(Self { value })
    }

    fn str_field(&self, field: &str) -> Option<&str> {
        self.value.get(field).and_then(Value::as_str)
    }

    /// The task id.
    pub fn id(&self) -> &str {
        self.str_field("id").unwrap_or_default()
    }

    /// The task type (`type`), e.g. `index_kafka`.
    pub fn task_type(&self) -> &str {
        self.str_field("type").unwrap_or_default()
    }

    /// The group id: `groupId` when present and non-null, else the task id (Druid's rule).
    pub fn group_id(&self) -> &str {
        self.str_field("groupId").unwrap_or_else(|| self.id())
    }

    /// The datasource, when the task names one.
    pub fn data_source(&self) -> Option<&str> {
        self.str_field("dataSource")
    }

    /// The task context object, when present.
    pub fn context(&self) -> Option<&Map<String, Value>> {
        self.value.get("context").and_then(Value::as_object)
    }

    /// One context value.
    pub fn context_value(&self, key: &str) -> Option<&Value> {
        self.context()
            .and_then(|c| c.get(key))
            .filter(|v| !v.is_null())
    }

    /// The context's `tags` map (used by `selectorBased` template selection); `None` when absent
    /// or not a map.
    pub fn tags(&self) -> Option<&Map<String, Value>> {
        self.context_value(CONTEXT_TAGS).and_then(Value::as_object)
    }

    /// The priority: context `priority` (an integer, or a string holding one) when present, else
    /// Druid's default for the task type.
    pub fn priority(&self) -> i32 {
        let from_context = self.context_value(CONTEXT_PRIORITY).and_then(|v| match v {
            Value::Number(n) => n.as_i64().and_then(|i| i32::try_from(i).ok()),
            Value::String(s) => s.trim().parse::<i32>().ok(),
            _ => None,
        });
        from_context.unwrap_or_else(|| self.facts().default_priority)
    }

    /// The context's `druid.indexer.runner.javaOpts` string (extra JVM options).
    pub fn context_java_opts(&self) -> Option<&str> {
        self.context_value(CONTEXT_JAVA_OPTS)
            .and_then(Value::as_str)
    }

    /// The context's `podTemplateSelectionKey`, when it is a non-empty string.
    pub fn pod_template_selection_key(&self) -> Option<&str> {
        self.context_value(CONTEXT_POD_TEMPLATE_SELECTION_KEY)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The per-type facts of this task's type.
    pub fn facts(&self) -> TaskTypeFacts {
        task_type_facts(self.task_type())
    }

    /// `Task.getNodeType()`.
    pub fn node_type(&self) -> Option<&'static str> {
        self.facts().node_type
    }

    /// `Task.supportsQueries()`.
    pub fn supports_queries(&self) -> bool {
        self.facts().supports_queries
    }

    /// The broadcast datasource loading mode: the context's `broadcastDatasourceLoadingMode` when
    /// it is a valid mode name, else the type's default (`kill` and `query_controller` always
    /// `NONE`).
    ///
    /// Druid fails the task on an invalid mode name; the runner only needs the mode for an env
    /// var, so an invalid name falls back to the type default here and the peon reports it.
    pub fn broadcast_datasource_loading_mode(&self) -> BroadcastDatasourceLoadingMode {
        let facts = self.facts();
        if facts.broadcast_loading_fixed {
            return facts.default_broadcast_loading;
        }
        self.context_value(CONTEXT_BROADCAST_LOADING_MODE)
            .and_then(Value::as_str)
            .and_then(BroadcastDatasourceLoadingMode::parse)
            .unwrap_or(facts.default_broadcast_loading)
    }

    /// The JSON text of the task (compact; field order preserved).
    pub fn to_json_string(&self) -> String {
        self.value.to_string()
    }

    /// The task JSON value.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Consumes the task and returns its JSON value.
    pub fn into_value(self) -> Value {
        self.value
    }
}

impl Serialize for Task {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Task::from_value(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_id_or_type_names_the_field() {
        let err = Task::from_value(json!({"type": "index"})).unwrap_err();
        assert!(err.to_string().contains("`id`"), "{err}");
        let err = Task::from_value(json!({"id": "x"})).unwrap_err();
        assert!(err.to_string().contains("`type`"), "{err}");
        let err = Task::from_value(json!({"id": 3, "type": "index"})).unwrap_err();
        assert!(err.to_string().contains("`id`") && err.to_string().contains("number 3"));
        let err = Task::from_value(json!({"id": "a", "type": ""})).unwrap_err();
        assert!(err.to_string().contains("`type`"), "{err}");
        let err = Task::from_value(json!([1])).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        let err = Task::from_json("{").unwrap_err();
        assert!(
            err.to_string().starts_with("task JSON is not valid JSON"),
            "{err}"
        );
        let err = Task::from_value(json!({"id":"a","type":"b","context":[1]})).unwrap_err();
        assert!(err.to_string().contains("`context`"), "{err}");
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"type":"index_parallel","id":"abc","zeta":[1,{"b":2,"a":1}],"resource":{"availabilityGroup":"g","requiredCapacity":1},"context":{"x":null}}"#;
        let task = Task::from_json(text).unwrap();
        assert_eq!(task.to_json_string(), text);
        let back: Task = serde_json::from_str(&serde_json::to_string(&task).unwrap()).unwrap();
        assert_eq!(back, task);
    }

    /// Druid's task context is a plain map: a `tags` value that is not a map is accepted (only a
    /// selector with `context.tags` conditions cannot use it), and such a task must survive a
    /// restore from a Job created by Druid.
    #[test]
    fn non_map_tags_are_accepted_but_not_tags() {
        for tags in [json!("team-a"), json!([1]), json!(3)] {
            let t =
                Task::from_value(json!({"id": "a", "type": "index", "context": {"tags": tags}}))
                    .unwrap();
            assert!(t.tags().is_none());
            assert_eq!(t.context_value(CONTEXT_TAGS), Some(&tags));
        }
    }

    #[test]
    fn group_id_defaults_to_id() {
        let t = Task::from_value(json!({"id": "a", "type": "index", "groupId": null})).unwrap();
        assert_eq!(t.group_id(), "a");
        let t = Task::from_value(json!({"id": "a", "type": "index", "groupId": "g"})).unwrap();
        assert_eq!(t.group_id(), "g");
    }

    #[test]
    fn priorities_follow_the_type_table_and_the_context() {
        let p = |ty: &str| {
            Task::from_value(json!({"id": "a", "type": ty}))
                .unwrap()
                .priority()
        };
        assert_eq!(p("index_kafka"), 75);
        assert_eq!(p("index_kinesis"), 75);
        assert_eq!(p("index_parallel"), 50);
        assert_eq!(p("partial_index_generate"), 50);
        assert_eq!(p("compact"), 25);
        assert_eq!(p("kill"), 0);
        assert_eq!(p("noop"), 0);
        let t =
            Task::from_value(json!({"id": "a", "type": "compact", "context": {"priority": 90}}))
                .unwrap();
        assert_eq!(t.priority(), 90);
        let t =
            Task::from_value(json!({"id": "a", "type": "compact", "context": {"priority": "7"}}))
                .unwrap();
        assert_eq!(t.priority(), 7);
    }

    #[test]
    fn broadcast_mode_and_queries() {
        let t = |v: Value| Task::from_value(v).unwrap();
        let kafka = t(json!({"id": "a", "type": "index_kafka"}));
        assert!(kafka.supports_queries());
        assert_eq!(kafka.node_type(), None);
        assert_eq!(kafka.broadcast_datasource_loading_mode().to_string(), "ALL");
        let rt = t(json!({"id": "a", "type": "index_realtime"}));
        assert_eq!(rt.node_type(), Some("realtime"));
        let kill = t(
            json!({"id": "a", "type": "kill", "context": {"broadcastDatasourceLoadingMode": "ALL"}}),
        );
        assert_eq!(kill.broadcast_datasource_loading_mode().to_string(), "NONE");
        let ctl = t(json!({"id": "a", "type": "query_controller"}));
        assert_eq!(ctl.broadcast_datasource_loading_mode().to_string(), "NONE");
        assert!(!ctl.supports_queries());
        // MSQControllerTask.getBroadcastDatasourceLoadingSpec() returns NONE whatever the
        // context says (like kill).
        let ctl = t(
            json!({"id": "a", "type": "query_controller", "context": {"broadcastDatasourceLoadingMode": "ALL"}}),
        );
        assert_eq!(ctl.broadcast_datasource_loading_mode().to_string(), "NONE");
        let worker = t(
            json!({"id": "a", "type": "query_worker", "context": {"broadcastDatasourceLoadingMode": "NONE"}}),
        );
        assert_eq!(
            worker.broadcast_datasource_loading_mode().to_string(),
            "NONE"
        );
        let idx = t(
            json!({"id": "a", "type": "index", "context": {"broadcastDatasourceLoadingMode": "ONLY_REQUIRED"}}),
        );
        assert_eq!(
            idx.broadcast_datasource_loading_mode().to_string(),
            "ONLY_REQUIRED"
        );
    }

    #[test]
    fn context_accessors() {
        let t = Task::from_value(json!({"id": "a", "type": "index", "dataSource": "wiki",
            "context": {"tags": {"t": "v"}, "druid.indexer.runner.javaOpts": "-Xmx2g",
                        "podTemplateSelectionKey": "big"}}))
        .unwrap();
        assert_eq!(t.data_source(), Some("wiki"));
        assert_eq!(t.tags().unwrap()["t"], "v");
        assert_eq!(t.context_java_opts(), Some("-Xmx2g"));
        assert_eq!(t.pod_template_selection_key(), Some("big"));
        let bare = Task::from_value(json!({"id": "a", "type": "index"})).unwrap();
        assert_eq!(bare.data_source(), None);
        assert!(bare.context().is_none() && bare.tags().is_none());
    }
}
