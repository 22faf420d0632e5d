//! druid-k8s-runner: runs Apache Druid tasks as Kubernetes Jobs.

pub mod api;
pub mod core;
pub mod error;
pub mod metrics;
pub mod retry;
pub mod runner;
pub mod tasklogs;
pub mod templates;
pub mod views;

pub use error::RunnerError;
pub use metrics::RunnerMetrics;
pub use runner::{
    LogStream, RunnerEvent, RunnerOptions, RunnerParts, TaskHandle, TaskInfo, TaskRunner,
};
pub use tasklogs::{Artifact, FileTaskLogs, ObjectStoreTaskLogs, S3Settings, TaskLogs};
pub use templates::FileTemplateSource;
