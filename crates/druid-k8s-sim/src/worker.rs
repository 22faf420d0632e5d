//! Simulated MiddleManagers: HTTP servers on 127.0.0.1 speaking Druid's worker protocol (the
//! one `HttpRemoteTaskRunner` uses), whose tasks behave as the task context's `sim` key asks,
//! exactly as the simulated peons of Kubernetes pods do (duration, success or failure, error
//! message, log lines, hang).
//!
//! Written from Druid's JSON shapes (`WorkerResource`, `WorkerTaskManager`,
//! `ChangeRequestHistory`, `TaskAnnouncement`), independent of the runner's protocol types:
//!
//! * `GET /druid-internal/v1/worker?counter=<c>&hash=<h>&timeout=<ms>`: `counter < 0` answers
//!   the whole state (a `metadata` item, then one `taskUpdate` per task); a counter equal to
//!   the last one waits up to `timeout` ms for a change (`204 No Content` when none came); an
//!   older counter gets the changes since; a counter whose hash does not match, one ahead of
//!   the worker, or one older than the kept history gets `resetCounter: true` with the cause.
//!   Every change has its own `(counter, hash)`, as in Druid.
//! * `POST /druid-internal/v1/worker/assignTask` (task JSON): the task starts at once.
//! * `POST /druid/worker/v1/task/<id>/shutdown`: a running task fails ("shut down").
//! * `GET /druid/worker/v1/task/<id>/log?offset=<n>`: the lines written so far (`404` unknown).
//! * `GET /druid/worker/v1/enabled`, `POST /druid/worker/v1/enable` and `…/disable`,
//!   `GET /druid/worker/v1/tasks`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), druid_k8s_sim::SimError> {
//! use druid_k8s_sim::{SimWorker, SimWorkerConfig};
//! let mm = SimWorker::start(SimWorkerConfig::default().capacity(2)).await?;
//! println!("worker at {}", mm.host()); // druid.indexer.runner.k8sAndWorker.workers=<host>
//! mm.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng as _;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::peon::{Plan, plan_task};

/// Druid's default worker category (`WorkerConfig.DEFAULT_CATEGORY`).
pub const DEFAULT_WORKER_CATEGORY: &str = "_default_worker_category";

/// Settings of a [`SimWorker`].
#[derive(Debug, Clone)]
pub struct SimWorkerConfig {
    /// TCP port on 127.0.0.1 (0 = pick a free one).
    pub port: u16,
    /// Task slots (`druid.worker.capacity`); reported in the node announcement.
    pub capacity: u32,
    /// Worker category (`druid.worker.category`).
    pub category: String,
    /// Worker version (`druid.worker.version`).
    pub version: String,
    /// Run time of a task without `context.sim.durationMs`.
    pub default_task_duration: Duration,
    /// Changes kept for deltas (Druid keeps 1000); older counters get a reset.
    pub history_size: usize,
    /// Druid `file` task-log directory: a finished task's log is pushed to `<dir>/<id>.log`,
    /// as a MiddleManager pushes its tasks' logs to task-log storage. `None`: not pushed.
    pub task_logs_dir: Option<std::path::PathBuf>,
}

impl Default for SimWorkerConfig {
    fn default() -> Self {
        SimWorkerConfig {
            port: 0,
            capacity: 2,
            category: DEFAULT_WORKER_CATEGORY.to_owned(),
            version: "0".to_owned(),
            default_task_duration: Duration::from_millis(100),
            history_size: 1000,
            task_logs_dir: None,
        }
    }
}

