//! Prometheus metrics of the runner (prometheus-client; the caller passes its `Registry`).
//!
//! Druid's metric names map to Prometheus names under the `druid_k8s_` prefix:
//! `k8s/peon/startup/time` → `druid_k8s_peon_startup_time_seconds`,
//! `task/pending/time` → `druid_k8s_task_pending_time_seconds`,
//! `taskSlot/{total,idle,used}/count` → `druid_k8s_task_slot_{total,idle,used}_count`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of API request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// kube's verb name (`create`, `delete`, `list`, `watch`, `logs`, `log_stream`, `get`...).
    pub verb: String,
    /// HTTP status code, or `error` for transport failures.
    pub code: String,
}

/// Labels carrying a verb only.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerbLabels {
    /// kube's verb name.
    pub verb: String,
}

/// Labels carrying a resource kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    /// `jobs` or `pods`.
    pub resource: String,
}

/// Labels carrying a task state.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `waiting` (queued for a slot), `pending`, `running`, `stopped`.
    pub state: String,
}

/// Labels of a task outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `SUCCESS` or `FAILED`.
    pub status: String,
}

/// All runner metrics. Cheap to clone (every metric is an `Arc` inside).
#[derive(Clone, Debug)]
pub struct RunnerMetrics {
    /// `k8s/peon/startup/time`: Job create → pod started.
    pub peon_startup_time: Histogram,
    /// `task/pending/time`: task submitted (or restored) → RUNNING.
    pub task_pending_time: Histogram,
    /// `taskSlot/total/count`.
    pub slot_total: Gauge,
    /// `taskSlot/idle/count`.
    pub slot_idle: Gauge,
    /// `taskSlot/used/count`.
    pub slot_used: Gauge,
    /// Jobs the runner believes exist (launched or adopted, not yet deleted).
    pub jobs_active: Gauge,
    /// API requests by verb and code.
    pub api_requests: Family<ApiLabels, Counter>,
    /// API request latency by verb (seconds; streaming calls measure time to headers).
    pub api_latency: Family<VerbLabels, Histogram, fn() -> Histogram>,
    /// Watch stream restarts (errors, cuts, 410 relists) by resource.
    pub watch_restarts: Family<ResourceLabels, Counter>,
    /// Tasks by lifecycle state.
    pub tasks: Family<StateLabels, Gauge>,
    /// Completed tasks by outcome.
    pub completed: Family<OutcomeLabels, Counter>,
    tally: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn seconds_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

impl RunnerMetrics {
    /// Counts one restart (error or relist) of the shared watch on `resource`.
    pub fn count_watch_restart(&self, resource: &str) {
        self.watch_restarts
            .get_or_create(&ResourceLabels {
                resource: resource.into(),
            })
            .inc();
    }

    /// New metrics, not registered anywhere.
    pub fn new() -> Arc<Self> {
        Arc::new(RunnerMetrics {
            peon_startup_time: seconds_buckets(),
            task_pending_time: seconds_buckets(),
            slot_total: Gauge::default(),
            slot_idle: Gauge::default(),
            slot_used: Gauge::default(),
            jobs_active: Gauge::default(),
            api_requests: Family::default(),
            api_latency: Family::new_with_constructor(latency_buckets),
            watch_restarts: Family::default(),
            tasks: Family::default(),
            completed: Family::default(),
            tally: Arc::default(),
        })
    }

    /// New metrics registered in `registry` under the `druid_k8s` prefix.
    pub fn register(registry: &mut Registry) -> Arc<Self> {
        let m = Self::new();
        let r = registry.sub_registry_with_prefix("druid_k8s");
        r.register(
            "peon_startup_time_seconds",
            "k8s/peon/startup/time: from Job creation until the peon pod started",
            m.peon_startup_time.clone(),
        );
        r.register(
            "task_pending_time_seconds",
            "task/pending/time: from task submission (or restore) until RUNNING",
            m.task_pending_time.clone(),
        );
        r.register(
            "task_slot_total_count",
            "taskSlot/total/count",
            m.slot_total.clone(),
        );
        r.register(
            "task_slot_idle_count",
            "taskSlot/idle/count",
            m.slot_idle.clone(),
        );
        r.register(
            "task_slot_used_count",
            "taskSlot/used/count",
            m.slot_used.clone(),
        );
        r.register(
            "jobs_active",
            "Jobs the runner launched or adopted that are not yet deleted",
            m.jobs_active.clone(),
        );
        r.register(
            "api_requests",
            "Kubernetes API requests by verb and response code",
            m.api_requests.clone(),
        );
        r.register(
            "api_request_duration_seconds",
            "Kubernetes API request latency by verb",
            m.api_latency.clone(),
        );
        r.register(
            "watch_restarts",
            "Restarts of the shared Job/Pod watches (errors, cuts, 410 relists)",
            m.watch_restarts.clone(),
        );
        r.register(
            "tasks",
            "Tasks known to the runner by state",
            m.tasks.clone(),
        );
        // Not `tasks_completed`: the server registers that name for every task it finishes
        // (both runners), and one exposition must not repeat a metric family.
        r.register(
            "runner_tasks_completed",
            "Tasks the Kubernetes runner completed, by outcome",
            m.completed.clone(),
        );
        m
    }

    /// Records one API request.
    pub fn observe_api(&self, verb: &str, code: &str, latency: Duration) {
        self.api_requests
            .get_or_create(&ApiLabels {
                verb: verb.to_string(),
                code: code.to_string(),
            })
            .inc();
        self.api_latency
            .get_or_create(&VerbLabels {
                verb: verb.to_string(),
            })
            .observe(latency.as_secs_f64());
        if let Ok(mut t) = self.tally.lock() {
            *t.entry((verb.to_string(), code.to_string())).or_default() += 1;
        }
    }

    /// API request counts by (verb, code) since the metrics were created.
    pub fn api_counts(&self) -> BTreeMap<(String, String), u64> {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// Encodes `registry` in the OpenMetrics text format.
pub fn encode(registry: &Registry) -> String {
    let mut s = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut s, registry);
    s
}
