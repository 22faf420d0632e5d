//! Known property names, secret masking and "did you mean" suggestions.

/// Prefix of every runner property.
pub const RUNNER_PREFIX: &str = "druid.indexer.runner.";
/// Prefix of the pod template properties (`…podTemplate.<key>=<file>`).
pub const POD_TEMPLATE_PREFIX: &str = "druid.indexer.runner.k8s.podTemplate.";
/// Prefix of the fabric8 HTTP client properties (they apply in every runner mode).
pub const HTTP_PREFIX: &str = "druid.indexer.runner.k8sAndWorker.http.";

/// What a masked value is shown as.
pub const MASK: &str = "<masked>";

/// `KubernetesTaskRunnerStaticConfig` fields and the selection properties (suffixes after
/// `druid.indexer.runner.`), plus our `k8s.sidecarMode`.
pub const RUNNER_KEYS: &[&str] = &[
    "type",
    "k8s.adapter.type",
    "k8s.sidecarMode",
    "namespace",
    "overlordNamespace",
    "k8sTaskPodNamePrefix",
    "debugJobs",
    "sidecarSupport",
    "primaryContainerName",
    "kubexitImage",
    "graceTerminationPeriodSeconds",
    "disableClientProxy",
    "maxTaskDuration",
    "taskCleanupDelay",
    "taskCleanupInterval",
    "taskJoinTimeout",
    "k8sjobLaunchTimeout",
    "logSaveTimeout",
    "peonMonitors",
    "javaOptsArray",
    "cpuCoreInMicro",
    "labels",
    "annotations",
    "capacity",
    "useK8sSharedInformers",
    "k8sSharedInformerResyncPeriod",
    "allowTaskPodTemplateSelection",
    "advertisedPlaintextPort",
    // migration mode (k8sAndWorker)
    "k8sAndWorker.runnerStrategy.type",
    "k8sAndWorker.runnerStrategy.workerType",
    "k8sAndWorker.runnerStrategy.taskType.default",
    "k8sAndWorker.runnerStrategy.taskType.overrides",
    "k8sAndWorker.workers",
    "k8sAndWorker.workerCapacity",
    // fabric8 HTTP client (accepted; druid-k8s uses its own client)
    "k8sAndWorker.http.httpClientType",
    "k8sAndWorker.http.vertx.workerPoolSize",
    "k8sAndWorker.http.vertx.eventLoopPoolSize",
    "k8sAndWorker.http.vertx.internalBlockingPoolSize",
    "k8sAndWorker.http.vertx.webClientOptions",
    "k8sAndWorker.http.okhttp.useCustomDispatcherExecutor",
    "k8sAndWorker.http.okhttp.coreWorkerThreads",
    "k8sAndWorker.http.okhttp.maxWorkerThreads",
    "k8sAndWorker.http.okhttp.workerThreadKeepAliveTime",
    "k8sAndWorker.http.javaStandardHttp.coreWorkerThreads",
    "k8sAndWorker.http.javaStandardHttp.maxWorkerThreads",
    "k8sAndWorker.http.javaStandardHttp.workerThreadKeepAliveTime",
];

/// Properties of Druid's worker task runners (`httpRemote` / `remote`), which share the
/// `druid.indexer.runner.` prefix; in `k8sAndWorker` mode they configure the worker side, so they
/// are accepted (and not interpreted).
pub const WORKER_RUNNER_KEYS: &[&str] = &[
    "minWorkerVersion",
    "taskAssignmentTimeout",
    "taskCleanupTimeout",
    "taskShutdownLinkTimeout",
    "pendingTasksRunnerNumThreads",
    "maxZnodeBytes",
    "maxRetriesBeforeBlacklist",
    "workerBlackListBackoffTime",
    "workerBlackListCleanupPeriod",
    "maxPercentageBlacklistWorkers",
    "workerSyncNumThreads",
    "shutdownTimeout",
    "syncRequestTimeout",
    "serverUnstabilityTimeout",
    "compressZnodes",
];

/// True when a property's value must not be shown: its name contains `password`, `secret`,
/// `token` or `key` (case-insensitive). This is broader than Druid's default
/// `druid.startup.logging.maskProperties` (`["password"]`) on purpose: masking a harmless value
/// is acceptable, showing a secret is not.
///
/// ```
/// use druid_k8s_model::config::is_secret_key;
/// assert!(is_secret_key("druid.metadata.storage.connector.password"));
/// assert!(is_secret_key("druid.s3.secretKey"));
/// assert!(!is_secret_key("druid.indexer.runner.namespace"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    ["password", "secret", "token", "key"]
        .iter()
        .any(|w| lower.contains(w))
}

/// The value to display for `key`: [`MASK`] for secret keys, else the value.
pub fn display_value(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        MASK.to_owned()
    } else {
        value.to_owned()
    }
}

/// Levenshtein distance (by chars).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known runner property nearest to `key` (a full property name), by edit distance on the
/// part after `druid.indexer.runner.` (case differences cost less than other edits).
pub fn nearest_runner_key(key: &str) -> String {
    let suffix = key.strip_prefix(RUNNER_PREFIX).unwrap_or(key);
    let candidates = RUNNER_KEYS
        .iter()
        .chain(WORKER_RUNNER_KEYS)
        .copied()
        .chain(std::iter::once("k8s.podTemplate.base"));
    let best = candidates
        .min_by_key(|c| {
            let exact = edit_distance(suffix, c);
            let folded = edit_distance(&suffix.to_ascii_lowercase(), &c.to_ascii_lowercase());
            (folded * 2 + usize::from(exact != folded), c.len())
        })
        .unwrap_or("type");
    format!("{RUNNER_PREFIX}{best}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            nearest_runner_key("druid.indexer.runner.k8sJobLaunchTimeout"),
            "druid.indexer.runner.k8sjobLaunchTimeout"
        );
        assert_eq!(
            nearest_runner_key("druid.indexer.runner.maxTaskDurations"),
            "druid.indexer.runner.maxTaskDuration"
        );
        assert_eq!(
            nearest_runner_key("druid.indexer.runner.namspace"),
            "druid.indexer.runner.namespace"
        );
        assert_eq!(
            nearest_runner_key("druid.indexer.runner.k8s.adapter.typ"),
            "druid.indexer.runner.k8s.adapter.type"
        );
    }

    #[test]
    fn masking() {
        for k in [
            "druid.s3.accessKey",
            "druid.s3.secretKey",
            "druid.auth.authenticator.basic.initialAdminPassword",
            "druid.escalator.internalClientPassword",
            "druid.x.TOKEN",
        ] {
            assert!(is_secret_key(k), "{k}");
            assert_eq!(display_value(k, "hunter2"), MASK);
        }
        assert_eq!(display_value("druid.indexer.runner.capacity", "5"), "5");
    }
}
