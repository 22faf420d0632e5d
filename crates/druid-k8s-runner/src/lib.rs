//! druid-k8s-runner: runs Apache Druid tasks as Kubernetes Jobs, with Druid's semantics
//! (spec §8) and none of its thread-per-task, poll-per-task design.
//!
//! * [`TaskRunner`]: `run` (idempotent per task id), `shutdown`, status handles, location,
//!   live logs, reports, known/running/pending tasks, slot counts, listeners
//!   ([`TaskRunner::subscribe`]), live capacity changes ([`TaskRunner::set_dynamic_config`]).
//! * One shared watch on Jobs and one on Pods feed reflector stores and a pure state machine
//!   ([`core::Core`]: `on_event(state, event) -> commands`, unit-tested without a client).
//! * Capacity: no more than `capacity` Jobs exist at once; waiting tasks are ordered by
//!   priority, then submission; a queued task that is shut down never launches.
//! * Restore on start: the watch's first list adopts every peon Job (no second Job for a
//!   known task), Jobs that ended meanwhile get their status from storage.
//! * Outcomes from the peon's `status.json`; when it is missing, the failure says why
//!   (OOMKilled, Evicted, DeadlineExceeded, ImagePullBackOff, exit code, ...).
//! * Logs: captured while the task runs and archived to task-log storage ([`TaskLogs`]:
//!   [`FileTaskLogs`], [`ObjectStoreTaskLogs`] for S3) within `logSaveTimeout`.
//! * API hygiene: retries with jittered backoff ([`retry`]), a client-side rate limit and
//!   per-verb metrics ([`api`]), Prometheus metrics ([`RunnerMetrics`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use druid_k8s_model::{Task, config::RunnerConfig};
//! use druid_k8s_runner::{
//!     FileTaskLogs, FileTemplateSource, RunnerMetrics, RunnerOptions, RunnerParts, TaskRunner,
//! };
//!
//! let config = RunnerConfig::for_namespace("druid");
//! let mut registry = prometheus_client::registry::Registry::default();
//! let runner = TaskRunner::start(RunnerParts {
//!     kube: kube::Config::infer().await?,
//!     task_logs: Arc::new(FileTaskLogs::new("/druid/task-logs")),
//!     templates: Some(Arc::new(FileTemplateSource::new(config.pod_templates.clone()))),
//!     dynamic: None,
//!     metrics: RunnerMetrics::register(&mut registry),
//!     options: RunnerOptions::default(),
//!     config,
//! })
//! .await?;
//! let task = Task::from_json(r#"{"id": "index_wiki_1", "type": "index_parallel"}"#)?;
//! let status = runner.run(task)?.status().await?;
//! println!("{}", status.to_json_string());
//! runner.shutdown("index_wiki_1", "completed");
//! runner.stop(); // Jobs keep running; the next start adopts them
//! # Ok(())
//! # }
//! ```

pub mod api;
pub mod combined;
pub mod core;
pub mod error;
pub mod metrics;
pub mod retry;
pub mod runner;
pub mod tasklogs;
pub mod templates;
pub mod views;
pub mod worker;

pub use combined::{CombinedRunner, SlotMaps};
pub use error::RunnerError;
pub use metrics::RunnerMetrics;
pub use runner::{
    LogStream, RunnerEvent, RunnerOptions, RunnerParts, TaskHandle, TaskInfo, TaskRunner,
};
pub use tasklogs::{
    Artifact, FileTaskLogs, ObjectStoreTaskLogs, S3Settings, TaskLogs, task_logs_from_config,
};
pub use templates::FileTemplateSource;
pub use worker::{WorkerRunner, WorkerRunnerConfig};
