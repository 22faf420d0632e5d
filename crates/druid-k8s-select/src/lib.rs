//! Pod template selection for Druid tasks, exactly as Druid's `customTemplateAdapter` does it
//! (`TaskTypePodTemplateSelectStrategy`, `SelectorBasedPodTemplateSelectStrategy` and the
//! task-context key `podTemplateSelectionKey`), with an explanation of the choice.
//!
//! Rules:
//! 1. If `allow_task_pod_template_selection` is true and the task context has
//!    `podTemplateSelectionKey`, that key is used; a key without a template is an **error** (the
//!    task must not launch), not a fallback. When the flag is false the context key is ignored.
//! 2. `default` strategy: the task type's template if one exists, else `base`.
//! 3. `selectorBased`: selectors in order, the **first** match wins; within a selector all given
//!    conditions must hold (checked in Druid's order: `context.tags`, `type`, `dataSource`).
//!    * `type` / `dataSource`: absent = null = `[]` = any; else the task's value must be listed.
//!    * `context.tags`: absent = null = `{}` = any; else for every tag name the task's context
//!      `tags` must have that tag and its value (strings as-is, numbers and booleans as text) must
//!      be allowed.
//!    * A matching selector whose key has no template falls back to `base`, as does no match.
//! 4. The fallback `base` must exist (the runner config requires it for this adapter).
//!
//! ```
//! use druid_k8s_model::{DynamicConfig, Task};
//! use druid_k8s_select::select;
//!
//! let config = DynamicConfig::from_json(r#"{"type":"default","podTemplateSelectStrategy":
//!   {"type":"selectorBased","selectors":[
//!     {"selectionKey":"podSpec1","context.tags":{"userProvidedTag":["tag1","tag2"]},"dataSource":["wikipedia"]},
//!     {"selectionKey":"podSpec2","type":["index_kafka"]}]}}"#).unwrap();
//! let strategy = DynamicConfig::effective_strategy(Some(&config));
//! let templates = ["base", "podSpec1", "podSpec2"];
//! let has_template = |key: &str| templates.contains(&key);
//!
//! let task = Task::from_json(r#"{"id":"t1","type":"index_kafka","dataSource":"wikipedia",
//!   "context":{"tags":{"userProvidedTag":"tag1"}}}"#).unwrap();
//! let selection = select(&task, &strategy, &has_template, false).unwrap();
//! assert_eq!(selection.key, "podSpec1");
//! assert_eq!(selection.to_string(), "template `podSpec1`: selector #0 (selectionKey `podSpec1`) matched");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy, RunnerConfig, Selector, Task};
use serde::Serialize;
use serde_json::Value;

/// The template key every configuration must have; the fallback.
pub const BASE_TEMPLATE: &str = "base";

/// Why a template could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The task asked for a template (`podTemplateSelectionKey`) that is not configured.
    #[error(
        "task [{task_id}] asks for pod template `{key}` (task context podTemplateSelectionKey), but no template with that key is configured (druid.indexer.runner.k8s.podTemplate.{key})"
    )]
    SelectionKeyWithoutTemplate {
        /// The task id.
        task_id: String,
        /// The requested key.
        key: String,
    },
    /// The fallback template `base` is not configured.
    #[error(
        "could not find pod template for task [{task_id}]: no `base` template is configured (druid.indexer.runner.k8s.podTemplate.base)"
    )]
    NoBaseTemplate {
        /// The task id.
        task_id: String,
    },
}

/// The first condition of a selector that a task failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "condition", rename_all = "camelCase")]
pub enum FailedCondition {
    /// A `context.tags` condition: the task has no such tag (or no tags at all).
    TagMissing {
        /// The tag name.
        tag: String,
    },
    /// A `context.tags` condition: the task's tag value is not allowed.
    TagValue {
        /// The tag name.
        tag: String,
        /// The task's value (as text; `null` or JSON for non-scalar values).
        actual: String,
        /// The allowed values.
        allowed: BTreeSet<String>,
    },
    /// The task type is not listed.
    TaskType {
        /// The task's type.
        actual: String,
        /// The allowed types.
        allowed: BTreeSet<String>,
    },
    /// The datasource is not listed (or the task has none).
    DataSource {
        /// The task's datasource.
        actual: Option<String>,
        /// The allowed datasources.
        allowed: BTreeSet<String>,
    },
}

fn list(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for FailedCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TagMissing { tag } => write!(f, "the task has no context tag `{tag}`"),
            Self::TagValue {
                tag,
                actual,
                allowed,
            } => write!(
                f,
                "context tag `{tag}` is `{actual}`, not one of [{}]",
                list(allowed)
            ),
            Self::TaskType { actual, allowed } => {
                write!(f, "task type `{actual}` is not one of [{}]", list(allowed))
            }
            Self::DataSource {
                actual: Some(ds),
                allowed,
            } => write!(f, "dataSource `{ds}` is not one of [{}]", list(allowed)),
            Self::DataSource {
                actual: None,
                allowed,
            } => write!(
                f,
                "the task has no dataSource (expected one of [{}])",
                list(allowed)
            ),
        }
    }
}

