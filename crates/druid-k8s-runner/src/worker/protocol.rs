//! The JSON shapes of Druid's HTTP worker protocol (the one `HttpRemoteTaskRunner` speaks to
//! MiddleManagers and Indexers).
//!
//! * `GET /druid-internal/v1/worker?counter=<c>&hash=<h>&timeout=<ms>` — a long poll. With
//!   `counter=-1` the worker answers with its whole state; otherwise with the changes since
//!   `<c, h>`, or `204 No Content` when nothing changed within `timeout` milliseconds. The body
//!   is a [`SyncResponse`]; `resetCounter: true` means "start again with `counter=-1`".
//! * `POST /druid-internal/v1/worker/assignTask` — body: the task JSON; `200` when accepted.
//! * `POST /druid/worker/v1/task/<id>/shutdown` — `{"task": "<id>"}`.
//! * `GET /druid/worker/v1/task/<id>/log?offset=<n>` — the task log (`404` when unknown).
//! * `GET /druid/worker/v1/enabled` — `{"<host:port>": true|false}`.

use druid_k8s_model::{TaskLocation, TaskState, TaskStatus};
use serde::{Deserialize, Serialize};

/// Path of the worker sync long poll.
pub const SYNC_PATH: &str = "/druid-internal/v1/worker";
/// Path that assigns a task to a worker.
pub const ASSIGN_PATH: &str = "/druid-internal/v1/worker/assignTask";
/// The category of a worker that sets none (`WorkerConfig.DEFAULT_CATEGORY`).
pub const DEFAULT_WORKER_CATEGORY: &str = "_default_worker_category";

/// The path that shuts a task down on its worker.
pub fn shutdown_path(task_id: &str) -> String {
    format!("/druid/worker/v1/task/{}/shutdown", encode(task_id))
}

/// The path of a task's log on its worker.
pub fn log_path(task_id: &str, offset: i64) -> String {
    format!(
        "/druid/worker/v1/task/{}/log?offset={offset}",
        encode(task_id)
    )
}

/// Percent-encodes a path segment (task ids may hold `:`, `+`, ...).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `ChangeRequestHistory.Counter`: where the next delta starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// The change counter.
    pub counter: i64,
    /// A hash that detects a worker which restarted with the same counter.
    #[serde(default)]
    pub hash: i64,
}

/// `ChangeRequestsSnapshot<WorkerHistoryItem>`: the body of a sync response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResponse {
    /// True: the counter is no longer valid; ask again with `counter=-1`.
    #[serde(default)]
    pub reset_counter: bool,
    /// Why the counter was reset.
    #[serde(default)]
    pub reset_cause: Option<String>,
    /// The counter to send next.
    #[serde(default)]
    pub counter: Option<Counter>,
    /// The changes (or, for `counter=-1`, the whole state).
    #[serde(default)]
    pub requests: Option<Vec<WorkerHistoryItem>>,
}

/// One change of a worker's state (`WorkerHistoryItem`, Jackson `type`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum WorkerHistoryItem {
    /// A task's announcement changed (started, located, finished).
    #[serde(rename = "taskUpdate", rename_all = "camelCase")]
    TaskUpdate {
        /// The announcement.
        task_announcement: Box<TaskAnnouncement>,
    },
    /// The worker forgot a task.
    #[serde(rename = "taskRemoval", rename_all = "camelCase")]
    TaskRemoval {
        /// The task id.
        task_id: String,
    },
    /// The worker was enabled or disabled.
    #[serde(rename = "metadata")]
    Metadata {
        /// True when the worker takes no new tasks.
        #[serde(default)]
        disabled: bool,
    },
}

/// `TaskResource`: the task's availability group and the slots it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResource {
    /// At most one task of a group runs on one worker.
    #[serde(default)]
    pub availability_group: Option<String>,
    /// Slots the task takes (default 1).
    #[serde(default = "one")]
    pub required_capacity: u32,
}

fn one() -> u32 {
    1
}

