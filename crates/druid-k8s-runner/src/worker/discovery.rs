//! Kubernetes node discovery of workers (`druid.discovery.type=k8s`), as
//! druid-kubernetes-extensions' `K8sDruidNodeAnnouncer` announces MiddleManagers and Indexers:
//!
//! * labels `druidDiscoveryAnnouncement-<role>=true`,
//!   `druidDiscoveryAnnouncement-cluster-identifier=<clusterIdentifier>` and
//!   `druidDiscoveryAnnouncement-id=<host>-<port>`;
//! * annotation `druidNodeInfo-<role>`: the `DiscoveryDruidNode` JSON — `druidNode` (`host`,
//!   `plaintextPort`, `tlsPort`, `enablePlaintextPort`, `enableTlsPort`) and
//!   `services.workerNodeService` (`capacity`, `version`, `category`).
//!
//! One label-selected pod watch per role (`middleManager`, `indexer`) in the configured
//! namespace, through the runner's kube client. A pod that starts matching adds its worker; a
//! pod that stops matching (deleted, or unannounced: labels removed) removes it.

use std::collections::{BTreeMap, HashSet};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::protocol::DEFAULT_WORKER_CATEGORY;
use super::{AnnouncedWorker, WorkerEndpoint, WorkerRunner};
use crate::error::RunnerError;

/// The node roles whose pods run tasks (Druid's `NodeRole` JSON names).
pub const WORKER_ROLES: [&str; 2] = ["middleManager", "indexer"];

/// The cluster-identifier label key.
pub const CLUSTER_IDENTIFIER_LABEL: &str = "druidDiscoveryAnnouncement-cluster-identifier";

/// The label a node of `role` carries (`druidDiscoveryAnnouncement-<role>`).
pub fn role_label(role: &str) -> String {
    format!("druidDiscoveryAnnouncement-{role}")
}

/// The annotation holding the node's JSON (`druidNodeInfo-<role>`).
pub fn info_annotation(role: &str) -> String {
    format!("druidNodeInfo-{role}")
}

/// The label selector of the announced pods of `role` (Druid's
/// `getLabelSelectorForNodeRole`).
///
/// ```
/// use druid_k8s_runner::worker::discovery::label_selector;
/// assert_eq!(
///     label_selector("prod", "middleManager"),
///     "druidDiscoveryAnnouncement-cluster-identifier=prod,druidDiscoveryAnnouncement-middleManager=true"
/// );
/// ```
pub fn label_selector(cluster_identifier: &str, role: &str) -> String {
    format!(
        "{CLUSTER_IDENTIFIER_LABEL}={cluster_identifier},{}=true",
        role_label(role)
    )
}

/// The worker a `druidNodeInfo-<role>` annotation announces. Errors name what is missing.
///
/// ```
/// use druid_k8s_runner::worker::discovery::worker_from_node_info;
/// let info = r#"{"druidNode":{"service":"druid/middleManager","host":"10.0.0.7","plaintextPort":8091,
///   "tlsPort":-1,"enablePlaintextPort":true,"enableTlsPort":false},"nodeType":"middleManager",
///   "services":{"workerNodeService":{"type":"workerNodeService","ip":"10.0.0.7","capacity":4,
///   "version":"1","category":"_default_worker_category"}}}"#;
/// let w = worker_from_node_info(info).unwrap();
/// assert_eq!((w.endpoint.host.as_str(), w.capacity), ("10.0.0.7:8091", 4));
/// ```
pub fn worker_from_node_info(text: &str) -> Result<AnnouncedWorker, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let node = v
        .get("druidNode")
        .ok_or("no \"druidNode\" (expected a DiscoveryDruidNode)")?;
    let host = node
        .get("host")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .ok_or("druidNode has no \"host\"")?;
    let port = |k: &str| {
        node.get(k)
            .and_then(Value::as_i64)
            .filter(|p| (1..=65535).contains(p))
    };
    let flag = |k: &str, default: bool| node.get(k).and_then(Value::as_bool).unwrap_or(default);
    let (scheme, port) = match (
        flag("enableTlsPort", false)
            .then(|| port("tlsPort"))
            .flatten(),
        flag("enablePlaintextPort", true)
            .then(|| port("plaintextPort").or_else(|| port("port")))
            .flatten(),
    ) {
        (Some(tls), _) => ("https", tls),
        (None, Some(plain)) => ("http", plain),
        (None, None) => return Err("druidNode has no usable plaintextPort or tlsPort".into()),
    };
    let service = v
        .pointer("/services/workerNodeService")
        .ok_or("no services.workerNodeService (not a worker)")?;
    let capacity = service
        .get("capacity")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .filter(|c| *c > 0)
        .ok_or("workerNodeService has no positive \"capacity\"")?;
    Ok(AnnouncedWorker {
        endpoint: WorkerEndpoint {
            scheme: scheme.to_owned(),
            host: format!("{host}:{port}"),
        },
        capacity,
        version: service
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        category: service
            .get("category")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or(DEFAULT_WORKER_CATEGORY)
            .to_owned(),
    })
}

