//! Runner configuration in two phases: [`RawConfig`] (a `.properties` file plus `druid_*`
//! environment variables) → validated [`RunnerConfig`] ([`RunnerConfig::from_raw`]), which
//! reports **every** problem, each naming the property and the expected form.
//!
//! ```
//! use druid_k8s_model::config::{AdapterType, RawConfig, RunnerConfig};
//! let raw = RawConfig::load(
//!     "druid.indexer.runner.type=k8s\n\
//!      druid.indexer.runner.namespace=druid\n\
//!      druid.indexer.runner.capacity=100\n\
//!      druid.indexer.task.encapsulatedTask=true\n",
//!     [("druid_indexer_runner_maxTaskDuration", "PT2H")],
//! ).unwrap();
//! let config = RunnerConfig::from_raw(&raw).unwrap();
//! assert_eq!(config.capacity, 100);
//! assert_eq!(config.adapter_type, AdapterType::OverlordSingleContainer);
//! assert_eq!(config.max_task_duration.as_secs(), 7200);
//!
//! let bad = RawConfig::new()
//!     .with("druid.indexer.runner.type", "k8s")
//!     .with("druid.indexer.runner.capacity", "0")
//!     .with("druid.indexer.runner.maxTaskDuration", "P1M");
//! let errors = RunnerConfig::from_raw(&bad).unwrap_err();
//! assert!(errors.mentions("druid.indexer.runner.namespace"));
//! assert!(errors.mentions("druid.indexer.runner.capacity"));
//! assert!(errors.mentions("druid.indexer.runner.maxTaskDuration"));
//! ```

mod duration;
mod keys;
mod raw;
mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use crate::error::{ConfigError, ConfigErrors};
pub use duration::{PERIOD_FORM, format_period, parse_period};
pub use keys::{
    HTTP_PREFIX, MASK, POD_TEMPLATE_PREFIX, RUNNER_KEYS, RUNNER_PREFIX, WORKER_RUNNER_KEYS,
    display_value, edit_distance, is_secret_key, nearest_runner_key,
};
pub use raw::{
    ENV_PREFIX, RawConfig, Source, env_to_property, property_round_trips_through_env,
    property_to_env,
};
pub use reference::{PROPERTIES, PropertyDoc, reference_markdown, undocumented_runner_keys};

/// Druid's default kubexit image (the code's default; the docs say `:latest`).
pub const DEFAULT_KUBEXIT_IMAGE: &str = "karlkfi/kubexit:v0.3.2";
/// Default `maxTaskDuration` (`PT4H`).
pub const DEFAULT_MAX_TASK_DURATION: Duration = Duration::from_secs(4 * 3600);
/// Default `taskCleanupDelay` (`P2D`).
pub const DEFAULT_TASK_CLEANUP_DELAY: Duration = Duration::from_secs(2 * 86_400);
/// Default `taskCleanupInterval` (`PT10m`).
pub const DEFAULT_TASK_CLEANUP_INTERVAL: Duration = Duration::from_secs(600);
/// Default `taskJoinTimeout` (`PT1M`).
pub const DEFAULT_TASK_JOIN_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `k8sjobLaunchTimeout` (`PT1H`).
pub const DEFAULT_K8S_JOB_LAUNCH_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `logSaveTimeout` (`PT300S`).
pub const DEFAULT_LOG_SAVE_TIMEOUT: Duration = Duration::from_secs(300);
/// Default `k8sSharedInformerResyncPeriod` (`PT5M`).
pub const DEFAULT_INFORMER_RESYNC_PERIOD: Duration = Duration::from_secs(300);
/// Default `capacity` (`Integer.MAX_VALUE`).
pub const DEFAULT_CAPACITY: u32 = i32::MAX as u32;
/// Default `druid.indexer.task.baseDir` (Java's `java.io.tmpdir` on Linux).
pub const DEFAULT_BASE_DIR: &str = "/tmp";
/// Default `druid.indexer.logs.directory` of the `file` task logs.
pub const DEFAULT_FILE_TASK_LOG_DIR: &str = "log";

/// `druid.indexer.runner.type` values druid-k8s runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerType {
    /// `k8s`: every task runs as a Kubernetes Job.
    K8s,
    /// `k8sAndWorker`: migration mode; a runner strategy sends each task to Kubernetes or to
    /// the workers (MiddleManagers/Indexers).
    K8sAndWorker,
}

impl RunnerType {
    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::K8s => "k8s",
            Self::K8sAndWorker => "k8sAndWorker",
        }
    }
}

impl fmt::Display for RunnerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `druid.indexer.runner.k8s.adapter.type`: how a task becomes a Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdapterType {
    /// `overlordSingleContainer` (default): the overlord's pod spec, one container.
    OverlordSingleContainer,
    /// `overlordMultiContainer`: the overlord's pod spec with its sidecars (kubexit/native).
    OverlordMultiContainer,
    /// `customTemplateAdapter`: operator-provided pod templates.
    CustomTemplate,
}

impl AdapterType {
    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OverlordSingleContainer => "overlordSingleContainer",
            Self::OverlordMultiContainer => "overlordMultiContainer",
            Self::CustomTemplate => "customTemplateAdapter",
        }
    }

    /// Parses Druid's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "overlordSingleContainer" => Some(Self::OverlordSingleContainer),
            "overlordMultiContainer" => Some(Self::OverlordMultiContainer),
            "customTemplateAdapter" => Some(Self::CustomTemplate),
            _ => None,
        }
    }
}

impl fmt::Display for AdapterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `druid.indexer.runner.k8s.sidecarMode` (a druid-k8s extension): how the multi-container
/// adapter stops sidecars when the peon exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SidecarMode {
    /// `kubexit` (default, as Druid does): an init container plus wrapped commands.
    #[default]
    Kubexit,
    /// `native`: Kubernetes native sidecars (init containers with `restartPolicy: Always`).
    Native,
}

impl SidecarMode {
    /// The property value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kubexit => "kubexit",
            Self::Native => "native",
        }
    }
}

