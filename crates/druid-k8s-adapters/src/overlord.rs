//! `overlordSingleContainer` and `overlordMultiContainer` (spec §5, §6): the overlord's own pod
//! spec becomes the peon's.

use std::collections::BTreeMap;

use druid_k8s_model::Task;
use druid_k8s_model::config::{RunnerConfig, SidecarMode};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerPort, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::common::{
    ANNOTATION_TASK_ID, ANNOTATION_TLS_ENABLED, ENV_TASK_JSON, LABEL_OVERLORD_NAMESPACE,
    LABEL_PEON, MAIN_CONTAINER, PEON_PORT, PEON_TLS_PORT, build_job, env_field, env_value,
    name_for, overlord_namespace_label, task_dir,
};
use crate::java::split_quotable;
use crate::sizing::{container_memory_bytes, cpu_quantity, merge_resources};
use crate::{AdapterError, sidecars};

/// Task context key with extra Java options for the peon.
pub const CONTEXT_JAVA_OPTS: &str = "druid.indexer.runner.javaOpts";

/// Java's regex `\s`: ASCII space, tab, newline, vertical tab, form feed, carriage return.
fn is_java_regex_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// The peon's Java options, in Druid's order (spec §5.4): `javaOptsArray` (each entry split on
/// Java's ASCII whitespace, as `PeonCommandContext.getJavaOpts` does), the task context's
/// `druid.indexer.runner.javaOpts` (quote-aware split), then the base task dir, ports and TLS
/// flags.
pub fn java_opts(config: &RunnerConfig, task: &Task) -> Result<Vec<String>, AdapterError> {
    let mut opts: Vec<String> = config
        .java_opts_array
        .iter()
        .flat_map(|entry| {
            entry
                .split(is_java_regex_whitespace)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
        .collect();
    match task.context_value(CONTEXT_JAVA_OPTS) {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(s)) => opts.extend(split_quotable(s)),
        Some(other) => return Err(AdapterError::ContextJavaOptsNotString(other.to_string())),
    }
    let tls = config.enable_tls_port;
    let tls_port = if tls { PEON_TLS_PORT } else { -1 };
    opts.push(format!(
        "-Ddruid.indexer.task.baseTaskDir={}",
        config.base_task_dir.to_string_lossy()
    ));
    opts.push(format!("-Ddruid.port={PEON_PORT}"));
    opts.push(format!("-Ddruid.plaintextPort={PEON_PORT}"));
    opts.push(format!("-Ddruid.tlsPort={tls_port}"));
    opts.push(format!("-Ddruid.task.executor.tlsPort={tls_port}"));
    opts.push(format!("-Ddruid.task.executor.enableTlsPort={tls}"));
    Ok(opts)
}

/// The peon command tokens (spec §5.4): `/peon.sh [--nodeType T] [--loadBroadcastSegments true]
/// --loadBroadcastDatasourceMode M --taskId ID`.
pub fn peon_command(task: &Task) -> Vec<String> {
    let mut command = vec!["/peon.sh".to_owned()];
    if let Some(node_type) = task.node_type() {
        command.push("--nodeType".to_owned());
        command.push(node_type.to_owned());
    }
    if task.supports_queries() {
        command.push("--loadBroadcastSegments".to_owned());
        command.push("true".to_owned());
    }
    command.push("--loadBroadcastDatasourceMode".to_owned());
    command.push(task.broadcast_datasource_loading_mode().to_string());
    command.push("--taskId".to_owned());
    command.push(task.id().to_owned());
    command
}

/// Moves the container named `primary` to index 0 (Druid's `massageSpec`). `None` or a blank
/// name keeps the order.
pub fn move_primary_first(spec: &mut PodSpec, primary: Option<&str>) -> Result<(), AdapterError> {
    let Some(name) = primary.filter(|n| !n.trim().is_empty()) else {
        return Ok(());
    };
    let index = spec
        .containers
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| AdapterError::PrimaryContainerNotFound {
            name: name.to_owned(),
            available: spec
                .containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let primary = spec.containers.remove(index);
    spec.containers.insert(0, primary);
    Ok(())
}

/// Builds the Job for `task` from the overlord's pod (both overlord adapters).
///
/// `encoded_payload` is the gzip+base64 task; it is put in `TASK_JSON` when `inline`.
pub(crate) fn overlord_job(
    config: &RunnerConfig,
    task: &Task,
    overlord_pod: &Pod,
    multi_container: bool,
    encoded_payload: &str,
    inline: bool,
) -> Result<Job, AdapterError> {
    let mut spec = overlord_pod.spec.clone().ok_or_else(|| {
        AdapterError::OverlordPodWithoutSpec(overlord_pod.metadata.name.clone().unwrap_or_default())
    })?;
    move_primary_first(&mut spec, config.primary_container_name.as_deref())?;

    let java_opts = java_opts(config, task)?;
    let memory = container_memory_bytes(&java_opts)?;
    let name = name_for(config, task);

    let main = spec
        .containers
        .first_mut()
        .ok_or(AdapterError::NoContainers)?;
    main.readiness_probe = None;
    main.liveness_probe = None;
    main.startup_probe = None;
    main.ports = Some(vec![
        ContainerPort {
            container_port: PEON_TLS_PORT,
            name: Some("druid-tls-port".to_owned()),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        },
        ContainerPort {
            container_port: PEON_PORT,
            name: Some("druid-port".to_owned()),
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        },
    ]);
    let env = main.env.get_or_insert_with(Vec::new);
    if !config.peon_monitors.is_empty() {
        env.retain(|e| e.name != "druid_monitoring_monitors");
        env.push(env_value(
            "druid_monitoring_monitors",
            serde_json::Value::from(config.peon_monitors.clone()).to_string(),
        ));
    }
    env.push(env_value(
        "TASK_DIR",
        task_dir(&config.base_task_dir, task.id()),
    ));
    env.push(env_value("JAVA_OPTS", java_opts.join(" ")));
    env.push(env_field("druid_host", "status.podIP"));
    env.push(env_field("HOSTNAME", "metadata.name"));
    if inline {
        env.push(env_value(ENV_TASK_JSON, encoded_payload));
    }
    main.command = Some(vec!["sh".to_owned(), "-c".to_owned()]);
    main.args = Some(vec![peon_command(task).join(" ")]);
    main.name = MAIN_CONTAINER.to_owned();
    main.resources = Some(merge_resources(
        main.resources.take(),
        cpu_quantity(config.cpu_core_in_micro),
        memory,
    ));

    if multi_container {
        match config.sidecar_mode {
            SidecarMode::Kubexit => sidecars::apply_kubexit(&mut spec, &config.kubexit_image)?,
            SidecarMode::Native => sidecars::apply_native_sidecars(&mut spec),
        }
    } else {
        spec.containers.truncate(1);
    }

    spec.node_name = None;
    spec.restart_policy = Some("Never".to_owned());
    spec.hostname = Some(name.clone());
    spec.termination_grace_period_seconds = config.grace_termination_period_seconds;

    let labels = overlord_labels(config);
    let mut annotations = config.annotations.clone();
    annotations.insert(ANNOTATION_TASK_ID.to_owned(), task.id().to_owned());
    annotations.insert(
        ANNOTATION_TLS_ENABLED.to_owned(),
        config.enable_tls_port.to_string(),
    );

    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            annotations: Some(annotations.clone()),
            ..Default::default()
        }),
        spec: Some(spec),
    };
    build_job(config, name, labels, annotations, template)
}

