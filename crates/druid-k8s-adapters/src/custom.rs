//! `customTemplateAdapter` (spec §7.2, §4.3, §3.2): a `PodTemplate` file is the peon's pod.

use std::collections::BTreeMap;

use druid_k8s_model::Task;
use druid_k8s_model::config::RunnerConfig;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::PodTemplate;

use crate::common::{
    ANNOTATION_JOB_TEMPLATE, ANNOTATION_TASK, ANNOTATION_TASK_DATASOURCE, ANNOTATION_TASK_GROUP_ID,
    ANNOTATION_TASK_ID, ANNOTATION_TASK_TYPE, ANNOTATION_TLS_ENABLED, ENV_TASK_JSON,
    LABEL_OVERLORD_NAMESPACE, LABEL_PEON, LABEL_TASK_DATASOURCE, LABEL_TASK_GROUP_ID,
    LABEL_TASK_ID, LABEL_TASK_TYPE, build_job, env_field, env_value, name_for,
    overlord_namespace_label, task_dir,
};
use crate::{AdapterError, generic_label, task_id_label};

/// Labels of a template-adapter Job (and added to its pod): configured `labels`,
/// `druid.k8s.peons=true`, `druid.overlord.namespace` and the four sanitised task labels.
pub fn template_labels(config: &RunnerConfig, task: &Task) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    labels.insert(LABEL_PEON.to_owned(), "true".to_owned());
    labels.insert(
        LABEL_OVERLORD_NAMESPACE.to_owned(),
        overlord_namespace_label(config),
    );
    labels.insert(LABEL_TASK_ID.to_owned(), task_id_label(task.id()));
    labels.insert(LABEL_TASK_TYPE.to_owned(), generic_label(task.task_type()));
    labels.insert(
        LABEL_TASK_GROUP_ID.to_owned(),
        task_id_label(task.group_id()),
    );
    labels.insert(
        LABEL_TASK_DATASOURCE.to_owned(),
        generic_label(task.data_source().unwrap_or_default()),
    );
    labels
}

/// The raw task annotations (`task.id`, `task.type`, `task.group.id`, `task.datasource`).
fn task_annotations(task: &Task) -> [(&'static str, String); 4] {
    [
        (ANNOTATION_TASK_ID, task.id().to_owned()),
        (ANNOTATION_TASK_TYPE, task.task_type().to_owned()),
        (ANNOTATION_TASK_GROUP_ID, task.group_id().to_owned()),
        (
            ANNOTATION_TASK_DATASOURCE,
            task.data_source().unwrap_or_default().to_owned(),
        ),
    ]
}

/// Builds the Job for `task` from the selected `template` (stored under `key`).
pub(crate) fn template_job(
    config: &RunnerConfig,
    task: &Task,
    template: PodTemplate,
    key: &str,
    origin: &str,
    encoded_payload: &str,
    inline: bool,
) -> Result<Job, AdapterError> {
    crate::template::check_usable(&template, origin)?;
    let mut pod = template.template.unwrap_or_default();
    let labels = template_labels(config, task);

    let meta = pod.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .extend(labels.clone());
    let pod_annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    pod_annotations.insert(
        ANNOTATION_TLS_ENABLED.to_owned(),
        config.enable_tls_port.to_string(),
    );
    for (k, v) in task_annotations(task) {
        pod_annotations.insert(k.to_owned(), v);
    }
    if inline {
        pod_annotations.insert(ANNOTATION_TASK.to_owned(), encoded_payload.to_owned());
    }
    pod_annotations.insert(ANNOTATION_JOB_TEMPLATE.to_owned(), key.to_owned());

    let spec = pod.spec.as_mut().ok_or(AdapterError::NoContainers)?;
    let main = spec
        .containers
        .first_mut()
        .ok_or(AdapterError::NoContainers)?;
    let env = main.env.get_or_insert_with(Vec::new);
    env.push(env_value(
        "TASK_DIR",
        task_dir(&config.base_task_dir, task.id()),
    ));
    env.push(env_value(
        "druid_indexer_task_baseTaskDir",
        config.base_task_dir.to_string_lossy(),
    ));
    env.push(env_value("TASK_ID", task.id()));
    env.push(env_value(
        "LOAD_BROADCAST_DATASOURCE_MODE",
        task.broadcast_datasource_loading_mode().to_string(),
    ));
    env.push(env_value(
        "LOAD_BROADCAST_SEGMENTS",
        task.supports_queries().to_string(),
    ));
    env.push(env_field(
        "DRUID_POD_TEMPLATE",
        "metadata.annotations['task.jobTemplate']",
    ));
    if inline {
        env.push(env_field(ENV_TASK_JSON, "metadata.annotations['task']"));
    }

    let mut annotations = config.annotations.clone();
    for (k, v) in task_annotations(task) {
        annotations.insert(k.to_owned(), v);
    }
    annotations.insert(ANNOTATION_JOB_TEMPLATE.to_owned(), key.to_owned());

    build_job(config, name_for(config, task), labels, annotations, pod)
}