impl fmt::Display for SidecarMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret string: `Debug` and `Display` print [`MASK`]; use [`Secret::expose`] to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Task-log storage (`druid.indexer.logs.*`), where peons push `status.json`, reports, logs and
/// (for large tasks) the task payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskLogsConfig {
    /// `type=file`: a directory (`druid.indexer.logs.directory`, default `log`).
    File {
        /// The directory.
        directory: PathBuf,
    },
    /// `type=s3`: `druid.indexer.logs.s3Bucket` / `s3Prefix` / `disableAcl`, plus the
    /// `druid.s3.*` client settings the runner needs.
    S3 {
        /// `druid.indexer.logs.s3Bucket`.
        bucket: String,
        /// `druid.indexer.logs.s3Prefix`.
        prefix: String,
        /// `druid.indexer.logs.disableAcl`.
        disable_acl: bool,
        /// `druid.s3.endpoint.url`, always with a scheme: a URL without one gets
        /// `druid.s3.protocol` (default `https`), as Druid's S3 client does.
        endpoint_url: Option<String>,
        /// `druid.s3.endpoint.signingRegion`.
        signing_region: Option<String>,
        /// `druid.s3.enablePathStyleAccess`.
        path_style_access: bool,
        /// `druid.s3.accessKey`.
        access_key: Option<Secret>,
        /// `druid.s3.secretKey`.
        secret_key: Option<Secret>,
    },
}

impl TaskLogsConfig {
    /// The `druid.indexer.logs.type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::File { .. } => "file",
            Self::S3 { .. } => "s3",
        }
    }
}

/// Where `k8sAndWorker` sends a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunnerKind {
    /// `k8s`: a Kubernetes Job.
    K8s,
    /// `worker`: the worker runner (MiddleManagers/Indexers).
    Worker,
}

impl RunnerKind {
    /// Druid's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::K8s => "k8s",
            Self::Worker => "worker",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "k8s" => Some(Self::K8s),
            "worker" => Some(Self::Worker),
            _ => None,
        }
    }
}

impl fmt::Display for RunnerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `druid.indexer.runner.k8sAndWorker.runnerStrategy.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerStrategy {
    /// `k8s`: always Kubernetes.
    K8s,
    /// `worker`: always the workers.
    Worker,
    /// `taskType`: `overrides[task type]`, else `default`.
    TaskType {
        /// `taskType.default`.
        default: RunnerKind,
        /// `taskType.overrides`.
        overrides: BTreeMap<String, RunnerKind>,
    },
}

impl RunnerStrategy {
    /// The runner for a task type.
    pub fn runner_for(&self, task_type: &str) -> RunnerKind {
        match self {
            Self::K8s => RunnerKind::K8s,
            Self::Worker => RunnerKind::Worker,
            Self::TaskType { default, overrides } => {
                overrides.get(task_type).copied().unwrap_or(*default)
            }
        }
    }

    /// The `runnerStrategy.type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::K8s => "k8s",
            Self::Worker => "worker",
            Self::TaskType { .. } => "taskType",
        }
    }
}

/// The worker runner of `k8sAndWorker` (`runnerStrategy.workerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerType {
    /// `httpRemote` (the only one supported; `remote` was removed in Druid 38).
    HttpRemote,
}

/// Migration-mode settings (`druid.indexer.runner.type=k8sAndWorker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sAndWorkerConfig {
    /// Which runner gets each task.
    pub runner_strategy: RunnerStrategy,
    /// The worker runner.
    pub worker_type: WorkerType,
    /// `k8sAndWorker.workers` (druid-k8s): the MiddleManagers/Indexers to use, comma-separated
    /// `host:port` entries (optionally `http://` or `https://` first). Default: none.
    pub workers: Vec<String>,
    /// `k8sAndWorker.workerCapacity` (druid-k8s): task slots of each listed worker (its
    /// `druid.worker.capacity`). Default 1.
    pub worker_capacity: u32,
    /// `druid.indexer.runner.minWorkerVersion`: workers with a lower version get no tasks.
    /// Default `"0"`.
    pub min_worker_version: String,
    /// `druid.indexer.runner.taskAssignmentTimeout`: how long an assigned task may go
    /// unannounced by its worker before it fails. Default `PT5M`.
    pub task_assignment_timeout: Duration,
    /// `druid.indexer.runner.taskCleanupTimeout`: how long a worker may be unreachable before
    /// its tasks fail. Default `PT15M`.
    pub task_cleanup_timeout: Duration,
    /// `druid.indexer.runner.syncRequestTimeout`: the long-poll timeout of the worker sync.
    /// Default `PT3M`.
    pub sync_request_timeout: Duration,
    /// `druid.indexer.runner.serverUnstabilityTimeout`: how long a worker's sync may fail
    /// before the worker gets no new tasks. Default `PT1M`.
    pub server_unstability_timeout: Duration,
    /// `druid.discovery.type=k8s`: also discover workers as druid-kubernetes-extensions
    /// announces them (labelled, annotated pods). `None` (default): the static list only.
    pub discovery: Option<K8sDiscoveryConfig>,
}

/// Druid's Kubernetes node discovery (`druid.discovery.type=k8s`, druid-kubernetes-extensions):
/// MiddleManagers and Indexers announce themselves by labelling their pod
/// `druidDiscoveryAnnouncement-<role>=true` and `druidDiscoveryAnnouncement-cluster-identifier=
/// <clusterIdentifier>`, and annotating it `druidNodeInfo-<role>` with their node JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sDiscoveryConfig {
    /// `druid.discovery.k8s.clusterIdentifier` (required): the cluster's identifier label.
    pub cluster_identifier: String,
    /// Where announced pods are watched: the runner's `namespace` (Druid watches its own pod's
    /// namespace, which is the same in a usual deployment).
    pub namespace: String,
}

