//! The configuration reference: one documented entry per property the runner reads.
//!
//! `docs/configuration.md` is generated from [`PROPERTIES`] by [`reference_markdown`], with the
//! defaults taken from what [`RunnerConfig::from_raw`](super::RunnerConfig::from_raw) actually
//! produces, so the document cannot drift from the code: a test regenerates it and fails when
//! the committed file differs (run it with `UPDATE_DOCS=1` to rewrite the file).

use std::collections::BTreeMap;

use super::keys::{RUNNER_KEYS, RUNNER_PREFIX};
use super::{RawConfig, RunnerConfig};

/// One documented property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyDoc {
    /// The full property name (`druid.indexer.runner.capacity`); `<key>` marks a placeholder.
    pub key: &'static str,
    /// The accepted form of the value.
    pub form: &'static str,
    /// What it does, including where druid-k8s differs from Druid's docs.
    pub description: &'static str,
}

const PERIOD: &str = "ISO-8601 period (`PT4H`, `P2D`; no months or years)";
const BOOL: &str = "`true` / `false`";

/// Every property the runner reads, in the order of the reference.
pub const PROPERTIES: &[PropertyDoc] = &[
    PropertyDoc {
        key: "druid.indexer.runner.type",
        form: "`k8s`, `k8sAndWorker`",
        description: "The task runner. Required (Druid's own default is `httpRemote`, which druid-k8s does not run). `multik8s` is rejected as not supported yet.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.namespace",
        form: "namespace name",
        description: "Namespace of the task Jobs. Required. The overlord adapters also read the overlord's own pod here.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8s.adapter.type",
        form: "`overlordSingleContainer`, `overlordMultiContainer`, `customTemplateAdapter`",
        description: "How a task becomes a Job. `sidecarSupport=true` alone means `overlordMultiContainer`; together with another adapter it is an error.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8s.podTemplate.<key>",
        form: "path of a PodTemplate YAML file",
        description: "One pod template per key (the last dot-separated segment). `base` is required by `customTemplateAdapter`. Files are re-read for every task. In env vars a literal `_` in the key is doubled: `druid_indexer_runner_k8s_podTemplate_index__kafka`.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8s.sidecarMode",
        form: "`kubexit`, `native`",
        description: "druid-k8s only. How `overlordMultiContainer` stops sidecars: Druid's kubexit wrapping, or native sidecars (init containers with `restartPolicy: Always`, Kubernetes 1.29+), which need no kubexit image and no command rewrite.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.overlordNamespace",
        form: "label value",
        description: "Value of the `druid.overlord.namespace` label on Jobs (default: `namespace`). With `customTemplateAdapter` the runner only sees Jobs carrying it, so several Druid clusters can share a task namespace.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sTaskPodNamePrefix",
        form: "text",
        description: "Replaces the task-id part of Job names (non-alphanumerics removed, lower-cased, 30 characters); the hash suffix of the task id keeps names unique.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.debugJobs",
        form: BOOL,
        description: "Never delete Jobs on shutdown (they still expire through `ttlSecondsAfterFinished` and the cleanup loop).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.sidecarSupport",
        form: BOOL,
        description: "Deprecated alias for `k8s.adapter.type=overlordMultiContainer`.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.primaryContainerName",
        form: "container name",
        description: "The overlord container in the overlord pod (moved first, renamed `main`); default: the first container. A name that is not found is an error.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.kubexitImage",
        form: "image reference",
        description: "Image of the kubexit init container (Druid's code default; the docs say `latest`).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.graceTerminationPeriodSeconds",
        form: "whole seconds",
        description: "The peon pod's `terminationGracePeriodSeconds` (overlord adapters); empty means Kubernetes' default (30 s).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.disableClientProxy",
        form: BOOL,
        description: "Ignore `HTTP(S)_PROXY` for the Kubernetes client.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.maxTaskDuration",
        form: PERIOD,
        description: "The Job's `activeDeadlineSeconds`; the runner enforces it as well.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.taskCleanupDelay",
        form: PERIOD,
        description: "The Job's `ttlSecondsAfterFinished`, and the age after which the cleanup loop deletes finished Jobs.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.taskCleanupInterval",
        form: PERIOD,
        description: "Period of the cleanup loop (Druid's default is written `PT10m`).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.taskJoinTimeout",
        form: PERIOD,
        description: "How long start-up waits for restored Jobs to be located.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sjobLaunchTimeout",
        form: PERIOD,
        description: "Longest wait for a task's pod to start; then the task fails and its Job is deleted. Image-pull and config errors fail sooner, with their reason.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.logSaveTimeout",
        form: PERIOD,
        description: "Longest time for archiving a finished task's log; a placeholder explains a missing log.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.peonMonitors",
        form: "JSON array of class names",
        description: "Replaces `druid_monitoring_monitors` in the peon env (overlord adapters).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.javaOptsArray",
        form: "JSON array of strings",
        description: "Peon JVM options (overlord adapters); the last `-Xmx` and `-XX:MaxDirectMemorySize` size the container. Druid's docs claim `-Xmx1g`; the code default is empty (sizing then assumes 1G each).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.cpuCoreInMicro",
        form: "integer (millicores)",
        description: "CPU request and limit of the peon in **millicores** despite the name; 0 or less means `1000m`.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.labels",
        form: "JSON object",
        description: "Extra labels on Jobs and pods.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.annotations",
        form: "JSON object",
        description: "Extra annotations: on Jobs and pods (overlord adapters), on Jobs only (`customTemplateAdapter`).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.capacity",
        form: "integer ≥ 1",
        description: "Tasks running at once; more wait in a priority queue without a Job. The dynamic config's `capacity` overrides it live.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.useK8sSharedInformers",
        form: BOOL,
        description: "Accepted for compatibility: druid-k8s always uses one shared watch on Jobs and one on Pods.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sSharedInformerResyncPeriod",
        form: PERIOD,
        description: "Accepted for compatibility (Druid's informer resync period).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.allowTaskPodTemplateSelection",
        form: BOOL,
        description: "Honour the task context key `podTemplateSelectionKey` (then a missing template fails the task instead of falling back to `base`).",
    },
    PropertyDoc {
        key: "druid.indexer.runner.advertisedPlaintextPort",
        form: "port",
        description: "Accepted for compatibility with the newest Druid config interface.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.runnerStrategy.type",
        form: "`k8s`, `worker`, `taskType`",
        description: "`k8sAndWorker` mode: where each task runs.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.runnerStrategy.workerType",
        form: "`httpRemote`",
        description: "`k8sAndWorker` mode: the worker runner. `remote` (ZooKeeper) is not supported.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default",
        form: "`k8s`, `worker`",
        description: "`taskType` strategy: where tasks without an override go. Required with that strategy.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides",
        form: "JSON object of task type → `k8s` / `worker`",
        description: "`taskType` strategy: per-type exceptions.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.workers",
        form: "comma-separated `host:port` (optionally `http://` / `https://` first)",
        description: "druid-k8s, `k8sAndWorker` mode: the MiddleManagers/Indexers the worker runner syncs with (Druid's HTTP worker protocol). Default: none.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.workerCapacity",
        form: "positive integer",
        description: "druid-k8s, `k8sAndWorker` mode: task slots of each listed worker (its `druid.worker.capacity`). Default `1`.",
    },
    PropertyDoc {
        key: "druid.discovery.type",
        form: "`k8s` or other",
        description: "`k8sAndWorker` mode: `k8s` also discovers workers as druid-kubernetes-extensions announces them: pods in the runner's `namespace` labelled `druidDiscoveryAnnouncement-middleManager=true` (or `-indexer`) and `druidDiscoveryAnnouncement-cluster-identifier=<clusterIdentifier>`, whose `druidNodeInfo-<role>` annotation gives host, port and `workerNodeService` (capacity, version, category). Workers come and go with their pods. Other values: the static `k8sAndWorker.workers` list only.",
    },
    PropertyDoc {
        key: "druid.discovery.k8s.clusterIdentifier",
        form: "string",
        description: "Required with `druid.discovery.type=k8s`: the cluster identifier the workers announce.",
    },
    PropertyDoc {
        key: "druid.indexer.runner.k8sAndWorker.http.*",
        form: "as in Druid",
        description: "Druid's fabric8 HTTP-client settings (`httpClientType`, `vertx.*`, `okhttp.*`, `javaStandardHttp.*`): accepted, not used (druid-k8s has its own client).",
    },
    PropertyDoc {
        key: "druid.indexer.task.encapsulatedTask",
        form: BOOL,
        description: "Must be `true` (here and on the peons) so peons push `status.json`; a warning otherwise.",
    },
    PropertyDoc {
        key: "druid.indexer.task.baseTaskDir",
        form: "absolute path",
        description: "Base of the peon task directories (`TASK_DIR` = `<baseTaskDir>/<taskId>`).",
    },
    PropertyDoc {
        key: "druid.enableTlsPort",
        form: BOOL,
        description: "Peons listen on TLS port 8091 instead of plaintext 8100 (`tls.enabled` annotation, task location).",
    },
    PropertyDoc {
        key: "druid.indexer.logs.type",
        form: "`file`, `s3`",
        description: "Task-log storage shared with the peons: `task.json` (large payloads), `status.json`, reports and logs.",
    },
    PropertyDoc {
        key: "druid.indexer.logs.directory",
        form: "path",
        description: "`file` task logs: the directory.",
    },
    PropertyDoc {
        key: "druid.indexer.logs.s3Bucket",
        form: "bucket",
        description: "`s3` task logs: the bucket (required).",
    },
    PropertyDoc {
        key: "druid.indexer.logs.s3Prefix",
        form: "key prefix",
        description: "`s3` task logs: the prefix (required); objects are `<prefix>/<taskId>/status.json` etc.",
    },
    PropertyDoc {
        key: "druid.indexer.logs.disableAcl",
        form: BOOL,
        description: "`s3` task logs: do not set object ACLs.",
    },
    PropertyDoc {
        key: "druid.s3.endpoint.url",
        form: "URL",
        description: "S3-compatible endpoint; without a scheme `druid.s3.protocol` (default `https`) is added.",
    },
    PropertyDoc {
        key: "druid.s3.endpoint.signingRegion",
        form: "region",
        description: "S3 signing region.",
    },
    PropertyDoc {
        key: "druid.s3.enablePathStyleAccess",
        form: BOOL,
        description: "Path-style S3 URLs (MinIO and other S3-compatible stores).",
    },
    PropertyDoc {
        key: "druid.s3.accessKey",
        form: "text (secret)",
        description: "S3 credentials; never printed (default: the AWS credential chain).",
    },
    PropertyDoc {
        key: "druid.s3.secretKey",
        form: "text (secret)",
        description: "S3 credentials; never printed.",
    },
];