fn pod_worker(pod: &Pod, role: &str) -> Option<AnnouncedWorker> {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let text = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(&info_annotation(role)))?;
    match worker_from_node_info(text) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(pod = name, annotation = %info_annotation(role), error = %e, "ignoring an announced pod");
            None
        }
    }
}

/// Lists the announced workers now (so that start-up syncs them), then watches for changes
/// in the background until the runner stops.
pub(crate) async fn start(runner: &WorkerRunner, client: kube::Client) -> Result<(), RunnerError> {
    let Some(cfg) = runner.inner.cfg.discovery.clone() else {
        return Ok(());
    };
    let pods: Api<Pod> = Api::namespaced(client, &cfg.namespace);
    for role in WORKER_ROLES {
        let selector = label_selector(&cfg.cluster_identifier, role);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| RunnerError::Config {
                key: "druid.discovery.k8s.clusterIdentifier",
                message: format!(
                    "listing announced {role} pods in namespace {} failed: {e}",
                    cfg.namespace
                ),
            })?;
        let mut known = BTreeMap::new();
        for pod in &list.items {
            if let (Some(name), Some(w)) = (pod.metadata.name.clone(), pod_worker(pod, role)) {
                known.insert(name, w.endpoint.host.clone());
                runner.add_worker(w);
            }
        }
        tokio::spawn(watch_role(
            runner.clone(),
            pods.clone(),
            selector,
            role,
            known,
        ));
    }
    Ok(())
}

/// Follows the announced pods of one role: pod name → worker host.
async fn watch_role(
    runner: WorkerRunner,
    pods: Api<Pod>,
    selector: String,
    role: &'static str,
    mut known: BTreeMap<String, String>,
) {
    let cancel = runner.inner.cancel.clone();
    let mut stream = watcher::watcher(pods, watcher::Config::default().labels(&selector))
        .default_backoff()
        .boxed();
    let mut relisted: HashSet<String> = HashSet::new();
    loop {
        let ev = tokio::select! {
            _ = cancel.cancelled() => return,
            ev = stream.next() => ev,
        };
        let Some(ev) = ev else { return };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::warn!(role, error = %e, "worker discovery watch failed; retrying");
                continue;
            }
        };
        match ev {
            Event::Init => relisted.clear(),
            Event::InitApply(pod) | Event::Apply(pod) => {
                let Some(name) = pod.metadata.name.clone() else {
                    continue;
                };
                relisted.insert(name.clone());
                match pod_worker(&pod, role) {
                    Some(w) => {
                        if let Some(old) = known.insert(name.clone(), w.endpoint.host.clone())
                            && old != w.endpoint.host
                        {
                            runner.remove_worker(
                                &old,
                                &format!("pod {name} now announces another address"),
                            );
                        }
                        runner.add_worker(w);
                    }
                    None => {
                        if let Some(old) = known.remove(&name) {
                            runner.remove_worker(
                                &old,
                                &format!(
                                    "pod {name} no longer carries a valid {} annotation",
                                    info_annotation(role)
                                ),
                            );
                        }
                    }
                }
            }
            Event::Delete(pod) => {
                let Some(name) = pod.metadata.name.clone() else {
                    continue;
                };
                if let Some(old) = known.remove(&name) {
                    runner.remove_worker(
                        &old,
                        &format!("pod {name} is gone or no longer announces a {role} (Kubernetes node discovery)"),
                    );
                }
            }
            Event::InitDone => {
                let gone: Vec<String> = known
                    .keys()
                    .filter(|n| !relisted.contains(*n))
                    .cloned()
                    .collect();
                for name in gone {
                    if let Some(old) = known.remove(&name) {
                        runner.remove_worker(
                            &old,
                            &format!("pod {name} is gone or no longer announces a {role} (Kubernetes node discovery)"),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_info_errors_name_what_is_missing() {
        assert!(worker_from_node_info("{").unwrap_err().contains("not JSON"));
        let no_service = r#"{"druidNode":{"host":"a","plaintextPort":8091}}"#;
        assert!(
            worker_from_node_info(no_service)
                .unwrap_err()
                .contains("workerNodeService")
        );
        let tls = r#"{"druidNode":{"host":"a","plaintextPort":8091,"tlsPort":8291,"enableTlsPort":true},
            "services":{"workerNodeService":{"capacity":2}}}"#;
        let w = worker_from_node_info(tls).unwrap();
        assert_eq!(w.endpoint.url("/x"), "https://a:8291/x");
        assert_eq!(w.category, DEFAULT_WORKER_CATEGORY);
        let no_port =
            r#"{"druidNode":{"host":"a"},"services":{"workerNodeService":{"capacity":2}}}"#;
        assert!(
            worker_from_node_info(no_port)
                .unwrap_err()
                .contains("plaintextPort")
        );
    }
}