/// Why one selector did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SelectorMiss {
    /// Position in the list (0-based).
    pub index: usize,
    /// The selector's `selectionKey`.
    pub selection_key: String,
    /// The first condition that failed.
    pub failed: FailedCondition,
}

impl fmt::Display for SelectorMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "selector #{} (selectionKey `{}`): {}",
            self.index, self.selection_key, self.failed
        )
    }
}

/// How the template was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SelectionReason {
    /// The task context's `podTemplateSelectionKey` (allowed by
    /// `allowTaskPodTemplateSelection`).
    TaskContextKey,
    /// `default` strategy: a template named after the task type exists.
    TaskType,
    /// `default` strategy: no template for the task type, so `base`.
    NoTaskTypeTemplate {
        /// The task type.
        task_type: String,
    },
    /// `selectorBased`: this selector matched first.
    #[serde(rename_all = "camelCase")]
    SelectorMatched {
        /// Position in the list (0-based).
        index: usize,
        /// Its `selectionKey` (= the chosen key).
        selection_key: String,
        /// Selectors before it and why they did not match.
        misses: Vec<SelectorMiss>,
    },
    /// `selectorBased`: this selector matched first but its key has no template, so `base`.
    #[serde(rename_all = "camelCase")]
    SelectorMatchedWithoutTemplate {
        /// Position in the list (0-based).
        index: usize,
        /// Its `selectionKey`.
        selection_key: String,
        /// Selectors before it and why they did not match.
        misses: Vec<SelectorMiss>,
    },
    /// `selectorBased`: no selector matched, so `base`.
    NoSelectorMatched {
        /// Every selector and the first condition it failed (empty when there are none).
        misses: Vec<SelectorMiss>,
    },
}

/// The chosen template key and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// The pod template key (recorded in the `task.jobTemplate` annotation).
    pub key: String,
    /// How it was chosen.
    pub reason: SelectionReason,
}

fn write_misses(f: &mut fmt::Formatter<'_>, misses: &[SelectorMiss]) -> fmt::Result {
    for m in misses {
        write!(f, "; {m}")?;
    }
    Ok(())
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template `{}`: ", self.key)?;
        match &self.reason {
            SelectionReason::TaskContextKey => {
                f.write_str("requested by the task context key podTemplateSelectionKey")
            }
            SelectionReason::TaskType => {
                f.write_str("default strategy, a template for the task type exists")
            }
            SelectionReason::NoTaskTypeTemplate { task_type } => write!(
                f,
                "default strategy, no template for task type `{task_type}`, fallback to base"
            ),
            SelectionReason::SelectorMatched {
                index,
                selection_key,
                misses,
            } => {
                write!(
                    f,
                    "selector #{index} (selectionKey `{selection_key}`) matched"
                )?;
                write_misses(f, misses)
            }
            SelectionReason::SelectorMatchedWithoutTemplate {
                index,
                selection_key,
                misses,
            } => {
                write!(
                    f,
                    "selector #{index} (selectionKey `{selection_key}`) matched but no template has that key, fallback to base"
                )?;
                write_misses(f, misses)
            }
            SelectionReason::NoSelectorMatched { misses } if misses.is_empty() => {
                f.write_str("no selectors configured, fallback to base")
            }
            SelectionReason::NoSelectorMatched { misses } => {
                f.write_str("no selector matched, fallback to base")?;
                write_misses(f, misses)
            }
        }
    }
}

/// Text form of a tag value as Druid compares it (strings as-is, numbers and booleans as text);
/// `None` for null, arrays and objects, which never match.
fn tag_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks one selector against a task: `None` when it matches, else the first failed condition
/// (in Druid's order: `context.tags`, `type`, `dataSource`).
pub fn first_failed_condition(selector: &Selector, task: &Task) -> Option<FailedCondition> {
    if let Some(conditions) = &selector.context_tags {
        let tags = task.tags();
        for (tag, allowed) in conditions {
            let Some(value) = tags.and_then(|t| t.get(tag)) else {
                return Some(FailedCondition::TagMissing { tag: tag.clone() });
            };
            let text = tag_text(value);
            if !text.as_ref().is_some_and(|t| allowed.contains(t)) {
                return Some(FailedCondition::TagValue {
                    tag: tag.clone(),
                    actual: text.unwrap_or_else(|| value.to_string()),
                    allowed: allowed.clone(),
                });
            }
        }
    }
    if let Some(types) = selector.task_type.as_ref().filter(|s| !s.is_empty())
        && !types.contains(task.task_type())
    {
        return Some(FailedCondition::TaskType {
            actual: task.task_type().to_owned(),
            allowed: types.clone(),
        });
    }
    if let Some(sources) = selector.data_source.as_ref().filter(|s| !s.is_empty())
        && !task.data_source().is_some_and(|ds| sources.contains(ds))
    {
        return Some(FailedCondition::DataSource {
            actual: task.data_source().map(str::to_owned),
            allowed: sources.clone(),
        });
    }
    None
}

