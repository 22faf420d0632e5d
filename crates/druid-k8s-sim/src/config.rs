//! [`SimConfig`]: everything about a simulator run, with small defaults so tests are fast.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::SimError;

/// Where simulated peons push `status.json` and `report.json` (and read `task.json`) when the
/// pod's environment does not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskLogStorage {
    /// Druid's `file` task logs: `<directory>/<taskId>.status.json`, `.report.json`, `.log`,
    /// `.task.json`.
    File {
        /// The task-log directory.
        directory: PathBuf,
    },
    /// Druid's `s3` task logs, stored under a local directory standing in for the buckets:
    /// `<root>/<bucket>/<prefix>/<taskId>/status.json`, `report.json`, `log`, `task.json`.
    S3 {
        /// Local directory holding one sub-directory per bucket.
        root: PathBuf,
        /// The bucket.
        bucket: String,
        /// The key prefix.
        prefix: String,
    },
}

/// Fault injection, per run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability (0..=1) that a request fails, by verb (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection`); the key `*` applies to every verb without
    /// its own entry.
    pub error_rates: BTreeMap<String, f64>,
    /// Status codes an injected error picks from (uniformly). Default `[500, 503, 429]`.
    pub error_codes: Vec<u16>,
    /// `Retry-After` seconds sent with injected 429 and 503 answers.
    pub retry_after_seconds: u64,
    /// Added latency before every API request is served.
    pub latency: Duration,
    /// Cut every watch stream after this long (a clean end of the chunked response).
    pub watch_cut_after: Option<Duration>,
    /// Probability (0..=1) that a watch resuming from a resourceVersion is answered with an
    /// ERROR event `410 Expired`, as when the version was compacted.
    pub watch_resume_gone_rate: f64,
    /// Probability (0..=1) that a request's connection is dropped without a complete answer.
    pub drop_rate: f64,
}

impl FaultConfig {
    /// The error rate for a verb.
    pub fn error_rate(&self, verb: &str) -> f64 {
        self.error_rates
            .get(verb)
            .or_else(|| self.error_rates.get("*"))
            .copied()
            .unwrap_or(0.0)
    }

    /// Parses `0.1` (every verb) or `get=0.1,list=0.2,*=0.01`.
    pub fn parse_error_rates(s: &str) -> Result<BTreeMap<String, f64>, SimError> {
        let mut out = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (verb, rate) = match part.split_once('=') {
                Some((v, r)) => (v.trim().to_owned(), r.trim()),
                None => ("*".to_owned(), part),
            };
            let r: f64 = rate.parse().map_err(|_| {
                SimError::Config(format!(
                    "fault error rate {part:?}: expected a probability between 0 and 1 (e.g. `0.1` or `get=0.1`)"
                ))
            })?;
            if !(0.0..=1.0).contains(&r) {
                return Err(SimError::Config(format!(
                    "fault error rate {part:?}: {r} is not between 0 and 1"
                )));
            }
            out.insert(verb, r);
        }
        Ok(out)
    }
}