impl SimWorkerConfig {
    /// Sets [`SimWorkerConfig::port`].
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets [`SimWorkerConfig::capacity`].
    pub fn capacity(mut self, capacity: u32) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets [`SimWorkerConfig::category`].
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.category = category.into();
        self
    }

    /// Sets [`SimWorkerConfig::version`].
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Sets [`SimWorkerConfig::default_task_duration`].
    pub fn default_task_duration(mut self, d: Duration) -> Self {
        self.default_task_duration = d;
        self
    }

    /// Sets [`SimWorkerConfig::task_logs_dir`].
    pub fn task_logs_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.task_logs_dir = Some(dir.into());
        self
    }

    /// Sets [`SimWorkerConfig::history_size`].
    pub fn history_size(mut self, n: usize) -> Self {
        self.history_size = n;
        self
    }
}

/// A task as the worker sees it (see [`SimWorkerHandle::tasks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimWorkerTask {
    /// Task id.
    pub id: String,
    /// Task type.
    pub task_type: String,
    /// `RUNNING`, `SUCCESS` or `FAILED`.
    pub status: String,
    /// The error message of a failed task.
    pub error_msg: Option<String>,
}

struct TaskEntry {
    task_type: String,
    data_source: Option<String>,
    status: &'static str,
    error: Option<String>,
    duration_ms: i64,
    started: Instant,
    plan: Plan,
    /// Lines added after the plan (shutdown, exit).
    extra: Vec<String>,
    ended: Option<Duration>,
    port: i64,
    stop: Arc<Notify>,
}

struct Inner {
    counter: i64,
    hash: i64,
    /// (counter, hash, change), oldest first.
    history: VecDeque<(i64, i64, Value)>,
    tasks: BTreeMap<String, TaskEntry>,
    disabled: bool,
    assigned: Vec<String>,
    next_port: i64,
}

struct Shared {
    host: String,
    cfg: SimWorkerConfig,
    sim_cfg: SimConfig,
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
    shutdown: watch::Receiver<bool>,
}

/// Entry point: starts simulated workers.
#[derive(Debug)]
pub struct SimWorker;

