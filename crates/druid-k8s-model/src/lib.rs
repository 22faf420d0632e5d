//! Pure types for running Apache Druid tasks on Kubernetes: tasks, statuses, runner
//! configuration and the dynamic config, with Druid's names, defaults and JSON shapes.
//!
//! * [`Task`]: lossless task JSON plus the per-type facts the Job adapters need.
//! * [`TaskStatus`], [`TaskLocation`], [`RunnerTaskState`], [`LifecycleState`].
//! * [`config`]: `runtime.properties` + `druid_*` environment → validated [`RunnerConfig`].
//! * [`dynamic`]: the `k8s.taskrunner.config` document ([`DynamicConfig`]) and its selectors.
//!
//! This crate does no I/O: callers read files and environment and hand over strings.
//!
//! ```
//! use druid_k8s_model::{DynamicConfig, PodTemplateSelectStrategy, RawConfig, RunnerConfig, Task};
//!
//! let task = Task::from_json(r#"{"id":"index_kafka_wiki_1","type":"index_kafka",
//!     "dataSource":"wikipedia","context":{"tags":{"userProvidedTag":"tag1"}}}"#)?;
//! assert_eq!(task.priority(), 75);
//!
//! let raw = RawConfig::load(
//!     "druid.indexer.runner.type=k8s\ndruid.indexer.runner.namespace=druid\n",
//!     [("druid_indexer_runner_capacity", "10")],
//! )?;
//! let config = RunnerConfig::from_raw(&raw)?;
//! assert_eq!(config.capacity, 10);
//!
//! let dynamic = DynamicConfig::from_json(r#"{"type":"default","podTemplateSelectStrategy":
//!     {"type":"selectorBased","selectors":[{"selectionKey":"podSpec2","type":["index_kafka"]}]}}"#)?;
//! assert!(matches!(dynamic.pod_template_select_strategy,
//!     Some(PodTemplateSelectStrategy::SelectorBased { .. })));
//! # Ok::<(), druid_k8s_model::ModelError>(())
//! ```

pub mod config;
pub mod dynamic;
mod error;
pub mod status;
pub mod task;

pub use config::{
    AdapterType, ConfigError, ConfigErrors, RawConfig, RunnerConfig, SidecarMode, TaskLogsConfig,
};
pub use dynamic::{DynamicConfig, PodTemplateSelectStrategy, Selector};
pub use error::{FieldError, ModelError};
pub use status::{LifecycleState, RunnerTaskState, TaskLocation, TaskState, TaskStatus};
pub use task::{BroadcastDatasourceLoadingMode, Task, TaskTypeFacts, task_type_facts};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