/// `TaskAnnouncement`: what a worker says about one of its tasks. Reading accepts the old form
/// (`id` + `status` code, no `taskStatus`) too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskAnnouncement {
    /// Task id (old form).
    #[serde(default)]
    pub id: Option<String>,
    /// Task type.
    #[serde(default, rename = "type", alias = "taskType")]
    pub task_type: Option<String>,
    /// Status code (old form).
    #[serde(default)]
    pub status: Option<TaskState>,
    /// The task's status.
    #[serde(default)]
    pub task_status: Option<TaskStatus>,
    /// The task's resource.
    #[serde(default)]
    pub task_resource: Option<TaskResource>,
    /// Where the task's peon listens.
    #[serde(default)]
    pub task_location: Option<TaskLocation>,
    /// The data source.
    #[serde(default)]
    pub task_data_source: Option<String>,
}

impl TaskAnnouncement {
    /// The task's status: `taskStatus`, else one built from `id` and `status`. `None` when the
    /// announcement names no task.
    pub fn effective_status(&self) -> Option<TaskStatus> {
        if let Some(s) = &self.task_status {
            return Some(s.clone());
        }
        let id = self.id.clone()?;
        Some(match self.status.unwrap_or(TaskState::Running) {
            TaskState::Running => TaskStatus::running(id),
            TaskState::Success => TaskStatus::success(id),
            TaskState::Failed => TaskStatus::failure(id, "the worker reported the task failed"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_druid_sync_responses() {
        let body = r#"{"counter":{"counter":3,"hash":77},"resetCounter":false,"requests":[
            {"type":"metadata","disabled":false},
            {"type":"taskUpdate","taskAnnouncement":{"id":"t1","type":"index_kafka","status":"RUNNING",
             "taskStatus":{"id":"t1","status":"RUNNING","duration":-1,"errorMsg":null,
                           "location":{"host":null,"port":-1,"tlsPort":-1}},
             "taskResource":{"availabilityGroup":"g1","requiredCapacity":1},
             "taskLocation":{"host":"10.0.0.5","port":8100,"tlsPort":-1},
             "taskDataSource":"wiki"}},
            {"type":"taskRemoval","taskId":"t0"}]}"#;
        let r: SyncResponse = serde_json::from_str(body).unwrap();
        assert_eq!(
            r.counter,
            Some(Counter {
                counter: 3,
                hash: 77
            })
        );
        let items = r.requests.unwrap();
        assert_eq!(items[0], WorkerHistoryItem::Metadata { disabled: false });
        let WorkerHistoryItem::TaskUpdate { task_announcement } = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(task_announcement.task_type.as_deref(), Some("index_kafka"));
        let loc = task_announcement.task_location.clone().unwrap();
        assert_eq!((loc.host.as_deref(), loc.port), (Some("10.0.0.5"), 8100));
        assert_eq!(
            task_announcement.effective_status().unwrap().status,
            TaskState::Running
        );
        assert_eq!(
            items[2],
            WorkerHistoryItem::TaskRemoval {
                task_id: "t0".into()
            }
        );
        let reset: SyncResponse =
            serde_json::from_str(r#"{"resetCounter":true,"resetCause":"restarted"}"#).unwrap();
        assert!(reset.reset_counter && reset.requests.is_none());
    }

    #[test]
    fn old_announcements_without_task_status() {
        let a: TaskAnnouncement =
            serde_json::from_str(r#"{"id":"t2","type":"index","status":"SUCCESS"}"#).unwrap();
        let s = a.effective_status().unwrap();
        assert_eq!((s.id.as_str(), s.status), ("t2", TaskState::Success));
    }

    #[test]
    fn paths_encode_task_ids() {
        assert_eq!(
            shutdown_path("index_kafka_wiki_a:b"),
            "/druid/worker/v1/task/index_kafka_wiki_a%3Ab/shutdown"
        );
        assert_eq!(
            log_path("t1", -10),
            "/druid/worker/v1/task/t1/log?offset=-10"
        );
    }
}