/// Labels of an overlord-adapter Job and its pod: configured `labels`, `druid.k8s.peons=true`
/// and `druid.overlord.namespace` (spec §3.1).
pub fn overlord_labels(config: &RunnerConfig) -> BTreeMap<String, String> {
    let mut labels = config.labels.clone();
    labels.insert(LABEL_PEON.to_owned(), "true".to_owned());
    labels.insert(
        LABEL_OVERLORD_NAMESPACE.to_owned(),
        overlord_namespace_label(config),
    );
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `PeonCommandContext.getJavaOpts` splits every `javaOptsArray` entry with Java's `\s+`
    /// (ASCII space, tab, newline, vertical tab, form feed, carriage return only).
    #[test]
    fn java_opts_array_entries_split_on_java_whitespace_only() {
        let mut config = RunnerConfig::for_namespace("ns");
        config.java_opts_array = vec![
            "-Xmx1g\u{b}-Dvt=1".to_owned(),
            "-Dname=a\u{a0}b \t-Dx=1".to_owned(),
        ];
        let task = Task::from_json(r#"{"id":"t","type":"noop"}"#).unwrap();
        let opts = java_opts(&config, &task).unwrap();
        assert_eq!(opts[..4], ["-Xmx1g", "-Dvt=1", "-Dname=a\u{a0}b", "-Dx=1"]);
    }
}