/// The simulator's configuration. Build with [`SimConfig::default`] and the builder methods.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// TCP port on 127.0.0.1 (0 = ephemeral).
    pub port: u16,
    /// Number of simulated nodes.
    pub nodes: u32,
    /// Allocatable CPU per node (a Kubernetes quantity).
    pub node_cpu: String,
    /// Allocatable memory per node (a Kubernetes quantity).
    pub node_memory: String,
    /// Maximum pods per node.
    pub node_pods: u32,
    /// Namespaces that exist from the start (besides `default`, `kube-system`, `kube-public`,
    /// `kube-node-lease`).
    pub namespaces: Vec<String>,
    /// Delay between a pod's creation and its scheduling.
    pub schedule_delay: Duration,
    /// Delay between scheduling and containers running (image pull, start).
    pub pod_startup_delay: Duration,
    /// Run time of a simulated peon without `context.sim.durationMs`.
    pub default_task_duration: Duration,
    /// Run time of non-peon containers whose command is `true`, `echo …`, `exit N`.
    pub command_duration: Duration,
    /// Time a container needs to exit after SIGTERM (unless it ignores SIGTERM).
    pub sigterm_delay: Duration,
    /// First back-off of the Job controller after a failed pod (doubles per failure).
    pub job_backoff: Duration,
    /// Maximum Job controller back-off.
    pub job_backoff_max: Duration,
    /// Images matching this regex never pull (`ErrImagePull`, then `ImagePullBackOff`).
    pub image_pull_failure_pattern: Option<String>,
    /// Number of past events kept for watch resumption; older versions answer 410 Expired.
    pub event_window: usize,
    /// Per-watch broadcast buffer; a watcher lagging further behind is cut.
    pub watch_buffer: usize,
    /// Most core/v1 Events kept (the oldest simulated controller events are deleted beyond;
    /// upstream expires them after an hour).
    pub max_events: usize,
    /// Interval between BOOKMARK events on watches that ask for them.
    pub bookmark_interval: Duration,
    /// Longest watch when the client gives no `timeoutSeconds`.
    pub watch_max_timeout: Duration,
    /// Task-log storage used when a peon pod's env does not configure one.
    pub task_logs: Option<TaskLogStorage>,
    /// Local directory standing in for S3 buckets when a pod's env selects `s3` task logs.
    pub s3_root: Option<PathBuf>,
    /// Whether simulated peons also push their log (in Druid the overlord does that).
    pub peon_pushes_log: bool,
    /// Fault injection.
    pub faults: FaultConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            nodes: 3,
            node_cpu: "16".to_owned(),
            node_memory: "64Gi".to_owned(),
            node_pods: 110,
            namespaces: vec!["druid".to_owned()],
            schedule_delay: Duration::from_millis(5),
            pod_startup_delay: Duration::from_millis(20),
            default_task_duration: Duration::from_millis(100),
            command_duration: Duration::from_millis(20),
            sigterm_delay: Duration::from_millis(20),
            job_backoff: Duration::from_millis(100),
            job_backoff_max: Duration::from_secs(10),
            image_pull_failure_pattern: Some("(^|/)nonexistent([:@/]|$)".to_owned()),
            event_window: 10_000,
            watch_buffer: 4096,
            max_events: 10_000,
            bookmark_interval: Duration::from_secs(5),
            watch_max_timeout: Duration::from_secs(1800),
            task_logs: None,
            s3_root: None,
            peon_pushes_log: false,
            faults: FaultConfig {
                error_codes: vec![500, 503, 429],
                retry_after_seconds: 1,
                ..FaultConfig::default()
            },
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, v: $ty) -> Self {
            self.$name = v;
            self
        }
    };
}

impl SimConfig {
    setter!(
        /// Sets the port (0 = ephemeral).
        port: u16
    );
    setter!(
        /// Sets the number of nodes.
        nodes: u32
    );
    setter!(
        /// Sets the maximum pods per node.
        node_pods: u32
    );
    setter!(
        /// Sets the scheduling delay.
        schedule_delay: Duration
    );
    setter!(
        /// Sets the container start-up delay.
        pod_startup_delay: Duration
    );
    setter!(
        /// Sets the default peon run time.
        default_task_duration: Duration
    );
    setter!(
        /// Sets the run time of simple commands (`true`, `echo`).
        command_duration: Duration
    );
    setter!(
        /// Sets the SIGTERM reaction time.
        sigterm_delay: Duration
    );
    setter!(
        /// Sets the Job controller's first back-off.
        job_backoff: Duration
    );
    setter!(
        /// Sets the retained event window.
        event_window: usize
    );
    setter!(
        /// Sets the per-watch buffer.
        watch_buffer: usize
    );
    setter!(
        /// Sets the most controller Events kept.
        max_events: usize
    );
    setter!(
        /// Sets the bookmark interval.
        bookmark_interval: Duration
    );
    setter!(
        /// Sets whether peons push their own log.
        peon_pushes_log: bool
    );
    setter!(
        /// Sets fault injection.
        faults: FaultConfig
    );

