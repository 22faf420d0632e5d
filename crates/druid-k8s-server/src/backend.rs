//! What the HTTP layer needs from a task runner.
//!
//! The server talks to the runner only through [`TaskBackend`], so the HTTP API, the store and
//! authentication can be built and tested without Kubernetes; `serve` and `demo` plug in the real
//! runner (see [`crate::runner_backend`]).

use std::collections::BTreeMap;

use druid_k8s_model::{DynamicConfig, RunnerTaskState, Task, TaskLocation, TaskStatus};
use futures::future::BoxFuture;
use serde_json::Value;

/// A task the runner knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerTask {
    /// Task id.
    pub id: String,
    /// Pending / running / none.
    pub state: RunnerTaskState,
    /// Current location (unknown while pending).
    pub location: TaskLocation,
}

/// Slot counts (Druid's worker-capacity view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Effective capacity (dynamic override or static).
    pub total: u32,
    /// Tasks the runner holds.
    pub used: u32,
}

/// A backend error: a message for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError(pub String);

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The task runner as the HTTP layer sees it.
pub trait TaskBackend: Send + Sync + 'static {
    /// Starts running `task` (already recorded in the store). Calling it again for a task the
    /// runner already holds must not start a second Job.
    fn run(&self, task: Task) -> BoxFuture<'_, Result<(), BackendError>>;
    /// Stops a task (deletes its Job). Unknown ids are not an error.
    fn shutdown<'a>(
        &'a self,
        id: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), BackendError>>;
    /// Every task the runner holds.
    fn known_tasks(&self) -> Vec<RunnerTask>;
    /// Capacity and usage.
    fn capacity(&self) -> Capacity;
    /// The live log of a running task (from the pod), or `None`.
    fn live_log<'a>(&'a self, id: &'a str, offset: i64) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// The archived log from task-log storage, or `None`.
    fn archived_log<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// The task reports (live from the peon, else from task-log storage), or `None`.
    fn reports<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// The final status the peon pushed to task-log storage, if any (used when reconciling).
    fn stored_status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<TaskStatus>>;
    /// Applies a new dynamic config (selection strategy and capacity) to the next tasks.
    fn apply_dynamic_config(&self, config: Option<DynamicConfig>);
    /// Renders the Job for `task` without creating it: the Job, adapter, template key and why
    /// that template was chosen; with `dry_run`, also the API server's verdict on a server-side
    /// dry-run create.
    fn preview<'a>(
        &'a self,
        task: &'a Task,
        config: Option<&'a DynamicConfig>,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Value, BackendError>>;
    /// Stops the runner's background work, leaving Jobs running.
    fn stop(&self) -> BoxFuture<'_, ()>;
}

/// A status change the runner reports to the server (which records it).
#[derive(Debug, Clone, PartialEq)]
pub enum StatusEvent {
    /// The task's location became known or changed.
    Location {
        /// Task id.
        id: String,
        /// New location.
        location: TaskLocation,
    },
    /// The task finished.
    Complete(TaskStatus),
    /// The runner adopted a Job it found at start-up that has this task.
    Adopted(Task),
}

/// Pod templates by key, as JSON values (for `GET …/podTemplates`).
pub type PodTemplates = BTreeMap<String, Value>;
