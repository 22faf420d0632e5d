//! Pieces shared by the adapters: constants, labels and annotations, env vars, the Job shell.

use std::collections::BTreeMap;
use std::path::Path;

use druid_k8s_model::Task;
use druid_k8s_model::config::RunnerConfig;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::AdapterError;

/// Label present on every peon Job and pod (value `"true"`).
pub const LABEL_PEON: &str = "druid.k8s.peons";
/// Label naming the overlord cluster that owns a Job.
pub const LABEL_OVERLORD_NAMESPACE: &str = "druid.overlord.namespace";
/// Task-id style label of the task id (custom template adapter).
pub const LABEL_TASK_ID: &str = "druid.task.id";
/// Generic label of the task type (custom template adapter).
pub const LABEL_TASK_TYPE: &str = "druid.task.type";
/// Task-id style label of the group id (custom template adapter).
pub const LABEL_TASK_GROUP_ID: &str = "druid.task.group.id";
/// Generic label of the datasource (custom template adapter).
pub const LABEL_TASK_DATASOURCE: &str = "druid.task.datasource";

/// Annotation with the gzip+base64 task payload (custom template adapter, when inline).
pub const ANNOTATION_TASK: &str = "task";
/// Annotation with the raw task id.
pub const ANNOTATION_TASK_ID: &str = "task.id";
/// Annotation with the raw task type.
pub const ANNOTATION_TASK_TYPE: &str = "task.type";
/// Annotation with the raw group id.
pub const ANNOTATION_TASK_GROUP_ID: &str = "task.group.id";
/// Annotation with the raw datasource.
pub const ANNOTATION_TASK_DATASOURCE: &str = "task.datasource";
/// Annotation with the selected template key.
pub const ANNOTATION_JOB_TEMPLATE: &str = "task.jobTemplate";
/// Annotation telling whether the peon serves TLS (`"true"`/`"false"`).
pub const ANNOTATION_TLS_ENABLED: &str = "tls.enabled";

/// Peon plaintext port.
pub const PEON_PORT: i32 = 8100;
/// Peon TLS port.
pub const PEON_TLS_PORT: i32 = 8091;
/// Name the overlord adapters give the peon container (and where logs are read from).
pub const MAIN_CONTAINER: &str = "main";

/// Env var carrying the task payload.
pub const ENV_TASK_JSON: &str = "TASK_JSON";

/// `druid.overlord.namespace` value: `overlordNamespace` if set, else `namespace`.
pub(crate) fn overlord_namespace_label(config: &RunnerConfig) -> String {
    if config.overlord_namespace.is_empty() {
        config.namespace.clone()
    } else {
        config.overlord_namespace.clone()
    }
}

/// The task directory: `<baseTaskDir>/<taskId>`.
pub(crate) fn task_dir(base: &Path, task_id: &str) -> String {
    base.join(task_id).to_string_lossy().into_owned()
}

pub(crate) fn env_value(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..Default::default()
    }
}

pub(crate) fn env_field(name: &str, field_path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: field_path.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Job's `metadata.name` from the configured prefix and the task id.
pub(crate) fn name_for(config: &RunnerConfig, task: &Task) -> String {
    crate::job_name(&config.k8s_task_pod_name_prefix, task.id())
}

/// Wraps a pod template into a Job with Druid's Job-level settings.
pub(crate) fn build_job(
    config: &RunnerConfig,
    name: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    template: PodTemplateSpec,
) -> Result<Job, AdapterError> {
    let deadline = config.max_task_duration.as_secs();
    let ttl = config.task_cleanup_delay.as_secs();
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(JobSpec {
            active_deadline_seconds: Some(i64::try_from(deadline).map_err(|_| {
                AdapterError::DurationOutOfRange {
                    property: "druid.indexer.runner.maxTaskDuration",
                    seconds: deadline,
                    field: "spec.activeDeadlineSeconds",
                }
            })?),
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(i32::try_from(ttl).map_err(|_| {
                AdapterError::DurationOutOfRange {
                    property: "druid.indexer.runner.taskCleanupDelay",
                    seconds: ttl,
                    field: "spec.ttlSecondsAfterFinished",
                }
            })?),
            template,
            ..Default::default()
        }),
        status: None,
    })
}