/// A running simulated worker. Dropping it stops the server.
pub struct SimWorkerHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimWorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorkerHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announcement(&self, id: &str, t: &TaskEntry) -> Value {
        json!({
            "type": "taskUpdate",
            "taskAnnouncement": {
                "id": id,
                "type": t.task_type,
                "status": t.status,
                "taskStatus": {
                    "id": id,
                    "status": t.status,
                    "duration": t.duration_ms,
                    "errorMsg": t.error,
                    "location": {"host": null, "port": -1, "tlsPort": -1}
                },
                "taskResource": {"availabilityGroup": id, "requiredCapacity": 1},
                "taskLocation": {"host": "127.0.0.1", "port": t.port, "tlsPort": -1},
                "taskDataSource": t.data_source
            }
        })
    }

    /// Records a change with a fresh `(counter, hash)` and wakes the long polls.
    fn push(&self, inner: &mut Inner, change: Value) {
        inner.counter += 1;
        inner.hash = rand::rng().random_range(1..i64::MAX);
        inner.history.push_back((inner.counter, inner.hash, change));
        while inner.history.len() > self.cfg.history_size.max(1) {
            inner.history.pop_front();
        }
        self.changed.send_modify(|n| *n += 1);
    }

    fn announce(&self, inner: &mut Inner, id: &str) {
        if let Some(t) = inner.tasks.get(id) {
            let change = self.announcement(id, t);
            self.push(inner, change);
        }
    }

    fn counter_json(inner: &Inner) -> Value {
        json!({"counter": inner.counter, "hash": inner.hash})
    }

    fn reset(cause: String) -> Value {
        json!({"resetCounter": true, "resetCause": cause, "counter": null, "requests": null})
    }

    /// `Some(answer)`, or `None` when the caller is up to date (wait for a change).
    fn changes_since(&self, inner: &Inner, counter: i64, hash: i64) -> Option<Value> {
        let last = (inner.counter, inner.hash);
        let show = |c: i64, h: i64| format!("Counter{{counter={c}, hash={h}}}");
        if counter == last.0 {
            if hash == last.1 {
                return None;
            }
            return Some(Self::reset(format!(
                "counter[{}] failed to match with [{}]",
                show(counter, hash),
                show(last.0, last.1)
            )));
        }
        if counter > last.0 {
            return Some(Self::reset(format!(
                "counter[{}] > last counter[{}]",
                show(counter, hash),
                show(last.0, last.1)
            )));
        }
        // the change the caller saw last must still be kept, with the same hash
        let first_kept = inner.history.front().map_or(last.0 + 1, |(c, _, _)| *c);
        let seen_ok = if counter == 0 {
            hash == 0 && first_kept == 1
        } else {
            counter >= first_kept
                && inner
                    .history
                    .iter()
                    .any(|(c, h, _)| *c == counter && *h == hash)
        };
        if !seen_ok {
            return Some(Self::reset(format!(
                "can't serve request, not enough history is kept or counter[{}] failed to match. last counter [{}]",
                show(counter, hash),
                show(last.0, last.1)
            )));
        }
        let requests: Vec<Value> = inner
            .history
            .iter()
            .filter(|(c, _, _)| *c > counter)
            .map(|(_, _, v)| v.clone())
            .collect();
        Some(json!({
            "counter": Self::counter_json(inner),
            "resetCounter": false,
            "requests": requests
        }))
    }

    fn snapshot(&self, inner: &Inner) -> Value {
        let mut requests = vec![json!({"type": "metadata", "disabled": inner.disabled})];
        for (id, t) in &inner.tasks {
            requests.push(self.announcement(id, t));
        }
        json!({
            "counter": Self::counter_json(inner),
            "resetCounter": false,
            "requests": requests
        })
    }

    /// Ends a running task: `status` and `error`, with `line` in its log.
    fn finish(&self, id: &str, status: &'static str, error: Option<String>, line: String) {
        let mut inner = self.lock();
        let Some(t) = inner.tasks.get_mut(id) else {
            return;
        };
        if t.status != "RUNNING" {
            return;
        }
        let elapsed = t.started.elapsed();
        t.status = status;
        t.error = error;
        t.duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
        t.ended = Some(elapsed);
        t.extra.push(line);
        if let Some(dir) = &self.cfg.task_logs_dir {
            let path = dir.join(format!("{id}.log"));
            if let Err(e) =
                std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, log_text(t)))
            {
                tracing::warn!(task = %id, path = %path.display(), error = %e, "pushing the task log failed");
            }
        }
        self.announce(&mut inner, id);
    }

    /// Runs one task's plan until its end or a shutdown request.
    async fn run_task(self: Arc<Self>, id: String, plan: Plan, stop: Arc<Notify>) {
        let mut shutdown = self.shutdown.clone();
        let ran = async {
            if plan.hang {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(plan.duration).await;
        };
        tokio::select! {
            _ = ran => {}
            _ = stop.notified() => {
                self.finish(
                    &id,
                    "FAILED",
                    Some("shut down request via HTTP endpoint".to_owned()),
                    format!("INFO [main] org.apache.druid.indexing.overlord.ForkingTaskRunner - Task [{id}] was shut down through the worker's shutdown endpoint (druid-k8s-sim)"),
                );
                return;
            }
            _ = shutdown.wait_for(|v| *v) => return,
        }
        match &plan.status {
            Some(s) => {
                let failed = s["status"] == "FAILED";
                let error = s["errorMsg"].as_str().map(str::to_owned);
                self.finish(
                    &id,
                    if failed { "FAILED" } else { "SUCCESS" },
                    error,
                    format!(
                        "INFO [main] org.apache.druid.indexing.overlord.ForkingTaskRunner - Task [{id}] exited with status {}",
                        if failed { "FAILED" } else { "SUCCESS" }
                    ),
                );
            }
            None => {
                // the peon died without reporting (OOM, neverReportStatus)
                let code = plan.exit_code;
                self.finish(
                    &id,
                    "FAILED",
                    Some(format!(
                        "Task execution process exited unsuccessfully with code[{code}]. See middleManager logs for more details."
                    )),
                    format!("ERROR [main] org.apache.druid.indexing.overlord.ForkingTaskRunner - Task [{id}] process exited with code {code} without a status"),
                );
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct SyncQuery {
    counter: Option<i64>,
    hash: Option<i64>,
    timeout: Option<u64>,
}

#[derive(serde::Deserialize)]
struct LogQuery {
    offset: Option<i64>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn sync(State(s): State<Arc<Shared>>, Query(q): Query<SyncQuery>) -> Response {
    let (Some(counter), Some(timeout)) = (q.counter, q.timeout) else {
        return bad_request("counter and timeout are required query parameters".to_owned());
    };
    if timeout == 0 {
        return bad_request("timeout must be positive".to_owned());
    }
    let hash = q.hash.unwrap_or(0);
    let mut rx = s.changed.subscribe();
    let mut shutdown = s.shutdown.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout);
    loop {
        {
            let inner = s.lock();
            let answer = if counter < 0 {
                Some(s.snapshot(&inner))
            } else {
                s.changes_since(&inner, counter, hash)
            };
            if let Some(a) = answer {
                return Json(a).into_response();
            }
            rx.borrow_and_update();
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return StatusCode::SERVICE_UNAVAILABLE.into_response() },
            _ = tokio::time::sleep_until(deadline) => return StatusCode::NO_CONTENT.into_response(),
            _ = shutdown.wait_for(|v| *v) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
}

async fn assign(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let task: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the body is not task JSON: {e}")),
    };
    let Some(id) = task.get("id").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("the task has no \"id\"".to_owned());
    };
    let mut inner = s.lock();
    inner.assigned.push(id.clone());
    if inner.tasks.contains_key(&id) {
        tracing::info!(task = %id, worker = %s.host, "task already assigned here; ignored");
        return StatusCode::OK.into_response();
    }
    let plan = plan_task(
        &task,
        "the assignTask request",
        None,
        None,
        &s.sim_cfg,
        false,
    );
    let port = inner.next_port;
    inner.next_port += 1;
    let stop = Arc::new(Notify::new());
    let task_type = task
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    inner.tasks.insert(
        id.clone(),
        TaskEntry {
            task_type,
            data_source: task
                .get("dataSource")
                .and_then(Value::as_str)
                .map(str::to_owned),
            status: "RUNNING",
            error: None,
            duration_ms: -1,
            started: Instant::now(),
            plan: plan.clone(),
            extra: Vec::new(),
            ended: None,
            port,
            stop: stop.clone(),
        },
    );
    s.announce(&mut inner, &id);
    drop(inner);
    tracing::info!(task = %id, worker = %s.host, "task assigned");
    tokio::spawn(s.clone().run_task(id, plan, stop));
    StatusCode::OK.into_response()
}

async fn shutdown_task(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let inner = s.lock();
    match inner.tasks.get(&id) {
        Some(t) => {
            if t.status == "RUNNING" {
                t.stop.notify_one();
            }
            Json(json!({"task": id})).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("task [{id}] is not on this worker")})),
        )
            .into_response(),
    }
}

