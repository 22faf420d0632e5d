//! Task statuses, locations and runner/lifecycle states, with Druid's JSON shapes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The peon's port for plain HTTP (forced by the Kubernetes adapters).
pub const PEON_PLAINTEXT_PORT: i32 = 8100;
/// The peon's TLS port.
pub const PEON_TLS_PORT: i32 = 8091;

/// Final or running state of a task (Druid's `TaskState`): `RUNNING`, `SUCCESS`, `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskState {
    /// Still running.
    Running,
    /// Finished successfully.
    Success,
    /// Finished with a failure.
    Failed,
}

impl TaskState {
    /// True for `SUCCESS` and `FAILED`.
    pub fn is_complete(self) -> bool {
        !matches!(self, Self::Running)
    }

    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task's peon can be reached (Druid's `TaskLocation`).
///
/// JSON: `{"host":null,"port":-1,"tlsPort":-1}`, plus `"k8sPodName"` only when set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLocation {
    /// Host or pod IP; `None` when unknown.
    #[serde(default)]
    pub host: Option<String>,
    /// Plain-text port, `-1` when not used or unknown.
    #[serde(default = "minus_one")]
    pub port: i32,
    /// TLS port, `-1` when not used or unknown.
    #[serde(default = "minus_one")]
    pub tls_port: i32,
    /// Name of the peon pod (Kubernetes runner only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_pod_name: Option<String>,
}

fn minus_one() -> i32 {
    -1
}

impl Default for TaskLocation {
    fn default() -> Self {
        Self::unknown()
    }
}

impl TaskLocation {
    /// The unknown location: host null, ports -1, no pod name.
    pub fn unknown() -> Self {
        Self {
            host: None,
            port: -1,
            tls_port: -1,
            k8s_pod_name: None,
        }
    }

    /// The location of a running peon pod, as Druid's runner reports it: with TLS the plain port
    /// is -1 and the TLS port 8091; without TLS port 8100 and TLS port -1.
    pub fn for_pod(pod_ip: impl Into<String>, tls: bool, pod_name: impl Into<String>) -> Self {
        Self {
            host: Some(pod_ip.into()),
            port: if tls { -1 } else { PEON_PLAINTEXT_PORT },
            tls_port: if tls { PEON_TLS_PORT } else { -1 },
            k8s_pod_name: Some(pod_name.into()),
        }
    }

    /// True when the host is unknown.
    pub fn is_unknown(&self) -> bool {
        self.host.is_none()
    }
}

/// A task's status (Druid's `TaskStatus`).
///
/// JSON: `{"id":..,"status":"SUCCESS","duration":..,"errorMsg":null,"location":{..}}`. Reading
/// accepts documents without `duration` (→ -1), `errorMsg` or `location` (→ unknown) and ignores
/// unknown fields, as a peon's `status.json` may carry more.
///
/// ```
/// use druid_k8s_model::{TaskState, TaskStatus};
/// let s = TaskStatus::from_json(r#"{"id":"t1","status":"FAILED","errorMsg":"boom"}"#).unwrap();
/// assert_eq!(s.status, TaskState::Failed);
/// assert_eq!(s.duration, -1);
/// assert_eq!(TaskStatus::success("t1").with_duration(5).to_json_string(),
///     r#"{"id":"t1","status":"SUCCESS","duration":5,"errorMsg":null,"location":{"host":null,"port":-1,"tlsPort":-1}}"#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// Task id.
    pub id: String,
    /// The state.
    pub status: TaskState,
    /// Run time in milliseconds, -1 when unknown.
    #[serde(default = "minus_one_i64")]
    pub duration: i64,
    /// Failure message, if any.
    #[serde(default)]
    pub error_msg: Option<String>,
    /// Where the task ran.
    #[serde(default)]
    pub location: TaskLocation,
}

fn minus_one_i64() -> i64 {
    -1
}

impl TaskStatus {
    fn new(id: impl Into<String>, status: TaskState, error_msg: Option<String>) -> Self {
        Self {
            id: id.into(),
            status,
            duration: -1,
            error_msg,
            location: TaskLocation::unknown(),
        }
    }

    /// A `SUCCESS` status with unknown duration.
    pub fn success(id: impl Into<String>) -> Self {
        Self::new(id, TaskState::Success, None)
    }

    /// A `FAILED` status with the given message.
    pub fn failure(id: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::new(id, TaskState::Failed, Some(msg.into()))
    }

    /// A `RUNNING` status.
    pub fn running(id: impl Into<String>) -> Self {
        Self::new(id, TaskState::Running, None)
    }

    /// The same status with `duration` set (milliseconds; -1 = unknown).
    pub fn with_duration(mut self, duration: i64) -> Self {
        self.duration = duration;
        self
    }

