//! `/metrics`: Prometheus (OpenMetrics) text from a registry owned by the app (no global state).

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::backend::{Capacity, RunnerTask};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    status: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    http: Family<HttpLabels, Counter>,
    submitted: Counter,
    completed: Family<OutcomeLabels, Counter>,
    config_updates: Counter,
    capacity: Gauge,
    used: Gauge,
    runner_tasks: Family<StateLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("druid_k8s");
        let http = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            http.clone(),
        );
        let submitted = Counter::default();
        registry.register(
            "tasks_submitted",
            "Tasks accepted by POST /task",
            submitted.clone(),
        );
        let completed = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "tasks_completed",
            "Tasks that reached a final status",
            completed.clone(),
        );
        let config_updates = Counter::default();
        registry.register(
            "dynamic_config_updates",
            "Successful POSTs of the dynamic execution config",
            config_updates.clone(),
        );
        let capacity = Gauge::default();
        registry.register(
            "runner_capacity",
            "Effective task capacity",
            capacity.clone(),
        );
        let used = Gauge::default();
        registry.register(
            "runner_used_slots",
            "Tasks held by the runner",
            used.clone(),
        );
        let runner_tasks = Family::<StateLabels, Gauge>::default();
        registry.register(
            "runner_tasks",
            "Tasks held by the runner by state",
            runner_tasks.clone(),
        );
        Metrics {
            registry: Mutex::new(root),
            http,
            submitted,
            completed,
            config_updates,
            capacity,
            used,
            runner_tasks,
        }
    }

    /// Creates the task runner's metrics inside this registry (served at `/metrics` too).
    pub fn runner_metrics(&self) -> std::sync::Arc<druid_k8s_runner::RunnerMetrics> {
        match self.registry.lock() {
            Ok(mut r) => druid_k8s_runner::RunnerMetrics::register(&mut r),
            Err(_) => druid_k8s_runner::RunnerMetrics::new(),
        }
    }

    /// Counts one HTTP request.
    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.http
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status: status.to_string(),
            })
            .inc();
    }

    /// Counts a submitted task.
    pub fn task_submitted(&self) {
        self.submitted.inc();
    }

    /// Counts a completed task.
    pub fn task_completed(&self, status: &str) {
        self.completed
            .get_or_create(&OutcomeLabels {
                status: status.to_owned(),
            })
            .inc();
    }

    /// Counts a config update.
    pub fn config_updated(&self) {
        self.config_updates.inc();
    }

    /// Renders the text exposition, refreshing the runner gauges first.
    pub fn render(&self, capacity: Option<Capacity>, known: &[RunnerTask]) -> String {
        if let Some(c) = capacity {
            self.capacity.set(i64::from(c.total));
            self.used.set(i64::from(c.used));
        }
        for state in ["PENDING", "RUNNING", "NONE"] {
            let n = known.iter().filter(|t| t.state.as_str() == state).count();
            self.runner_tasks
                .get_or_create(&StateLabels {
                    state: state.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock()
            && let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry)
        {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }
}
