//! A scripted fake MiddleManager speaking Druid's HTTP worker protocol, written from Druid's
//! JSON shapes (`serde_json::json!`), independent of the runner's own protocol types.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Clone)]
struct FakeTask {
    task_type: String,
    data_source: Option<String>,
    status: &'static str,
    error: Option<String>,
    port: i64,
}

#[derive(Default)]
struct Fake {
    counter: i64,
    hash: i64,
    /// (counter after the change, change)
    history: Vec<(i64, Value)>,
    tasks: BTreeMap<String, FakeTask>,
    disabled: bool,
    vanished: bool,
    /// Accept assignments without ever starting the task.
    ignore_assignments: bool,
    assigned: Vec<String>,
    shutdowns: Vec<String>,
    log_requests: Vec<(String, i64)>,
    sync_requests: usize,
}

struct Shared {
    host: String,
    fake: Mutex<Fake>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap()
    }

    fn announce(&self, f: &Fake, id: &str) -> Value {
        let t = &f.tasks[id];
        json!({
            "type": "taskUpdate",
            "taskAnnouncement": {
                "id": id,
                "type": t.task_type,
                "status": t.status,
                "taskStatus": {
                    "id": id, "status": t.status, "duration": if t.status == "RUNNING" { -1 } else { 1234 },
                    "errorMsg": t.error,
                    "location": {"host": null, "port": -1, "tlsPort": -1}
                },
                "taskResource": {"availabilityGroup": id, "requiredCapacity": 1},
                "taskLocation": {"host": "127.0.0.1", "port": t.port, "tlsPort": -1},
                "taskDataSource": t.data_source
            }
        })
    }

    fn push(&self, f: &mut Fake, change: Value) {
        f.counter += 1;
        let c = f.counter;
        f.history.push((c, change));
        self.changed.send_modify(|n| *n += 1);
    }

    fn snapshot(&self, f: &Fake) -> Value {
        let mut requests = vec![json!({"type": "metadata", "disabled": f.disabled})];
        for id in f.tasks.keys() {
            requests.push(self.announce(f, id));
        }
        json!({
            "requests": requests,
            "counter": {"counter": f.counter, "hash": f.hash},
            "resetCounter": false
        })
    }
}

/// One fake MiddleManager on 127.0.0.1.
pub struct FakeWorker {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(serde::Deserialize)]
struct SyncQuery {
    counter: i64,
    #[serde(default)]
    hash: i64,
    timeout: u64,
}

#[derive(serde::Deserialize)]
struct LogQuery {
    #[serde(default)]
    offset: i64,
}

async fn sync(State(s): State<Arc<Shared>>, Query(q): Query<SyncQuery>) -> Response {
    let mut rx = s.changed.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.timeout);
    loop {
        {
            let mut f = s.lock();
            f.sync_requests += 1;
            if f.vanished {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            if q.counter < 0 || q.hash != f.hash || q.counter > f.counter {
                return Json(s.snapshot(&f)).into_response();
            }
            let changes: Vec<Value> = f
                .history
                .iter()
                .filter(|(c, _)| *c > q.counter)
                .map(|(_, v)| v.clone())
                .collect();
            if !changes.is_empty() {
                return Json(json!({
                    "requests": changes,
                    "counter": {"counter": f.counter, "hash": f.hash},
                    "resetCounter": false
                }))
                .into_response();
            }
        }
        tokio::select! {
            _ = rx.changed() => {}
            _ = tokio::time::sleep_until(deadline) => return StatusCode::NO_CONTENT.into_response(),
        }
    }
}