    /// The same status with `location` set.
    pub fn with_location(mut self, location: TaskLocation) -> Self {
        self.location = location;
        self
    }

    /// True for `SUCCESS`.
    pub fn is_success(&self) -> bool {
        self.status == TaskState::Success
    }

    /// True for `SUCCESS` and `FAILED`.
    pub fn is_complete(&self) -> bool {
        self.status.is_complete()
    }

    /// Parses a status JSON document (e.g. a peon's `status.json`).
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        serde_json::from_str(text).map_err(|e| ModelError::InvalidStatus {
            message: e.to_string(),
        })
    }

    /// The JSON text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A task's state as the task runner reports it (Druid's `RunnerTaskState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunnerTaskState {
    /// Waiting for a worker (not used by the Kubernetes runner).
    Waiting,
    /// Accepted, Job not yet running.
    Pending,
    /// Running.
    Running,
    /// Finished (or unknown to the runner's lifecycle).
    None,
}

impl RunnerTaskState {
    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::None => "NONE",
        }
    }
}

impl fmt::Display for RunnerTaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle of one peon Job (Druid's `KubernetesPeonLifecycle.State`):
/// `NOT_STARTED` → `PENDING` → `RUNNING` → `STOPPED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleState {
    /// Accepted, waiting for a slot; no Job exists.
    NotStarted,
    /// The Job is being created or its pod is starting.
    Pending,
    /// The pod is running (or the runner is joining a restored Job).
    Running,
    /// Finished.
    Stopped,
}

impl LifecycleState {
    /// The runner state Druid reports for this lifecycle state: NOT_STARTED and PENDING →
    /// PENDING, RUNNING → RUNNING, STOPPED → NONE.
    pub fn runner_task_state(self) -> RunnerTaskState {
        match self {
            Self::NotStarted | Self::Pending => RunnerTaskState::Pending,
            Self::Running => RunnerTaskState::Running,
            Self::Stopped => RunnerTaskState::None,
        }
    }

    /// Whether Druid allows the transition `self → next` (every transition is a compare-and-set
    /// from an allowed set; anything else is an illegal state transition).
    pub fn can_transition_to(self, next: LifecycleState) -> bool {
        use LifecycleState::*;
        matches!(
            (self, next),
            (NotStarted, Pending)
                | (NotStarted, Running)
                | (Pending, Running)
                | (NotStarted | Pending | Running, Stopped)
        )
    }

    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "NOT_STARTED",
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_shapes() {
        let s = TaskStatus::failure("t", "oops")
            .with_location(TaskLocation::for_pod("10.0.0.1", false, "pod-1"));
        let v: serde_json::Value = serde_json::from_str(&s.to_json_string()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"t","status":"FAILED","duration":-1,"errorMsg":"oops",
                "location":{"host":"10.0.0.1","port":8100,"tlsPort":-1,"k8sPodName":"pod-1"}})
        );
        assert_eq!(TaskStatus::from_json(&s.to_json_string()).unwrap(), s);
        let tls = TaskLocation::for_pod("h", true, "p");
        assert_eq!((tls.port, tls.tls_port), (-1, 8091));
    }

    #[test]
    fn status_reading_is_lenient_about_optional_fields_but_not_states() {
        let s = TaskStatus::from_json(
            r#"{"id":"t","status":"SUCCESS","duration":12,"location":{"host":null,"port":-1,"tlsPort":-1},"extra":1}"#,
        )
        .unwrap();
        assert!(s.is_success());
        assert!(s.location.is_unknown());
        let err = TaskStatus::from_json(r#"{"id":"t","status":"DONE"}"#).unwrap_err();
        assert!(err.to_string().contains("DONE"), "{err}");
        let err = TaskStatus::from_json(r#"{"status":"SUCCESS"}"#).unwrap_err();
        assert!(err.to_string().contains("`id`"), "{err}");
    }

    #[test]
    fn lifecycle_maps_to_runner_state() {
        use LifecycleState::*;
        assert_eq!(NotStarted.runner_task_state(), RunnerTaskState::Pending);
        assert_eq!(Pending.runner_task_state(), RunnerTaskState::Pending);
        assert_eq!(Running.runner_task_state(), RunnerTaskState::Running);
        assert_eq!(Stopped.runner_task_state(), RunnerTaskState::None);
        assert!(!Stopped.can_transition_to(Running));
        assert!(!Running.can_transition_to(Pending));
        assert!(Pending.can_transition_to(Stopped));
        assert_eq!(
            serde_json::to_string(&NotStarted).unwrap(),
            "\"NOT_STARTED\""
        );
    }
}
