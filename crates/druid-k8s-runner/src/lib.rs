//! druid-k8s-runner: runs Apache Druid tasks as Kubernetes Jobs.

pub mod api;
pub mod core;
pub mod error;
pub mod metrics;
pub mod retry;
pub mod tasklogs;
pub mod views;

pub use error::RunnerError;
