//! What the runner needs to know about a Job or a Pod, extracted from the Kubernetes objects
//! (pure functions; the state machine works on these views only).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// The name of the peon container whose logs Druid reads.
pub const MAIN_CONTAINER: &str = "main";

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// `Complete` (or `SuccessCriteriaMet`).
    Succeeded,
    /// `Failed` (or `FailureTarget`) with the condition's reason and message
    /// (`BackoffLimitExceeded`, `DeadlineExceeded`, ...).
    Failed {
        /// Condition reason.
        reason: String,
        /// Condition message.
        message: String,
    },
}

/// The runner's view of a Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    /// `metadata.name`.
    pub name: String,
    /// `status.active`.
    pub active: i32,
    /// `status.succeeded`.
    pub succeeded: i32,
    /// `status.failed`.
    pub failed: i32,
    /// `status.startTime`.
    pub start_time: Option<jiff::Timestamp>,
    /// `status.completionTime` (Kubernetes sets it for successful Jobs only).
    pub completion_time: Option<jiff::Timestamp>,
    /// When the Job ended: `completionTime`, else the `lastTransitionTime` of its terminal
    /// `Failed` condition (failed Jobs have no `completionTime`).
    pub end_time: Option<jiff::Timestamp>,
    /// Set once the Job has ended.
    pub end: Option<JobEnd>,
}