async fn assign(State(s): State<Arc<Shared>>, Json(task): Json<Value>) -> Response {
    let mut f = s.lock();
    if f.vanished {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let id = task["id"].as_str().unwrap_or_default().to_owned();
    f.assigned.push(id.clone());
    if f.ignore_assignments || f.tasks.contains_key(&id) {
        return StatusCode::OK.into_response();
    }
    let port = 8100 + i64::try_from(f.tasks.len()).unwrap();
    f.tasks.insert(
        id.clone(),
        FakeTask {
            task_type: task["type"].as_str().unwrap_or_default().to_owned(),
            data_source: task["dataSource"].as_str().map(str::to_owned),
            status: "RUNNING",
            error: None,
            port,
        },
    );
    let change = s.announce(&f, &id);
    s.push(&mut f, change);
    StatusCode::OK.into_response()
}

async fn shutdown(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let mut f = s.lock();
    if f.vanished {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    f.shutdowns.push(id.clone());
    let running = f.tasks.get(&id).is_some_and(|t| t.status == "RUNNING");
    if running {
        if let Some(t) = f.tasks.get_mut(&id) {
            t.status = "FAILED";
            t.error = Some("shut down request via HTTP endpoint".into());
        }
        let change = s.announce(&f, &id);
        s.push(&mut f, change);
    }
    Json(json!({"task": id})).into_response()
}

async fn log(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Response {
    let mut f = s.lock();
    f.log_requests.push((id.clone(), q.offset));
    if !f.tasks.contains_key(&id) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let text = format!("log of {id} on {}\n", s.host);
    let bytes = text.into_bytes();
    let out = if q.offset >= 0 {
        bytes[usize::try_from(q.offset).unwrap().min(bytes.len())..].to_vec()
    } else {
        let keep = usize::try_from(-q.offset).unwrap();
        bytes[bytes.len().saturating_sub(keep)..].to_vec()
    };
    out.into_response()
}

async fn enabled(State(s): State<Arc<Shared>>) -> Response {
    let f = s.lock();
    Json(json!({ s.host.clone(): !f.disabled })).into_response()
}

impl FakeWorker {
    pub async fn start() -> FakeWorker {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            host: addr.to_string(),
            fake: Mutex::new(Fake {
                hash: 4242,
                ..Default::default()
            }),
            changed: watch::channel(0).0,
        });
        let app = axum::Router::new()
            .route("/druid-internal/v1/worker", get(sync))
            .route("/druid-internal/v1/worker/assignTask", post(assign))
            .route("/druid/worker/v1/task/{id}/shutdown", post(shutdown))
            .route("/druid/worker/v1/task/{id}/log", get(log))
            .route("/druid/worker/v1/enabled", get(enabled))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeWorker {
            addr,
            shared,
            server,
        }
    }

    /// `host:port`, as in `druid.indexer.runner.k8sAndWorker.workers`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A task the worker already runs (before the overlord starts).
    pub fn already_running(&self, id: &str, task_type: &str) {
        let mut f = self.shared.lock();
        f.tasks.insert(
            id.into(),
            FakeTask {
                task_type: task_type.into(),
                data_source: Some("wiki".into()),
                status: "RUNNING",
                error: None,
                port: 8199,
            },
        );
        let change = self.shared.announce(&f, id);
        self.shared.push(&mut f, change);
    }

    /// The task ends (announced through the sync).
    pub fn finish(&self, id: &str, success: bool) {
        let mut f = self.shared.lock();
        let t = f.tasks.get_mut(id).expect("task on this worker");
        t.status = if success { "SUCCESS" } else { "FAILED" };
        if !success {
            t.error = Some("task failed on the worker".into());
        }
        let change = self.shared.announce(&f, id);
        self.shared.push(&mut f, change);
    }

    /// The worker forgets the task (`taskRemoval`).
    pub fn remove(&self, id: &str) {
        let mut f = self.shared.lock();
        f.tasks.remove(id);
        self.shared
            .push(&mut f, json!({"type": "taskRemoval", "taskId": id}));
    }

    pub fn set_disabled(&self, disabled: bool) {
        let mut f = self.shared.lock();
        f.disabled = disabled;
        self.shared
            .push(&mut f, json!({"type": "metadata", "disabled": disabled}));
    }

    /// Every request fails from now on (503), including the long polls in flight.
    pub fn vanish(&self) {
        let mut f = self.shared.lock();
        f.vanished = true;
        self.shared.changed.send_modify(|n| *n += 1);
    }

    pub fn ignore_assignments(&self) {
        self.shared.lock().ignore_assignments = true;
    }

    pub fn assigned(&self) -> Vec<String> {
        self.shared.lock().assigned.clone()
    }

    pub fn shutdowns(&self) -> Vec<String> {
        self.shared.lock().shutdowns.clone()
    }

    pub fn log_requests(&self) -> Vec<(String, i64)> {
        self.shared.lock().log_requests.clone()
    }

    pub fn sync_requests(&self) -> usize {
        self.shared.lock().sync_requests
    }
}

/// Waits until `f` holds (polling every 10 ms), panicking with `what` after `secs` seconds.
pub async fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