/// True when every given condition of `selector` holds for `task`.
pub fn matches(selector: &Selector, task: &Task) -> bool {
    first_failed_condition(selector, task).is_none()
}

/// Chooses the pod template key for `task`.
///
/// `has_template(key)` tells whether a template with that key is configured;
/// `allow_task_pod_template_selection` is the runner property of that name.
pub fn select(
    task: &Task,
    strategy: &PodTemplateSelectStrategy,
    has_template: &dyn Fn(&str) -> bool,
    allow_task_pod_template_selection: bool,
) -> Result<Selection, SelectError> {
    if allow_task_pod_template_selection && let Some(key) = task.pod_template_selection_key() {
        if has_template(key) {
            return Ok(Selection {
                key: key.to_owned(),
                reason: SelectionReason::TaskContextKey,
            });
        }
        return Err(SelectError::SelectionKeyWithoutTemplate {
            task_id: task.id().to_owned(),
            key: key.to_owned(),
        });
    }
    let base = |reason: SelectionReason| {
        if has_template(BASE_TEMPLATE) {
            Ok(Selection {
                key: BASE_TEMPLATE.to_owned(),
                reason,
            })
        } else {
            Err(SelectError::NoBaseTemplate {
                task_id: task.id().to_owned(),
            })
        }
    };
    match strategy {
        PodTemplateSelectStrategy::Default => {
            let task_type = task.task_type();
            if has_template(task_type) {
                Ok(Selection {
                    key: task_type.to_owned(),
                    reason: SelectionReason::TaskType,
                })
            } else {
                base(SelectionReason::NoTaskTypeTemplate {
                    task_type: task_type.to_owned(),
                })
            }
        }
        PodTemplateSelectStrategy::SelectorBased { selectors } => {
            let mut misses = Vec::new();
            for (index, selector) in selectors.iter().enumerate() {
                match first_failed_condition(selector, task) {
                    Some(failed) => misses.push(SelectorMiss {
                        index,
                        selection_key: selector.selection_key.clone(),
                        failed,
                    }),
                    None if has_template(&selector.selection_key) => {
                        return Ok(Selection {
                            key: selector.selection_key.clone(),
                            reason: SelectionReason::SelectorMatched {
                                index,
                                selection_key: selector.selection_key.clone(),
                                misses,
                            },
                        });
                    }
                    None => {
                        return base(SelectionReason::SelectorMatchedWithoutTemplate {
                            index,
                            selection_key: selector.selection_key.clone(),
                            misses,
                        });
                    }
                }
            }
            base(SelectionReason::NoSelectorMatched { misses })
        }
    }
}

/// [`select`] with the runner's settings: the configured `pod_templates`, the effective
/// strategy of `dynamic` (the default strategy when none is stored) and
/// `allowTaskPodTemplateSelection`.
///
/// ```
/// use druid_k8s_model::{RunnerConfig, Task};
/// let mut config = RunnerConfig::for_namespace("druid");
/// config.pod_templates.insert("base".into(), "/t/base.yaml".into());
/// config.pod_templates.insert("index_kafka".into(), "/t/kafka.yaml".into());
/// let task = Task::from_json(r#"{"id":"t","type":"index_kafka"}"#).unwrap();
/// let selection = druid_k8s_select::select_with_config(&task, &config, None).unwrap();
/// assert_eq!(selection.key, "index_kafka");
/// ```
pub fn select_with_config(
    task: &Task,
    config: &RunnerConfig,
    dynamic: Option<&DynamicConfig>,
) -> Result<Selection, SelectError> {
    let strategy = DynamicConfig::effective_strategy(dynamic);
    let has = template_map(&config.pod_templates);
    select(
        task,
        &strategy,
        &has,
        config.allow_task_pod_template_selection,
    )
}

/// A `has_template` function for a fixed set of keys.
///
/// ```
/// let has = druid_k8s_select::template_set(["base", "index_kafka"]);
/// assert!(has("base") && !has("other"));
/// ```
pub fn template_set<I, S>(keys: I) -> impl Fn(&str) -> bool
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let set: BTreeSet<String> = keys.into_iter().map(Into::into).collect();
    move |k: &str| set.contains(k)
}

/// The keys of a template map, as a `has_template` function.
pub fn template_map<V>(map: &BTreeMap<String, V>) -> impl Fn(&str) -> bool + '_ {
    move |k: &str| map.contains_key(k)
}

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