async fn task_log(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    let inner = s.lock();
    let Some(t) = inner.tasks.get(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let bytes = log_text(t).into_bytes();
    let offset = q.offset.unwrap_or(0);
    let out = if offset >= 0 {
        let skip = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        bytes[skip..].to_vec()
    } else {
        let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
        bytes[bytes.len().saturating_sub(keep)..].to_vec()
    };
    ([("Content-Type", "text/plain")], out).into_response()
}

/// The task's log so far.
fn log_text(t: &TaskEntry) -> String {
    let upto = t.ended.unwrap_or_else(|| t.started.elapsed());
    let mut text = String::new();
    for (at, line) in &t.plan.lines {
        if *at <= upto {
            text.push_str(line);
            text.push('\n');
        }
    }
    for line in &t.extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

async fn enabled(State(s): State<Arc<Shared>>) -> Response {
    let disabled = s.lock().disabled;
    Json(json!({ s.host.clone(): !disabled })).into_response()
}

fn set_disabled(s: &Shared, disabled: bool) {
    let mut inner = s.lock();
    if inner.disabled != disabled {
        inner.disabled = disabled;
        s.push(
            &mut inner,
            json!({"type": "metadata", "disabled": disabled}),
        );
    }
}

async fn enable(State(s): State<Arc<Shared>>) -> Response {
    set_disabled(&s, false);
    Json(json!({ s.host.clone(): "enabled" })).into_response()
}

async fn disable(State(s): State<Arc<Shared>>) -> Response {
    set_disabled(&s, true);
    Json(json!({ s.host.clone(): "disabled" })).into_response()
}

async fn tasks(State(s): State<Arc<Shared>>) -> Response {
    let inner = s.lock();
    let ids: Vec<&String> = inner
        .tasks
        .iter()
        .filter(|(_, t)| t.status == "RUNNING")
        .map(|(id, _)| id)
        .collect();
    Json(json!(ids)).into_response()
}

impl SimWorker {
    /// Starts a simulated worker on 127.0.0.1:`cfg.port` on the current tokio runtime.
    pub async fn start(cfg: SimWorkerConfig) -> Result<SimWorkerHandle, SimError> {
        if cfg.capacity == 0 {
            return Err(SimError::Config(
                "worker capacity: expected at least 1 slot".to_owned(),
            ));
        }
        let addr_req = format!("127.0.0.1:{}", cfg.port);
        let listener = tokio::net::TcpListener::bind(&addr_req)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr_req.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: addr_req,
            source,
        })?;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let sim_cfg = SimConfig::default().default_task_duration(cfg.default_task_duration);
        let shared = Arc::new(Shared {
            host: addr.to_string(),
            cfg,
            sim_cfg,
            inner: Mutex::new(Inner {
                counter: 0,
                hash: 0,
                history: VecDeque::new(),
                tasks: BTreeMap::new(),
                disabled: false,
                assigned: Vec::new(),
                next_port: 8100,
            }),
            changed: watch::channel(0).0,
            shutdown: shutdown_rx.clone(),
        });
        let app = axum::Router::new()
            .route("/druid-internal/v1/worker", get(sync))
            .route("/druid-internal/v1/worker/assignTask", post(assign))
            .route("/druid/worker/v1/task/{id}/shutdown", post(shutdown_task))
            .route("/druid/worker/v1/task/{id}/log", get(task_log))
            .route("/druid/worker/v1/enabled", get(enabled))
            .route("/druid/worker/v1/enable", post(enable))
            .route("/druid/worker/v1/disable", post(disable))
            .route("/druid/worker/v1/tasks", get(tasks))
            .route("/status/health", get(|| async { Json(true) }))
            .with_state(shared.clone());
        let mut rx = shutdown_rx;
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.wait_for(|v| *v).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulated worker stopped");
            }
        });
        tracing::info!(worker = %addr, "simulated MiddleManager started");
        Ok(SimWorkerHandle {
            shared,
            addr,
            shutdown_tx,
            server: Some(server),
        })
    }
}