/// The defaults of a minimal configuration (`type=k8s`, `namespace=druid`), by key.
fn defaults() -> BTreeMap<String, String> {
    let raw = RawConfig::from_properties(
        "druid.indexer.runner.type=k8s\ndruid.indexer.runner.namespace=druid\n",
    )
    .expect("the minimal configuration parses");
    RunnerConfig::from_raw(&raw)
        .expect("the minimal configuration is valid")
        .effective_properties()
}

/// The Markdown configuration reference (`docs/configuration.md`).
pub fn reference_markdown() -> String {
    let defaults = defaults();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from crates/druid-k8s-model/src/config/reference.rs; do not edit.\n     \
         Regenerate with: UPDATE_DOCS=1 cargo test -p druid-k8s-model reference -->\n\n\
         druid-k8s reads Druid's overlord `runtime.properties`, then `druid_*` environment \
         variables in the convention of Druid's image (`druid_indexer_runner_capacity=10`; a \
         doubled `_` stands for a literal `_`), which win over the file. `druid-k8s validate \
         --config FILE` prints the effective values or every error. Defaults below are the ones \
         the code applies (where Druid's docs say otherwise, the description says so). Values of \
         keys containing `password`, `secret`, `token` or `key` are never printed.\n\n\
         | property | value | default | description |\n|---|---|---|---|\n",
    );
    for doc in PROPERTIES {
        let default = match defaults.get(doc.key) {
            _ if doc.key == "druid.indexer.runner.type"
                || doc.key == "druid.indexer.runner.namespace" =>
            {
                "required".to_owned()
            }
            Some(v) if v.is_empty() => "(unset)".to_owned(),
            Some(v) => format!("`{v}`"),
            None => "(unset)".to_owned(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            doc.key,
            doc.form,
            default.replace('|', "\\|"),
            doc.description
        ));
    }
    out
}