/// The validated runner configuration (Druid's `KubernetesTaskRunnerStaticConfig` plus what the
/// runner needs from other Druid keys). Field docs name the property and its Druid default.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    /// `druid.indexer.runner.type`.
    pub runner_type: RunnerType,
    /// `druid.indexer.runner.k8s.adapter.type` (with `sidecarSupport` folded in).
    pub adapter_type: AdapterType,
    /// `druid.indexer.runner.k8s.podTemplate.<key>`: key (last dot segment) → file.
    pub pod_templates: BTreeMap<String, PathBuf>,
    /// `namespace` (required): where Jobs are created.
    pub namespace: String,
    /// `overlordNamespace` (default empty).
    pub overlord_namespace: String,
    /// `k8sTaskPodNamePrefix` (default empty).
    pub k8s_task_pod_name_prefix: String,
    /// `debugJobs` (default false): never delete Jobs.
    pub debug_jobs: bool,
    /// `sidecarSupport` (deprecated alias for the multi-container adapter; default false).
    pub sidecar_support: bool,
    /// `primaryContainerName` (default none = container 0; blank counts as none).
    pub primary_container_name: Option<String>,
    /// `kubexitImage` (default `karlkfi/kubexit:v0.3.2`).
    pub kubexit_image: String,
    /// `druid.indexer.runner.k8s.sidecarMode` (druid-k8s; default `kubexit`).
    pub sidecar_mode: SidecarMode,
    /// `graceTerminationPeriodSeconds` (default none = the Kubernetes default).
    pub grace_termination_period_seconds: Option<i64>,
    /// `disableClientProxy` (default false).
    pub disable_client_proxy: bool,
    /// `maxTaskDuration` (default `PT4H`).
    pub max_task_duration: Duration,
    /// `taskCleanupDelay` (default `P2D`).
    pub task_cleanup_delay: Duration,
    /// `taskCleanupInterval` (default `PT10m`).
    pub task_cleanup_interval: Duration,
    /// `taskJoinTimeout` (default `PT1M`).
    pub task_join_timeout: Duration,
    /// `k8sjobLaunchTimeout` (default `PT1H`).
    pub k8s_job_launch_timeout: Duration,
    /// `logSaveTimeout` (default `PT300S`).
    pub log_save_timeout: Duration,
    /// `k8sSharedInformerResyncPeriod` (default `PT5M`).
    pub k8s_shared_informer_resync_period: Duration,
    /// `peonMonitors` (JSON array; default empty).
    pub peon_monitors: Vec<String>,
    /// `javaOptsArray` (JSON array; default empty).
    pub java_opts_array: Vec<String>,
    /// `cpuCoreInMicro` (millicores; default 0 = 1000m).
    pub cpu_core_in_micro: i64,
    /// `labels` (JSON object; default empty).
    pub labels: BTreeMap<String, String>,
    /// `annotations` (JSON object; default empty).
    pub annotations: BTreeMap<String, String>,
    /// `capacity` (≥ 1; default 2147483647).
    pub capacity: u32,
    /// `useK8sSharedInformers` (default false).
    pub use_k8s_shared_informers: bool,
    /// `allowTaskPodTemplateSelection` (default false).
    pub allow_task_pod_template_selection: bool,
    /// `advertisedPlaintextPort` (newest Druid; accepted, optional).
    pub advertised_plaintext_port: Option<i32>,
    /// `druid.indexer.task.encapsulatedTask` (must be true for the peons to push their status).
    pub encapsulated_task: bool,
    /// `druid.indexer.task.baseTaskDir` (default `<druid.indexer.task.baseDir>/persistent/task`,
    /// baseDir defaulting to `/tmp`).
    pub base_task_dir: PathBuf,
    /// `druid.enableTlsPort` (default false).
    pub enable_tls_port: bool,
    /// `druid.indexer.logs.*`.
    pub task_logs: TaskLogsConfig,
    /// Migration mode settings; `Some` exactly when `runner_type` is `k8sAndWorker`.
    pub k8s_and_worker: Option<K8sAndWorkerConfig>,
    /// Problems that do not stop the runner (ignored or risky settings), one per key.
    pub warnings: Vec<ConfigError>,
    /// Every input property (file + env), for display and for settings not modelled here.
    pub properties: RawConfig,
}

fn runner_key(suffix: &str) -> String {
    format!("{RUNNER_PREFIX}{suffix}")
}

/// Collects errors and warnings while reading a [`RawConfig`].
struct Reader<'a> {
    raw: &'a RawConfig,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.raw.get(key).filter(|v| !v.is_empty())
    }

    fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(key, message));
    }

    fn warn(&mut self, key: &str, message: impl Into<String>) {
        self.warnings.push(ConfigError::new(key, message));
    }

    fn string(&mut self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    fn bool(&mut self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.error(key, format!("expected true or false, found \"{v}\""));
                default
            }
        }
    }

    fn int(&mut self, key: &str, min: i64, max: i64, what: &str) -> Option<i64> {
        let v = self.get(key)?;
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            Ok(n) => {
                self.error(key, format!("{n} is out of range; expected {what}"));
                None
            }
            Err(_) => {
                self.error(key, format!("expected {what}, found \"{v}\""));
                None
            }
        }
    }

    fn period(&mut self, key: &str, default: Duration) -> Duration {
        match self.get(key) {
            None => default,
            Some(v) => match parse_period(v) {
                Ok(d) => d,
                Err(e) => {
                    self.error(key, e);
                    default
                }
            },
        }
    }

    fn json(&mut self, key: &str, form: &str) -> Option<Value> {
        let v = self.get(key)?;
        match serde_json::from_str::<Value>(v) {
            Ok(value) => Some(value),
            Err(e) => {
                self.error(
                    key,
                    format!("expected {form}, but the value is not valid JSON ({e})"),
                );
                None
            }
        }
    }

    /// A JSON array of strings. `{}` (empty object) is accepted as an empty list because the
    /// upstream docs show `peonMonitors={}`.
    fn string_list(&mut self, key: &str) -> Vec<String> {
        const FORM: &str = "a JSON array of strings such as [\"a\", \"b\"]";
        let Some(value) = self.json(key, FORM) else {
            return Vec::new();
        };
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        other => {
                            self.error(
                                key,
                                format!(
                                    "expected {FORM}, found an element {}",
                                    crate::error::describe(&other)
                                ),
                            );
                        }
                    }
                }
                out
            }
            Value::Object(o) if o.is_empty() => Vec::new(),
            other => {
                self.error(
                    key,
                    format!("expected {FORM}, found {}", crate::error::describe(&other)),
                );
                Vec::new()
            }
        }
    }

    /// A JSON object of string values (numbers and booleans are converted, as Jackson does).
    fn string_map(&mut self, key: &str) -> BTreeMap<String, String> {
        const FORM: &str = "a JSON object of strings such as {\"team\": \"ingest\"}";
        let Some(value) = self.json(key, FORM) else {
            return BTreeMap::new();
        };
        match value {
            Value::Object(obj) => {
                let mut out = BTreeMap::new();
                for (k, v) in obj {
                    match v {
                        Value::String(s) => {
                            out.insert(k, s);
                        }
                        Value::Number(n) => {
                            out.insert(k, n.to_string());
                        }
                        Value::Bool(b) => {
                            out.insert(k, b.to_string());
                        }
                        other => self.error(
                            key,
                            format!(
                                "entry \"{k}\": expected a string value, found {}",
                                crate::error::describe(&other)
                            ),
                        ),
                    }
                }
                out
            }
            other => {
                self.error(
                    key,
                    format!("expected {FORM}, found {}", crate::error::describe(&other)),
                );
                BTreeMap::new()
            }
        }
    }
}

