//! Reading tasks back from Jobs (spec §4.4), for restore after an overlord restart. Works for
//! Jobs created by any adapter, here or by Druid's Java runner.

use druid_k8s_model::Task;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::AdapterError;
use crate::common::{ANNOTATION_TASK, ANNOTATION_TASK_ID, ENV_TASK_JSON, MAIN_CONTAINER};

/// Where a Job's task payload is.
#[derive(Debug, Clone, PartialEq)]
pub enum JobPayload {
    /// The payload was in the Job (the `task` pod annotation or the `TASK_JSON` env var).
    Inline(Task),
    /// The Job carries no payload: fetch `task.json` for this task id from task-log storage.
    InStorage {
        /// The original task id (from the `task.id` pod annotation).
        task_id: String,
    },
}

fn job_name(job: &Job) -> String {
    job.metadata.name.clone().unwrap_or_default()
}

fn pod_template(job: &Job) -> Result<&PodTemplateSpec, AdapterError> {
    job.spec
        .as_ref()
        .map(|s| &s.template)
        .ok_or_else(|| AdapterError::NotAPeonJob {
            job: job_name(job),
            reason: "it has no spec".to_owned(),
        })
}

/// The original task id of a peon Job: its pod-template annotation `task.id`.
pub fn task_id_from_job(job: &Job) -> Result<String, AdapterError> {
    let template = pod_template(job)?;
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .ok_or_else(|| AdapterError::NotAPeonJob {
            job: job_name(job),
            reason: "no annotations found on its pod template".to_owned(),
        })?;
    annotations
        .get(ANNOTATION_TASK_ID)
        .cloned()
        .ok_or_else(|| AdapterError::NotAPeonJob {
            job: job_name(job),
            reason: format!("no `{ANNOTATION_TASK_ID}` annotation found on its pod template"),
        })
}

/// Reads the task back from a Job: the pod annotation `task` (template adapter), else the
/// literal `TASK_JSON` env var of the container named `main` (or the first container; overlord
/// adapters), else the payload is in task-log storage under the `task.id` annotation.
pub fn task_from_job(job: &Job) -> Result<JobPayload, AdapterError> {
    let template = pod_template(job)?;
    let from_annotation = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(ANNOTATION_TASK));
    let from_env = || {
        let containers = template.spec.as_ref().map(|s| &s.containers)?;
        let main = containers
            .iter()
            .find(|c| c.name == MAIN_CONTAINER)
            .or_else(|| containers.first())?;
        main.env
            .as_ref()?
            .iter()
            .find(|e| e.name == ENV_TASK_JSON)
            .and_then(|e| e.value.as_ref())
    };
    match from_annotation.or_else(from_env) {
        Some(encoded) => {
            let json = crate::payload::decode(encoded)?;
            let task = Task::from_json(&json).map_err(AdapterError::Task)?;
            Ok(JobPayload::Inline(task))
        }
        None => Ok(JobPayload::InStorage {
            task_id: task_id_from_job(job)?,
        }),
    }
}