    /// Sets allocatable CPU per node (a quantity such as `8` or `7500m`).
    #[must_use]
    pub fn node_cpu(mut self, q: impl Into<String>) -> Self {
        self.node_cpu = q.into();
        self
    }

    /// Sets allocatable memory per node (a quantity such as `32Gi`).
    #[must_use]
    pub fn node_memory(mut self, q: impl Into<String>) -> Self {
        self.node_memory = q.into();
        self
    }

    /// Adds a namespace that exists from the start.
    #[must_use]
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespaces.push(ns.into());
        self
    }

    /// Uses Druid `file` task logs in `dir` by default.
    #[must_use]
    pub fn task_logs_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.task_logs = Some(TaskLogStorage::File {
            directory: dir.into(),
        });
        self
    }

    /// Sets the default task-log storage.
    #[must_use]
    pub fn task_logs(mut self, storage: TaskLogStorage) -> Self {
        self.task_logs = Some(storage);
        self
    }

    /// Sets the local directory standing in for S3 buckets.
    #[must_use]
    pub fn s3_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.s3_root = Some(dir.into());
        self
    }

    /// Images matching `pattern` (a regex) fail to pull; `None` disables.
    #[must_use]
    pub fn image_pull_failure_pattern(mut self, pattern: Option<String>) -> Self {
        self.image_pull_failure_pattern = pattern;
        self
    }

    /// Checks the configuration, naming the setting and what was expected.
    pub fn validate(&self) -> Result<(), SimError> {
        if crate::quantity::parse(&self.node_cpu).is_none() {
            return Err(SimError::Config(format!(
                "node_cpu {:?}: expected a Kubernetes quantity such as `16` or `7500m`",
                self.node_cpu
            )));
        }
        if crate::quantity::parse(&self.node_memory).is_none() {
            return Err(SimError::Config(format!(
                "node_memory {:?}: expected a Kubernetes quantity such as `64Gi`",
                self.node_memory
            )));
        }
        if let Some(p) = &self.image_pull_failure_pattern {
            regex::Regex::new(p)
                .map_err(|e| SimError::Config(format!("image_pull_failure_pattern {p:?}: {e}")))?;
        }
        for (name, rate) in [
            ("watch_resume_gone_rate", self.faults.watch_resume_gone_rate),
            ("drop_rate", self.faults.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::Config(format!(
                    "faults.{name} {rate}: expected a probability between 0 and 1"
                )));
            }
        }
        for (verb, rate) in &self.faults.error_rates {
            if !(0.0..=1.0).contains(rate) {
                return Err(SimError::Config(format!(
                    "faults.error_rates[{verb}] {rate}: expected a probability between 0 and 1"
                )));
            }
        }
        if self
            .faults
            .error_codes
            .iter()
            .any(|c| !(400..600).contains(c))
        {
            return Err(SimError::Config(format!(
                "faults.error_codes {:?}: expected HTTP error codes (400-599)",
                self.faults.error_codes
            )));
        }
        for ns in &self.namespaces {
            if let Some(e) = crate::validate::dns1123_label_error(ns) {
                return Err(SimError::Config(format!("namespace {ns:?}: {e}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_parse() {
        let r = FaultConfig::parse_error_rates("0.1").unwrap();
        assert_eq!(r.get("*"), Some(&0.1));
        let r = FaultConfig::parse_error_rates("get=0.5, list=1").unwrap();
        assert_eq!(r.get("get"), Some(&0.5));
        assert_eq!(r.get("list"), Some(&1.0));
        let f = FaultConfig {
            error_rates: r,
            ..FaultConfig::default()
        };
        assert_eq!(f.error_rate("list"), 1.0);
        assert_eq!(f.error_rate("watch"), 0.0);
        assert!(FaultConfig::parse_error_rates("get=2").is_err());
        assert!(FaultConfig::parse_error_rates("x").is_err());
    }

    #[test]
    fn validation_names_the_setting() {
        let e = SimConfig::default()
            .node_cpu("lots")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("node_cpu"), "{e}");
        assert!(SimConfig::default().validate().is_ok());
    }
}