/// Kubernetes' rule for label values: empty, or at most 63 characters of `[A-Za-z0-9._-]`
/// beginning and ending with an alphanumeric character.
pub fn is_valid_label_value(v: &str) -> bool {
    v.is_empty() || is_qualified_name_part(v)
}

fn is_qualified_name_part(v: &str) -> bool {
    let bytes = v.as_bytes();
    !v.is_empty()
        && v.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn is_dns1123_subdomain(v: &str) -> bool {
    let bytes = v.as_bytes();
    !v.is_empty()
        && v.len() <= 253
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// Kubernetes' rule for label and annotation keys: an optional DNS-subdomain prefix and `/`,
/// then a name of at most 63 characters of `[A-Za-z0-9._-]` beginning and ending with an
/// alphanumeric character.
pub fn is_valid_label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(k),
    }
}

impl RunnerConfig {
    /// A configuration with every default and the given namespace (runner type `k8s`, single
    /// container adapter, `file` task logs in `log`), and `encapsulated_task = true` as a working
    /// setup needs (properties that omit `druid.indexer.task.encapsulatedTask` read as false).
    /// Handy for tests and library users.
    pub fn for_namespace(namespace: impl Into<String>) -> Self {
        Self {
            runner_type: RunnerType::K8s,
            adapter_type: AdapterType::OverlordSingleContainer,
            pod_templates: BTreeMap::new(),
            namespace: namespace.into(),
            overlord_namespace: String::new(),
            k8s_task_pod_name_prefix: String::new(),
            debug_jobs: false,
            sidecar_support: false,
            primary_container_name: None,
            kubexit_image: DEFAULT_KUBEXIT_IMAGE.to_owned(),
            sidecar_mode: SidecarMode::Kubexit,
            grace_termination_period_seconds: None,
            disable_client_proxy: false,
            max_task_duration: DEFAULT_MAX_TASK_DURATION,
            task_cleanup_delay: DEFAULT_TASK_CLEANUP_DELAY,
            task_cleanup_interval: DEFAULT_TASK_CLEANUP_INTERVAL,
            task_join_timeout: DEFAULT_TASK_JOIN_TIMEOUT,
            k8s_job_launch_timeout: DEFAULT_K8S_JOB_LAUNCH_TIMEOUT,
            log_save_timeout: DEFAULT_LOG_SAVE_TIMEOUT,
            k8s_shared_informer_resync_period: DEFAULT_INFORMER_RESYNC_PERIOD,
            peon_monitors: Vec::new(),
            java_opts_array: Vec::new(),
            cpu_core_in_micro: 0,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            capacity: DEFAULT_CAPACITY,
            use_k8s_shared_informers: false,
            allow_task_pod_template_selection: false,
            advertised_plaintext_port: None,
            encapsulated_task: true,
            base_task_dir: Path::new(DEFAULT_BASE_DIR).join("persistent/task"),
            enable_tls_port: false,
            task_logs: TaskLogsConfig::File {
                directory: PathBuf::from(DEFAULT_FILE_TASK_LOG_DIR),
            },
            k8s_and_worker: None,
            warnings: Vec::new(),
            properties: RawConfig::new(),
        }
    }