impl SimWorkerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, Druid's worker host (an entry of `k8sAndWorker.workers`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimWorkerConfig {
        &self.shared.cfg
    }

    /// Ids of every `assignTask` request, in order (repeated assignments included).
    pub fn assigned(&self) -> Vec<String> {
        self.shared.lock().assigned.clone()
    }

    /// The tasks it holds (running and finished), by id.
    pub fn tasks(&self) -> Vec<SimWorkerTask> {
        self.shared
            .lock()
            .tasks
            .iter()
            .map(|(id, t)| SimWorkerTask {
                id: id.clone(),
                task_type: t.task_type.clone(),
                status: t.status.to_owned(),
                error_msg: t.error.clone(),
            })
            .collect()
    }

    /// Enables or disables the worker (as `POST /druid/worker/v1/enable|disable`).
    pub fn set_enabled(&self, enabled: bool) {
        set_disabled(&self.shared, !enabled);
    }

    /// The `druidNodeInfo-middleManager` annotation value a druid-kubernetes-extensions
    /// MiddleManager would announce for this worker (Druid's `DiscoveryDruidNode` JSON with a
    /// `workerNodeService`).
    pub fn druid_node_info(&self) -> Value {
        let c = &self.shared.cfg;
        json!({
            "druidNode": {
                "service": "druid/middleManager",
                "host": self.addr.ip().to_string(),
                "bindOnHost": false,
                "plaintextPort": self.addr.port(),
                "port": -1,
                "tlsPort": -1,
                "enablePlaintextPort": true,
                "enableTlsPort": false
            },
            "nodeType": "middleManager",
            "services": {
                "workerNodeService": {
                    "type": "workerNodeService",
                    "ip": self.addr.ip().to_string(),
                    "capacity": c.capacity,
                    "version": c.version,
                    "category": c.category
                }
            }
        })
    }

    /// Stops the server (long polls in flight end with 503, running tasks stop where they
    /// are) and waits for it.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(mut t) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut t)
                .await
                .is_err()
        {
            t.abort();
        }
    }
}