/// Runner keys (suffixes of `druid.indexer.runner.`) that have no entry in [`PROPERTIES`].
pub fn undocumented_runner_keys() -> Vec<&'static str> {
    RUNNER_KEYS
        .iter()
        .copied()
        .filter(|suffix| !suffix.starts_with("k8sAndWorker.http."))
        .filter(|suffix| {
            let full = format!("{RUNNER_PREFIX}{suffix}");
            !PROPERTIES.iter().any(|d| d.key == full)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runner_key_is_documented() {
        assert_eq!(undocumented_runner_keys(), Vec::<&str>::new());
    }

    #[test]
    fn defaults_come_from_the_code() {
        let doc = reference_markdown();
        assert!(doc.contains("| `druid.indexer.runner.maxTaskDuration` | ISO-8601 period (`PT4H`, `P2D`; no months or years) | `PT4H` |"), "{doc}");
        assert!(doc.contains("| `druid.indexer.runner.capacity` | integer ≥ 1 | `2147483647` |"));
        assert!(doc.contains(
            "| `druid.indexer.runner.kubexitImage` | image reference | `karlkfi/kubexit:v0.3.2` |"
        ));
    }

    /// `docs/configuration.md` is exactly what the table generates.
    #[test]
    fn reference_doc_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let expected = reference_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs/");
            std::fs::write(&path, &expected).expect("write docs/configuration.md");
        }
        let actual = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/configuration.md is out of date with the property table; regenerate it with \
             `UPDATE_DOCS=1 cargo test -p druid-k8s-model reference`"
        );
    }
}