    /// Validates raw properties. On failure every problem is returned, in property-name order.
    pub fn from_raw(raw: &RawConfig) -> Result<RunnerConfig, ConfigErrors> {
        let mut r = Reader {
            raw,
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let mut c = RunnerConfig::for_namespace("");
        c.properties = raw.clone();
        for (key, message) in raw.unresolved_references() {
            r.error(key, message.clone());
        }

        // --- runner type
        let type_key = runner_key("type");
        match r.get(&type_key) {
            Some("k8s") => c.runner_type = RunnerType::K8s,
            Some("k8sAndWorker") => c.runner_type = RunnerType::K8sAndWorker,
            Some("multik8s") => r.error(
                &type_key,
                "`multik8s` (multi-cluster) is not supported yet; expected `k8s` or `k8sAndWorker`",
            ),
            Some(other) => r.error(
                &type_key,
                format!("\"{other}\" is not a Kubernetes task runner; expected `k8s` or `k8sAndWorker`"),
            ),
            None => r.error(
                &type_key,
                "missing; expected `k8s` or `k8sAndWorker` (Druid's default `httpRemote` does not use Kubernetes)",
            ),
        }

        // --- plain fields
        let ns_key = runner_key("namespace");
        match r.get(&ns_key) {
            Some(ns) => {
                if !is_dns1123_label(ns) {
                    r.error(
                        &ns_key,
                        format!("\"{ns}\" is not a valid namespace name; expected a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)"),
                    );
                }
                c.namespace = ns.to_owned();
            }
            None => r.error(
                &ns_key,
                "required: the namespace in which task Jobs are created",
            ),
        }
        let overlord_ns_key = runner_key("overlordNamespace");
        c.overlord_namespace = r.string(&overlord_ns_key, "");
        if !is_valid_label_value(&c.overlord_namespace) {
            r.error(
                &overlord_ns_key,
                format!("\"{}\" cannot be the value of the druid.overlord.namespace label; expected at most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric", c.overlord_namespace),
            );
        }
        c.k8s_task_pod_name_prefix = r.string(&runner_key("k8sTaskPodNamePrefix"), "");
        c.debug_jobs = r.bool(&runner_key("debugJobs"), false);
        c.sidecar_support = r.bool(&runner_key("sidecarSupport"), false);
        c.primary_container_name = r
            .get(&runner_key("primaryContainerName"))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        c.kubexit_image = r.string(&runner_key("kubexitImage"), DEFAULT_KUBEXIT_IMAGE);
        c.grace_termination_period_seconds = r.int(
            &runner_key("graceTerminationPeriodSeconds"),
            0,
            i64::MAX,
            "a whole number of seconds ≥ 0 (not a period)",
        );
        c.disable_client_proxy = r.bool(&runner_key("disableClientProxy"), false);
        c.max_task_duration = r.period(&runner_key("maxTaskDuration"), DEFAULT_MAX_TASK_DURATION);
        c.task_cleanup_delay =
            r.period(&runner_key("taskCleanupDelay"), DEFAULT_TASK_CLEANUP_DELAY);
        c.task_cleanup_interval = r.period(
            &runner_key("taskCleanupInterval"),
            DEFAULT_TASK_CLEANUP_INTERVAL,
        );
        c.task_join_timeout = r.period(&runner_key("taskJoinTimeout"), DEFAULT_TASK_JOIN_TIMEOUT);
        c.k8s_job_launch_timeout = r.period(
            &runner_key("k8sjobLaunchTimeout"),
            DEFAULT_K8S_JOB_LAUNCH_TIMEOUT,
        );
        c.log_save_timeout = r.period(&runner_key("logSaveTimeout"), DEFAULT_LOG_SAVE_TIMEOUT);
        c.k8s_shared_informer_resync_period = r.period(
            &runner_key("k8sSharedInformerResyncPeriod"),
            DEFAULT_INFORMER_RESYNC_PERIOD,
        );
        for (key, d) in [
            ("taskCleanupInterval", c.task_cleanup_interval),
            (
                "k8sSharedInformerResyncPeriod",
                c.k8s_shared_informer_resync_period,
            ),
        ] {
            if d.is_zero() && r.get(&runner_key(key)).is_some() {
                r.error(&runner_key(key), "must be longer than zero");
            }
        }
        c.peon_monitors = r.string_list(&runner_key("peonMonitors"));
        c.java_opts_array = r.string_list(&runner_key("javaOptsArray"));
        c.cpu_core_in_micro = r
            .int(
                &runner_key("cpuCoreInMicro"),
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                "an integer number of millicores (0 or less means 1000)",
            )
            .unwrap_or(0);
        let labels_key = runner_key("labels");
        c.labels = r.string_map(&labels_key);
        for (k, v) in c.labels.clone() {
            if !is_valid_label_key(&k) {
                r.error(&labels_key, format!("\"{k}\" is not a valid Kubernetes label key (optional DNS-subdomain prefix and '/', then at most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric)"));
            }
            if !is_valid_label_value(&v) {
                r.error(&labels_key, format!("label \"{k}\": \"{v}\" is not a valid Kubernetes label value (at most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric)"));
            }
        }
        let annotations_key = runner_key("annotations");
        c.annotations = r.string_map(&annotations_key);
        for k in c.annotations.keys().cloned().collect::<Vec<_>>() {
            if !is_valid_label_key(&k) {
                r.error(&annotations_key, format!("\"{k}\" is not a valid Kubernetes annotation key (optional DNS-subdomain prefix and '/', then at most 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric)"));
            }
        }
        c.capacity = r
            .int(
                &runner_key("capacity"),
                1,
                i64::from(i32::MAX),
                "an integer from 1 to 2147483647",
            )
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_CAPACITY);
        c.use_k8s_shared_informers = r.bool(&runner_key("useK8sSharedInformers"), false);
        c.allow_task_pod_template_selection =
            r.bool(&runner_key("allowTaskPodTemplateSelection"), false);
        c.advertised_plaintext_port = r
            .int(
                &runner_key("advertisedPlaintextPort"),
                1,
                65535,
                "a port number from 1 to 65535",
            )
            .and_then(|n| i32::try_from(n).ok());

        // --- sidecar mode
        let mode_key = runner_key("k8s.sidecarMode");
        c.sidecar_mode = match r.get(&mode_key) {
            None | Some("kubexit") => SidecarMode::Kubexit,
            Some("native") => SidecarMode::Native,
            Some(other) => {
                r.error(
                    &mode_key,
                    format!("\"{other}\" is not a sidecar mode; expected `kubexit` or `native`"),
                );
                SidecarMode::Kubexit
            }
        };

        // --- adapter
        read_adapter(&mut r, &mut c);

        // --- other Druid keys
        read_task_keys(&mut r, &mut c);
        read_task_logs(&mut r, &mut c);

        // --- migration mode
        read_k8s_and_worker(&mut r, &mut c);

        // --- unknown runner keys
        check_unknown_keys(&mut r);

        let Reader {
            mut errors,
            mut warnings,
            ..
        } = r;
        errors.sort_by(|a, b| a.key.cmp(&b.key));
        warnings.sort_by(|a, b| a.key.cmp(&b.key));
        if errors.is_empty() {
            c.warnings = warnings;
            Ok(c)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The value of the `druid.overlord.namespace` label: `overlordNamespace` when non-empty,
    /// else `namespace`.
    pub fn overlord_namespace_label_value(&self) -> &str {
        if self.overlord_namespace.is_empty() {
            &self.namespace
        } else {
            &self.overlord_namespace
        }
    }

    /// The task directory of a task: `<baseTaskDir>/<taskId>`.
    pub fn task_dir(&self, task_id: &str) -> PathBuf {
        self.base_task_dir.join(task_id)
    }

    /// The effective configuration for display: every input property, then every runner
    /// property with its effective value (defaults included, periods in canonical ISO form),
    /// with secret values masked (see [`is_secret_key`]).
    pub fn effective_properties(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self
            .properties
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut put = |suffix: &str, value: String| {
            out.insert(runner_key(suffix), value);
        };
        put("type", self.runner_type.to_string());
        put("k8s.adapter.type", self.adapter_type.to_string());
        put("k8s.sidecarMode", self.sidecar_mode.to_string());
        put("namespace", self.namespace.clone());
        put("overlordNamespace", self.overlord_namespace.clone());
        put(
            "k8sTaskPodNamePrefix",
            self.k8s_task_pod_name_prefix.clone(),
        );
        put("debugJobs", self.debug_jobs.to_string());
        put("sidecarSupport", self.sidecar_support.to_string());
        put(
            "primaryContainerName",
            self.primary_container_name.clone().unwrap_or_default(),
        );
        put("kubexitImage", self.kubexit_image.clone());
        put(
            "graceTerminationPeriodSeconds",
            self.grace_termination_period_seconds
                .map(|s| s.to_string())
                .unwrap_or_default(),
        );
        put("disableClientProxy", self.disable_client_proxy.to_string());
        put("maxTaskDuration", format_period(self.max_task_duration));
        put("taskCleanupDelay", format_period(self.task_cleanup_delay));
        put(
            "taskCleanupInterval",
            format_period(self.task_cleanup_interval),
        );
        put("taskJoinTimeout", format_period(self.task_join_timeout));
        put(
            "k8sjobLaunchTimeout",
            format_period(self.k8s_job_launch_timeout),
        );
        put("logSaveTimeout", format_period(self.log_save_timeout));
        put(
            "k8sSharedInformerResyncPeriod",
            format_period(self.k8s_shared_informer_resync_period),
        );
        put("peonMonitors", json_string(&self.peon_monitors));
        put("javaOptsArray", json_string(&self.java_opts_array));
        put("cpuCoreInMicro", self.cpu_core_in_micro.to_string());
        put("labels", json_string(&self.labels));
        put("annotations", json_string(&self.annotations));
        put("capacity", self.capacity.to_string());
        put(
            "useK8sSharedInformers",
            self.use_k8s_shared_informers.to_string(),
        );
        put(
            "allowTaskPodTemplateSelection",
            self.allow_task_pod_template_selection.to_string(),
        );
        if let Some(p) = self.advertised_plaintext_port {
            put("advertisedPlaintextPort", p.to_string());
        }
        if let Some(kw) = &self.k8s_and_worker {
            put(
                "k8sAndWorker.runnerStrategy.type",
                kw.runner_strategy.type_name().to_owned(),
            );
            put(
                "k8sAndWorker.runnerStrategy.workerType",
                "httpRemote".to_owned(),
            );
            put("k8sAndWorker.workers", kw.workers.join(","));
            put(
                "k8sAndWorker.workerCapacity",
                kw.worker_capacity.to_string(),
            );
            put("minWorkerVersion", kw.min_worker_version.clone());
            put(
                "taskAssignmentTimeout",
                format_period(kw.task_assignment_timeout),
            );
            put("taskCleanupTimeout", format_period(kw.task_cleanup_timeout));
            put("syncRequestTimeout", format_period(kw.sync_request_timeout));
            put(
                "serverUnstabilityTimeout",
                format_period(kw.server_unstability_timeout),
            );
            if let RunnerStrategy::TaskType { default, overrides } = &kw.runner_strategy {
                put(
                    "k8sAndWorker.runnerStrategy.taskType.default",
                    default.to_string(),
                );
                let map: BTreeMap<&str, &str> = overrides
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                put(
                    "k8sAndWorker.runnerStrategy.taskType.overrides",
                    json_string(&map),
                );
            }
        }
        out.insert(
            "druid.indexer.task.encapsulatedTask".into(),
            self.encapsulated_task.to_string(),
        );
        out.insert(
            "druid.indexer.task.baseTaskDir".into(),
            self.base_task_dir.display().to_string(),
        );
        out.insert(
            "druid.enableTlsPort".into(),
            self.enable_tls_port.to_string(),
        );
        out.insert(
            "druid.indexer.logs.type".into(),
            self.task_logs.type_name().to_owned(),
        );
        match &self.task_logs {
            TaskLogsConfig::File { directory } => {
                out.insert(
                    "druid.indexer.logs.directory".into(),
                    directory.display().to_string(),
                );
            }
            TaskLogsConfig::S3 {
                bucket,
                prefix,
                disable_acl,
                ..
            } => {
                out.insert("druid.indexer.logs.s3Bucket".into(), bucket.clone());
                out.insert("druid.indexer.logs.s3Prefix".into(), prefix.clone());
                out.insert(
                    "druid.indexer.logs.disableAcl".into(),
                    disable_acl.to_string(),
                );
            }
        }
        out.into_iter()
            .map(|(k, v)| {
                let shown = display_value(&k, &v);
                (k, shown)
            })
            .collect()
    }
}

fn json_string<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn is_dns1123_label(v: &str) -> bool {
    v.len() <= 63 && !v.contains('.') && is_dns1123_subdomain(v)
}

fn read_adapter(r: &mut Reader<'_>, c: &mut RunnerConfig) {
    let adapter_key = runner_key("k8s.adapter.type");
    let sidecar_key = runner_key("sidecarSupport");
    let explicit = match r.get(&adapter_key) {
        None => None,
        Some(v) => match AdapterType::parse(v) {
            Some(a) => Some(a),
            None => {
                r.error(
                    &adapter_key,
                    format!("\"{v}\" is not a pod adapter; expected `overlordSingleContainer`, `overlordMultiContainer` or `customTemplateAdapter`"),
                );
                return;
            }
        },
    };
    c.adapter_type = match (explicit, c.sidecar_support) {
        (None, false) => AdapterType::OverlordSingleContainer,
        (None, true) => AdapterType::OverlordMultiContainer,
        (Some(AdapterType::OverlordMultiContainer), _) => AdapterType::OverlordMultiContainer,
        (Some(a), true) => {
            r.error(
                &sidecar_key,
                format!("sidecarSupport=true requires the `overlordMultiContainer` adapter, but {adapter_key} is `{a}`; remove sidecarSupport (deprecated) or set the adapter to overlordMultiContainer"),
            );
            a
        }
        (Some(a), false) => a,
    };

    // pod templates: key = last dot segment
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (prop, path) in r.raw.iter() {
        let Some(rest) = prop.strip_prefix(POD_TEMPLATE_PREFIX) else {
            continue;
        };
        let key = rest.rsplit('.').next().unwrap_or_default();
        if key.is_empty() {
            r.error(prop, format!("expected a template key after `{POD_TEMPLATE_PREFIX}`, e.g. {POD_TEMPLATE_PREFIX}base"));
            continue;
        }
        if path.is_empty() {
            r.error(prop, "expected the path of a PodTemplate YAML file");
            continue;
        }
        if let Some(first) = seen.get(key) {
            r.error(prop, format!("template key `{key}` is also set by {first} (the key is the last dot-separated segment)"));
            continue;
        }
        seen.insert(key.to_owned(), prop.to_owned());
        c.pod_templates.insert(key.to_owned(), PathBuf::from(path));
    }
    let base_key = format!("{POD_TEMPLATE_PREFIX}base");
    if c.adapter_type == AdapterType::CustomTemplate {
        if !c.pod_templates.contains_key("base") {
            r.error(
                &base_key,
                format!("Pod template task adapter requires a base pod template to be specified under {base_key}"),
            );
        }
    } else {
        if let Some((_, prop)) = seen.iter().next() {
            let prop = prop.clone();
            r.warn(
                &prop,
                format!(
                    "pod templates are only used by the customTemplateAdapter; ignored with `{}`",
                    c.adapter_type
                ),
            );
        }
        if c.allow_task_pod_template_selection {
            r.warn(
                &runner_key("allowTaskPodTemplateSelection"),
                format!(
                    "only used by the customTemplateAdapter; ignored with `{}`",
                    c.adapter_type
                ),
            );
        }
    }
    if c.adapter_type != AdapterType::OverlordMultiContainer
        && r.get(&runner_key("k8s.sidecarMode")).is_some()
    {
        r.warn(
            &runner_key("k8s.sidecarMode"),
            format!(
                "only used by the overlordMultiContainer adapter; ignored with `{}`",
                c.adapter_type
            ),
        );
    }
}

fn read_task_keys(r: &mut Reader<'_>, c: &mut RunnerConfig) {
    let enc_key = "druid.indexer.task.encapsulatedTask";
    c.encapsulated_task = r.bool(enc_key, false);
    if !c.encapsulated_task {
        r.warn(
            enc_key,
            "should be true: without it peons do not push status.json to task-log storage and every task fails with \"Peon did not report status successfully\"",
        );
    }
    let shuffle_key = "druid.processing.intermediaryData.storage.type";
    if r.get(shuffle_key).is_some_and(|v| v != "deepstore") {
        r.warn(
            shuffle_key,
            "should be `deepstore` without MiddleManagers (parallel indexing shuffles through deep storage)",
        );
    }
    let base_dir = r
        .get("druid.indexer.task.baseDir")
        .unwrap_or(DEFAULT_BASE_DIR)
        .to_owned();
    c.base_task_dir = match r.get("druid.indexer.task.baseTaskDir") {
        Some(d) => PathBuf::from(d),
        None => Path::new(&base_dir).join("persistent/task"),
    };
    c.enable_tls_port = r.bool("druid.enableTlsPort", false);
}

fn read_task_logs(r: &mut Reader<'_>, c: &mut RunnerConfig) {
    let type_key = "druid.indexer.logs.type";
    match r.get(type_key).unwrap_or("file") {
        "file" => {
            c.task_logs = TaskLogsConfig::File {
                directory: PathBuf::from(r.string("druid.indexer.logs.directory", DEFAULT_FILE_TASK_LOG_DIR)),
            };
        }
        "s3" => {
            let bucket_key = "druid.indexer.logs.s3Bucket";
            let prefix_key = "druid.indexer.logs.s3Prefix";
            let bucket = r.get(bucket_key).map(str::to_owned);
            if bucket.is_none() {
                r.error(bucket_key, "required with druid.indexer.logs.type=s3: the bucket for task logs");
            }
            let prefix = r.get(prefix_key).map(str::to_owned);
            if prefix.is_none() {
                r.error(prefix_key, "required with druid.indexer.logs.type=s3: the key prefix for task logs (e.g. druid/indexing-logs)");
            }
            c.task_logs = TaskLogsConfig::S3 {
                bucket: bucket.unwrap_or_default(),
                prefix: prefix.unwrap_or_default(),
                disable_acl: r.bool("druid.indexer.logs.disableAcl", false),
                endpoint_url: s3_endpoint(r),
                signing_region: r.get("druid.s3.endpoint.signingRegion").map(str::to_owned),
                path_style_access: r.bool("druid.s3.enablePathStyleAccess", false),
                access_key: r.get("druid.s3.accessKey").map(Secret::new),
                secret_key: r.get("druid.s3.secretKey").map(Secret::new),
            };
        }
        other => r.error(
            type_key,
            format!("\"{other}\" task logs are not supported by druid-k8s; expected `file` or `s3` (the runner reads each peon's status.json from task-log storage)"),
        ),
    }
}

/// `druid.s3.endpoint.url` with a scheme (`druid.s3.protocol`, default https, when missing).
fn s3_endpoint(r: &mut Reader<'_>) -> Option<String> {
    let protocol_key = "druid.s3.protocol";
    let protocol = match r.get(protocol_key) {
        None => "https",
        Some(p) if p.eq_ignore_ascii_case("http") => "http",
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(p) => {
            r.error(
                protocol_key,
                format!("\"{p}\" is not a protocol; expected `http` or `https`"),
            );
            "https"
        }
    };
    let url = r.get("druid.s3.endpoint.url")?;
    Some(if url.contains("://") {
        url.to_owned()
    } else {
        format!("{protocol}://{url}")
    })
}

fn read_k8s_and_worker(r: &mut Reader<'_>, c: &mut RunnerConfig) {
    let prefix = runner_key("k8sAndWorker.runnerStrategy.");
    let type_key = format!("{prefix}type");
    let worker_key = format!("{prefix}workerType");
    let default_key = format!("{prefix}taskType.default");
    let overrides_key = format!("{prefix}taskType.overrides");
    if c.runner_type != RunnerType::K8sAndWorker {
        let present: Vec<String> = r
            .raw
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(&prefix))
            .map(str::to_owned)
            .collect();
        for k in present {
            r.warn(
                &k,
                "only used when druid.indexer.runner.type=k8sAndWorker; ignored",
            );
        }
        return;
    }
    let worker_type = match r.get(&worker_key) {
        None | Some("httpRemote") => WorkerType::HttpRemote,
        Some("remote") => {
            r.error(
                &worker_key,
                "`remote` (the ZooKeeper-based worker runner) is not supported; use `httpRemote`",
            );
            WorkerType::HttpRemote
        }
        Some(other) => {
            r.error(
                &worker_key,
                format!("\"{other}\" is not a worker runner; expected `httpRemote`"),
            );
            WorkerType::HttpRemote
        }
    };
    let strategy = match r.get(&type_key) {
        None | Some("k8s") => RunnerStrategy::K8s,
        Some("worker") => RunnerStrategy::Worker,
        Some("taskType") => {
            let default = match r.get(&default_key) {
                None => {
                    r.error(
                        &default_key,
                        "required with runnerStrategy.type=taskType: `k8s` or `worker`",
                    );
                    RunnerKind::K8s
                }
                Some(v) => RunnerKind::parse(v).unwrap_or_else(|| {
                    r.error(
                        &default_key,
                        format!("\"{v}\" is not a runner; expected `k8s` or `worker`"),
                    );
                    RunnerKind::K8s
                }),
            };
            let mut overrides = BTreeMap::new();
            for (task_type, runner) in r.string_map(&overrides_key) {
                match RunnerKind::parse(&runner) {
                    Some(kind) => {
                        overrides.insert(task_type, kind);
                    }
                    None => r.error(
                        &overrides_key,
                        format!("task type \"{task_type}\": \"{runner}\" is not a runner; expected `k8s` or `worker`"),
                    ),
                }
            }
            RunnerStrategy::TaskType { default, overrides }
        }
        Some(other) => {
            r.error(
                &type_key,
                format!(
                    "\"{other}\" is not a runner strategy; expected `k8s`, `worker` or `taskType`"
                ),
            );
            RunnerStrategy::K8s
        }
    };
    if !matches!(strategy, RunnerStrategy::TaskType { .. }) {
        for k in [&default_key, &overrides_key] {
            if r.get(k).is_some() {
                let k = k.clone();
                r.warn(&k, "only used with runnerStrategy.type=taskType; ignored");
            }
        }
    }
    let workers_key = runner_key("k8sAndWorker.workers");
    let mut workers = Vec::new();
    for entry in r.get(&workers_key).unwrap_or("").split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let rest = entry
            .strip_prefix("http://")
            .or_else(|| entry.strip_prefix("https://"))
            .unwrap_or(entry);
        match rest.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok() =>
            {
                workers.push(entry.to_owned());
            }
            _ => r.error(
                &workers_key,
                format!("\"{entry}\" is not a worker; expected host:port such as mm1:8091"),
            ),
        }
    }
    let capacity_key = runner_key("k8sAndWorker.workerCapacity");
    let worker_capacity = r
        .int(
            &capacity_key,
            1,
            i64::from(u32::MAX),
            "a positive number of task slots",
        )
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1);
    let min_worker_version = r.string(&runner_key("minWorkerVersion"), "0");
    let task_assignment_timeout = r.period(
        &runner_key("taskAssignmentTimeout"),
        Duration::from_secs(5 * 60),
    );
    let task_cleanup_timeout = r.period(
        &runner_key("taskCleanupTimeout"),
        Duration::from_secs(15 * 60),
    );
    let sync_request_timeout = r.period(
        &runner_key("syncRequestTimeout"),
        Duration::from_secs(3 * 60),
    );
    let server_unstability_timeout = r.period(
        &runner_key("serverUnstabilityTimeout"),
        Duration::from_secs(60),
    );
    let discovery = match r.get("druid.discovery.type") {
        Some("k8s") => match r.get("druid.discovery.k8s.clusterIdentifier") {
            Some(id) if !id.trim().is_empty() => Some(K8sDiscoveryConfig {
                cluster_identifier: id.trim().to_owned(),
                namespace: c.namespace.clone(),
            }),
            _ => {
                r.error(
                    "druid.discovery.k8s.clusterIdentifier",
                    "required with druid.discovery.type=k8s: the cluster identifier label value the workers announce",
                );
                None
            }
        },
        // ZooKeeper or another discovery: workers come from the static list
        _ => None,
    };
    c.k8s_and_worker = Some(K8sAndWorkerConfig {
        runner_strategy: strategy,
        worker_type,
        workers,
        worker_capacity,
        min_worker_version,
        task_assignment_timeout,
        task_cleanup_timeout,
        sync_request_timeout,
        server_unstability_timeout,
        discovery,
    });
}