impl Drop for SimWorkerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(history: usize) -> Shared {
        Shared {
            host: "127.0.0.1:1".into(),
            cfg: SimWorkerConfig::default().history_size(history),
            sim_cfg: SimConfig::default(),
            inner: Mutex::new(Inner {
                counter: 0,
                hash: 0,
                history: VecDeque::new(),
                tasks: BTreeMap::new(),
                disabled: false,
                assigned: Vec::new(),
                next_port: 8100,
            }),
            changed: watch::channel(0).0,
            shutdown: watch::channel(false).1,
        }
    }

    #[test]
    fn deltas_and_resets_follow_change_request_history() {
        let s = shared(3);
        // nothing yet: counter 0/0 is up to date
        assert!(s.changes_since(&s.lock(), 0, 0).is_none());
        let mut inner = s.lock();
        for d in [true, false, true] {
            s.push(&mut inner, json!({"type": "metadata", "disabled": d}));
        }
        let (c1, h1) = (inner.history[0].0, inner.history[0].1);
        let a = s.changes_since(&inner, c1, h1).unwrap();
        assert_eq!(a["resetCounter"], false);
        assert_eq!(a["requests"].as_array().unwrap().len(), 2);
        assert_eq!(a["counter"]["counter"], 3);
        // up to date: wait
        assert!(s.changes_since(&inner, 3, inner.hash).is_none());
        // wrong hash at the last counter, a counter from the future, a wrong older hash
        for (c, h) in [(3, inner.hash + 1), (9, 0), (c1, h1 + 1)] {
            let r = s.changes_since(&inner, c, h).unwrap();
            assert_eq!(r["resetCounter"], true, "{c}/{h}: {r}");
            assert!(
                r["resetCause"].as_str().unwrap().contains("counter["),
                "{r}"
            );
        }
        // history of 3 kept: a fourth change drops counter 1; counter 0 can no longer be served
        s.push(&mut inner, json!({"type": "metadata", "disabled": false}));
        assert_eq!(s.changes_since(&inner, 0, 0).unwrap()["resetCounter"], true);
        assert_eq!(
            s.changes_since(&inner, c1, h1).unwrap()["resetCounter"],
            true
        );
        let snap = s.snapshot(&inner);
        assert_eq!(snap["counter"]["counter"], 4);
        assert_eq!(snap["requests"][0]["type"], "metadata");
    }
}