impl JobView {
    /// Extracts the view. A Job has ended when a `Complete`/`Failed` (or, earlier,
    /// `SuccessCriteriaMet`/`FailureTarget`) condition is `True`; for servers that set no
    /// conditions, Druid's rule applies: nothing active and something succeeded or failed.
    pub fn from_job(job: &Job) -> Self {
        let name = job.metadata.name.clone().unwrap_or_default();
        let st = job.status.as_ref();
        let active = st.and_then(|s| s.active).unwrap_or(0);
        let succeeded = st.and_then(|s| s.succeeded).unwrap_or(0);
        let failed = st.and_then(|s| s.failed).unwrap_or(0);
        let conds = st.and_then(|s| s.conditions.as_ref());
        let mut end = None;
        let mut failed_at = None;
        if let Some(conds) = conds {
            for c in conds.iter().filter(|c| c.status == "True") {
                match c.type_.as_str() {
                    "Complete" | "SuccessCriteriaMet" => {
                        end = Some(JobEnd::Succeeded);
                        break;
                    }
                    "Failed" | "FailureTarget" => {
                        end = Some(JobEnd::Failed {
                            reason: c.reason.clone().unwrap_or_default(),
                            message: c.message.clone().unwrap_or_default(),
                        });
                        failed_at = c.last_transition_time.as_ref().map(|t| t.0);
                        // a final `Failed` wins over `FailureTarget`; keep looking
                        if c.type_ == "Failed" {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        } else if active == 0 && succeeded > 0 {
            end = Some(JobEnd::Succeeded);
        } else if active == 0 && failed > 0 {
            end = Some(JobEnd::Failed {
                reason: String::new(),
                message: String::new(),
            });
        }
        let completion_time = st.and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
        JobView {
            name,
            active,
            succeeded,
            failed,
            start_time: st.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            completion_time,
            end_time: completion_time.or(failed_at),
            end,
        }
    }

    /// The task duration: end − `startTime` in ms, or −1 when either is missing. Druid uses
    /// `completionTime` only, so every failed task gets −1; the end of a failed Job is its
    /// `Failed` condition's transition time.
    pub fn duration_ms(&self) -> i64 {
        match (self.start_time, self.end_time) {
            (Some(s), Some(c)) => c.duration_since(s).as_millis() as i64,
            _ => -1,
        }
    }
}

/// How the main container (or the pod) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// `OOMKilled`, `Error`, `Completed`, ...
    pub reason: String,
    /// Exit code of the container.
    pub exit_code: i32,
    /// The container's message, if any.
    pub message: String,
}

/// The runner's view of a peon Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// `metadata.name`.
    pub name: String,
    /// Label `job-name` (set by the Job controller).
    pub job_name: String,
    /// `status.phase` (`Pending`, `Running`, `Succeeded`, `Failed`, or empty).
    pub phase: String,
    /// `status.podIP`.
    pub pod_ip: Option<String>,
    /// Annotation `tls.enabled` is `"true"`.
    pub tls: bool,
    /// `status.reason` (`Evicted`, `DeadlineExceeded`, ...).
    pub reason: Option<String>,
    /// `status.message`.
    pub message: Option<String>,
    /// Why the main container is waiting (`ImagePullBackOff`, `ContainerCreating`, ...), with
    /// the message.
    pub waiting: Option<(String, String)>,
    /// How the main container terminated.
    pub terminated: Option<Termination>,
    /// The `PodScheduled=False` condition's reason and message (`Unschedulable`: ...).
    pub unscheduled: Option<(String, String)>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// The container whose logs are the task log: `main`, else the first container.
    pub log_container: Option<String>,
}

/// Waiting reasons that never fix themselves: fail the task at once instead of waiting for
/// `k8sjobLaunchTimeout`.
pub const FATAL_WAITING_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "CreateContainerConfigError",
    "InvalidImageName",
    "CreateContainerError",
    "ErrImageNeverPull",
];

fn main_status(statuses: Option<&Vec<ContainerStatus>>) -> Option<&ContainerStatus> {
    let s = statuses?;
    s.iter()
        .find(|c| c.name == MAIN_CONTAINER)
        .or_else(|| s.first())
}

impl PodView {
    /// Extracts the view.
    pub fn from_pod(pod: &Pod) -> Self {
        let md = &pod.metadata;
        let st = pod.status.as_ref();
        let main = main_status(st.and_then(|s| s.container_statuses.as_ref()));
        let state = main.and_then(|c| c.state.as_ref());
        let waiting = state.and_then(|s| s.waiting.as_ref()).and_then(|w| {
            w.reason
                .clone()
                .map(|r| (r, w.message.clone().unwrap_or_default()))
        });
        // a fatal init-container wait blocks the pod as well
        let waiting = waiting.or_else(|| {
            st.and_then(|s| s.init_container_statuses.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
                .filter_map(|w| Some((w.reason.clone()?, w.message.clone().unwrap_or_default())))
                .find(|(r, _)| FATAL_WAITING_REASONS.contains(&r.as_str()))
        });
        let terminated = state
            .and_then(|s| s.terminated.as_ref())
            .or_else(|| main.and_then(|c| c.last_state.as_ref()?.terminated.as_ref()))
            .map(|t| Termination {
                reason: t.reason.clone().unwrap_or_default(),
                exit_code: t.exit_code,
                message: t.message.clone().unwrap_or_default(),
            });
        let unscheduled = st
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            .map(|c| {
                (
                    c.reason.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                )
            });
        PodView {
            name: md.name.clone().unwrap_or_default(),
            job_name: md
                .labels
                .as_ref()
                .and_then(|l| {
                    l.get("job-name")
                        .or_else(|| l.get("batch.kubernetes.io/job-name"))
                })
                .cloned()
                .unwrap_or_default(),
            phase: st.and_then(|s| s.phase.clone()).unwrap_or_default(),
            pod_ip: st
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
            tls: md
                .annotations
                .as_ref()
                .and_then(|a| a.get("tls.enabled"))
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            reason: st.and_then(|s| s.reason.clone()),
            message: st.and_then(|s| s.message.clone()),
            waiting,
            terminated,
            unscheduled,
            terminating: md.deletion_timestamp.is_some(),
            log_container: pod
                .spec
                .as_ref()
                .and_then(|sp| {
                    sp.containers
                        .iter()
                        .find(|c| c.name == MAIN_CONTAINER)
                        .or_else(|| sp.containers.first())
                })
                .map(|c| c.name.clone())
                .or_else(|| main.map(|c| c.name.clone())),
        }
    }

    /// The peon has started: the pod is `Running` or already terminal.
    pub fn started(&self) -> bool {
        matches!(self.phase.as_str(), "Running" | "Succeeded" | "Failed")
    }

    /// The fatal reason the pod cannot start, if any.
    pub fn fatal_wait(&self) -> Option<&(String, String)> {
        self.waiting
            .as_ref()
            .filter(|(r, _)| FATAL_WAITING_REASONS.contains(&r.as_str()))
    }

    /// A one-line explanation of how the pod ended (for failure messages), e.g.
    /// `pod [x] Failed (Evicted: The node was low on memory); container main terminated: OOMKilled, exit code 137`.
    pub fn describe_end(&self) -> String {
        let mut s = format!(
            "pod [{}] {}",
            self.name,
            if self.phase.is_empty() {
                "?"
            } else {
                &self.phase
            }
        );
        if let Some(r) = &self.reason {
            s.push_str(&format!(" ({r}"));
            if let Some(m) = self.message.as_ref().filter(|m| !m.is_empty()) {
                s.push_str(&format!(": {m}"));
            }
            s.push(')');
        }
        if let Some(t) = &self.terminated {
            s.push_str(&format!(
                "; container {MAIN_CONTAINER} terminated: {}, exit code {}",
                if t.reason.is_empty() {
                    "unknown reason"
                } else {
                    &t.reason
                },
                t.exit_code
            ));
            if !t.message.is_empty() {
                s.push_str(&format!(" ({})", t.message.trim()));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(v: serde_json::Value) -> Job {
        serde_json::from_value(v).unwrap()
    }
    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn job_states() {
        let running = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"},
            "status": {"active": 1, "startTime": "2024-01-01T00:00:00Z"}
        })));
        assert_eq!(running.end, None);
        assert_eq!(running.duration_ms(), -1);
        let done = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"},
            "status": {"succeeded": 1, "startTime": "2024-01-01T00:00:00Z",
              "completionTime": "2024-01-01T00:00:02.5Z",
              "conditions": [{"type": "SuccessCriteriaMet", "status": "True"},
                             {"type": "Complete", "status": "True", "reason": "CompletionsReached"}]}
        })));
        assert_eq!(done.end, Some(JobEnd::Succeeded));
        assert_eq!(done.duration_ms(), 2500);
        let failed_late = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"},
            "status": {"failed": 1, "startTime": "2024-01-01T00:00:00Z", "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded",
                 "lastTransitionTime": "2024-01-01T00:00:03Z"},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "lastTransitionTime": "2024-01-01T00:00:04Z"}]}
        })));
        assert_eq!(failed_late.completion_time, None);
        assert_eq!(
            failed_late.duration_ms(),
            4000,
            "a failed Job ends at its Failed condition"
        );
        let failed = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"},
            "status": {"failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded", "message": "m1"},
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}
        })));
        assert_eq!(
            failed.end,
            Some(JobEnd::Failed {
                reason: "DeadlineExceeded".into(),
                message: "Job was active longer than specified deadline".into()
            })
        );
        // no conditions: Druid's rule
        let legacy = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"}, "status": {"failed": 1}
        })));
        assert!(matches!(legacy.end, Some(JobEnd::Failed { .. })));
        let false_cond = JobView::from_job(&job(serde_json::json!({
            "metadata": {"name": "j"}, "status": {"active": 1, "conditions": [{"type": "Complete", "status": "False"}]}
        })));
        assert_eq!(false_cond.end, None);
    }

    #[test]
    fn pod_states() {
        let p = PodView::from_pod(&pod(serde_json::json!({
            "metadata": {"name": "j-abcde", "labels": {"job-name": "j"}, "annotations": {"tls.enabled": "true"}},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "sidecar", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"running": {}}},
                {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope\""}}}]}
        })));
        assert_eq!(p.job_name, "j");
        assert!(p.tls);
        assert!(!p.started());
        assert_eq!(p.fatal_wait().unwrap().0, "ImagePullBackOff");

        let unsched = PodView::from_pod(&pod(serde_json::json!({
            "metadata": {"name": "j-x", "labels": {"job-name": "j"}},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
              "reason": "Unschedulable", "message": "0/3 nodes are available"}]}
        })));
        assert_eq!(unsched.fatal_wait(), None);
        assert_eq!(unsched.unscheduled.as_ref().unwrap().0, "Unschedulable");

        let oom = PodView::from_pod(&pod(serde_json::json!({
            "metadata": {"name": "j-x", "labels": {"job-name": "j"}},
            "status": {"phase": "Failed", "podIP": "10.0.0.1", "containerStatuses": [
                {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                 "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}
        })));
        assert!(oom.started());
        assert_eq!(
            oom.describe_end(),
            "pod [j-x] Failed; container main terminated: OOMKilled, exit code 137"
        );
        let evicted = PodView::from_pod(&pod(serde_json::json!({
            "metadata": {"name": "j-y", "labels": {"job-name": "j"}},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
        })));
        assert_eq!(
            evicted.describe_end(),
            "pod [j-y] Failed (Evicted: The node was low on resource: memory.)"
        );
    }
}