fn check_unknown_keys(r: &mut Reader<'_>) {
    let known: BTreeSet<String> = RUNNER_KEYS
        .iter()
        .chain(WORKER_RUNNER_KEYS)
        .map(|k| runner_key(k))
        .collect();
    let unknown: Vec<String> = r
        .raw
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(RUNNER_PREFIX))
        .filter(|k| !known.contains(*k))
        .filter(|k| !k.starts_with(POD_TEMPLATE_PREFIX))
        .filter(|k| !k.starts_with(&runner_key("k8sAndWorker.http.vertx.webClientOptions.")))
        .filter(|k| {
            let suffix = &k[RUNNER_PREFIX.len()..];
            !(suffix.starts_with("clusters[") || suffix.starts_with("clusterSelector."))
        })
        .map(str::to_owned)
        .collect();
    for key in unknown {
        if key == runner_key("javaOpts") {
            r.error(
                &key,
                "not supported by the Kubernetes task runner; use druid.indexer.runner.javaOptsArray (a JSON array such as [\"-Xmx1g\"]) or the task context key druid.indexer.runner.javaOpts",
            );
        } else {
            let near = nearest_runner_key(&key);
            r.error(&key, format!("unknown property; did you mean {near}?"));
        }
    }
    let http_type_key = runner_key("k8sAndWorker.http.httpClientType");
    if let Some(v) = r.get(&http_type_key)
        && !matches!(v, "vertx" | "okhttp" | "javaStandardHttp")
    {
        r.error(
            &http_type_key,
            format!("\"{v}\" is not an HTTP client type; expected `vertx`, `okhttp` or `javaStandardHttp`"),
        );
    }
}

#[cfg(test)]
mod tests;
