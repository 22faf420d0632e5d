//! The worker task runner of migration mode (`druid.indexer.runner.type=k8sAndWorker`): runs
//! tasks on MiddleManagers / Indexers through Druid's HTTP worker protocol, as Druid's
//! `HttpRemoteTaskRunner` does (see [`protocol`]).
//!
//! * Workers come from `druid.indexer.runner.k8sAndWorker.workers` (`host:port`, comma
//!   separated), each with `k8sAndWorker.workerCapacity` slots, and with
//!   `druid.discovery.type=k8s` from Kubernetes node discovery ([`discovery`]).
//! * After a restart, [`WorkerRunner::restore`] hands over the tasks the caller's records
//!   hold; they are settled once every worker has synced (or `serverUnstabilityTimeout`).
//! * One long-poll sync per worker (`GET /druid-internal/v1/worker?counter=&hash=&timeout=`)
//!   keeps the worker's tasks, their locations and statuses, and its enabled flag up to date.
//!   Tasks a worker already runs at start-up are adopted (restore).
//! * Pending tasks (priority, then submission order) go to the eligible worker with the most
//!   free slots (Druid's `equalDistribution`): enabled, reachable, version at least
//!   `minWorkerVersion`, enough free slots, no task of the same availability group.
//! * A task a worker has not announced within `taskAssignmentTimeout` fails; a worker whose
//!   sync keeps failing gets no new tasks after `serverUnstabilityTimeout` and its tasks fail,
//!   with the reason, after `taskCleanupTimeout`. Pending tasks wait for a worker.
//! * Shutdown: `POST /druid/worker/v1/task/<id>/shutdown` on the task's worker; logs:
//!   `GET /druid/worker/v1/task/<id>/log?offset=`; live reports from the task's peon.

pub mod discovery;
pub mod protocol;

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use druid_k8s_model::config::K8sAndWorkerConfig;
use druid_k8s_model::{LifecycleState, RunnerTaskState, Task, TaskLocation, TaskStatus};
use futures::StreamExt;
use tokio::sync::{Notify, broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::combined::SlotMaps;
use crate::error::RunnerError;
use crate::runner::{LogStream, RunnerEvent, TaskHandle, TaskInfo};
use protocol::{
    ASSIGN_PATH, Counter, DEFAULT_WORKER_CATEGORY, SYNC_PATH, SyncResponse, TaskAnnouncement,
    WorkerHistoryItem,
};

/// An HTTP failure talking to a worker, naming the URL.
fn worker_error(url: &str, e: &reqwest_rustls_ring::Error) -> RunnerError {
    RunnerError::Worker {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

/// Where a worker listens: `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerEndpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host:port` (Druid's worker "host").
    pub host: String,
}

impl WorkerEndpoint {
    /// Parses `host:port`, `http://host:port` or `https://host:port`.
    ///
    /// ```
    /// use druid_k8s_runner::worker::WorkerEndpoint;
    /// let w = WorkerEndpoint::parse("https://mm1:8291").unwrap();
    /// assert_eq!((w.scheme.as_str(), w.host.as_str()), ("https", "mm1:8291"));
    /// assert!(WorkerEndpoint::parse("mm1").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, RunnerError> {
        let text = text.trim();
        let (scheme, rest) = if let Some(r) = text.strip_prefix("https://") {
            ("https", r)
        } else if let Some(r) = text.strip_prefix("http://") {
            ("http", r)
        } else {
            ("http", text)
        };
        let rest = rest.trim_end_matches('/');
        match rest.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty() && !host.contains('/') && port.parse::<u16>().is_ok() =>
            {
                Ok(WorkerEndpoint {
                    scheme: scheme.to_owned(),
                    host: rest.to_owned(),
                })
            }
            _ => Err(RunnerError::Config {
                key: "druid.indexer.runner.k8sAndWorker.workers",
                message: format!("\"{text}\" is not a worker; expected host:port such as mm1:8091"),
            }),
        }
    }

    /// The URL of `path` on this worker.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.host, path)
    }
}

/// Settings of the [`WorkerRunner`].
#[derive(Debug, Clone)]
pub struct WorkerRunnerConfig {
    /// The workers (`k8sAndWorker.workers`).
    pub workers: Vec<WorkerEndpoint>,
    /// Slots of each worker (`k8sAndWorker.workerCapacity`).
    pub worker_capacity: u32,
    /// `minWorkerVersion`: workers announcing a lower version (string order, as Druid compares)
    /// get no tasks. Workers of the static list announce no version and are always eligible.
    pub min_worker_version: String,
    /// `taskAssignmentTimeout`.
    pub task_assignment_timeout: Duration,
    /// `taskCleanupTimeout`.
    pub task_cleanup_timeout: Duration,
    /// `syncRequestTimeout`: the long poll's `timeout`.
    pub sync_request_timeout: Duration,
    /// `serverUnstabilityTimeout`.
    pub server_unstability_timeout: Duration,
    /// Period of the timer that assigns pending tasks and checks the timeouts. Default 1 s.
    pub tick: Duration,
    /// Timeout of one non-poll request (assign, shutdown, log, reports). Default 30 s.
    pub http_timeout: Duration,
    /// How long [`WorkerRunner::start`] waits for the first sync of every worker (restore).
    /// Default 10 s.
    pub start_timeout: Duration,
    /// Kubernetes node discovery of workers (`druid.discovery.type=k8s`); used by
    /// [`WorkerRunner::start_with_client`].
    pub discovery: Option<druid_k8s_model::config::K8sDiscoveryConfig>,
}

impl WorkerRunnerConfig {
    /// The settings of the validated `k8sAndWorker` configuration.
    pub fn from_config(c: &K8sAndWorkerConfig) -> Result<Self, RunnerError> {
        let workers = c
            .workers
            .iter()
            .map(|w| WorkerEndpoint::parse(w))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WorkerRunnerConfig {
            workers,
            worker_capacity: c.worker_capacity,
            min_worker_version: c.min_worker_version.clone(),
            task_assignment_timeout: c.task_assignment_timeout,
            task_cleanup_timeout: c.task_cleanup_timeout,
            sync_request_timeout: c.sync_request_timeout,
            server_unstability_timeout: c.server_unstability_timeout,
            tick: Duration::from_secs(1),
            http_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(10),
            discovery: c.discovery.clone(),
        })
    }

    /// Druid's defaults for the given workers.
    pub fn for_workers(workers: Vec<WorkerEndpoint>, worker_capacity: u32) -> Self {
        WorkerRunnerConfig {
            workers,
            worker_capacity,
            min_worker_version: "0".into(),
            task_assignment_timeout: Duration::from_secs(300),
            task_cleanup_timeout: Duration::from_secs(900),
            sync_request_timeout: Duration::from_secs(180),
            server_unstability_timeout: Duration::from_secs(60),
            tick: Duration::from_secs(1),
            http_timeout: Duration::from_secs(30),
            start_timeout: Duration::from_secs(10),
            discovery: None,
        }
    }
}

/// A snapshot of one worker (Druid's `getWorkers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Where it listens.
    pub endpoint: WorkerEndpoint,
    /// Slots.
    pub capacity: u32,
    /// Slots taken by assigned and running tasks.
    pub used: u32,
    /// Announced version (`None` for the static list).
    pub version: Option<String>,
    /// Worker category.
    pub category: String,
    /// False when the worker said it is disabled.
    pub enabled: bool,
    /// True once a sync succeeded.
    pub synced: bool,
    /// False while its sync fails.
    pub reachable: bool,
    /// Why the last sync failed, while it fails.
    pub last_error: Option<String>,
    /// Ids of the tasks assigned to or running on it.
    pub tasks: Vec<String>,
}

/// A worker's view for [`select_worker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Worker host.
    pub host: &'a str,
    /// Free slots.
    pub available: u32,
    /// Announced version.
    pub version: Option<&'a str>,
    /// Can take tasks (enabled, synced, stable).
    pub eligible: bool,
    /// Availability groups of its tasks.
    pub groups: Vec<&'a str>,
}

/// Druid's `equalDistribution`: among eligible workers with at least `required` free slots, a
/// version not below `min_version` and no task of `group`, the one with the most free slots
/// (ties: the higher version, then the lower host name).
///
/// ```
/// use druid_k8s_runner::worker::{Candidate, select_worker};
/// let c = |host, available| Candidate { host, available, version: None, eligible: true, groups: vec![] };
/// assert_eq!(select_worker(&[c("a:1", 1), c("b:1", 3)], 1, None, "0"), Some("b:1"));
/// assert_eq!(select_worker(&[c("a:1", 0)], 1, None, "0"), None);
/// ```
pub fn select_worker<'a>(
    candidates: &[Candidate<'a>],
    required: u32,
    group: Option<&str>,
    min_version: &str,
) -> Option<&'a str> {
    candidates
        .iter()
        .filter(|c| c.eligible && c.available >= required.max(1))
        .filter(|c| c.version.is_none_or(|v| v >= min_version))
        .filter(|c| group.is_none_or(|g| !c.groups.contains(&g)))
        .max_by(|a, b| {
            a.available
                .cmp(&b.available)
                .then_with(|| a.version.cmp(&b.version))
                .then_with(|| b.host.cmp(a.host))
        })
        .map(|c| c.host)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a worker.
    Pending,
    /// Restored from the caller's records after a restart ([`WorkerRunner::restore`]): no
    /// worker has announced it yet; waits for every worker's sync.
    Expected,
    /// Sent (or being sent) to a worker that has not announced it yet.
    Assigned,
    /// Announced by its worker.
    Running,
    /// Final status known.
    Done,
}

impl Phase {
    fn lifecycle(self) -> LifecycleState {
        match self {
            Phase::Pending => LifecycleState::NotStarted,
            Phase::Expected => LifecycleState::Pending,
            Phase::Assigned => LifecycleState::Pending,
            Phase::Running => LifecycleState::Running,
            Phase::Done => LifecycleState::Stopped,
        }
    }
}

struct Entry {
    id: String,
    task: Option<Arc<Task>>,
    task_type: String,
    data_source: Option<String>,
    priority: i32,
    seq: u64,
    required: u32,
    group: Option<String>,
    phase: Phase,
    worker: Option<String>,
    assigned_at: Option<Instant>,
    location: TaskLocation,
    status: Option<TaskStatus>,
    waiter: watch::Sender<Option<TaskStatus>>,
    restored: bool,
    remove_when_done: bool,
    cancel: Option<String>,
    /// For [`Phase::Expected`]: the task had reached a worker before the restart (else it is
    /// run normally when no worker has it).
    launched: bool,
    /// For [`Phase::Expected`]: where it was last seen running (`host:port` of its peon).
    last_location: Option<String>,
}

struct WorkerState {
    endpoint: WorkerEndpoint,
    capacity: u32,
    version: Option<String>,
    category: String,
    enabled: bool,
    synced: bool,
    failing_since: Option<Instant>,
    last_error: Option<String>,
    gone: bool,
    assign_backoff_until: Option<Instant>,
    /// No longer announced (Kubernetes node discovery): gets no tasks; its tasks fail after
    /// `taskCleanupTimeout` unless it comes back; then it is forgotten.
    removed: bool,
    /// Ends this worker's sync loop.
    stop: CancellationToken,
}

impl WorkerState {
    fn new(endpoint: WorkerEndpoint, capacity: u32) -> Self {
        WorkerState {
            endpoint,
            capacity,
            version: None,
            category: DEFAULT_WORKER_CATEGORY.to_owned(),
            enabled: true,
            synced: false,
            failing_since: None,
            last_error: None,
            gone: false,
            assign_backoff_until: None,
            removed: false,
            stop: CancellationToken::new(),
        }
    }
}

/// A worker as Kubernetes node discovery announces it (see [`discovery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedWorker {
    /// Where it listens.
    pub endpoint: WorkerEndpoint,
    /// `workerNodeService.capacity`.
    pub capacity: u32,
    /// `workerNodeService.version`.
    pub version: Option<String>,
    /// `workerNodeService.category`.
    pub category: String,
}

#[derive(Default)]
struct State {
    workers: BTreeMap<String, WorkerState>,
    tasks: HashMap<String, Entry>,
    seq: u64,
}

/// Work to do outside the lock.
enum Action {
    Assign {
        host: String,
        id: String,
        body: String,
    },
    Shutdown {
        host: String,
        id: String,
    },
}

struct Inner {
    cfg: WorkerRunnerConfig,
    http: reqwest_rustls_ring::Client,
    state: Mutex<State>,
    events: broadcast::Sender<RunnerEvent>,
    cancel: CancellationToken,
    wake: Notify,
    started: Instant,
}

/// Runs Druid tasks on MiddleManagers / Indexers (Druid's `HttpRemoteTaskRunner`). Cheap to
/// clone.
#[derive(Clone)]
pub struct WorkerRunner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WorkerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerRunner")
            .field("workers", &self.inner.cfg.workers)
            .finish_non_exhaustive()
    }
}

fn period(d: Duration) -> String {
    druid_k8s_model::config::format_period(d)
}

impl WorkerRunner {
    /// Starts syncing with every worker and waits (up to `start_timeout`) for each worker's
    /// first answer, so that tasks the workers already run are known (restored) on return.
    pub async fn start(cfg: WorkerRunnerConfig) -> Result<WorkerRunner, RunnerError> {
        Self::start_inner(cfg, None).await
    }

    /// [`WorkerRunner::start`], plus Kubernetes node discovery of workers through `client`
    /// when `cfg.discovery` is set: the workers announced at start-up are synced before this
    /// returns, and workers come and go with their announcements afterwards.
    pub async fn start_with_client(
        cfg: WorkerRunnerConfig,
        client: kube::Client,
    ) -> Result<WorkerRunner, RunnerError> {
        let client = cfg.discovery.is_some().then_some(client);
        Self::start_inner(cfg, client).await
    }

    async fn start_inner(
        cfg: WorkerRunnerConfig,
        discovery: Option<kube::Client>,
    ) -> Result<WorkerRunner, RunnerError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest_rustls_ring::Client::builder()
            .build()
            .map_err(|e| RunnerError::Worker {
                url: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let mut state = State::default();
        for ep in &cfg.workers {
            state.workers.insert(
                ep.host.clone(),
                WorkerState::new(ep.clone(), cfg.worker_capacity),
            );
        }
        let (events, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            cfg,
            http,
            state: Mutex::new(state),
            events,
            cancel: CancellationToken::new(),
            wake: Notify::new(),
            started: Instant::now(),
        });
        let hosts: Vec<String> = inner.lock().workers.keys().cloned().collect();
        for host in hosts {
            tokio::spawn(inner.clone().sync_loop(host));
        }
        tokio::spawn(inner.clone().ticker());
        if let Some(client) = discovery {
            let runner = WorkerRunner {
                inner: inner.clone(),
            };
            discovery::start(&runner, client).await?;
        }
        let deadline = tokio::time::Instant::now() + inner.cfg.start_timeout;
        loop {
            let waiting = inner
                .lock()
                .workers
                .values()
                .filter(|w| !w.synced && w.failing_since.is_none())
                .count();
            if waiting == 0 || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let restored = inner.lock().tasks.len();
        tracing::info!(
            workers = inner.lock().workers.len(),
            restored,
            "worker task runner started"
        );
        Ok(WorkerRunner { inner })
    }

    /// Runs a task on a worker (idempotent per task id). The task waits while no eligible
    /// worker has a free slot.
    pub fn run(&self, task: Task) -> Result<TaskHandle, RunnerError> {
        if self.inner.cancel.is_cancelled() {
            return Err(RunnerError::Stopped);
        }
        let id = task.id().to_string();
        let rx = {
            let mut st = self.inner.lock();
            if let Some(e) = st.tasks.get(&id) {
                e.waiter.subscribe()
            } else {
                st.seq += 1;
                let seq = st.seq;
                let (required, group) = resource_of(&task);
                let (tx, rx) = watch::channel(None);
                st.tasks.insert(
                    id.clone(),
                    Entry {
                        id: id.clone(),
                        task_type: task.task_type().to_owned(),
                        data_source: task.data_source().map(str::to_owned),
                        priority: task.priority(),
                        task: Some(Arc::new(task)),
                        seq,
                        required,
                        group,
                        phase: Phase::Pending,
                        worker: None,
                        assigned_at: None,
                        location: TaskLocation::unknown(),
                        status: None,
                        waiter: tx,
                        restored: false,
                        remove_when_done: false,
                        cancel: None,
                        launched: false,
                        last_location: None,
                    },
                );
                let _ = self.inner.events.send(RunnerEvent::StateChanged {
                    task_id: id.clone(),
                    state: LifecycleState::NotStarted,
                });
                rx
            }
        };
        self.inner.wake.notify_one();
        Ok(TaskHandle::from_watch(id, rx))
    }

    /// Restores a task that the caller's records (the overlord's task store) say was active
    /// on a worker before a restart, but that no worker has announced (yet): it waits until
    /// every worker has answered a full sync, or has been unreachable (or silent) for
    /// `serverUnstabilityTimeout` since the runner started. A worker that reports the task
    /// adopts it (no new `assignTask`). When none does: a task that had never reached a worker
    /// (`launched = false`) is run as usual; a launched one fails with a reason naming the
    /// workers and what each said. `last_location` (`host:port` of its peon, if recorded) goes
    /// into that reason. Returns the handle of a task the runner already holds unchanged.
    pub fn restore(
        &self,
        task: Task,
        launched: bool,
        last_location: Option<String>,
    ) -> Result<TaskHandle, RunnerError> {
        if self.inner.cancel.is_cancelled() {
            return Err(RunnerError::Stopped);
        }
        let id = task.id().to_string();
        let rx = {
            let mut st = self.inner.lock();
            if let Some(e) = st.tasks.get(&id) {
                e.waiter.subscribe()
            } else {
                st.seq += 1;
                let seq = st.seq;
                let (tx, rx) = watch::channel(None);
                let (required, group) = resource_of(&task);
                tracing::info!(task = %id, launched, "restored a worker task; waiting for the workers' sync");
                st.tasks.insert(
                    id.clone(),
                    Entry {
                        id: id.clone(),
                        task_type: task.task_type().to_owned(),
                        data_source: task.data_source().map(str::to_owned),
                        priority: task.priority(),
                        task: Some(Arc::new(task)),
                        seq,
                        required,
                        group,
                        phase: Phase::Expected,
                        worker: None,
                        assigned_at: None,
                        location: TaskLocation::unknown(),
                        status: None,
                        waiter: tx,
                        restored: true,
                        remove_when_done: false,
                        cancel: None,
                        launched,
                        last_location,
                    },
                );
                let _ = self.inner.events.send(RunnerEvent::StateChanged {
                    task_id: id.clone(),
                    state: LifecycleState::Pending,
                });
                rx
            }
        };
        self.inner.wake.notify_one();
        Ok(TaskHandle::from_watch(id, rx))
    }

    /// Shuts a task down: a pending task fails at once and is never assigned; an assigned or
    /// running one gets `POST …/task/<id>/shutdown` on its worker (its final status then comes
    /// through the sync); a finished one is forgotten. Unknown ids are ignored.
    pub fn shutdown(&self, task_id: &str, reason: &str) {
        let mut actions = Vec::new();
        {
            let mut st = self.inner.lock();
            let Some(e) = st.tasks.get_mut(task_id) else {
                return;
            };
            match e.phase {
                Phase::Pending | Phase::Expected => {
                    // an expected task a worker announces later still running gets a
                    // shutdown request then (it is already Done here)
                    e.remove_when_done = true;
                    let status = TaskStatus::failure(
                        task_id,
                        format!(
                            "Task [{task_id}] was shut down before it was assigned to a worker: {reason}"
                        ),
                    );
                    self.inner.complete(&mut st, task_id, status);
                }
                Phase::Assigned | Phase::Running => {
                    e.remove_when_done = true;
                    e.cancel = Some(reason.to_owned());
                    if let Some(host) = e.worker.clone() {
                        actions.push(Action::Shutdown {
                            host,
                            id: task_id.to_owned(),
                        });
                    }
                }
                Phase::Done => {
                    st.tasks.remove(task_id);
                }
            }
        }
        self.inner.clone().perform(actions);
    }

    /// The handle of a known task.
    pub fn status(&self, task_id: &str) -> Option<TaskHandle> {
        let st = self.inner.lock();
        st.tasks
            .get(task_id)
            .map(|e| TaskHandle::from_watch(task_id.to_owned(), e.waiter.subscribe()))
    }

    /// Listen to status, location and state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<RunnerEvent> {
        self.inner.events.subscribe()
    }

    /// The task's location (as its worker announced it).
    pub fn location(&self, task_id: &str) -> TaskLocation {
        self.inner
            .lock()
            .tasks
            .get(task_id)
            .map(|e| e.location.clone())
            .unwrap_or_else(TaskLocation::unknown)
    }

    /// Druid's runner task state, `None` for unknown tasks.
    pub fn runner_task_state(&self, task_id: &str) -> Option<RunnerTaskState> {
        self.inner
            .lock()
            .tasks
            .get(task_id)
            .map(|e| e.phase.lifecycle().runner_task_state())
    }

    /// Snapshot of one task (`job_name` is empty: no Job runs it).
    pub fn task(&self, task_id: &str) -> Option<TaskInfo> {
        self.inner.lock().tasks.get(task_id).map(info)
    }

    /// The worker a task is assigned to or runs on.
    pub fn worker_of(&self, task_id: &str) -> Option<String> {
        self.inner
            .lock()
            .tasks
            .get(task_id)
            .and_then(|e| e.worker.clone())
    }

    /// All known tasks.
    pub fn known_tasks(&self) -> Vec<TaskInfo> {
        let st = self.inner.lock();
        let mut v: Vec<TaskInfo> = st.tasks.values().map(info).collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Tasks running on a worker.
    pub fn running_tasks(&self) -> Vec<TaskInfo> {
        self.known_tasks()
            .into_iter()
            .filter(|t| t.state == RunnerTaskState::Running)
            .collect()
    }

    /// Tasks waiting for a worker or assigned but not yet announced.
    pub fn pending_tasks(&self) -> Vec<TaskInfo> {
        self.known_tasks()
            .into_iter()
            .filter(|t| t.state == RunnerTaskState::Pending)
            .collect()
    }

    /// The workers.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let st = self.inner.lock();
        st.workers
            .iter()
            .map(|(host, w)| {
                let tasks: Vec<&Entry> = busy(&st, host).collect();
                WorkerInfo {
                    endpoint: w.endpoint.clone(),
                    capacity: w.capacity,
                    used: tasks.iter().map(|e| e.required).sum(),
                    version: w.version.clone(),
                    category: w.category.clone(),
                    enabled: w.enabled,
                    synced: w.synced,
                    reachable: w.failing_since.is_none(),
                    last_error: w.last_error.clone(),
                    tasks: tasks.iter().map(|e| e.id.clone()).collect(),
                }
            })
            .collect()
    }

    /// Slot counts by worker category (Druid's `getTotalTaskSlotCount`, idle, used; lazy and
    /// blacklisted are empty): total = capacity of every worker, used = slots of assigned and
    /// running tasks, idle = free slots of the workers that can take tasks.
    pub fn slots(&self) -> SlotMaps {
        let now = Instant::now();
        let st = self.inner.lock();
        let mut maps = SlotMaps::default();
        for (host, w) in &st.workers {
            let used: u32 = busy(&st, host).map(|e| e.required).sum();
            let idle = if self.inner.eligible(w, now) {
                w.capacity.saturating_sub(used)
            } else {
                0
            };
            SlotMaps::add(&mut maps.total, &w.category, w.capacity);
            SlotMaps::add(&mut maps.idle, &w.category, idle);
            SlotMaps::add(&mut maps.used, &w.category, used);
        }
        maps
    }

    /// Sum of the workers' capacities (Druid's `getTotalCapacity`).
    pub fn total_capacity(&self) -> i64 {
        let st = self.inner.lock();
        st.workers.values().map(|w| i64::from(w.capacity)).sum()
    }

    /// Slots taken on the workers (Druid's `getUsedCapacity`).
    pub fn used_capacity(&self) -> i64 {
        let st = self.inner.lock();
        st.workers
            .keys()
            .map(|h| busy(&st, h).map(|e| i64::from(e.required)).sum::<i64>())
            .sum()
    }

    /// The task's log from its worker (`GET /druid/worker/v1/task/<id>/log?offset=`): a
    /// non-negative offset skips that many bytes, a negative one gives the last `-offset`
    /// bytes. `None` when no worker holds the task or the worker does not know it.
    pub async fn stream_log(
        &self,
        task_id: &str,
        offset: i64,
    ) -> Result<Option<LogStream>, RunnerError> {
        let Some(ep) = self.inner.endpoint_of(task_id) else {
            return Ok(None);
        };
        let url = ep.url(&protocol::log_path(task_id, offset));
        let Some(resp) = self.get_found(&url).await? else {
            return Ok(None);
        };
        let stream = resp
            .bytes_stream()
            .map(|r| r.map_err(std::io::Error::other));
        Ok(Some(Box::pin(stream)))
    }

    /// `GET url` with the worker HTTP timeout: `None` on 404, an error naming the URL on any
    /// other failure.
    async fn get_found(
        &self,
        url: &str,
    ) -> Result<Option<reqwest_rustls_ring::Response>, RunnerError> {
        let werr = |e: reqwest_rustls_ring::Error| worker_error(url, &e);
        let resp = self
            .inner
            .http
            .get(url)
            .timeout(self.inner.cfg.http_timeout)
            .send()
            .await
            .map_err(werr)?;
        if resp.status() == reqwest_rustls_ring::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        resp.error_for_status().map(Some).map_err(werr)
    }

    /// Live reports of a running task, from its peon
    /// (`/druid/worker/v1/chat/<id>/liveReports` at the announced location). `None` when the
    /// task is not running here or the peon has none.
    pub async fn reports(&self, task_id: &str) -> Result<Option<Bytes>, RunnerError> {
        let loc = {
            let st = self.inner.lock();
            match st.tasks.get(task_id) {
                Some(e) if e.phase == Phase::Running => e.location.clone(),
                _ => return Ok(None),
            }
        };
        let Some(host) = loc.host.clone() else {
            return Ok(None);
        };
        let (scheme, port) = if loc.tls_port > 0 {
            ("https", loc.tls_port)
        } else {
            ("http", loc.port)
        };
        let url = format!("{scheme}://{host}:{port}/druid/worker/v1/chat/{task_id}/liveReports");
        let Some(resp) = self.get_found(&url).await? else {
            return Ok(None);
        };
        resp.bytes()
            .await
            .map(Some)
            .map_err(|e| worker_error(&url, &e))
    }

    /// Adds (or updates) a worker announced by node discovery; a worker that was removed and
    /// comes back is synced again.
    pub fn add_worker(&self, w: AnnouncedWorker) {
        let host = w.endpoint.host.clone();
        let spawn = {
            let mut st = self.inner.lock();
            match st.workers.get_mut(&host) {
                Some(existing) => {
                    existing.capacity = w.capacity;
                    existing.version = w.version;
                    existing.category = w.category;
                    existing.endpoint = w.endpoint;
                    if existing.removed {
                        tracing::info!(worker = %host, "worker announced again");
                        existing.removed = false;
                        existing.gone = false;
                        existing.failing_since = None;
                        existing.last_error = None;
                        existing.stop = CancellationToken::new();
                        true
                    } else {
                        false
                    }
                }
                None => {
                    tracing::info!(worker = %host, capacity = w.capacity, "worker discovered");
                    let mut ws = WorkerState::new(w.endpoint, w.capacity);
                    ws.version = w.version;
                    ws.category = w.category;
                    st.workers.insert(host.clone(), ws);
                    true
                }
            }
        };
        if spawn && !self.inner.cancel.is_cancelled() {
            tokio::spawn(self.inner.clone().sync_loop(host));
        }
        self.inner.wake.notify_one();
    }

    /// Removes a worker that is no longer announced: it gets no new tasks at once, and its
    /// tasks fail after `taskCleanupTimeout` unless it is announced again (Druid's
    /// `HttpRemoteTaskRunner` does the same for a worker that disappears). Unknown hosts are
    /// ignored.
    pub fn remove_worker(&self, host: &str, why: &str) {
        let mut st = self.inner.lock();
        let has_tasks = busy(&st, host).next().is_some();
        let Some(w) = st.workers.get_mut(host) else {
            return;
        };
        tracing::info!(worker = %host, why, "worker no longer announced");
        w.stop.cancel();
        if !has_tasks {
            st.workers.remove(host);
            return;
        }
        w.removed = true;
        w.failing_since.get_or_insert_with(Instant::now);
        w.last_error = Some(why.to_owned());
    }

    /// Stops syncing and assigning; tasks keep running on their workers (the next start
    /// adopts them). `run` fails afterwards. The handles of unfinished tasks (waiting for a
    /// worker, assigned, running) resolve to [`RunnerError::Stopped`] at once; no final
    /// status is invented for them (the next start, or the next overlord, finds them again).
    pub fn stop(&self) {
        self.inner.cancel.cancel();
        let mut st = self.inner.lock();
        for e in st.tasks.values_mut() {
            if e.phase != Phase::Done {
                // dropping the sender ends every receiver's wait with `Stopped`
                e.waiter = watch::channel(None).0;
            }
        }
    }
}

/// The task's `resource`: slots it needs (at least 1) and its availability group.
fn resource_of(task: &Task) -> (u32, Option<String>) {
    let resource = task.as_value().get("resource");
    let required = resource
        .and_then(|r| r.get("requiredCapacity"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(1)
        .max(1);
    let group = resource
        .and_then(|r| r.get("availabilityGroup"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    (required, group)
}

/// Tasks that take slots on `host`.
fn busy<'a>(st: &'a State, host: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
    st.tasks.values().filter(move |e| {
        e.worker.as_deref() == Some(host) && matches!(e.phase, Phase::Assigned | Phase::Running)
    })
}

fn info(e: &Entry) -> TaskInfo {
    let lifecycle = e.phase.lifecycle();
    TaskInfo {
        id: e.id.clone(),
        task_type: e.task_type.clone(),
        data_source: e.data_source.clone(),
        job_name: String::new(),
        lifecycle,
        state: lifecycle.runner_task_state(),
        location: e.location.clone(),
        status: e.status.clone(),
        restored: e.restored,
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn endpoint_of(&self, task_id: &str) -> Option<WorkerEndpoint> {
        let st = self.lock();
        let host = st.tasks.get(task_id)?.worker.clone()?;
        st.workers.get(&host).map(|w| w.endpoint.clone())
    }

    /// Can the worker take new tasks?
    fn eligible(&self, w: &WorkerState, now: Instant) -> bool {
        !w.removed
            && w.synced
            && w.enabled
            && !w.gone
            && w.failing_since
                .is_none_or(|s| now.duration_since(s) < self.cfg.server_unstability_timeout)
            && w.assign_backoff_until.is_none_or(|t| now >= t)
    }

    /// Records the final status (once), wakes waiters, tells listeners.
    fn complete(&self, st: &mut State, id: &str, mut status: TaskStatus) {
        let Some(e) = st.tasks.get_mut(id) else {
            return;
        };
        if e.phase == Phase::Done {
            return;
        }
        if status.location.is_unknown() && !e.location.is_unknown() {
            status.location = e.location.clone();
        }
        e.phase = Phase::Done;
        e.status = Some(status.clone());
        e.waiter.send_replace(Some(status.clone()));
        let _ = self.events.send(RunnerEvent::StateChanged {
            task_id: id.to_owned(),
            state: LifecycleState::Stopped,
        });
        let _ = self.events.send(RunnerEvent::StatusChanged {
            task_id: id.to_owned(),
            status,
        });
        if e.remove_when_done {
            st.tasks.remove(id);
        }
        self.wake.notify_one();
    }

    fn set_phase(&self, e: &mut Entry, phase: Phase) {
        if e.phase != phase {
            e.phase = phase;
            let _ = self.events.send(RunnerEvent::StateChanged {
                task_id: e.id.clone(),
                state: phase.lifecycle(),
            });
        }
    }

    fn set_location(&self, e: &mut Entry, location: TaskLocation) {
        if !location.is_unknown() && e.location != location {
            e.location = location.clone();
            let _ = self.events.send(RunnerEvent::LocationChanged {
                task_id: e.id.clone(),
                location,
            });
        }
    }

    /// Applies one sync answer of `host`. `full`: the answer is the worker's whole state.
    fn apply_sync(&self, host: &str, full: bool, items: Vec<WorkerHistoryItem>) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut st = self.lock();
        if let Some(w) = st.workers.get_mut(host) {
            w.synced = true;
            w.failing_since = None;
            w.last_error = None;
            w.gone = false;
        }
        let mut announced = HashSet::new();
        for item in items {
            match item {
                WorkerHistoryItem::Metadata { disabled } => {
                    if let Some(w) = st.workers.get_mut(host) {
                        w.enabled = !disabled;
                    }
                }
                WorkerHistoryItem::TaskUpdate { task_announcement } => {
                    if let Some(id) =
                        self.apply_announcement(&mut st, host, *task_announcement, &mut actions)
                    {
                        announced.insert(id);
                    }
                }
                WorkerHistoryItem::TaskRemoval { task_id } => {
                    let lost = st.tasks.get(&task_id).is_some_and(|e| {
                        e.worker.as_deref() == Some(host) && e.phase == Phase::Running
                    });
                    if lost {
                        let status = TaskStatus::failure(
                            &task_id,
                            format!(
                                "Worker [{host}] removed task [{task_id}] without reporting a final status"
                            ),
                        );
                        self.complete(&mut st, &task_id, status);
                    }
                }
            }
        }
        if full {
            // running tasks the worker no longer has: it restarted or dropped them
            let lost: Vec<String> = st
                .tasks
                .values()
                .filter(|e| {
                    e.worker.as_deref() == Some(host)
                        && e.phase == Phase::Running
                        && !announced.contains(&e.id)
                })
                .map(|e| e.id.clone())
                .collect();
            for id in lost {
                let status = TaskStatus::failure(
                    &id,
                    format!(
                        "Worker [{host}] no longer has task [{id}] (the worker restarted or dropped it)"
                    ),
                );
                self.complete(&mut st, &id, status);
            }
        }
        drop(st);
        self.wake.notify_one();
        actions
    }

    fn apply_announcement(
        &self,
        st: &mut State,
        host: &str,
        ann: TaskAnnouncement,
        actions: &mut Vec<Action>,
    ) -> Option<String> {
        let status = ann.effective_status()?;
        let id = status.id.clone();
        let location = ann
            .task_location
            .clone()
            .filter(|l| !l.is_unknown())
            .unwrap_or_else(|| status.location.clone());
        match st.tasks.get_mut(&id) {
            Some(e) if e.phase == Phase::Done && !status.is_complete() => {
                // a task we already ended (e.g. its worker was presumed lost) still runs
                actions.push(Action::Shutdown {
                    host: host.to_owned(),
                    id: id.clone(),
                });
            }
            Some(e) if e.phase == Phase::Done => {}
            Some(e) => {
                e.worker = Some(host.to_owned());
                self.set_location(e, location);
                if status.is_complete() {
                    self.complete(st, &id, status);
                } else {
                    self.set_phase(e, Phase::Running);
                    if e.cancel.is_some() {
                        // shut down while the assignment was in flight
                        actions.push(Action::Shutdown {
                            host: host.to_owned(),
                            id: id.clone(),
                        });
                    }
                }
            }
            None => {
                // a task this runner does not hold: adopt it (restore), with its final status
                // when it already ended (it finished while no overlord listened)
                let resource = ann.task_resource.clone();
                let (tx, _) = watch::channel(None);
                st.seq += 1;
                let seq = st.seq;
                let complete = status.is_complete();
                tracing::info!(task = %id, worker = %host, complete, "adopting a task its worker holds");
                let mut e = Entry {
                    id: id.clone(),
                    task: None,
                    task_type: ann.task_type.clone().unwrap_or_default(),
                    data_source: ann.task_data_source.clone(),
                    priority: 0,
                    seq,
                    required: resource.as_ref().map_or(1, |r| r.required_capacity.max(1)),
                    group: resource.and_then(|r| r.availability_group),
                    phase: Phase::Running,
                    worker: Some(host.to_owned()),
                    assigned_at: None,
                    location: TaskLocation::unknown(),
                    status: None,
                    waiter: tx,
                    restored: true,
                    remove_when_done: false,
                    cancel: None,
                    launched: true,
                    last_location: None,
                };
                if !complete {
                    let _ = self.events.send(RunnerEvent::StateChanged {
                        task_id: id.clone(),
                        state: LifecycleState::Running,
                    });
                }
                self.set_location(&mut e, location);
                st.tasks.insert(id.clone(), e);
                if complete {
                    self.complete(st, &id, status);
                }
            }
        }
        Some(id)
    }

    /// Restored tasks no worker has announced: once every worker has synced (or the
    /// unstability timeout since start passed), run the unlaunched ones, fail the others.
    fn resolve_expected(&self, st: &mut State, now: Instant) {
        if !st.tasks.values().any(|e| e.phase == Phase::Expected) {
            return;
        }
        let waited = now.duration_since(self.started);
        let settled =
            waited >= self.cfg.server_unstability_timeout || st.workers.values().all(|w| w.synced);
        if !settled {
            return;
        }
        let said: Vec<String> = st
            .workers
            .iter()
            .map(|(host, w)| {
                if w.synced && w.failing_since.is_none() {
                    format!("worker [{host}] synced and does not have it")
                } else if w.synced {
                    format!(
                        "worker [{host}] synced earlier, then became unreachable ({})",
                        w.last_error.as_deref().unwrap_or("no answer")
                    )
                } else {
                    format!(
                        "worker [{host}] did not answer its sync within serverUnstabilityTimeout ({}){}",
                        period(self.cfg.server_unstability_timeout),
                        w.last_error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )
                }
            })
            .collect();
        let said = if said.is_empty() {
            "no worker is configured or discovered".to_owned()
        } else {
            said.join("; ")
        };
        let ids: Vec<(String, bool, Option<String>)> = st
            .tasks
            .values()
            .filter(|e| e.phase == Phase::Expected)
            .map(|e| (e.id.clone(), e.launched, e.last_location.clone()))
            .collect();
        for (id, launched, last) in ids {
            if !launched {
                if let Some(e) = st.tasks.get_mut(&id) {
                    tracing::info!(task = %id, "no worker has a restored task that never started; running it");
                    self.set_phase(e, Phase::Pending);
                }
                continue;
            }
            let seen = last
                .map(|l| format!(" (its peon was last seen at {l})"))
                .unwrap_or_default();
            let status = TaskStatus::failure(
                &id,
                format!(
                    "Task [{id}] was running on a worker{seen} when the overlord restarted, and no worker reports it any more: {said}"
                ),
            );
            tracing::warn!(task = %id, reason = %said, "a restored worker task is gone");
            self.complete(st, &id, status);
        }
    }

    /// Timeouts, lost workers and assignment of pending tasks.
    fn tick(&self) -> Vec<Action> {
        let now = Instant::now();
        let mut actions = Vec::new();
        let mut st = self.lock();
        // workers unreachable beyond taskCleanupTimeout: their tasks are lost
        let mut lost_workers = Vec::new();
        for (host, w) in st.workers.iter_mut() {
            if let Some(since) = w.failing_since
                && !w.gone
                && now.duration_since(since) >= self.cfg.task_cleanup_timeout
            {
                w.gone = true;
                lost_workers.push((
                    host.clone(),
                    w.last_error.clone().unwrap_or_default(),
                    w.removed,
                ));
            }
        }
        for (host, error, removed) in lost_workers {
            tracing::warn!(worker = %host, %error, "worker unreachable beyond taskCleanupTimeout; failing its tasks");
            let ids: Vec<String> = busy(&st, &host).map(|e| e.id.clone()).collect();
            for id in ids {
                let reason = if removed {
                    format!(
                        "Worker [{host}] is no longer announced ({error}) and did not come back within taskCleanupTimeout ({}); task [{id}] is presumed lost with it",
                        period(self.cfg.task_cleanup_timeout)
                    )
                } else {
                    format!(
                        "Worker [{host}] was unreachable for longer than taskCleanupTimeout ({}); task [{id}] is presumed lost with it. Last sync error: {error}",
                        period(self.cfg.task_cleanup_timeout)
                    )
                };
                let status = TaskStatus::failure(&id, reason);
                self.complete(&mut st, &id, status);
            }
        }
        // removed workers whose tasks have all ended are forgotten
        let forget: Vec<String> = st
            .workers
            .iter()
            .filter(|(host, w)| w.removed && busy(&st, host).next().is_none())
            .map(|(host, _)| host.clone())
            .collect();
        for host in forget {
            st.workers.remove(&host);
        }
        // assigned but never announced
        let late: Vec<(String, String)> = st
            .tasks
            .values()
            .filter(|e| {
                e.phase == Phase::Assigned
                    && e.assigned_at
                        .is_some_and(|t| now.duration_since(t) >= self.cfg.task_assignment_timeout)
            })
            .map(|e| (e.id.clone(), e.worker.clone().unwrap_or_default()))
            .collect();
        for (id, host) in late {
            let status = TaskStatus::failure(
                &id,
                format!(
                    "Worker [{host}] did not start task [{id}] within taskAssignmentTimeout ({})",
                    period(self.cfg.task_assignment_timeout)
                ),
            );
            self.complete(&mut st, &id, status);
            actions.push(Action::Shutdown { host, id });
        }
        self.resolve_expected(&mut st, now);
        // assign pending tasks: priority, then submission
        let mut pending: Vec<(Reverse<i32>, u64, String)> = st
            .tasks
            .values()
            .filter(|e| e.phase == Phase::Pending)
            .map(|e| (Reverse(e.priority), e.seq, e.id.clone()))
            .collect();
        pending.sort();
        for (_, _, id) in pending {
            let Some(e) = st.tasks.get(&id) else { continue };
            let (required, group) = (e.required, e.group.clone());
            let chosen = {
                let candidates: Vec<Candidate<'_>> = st
                    .workers
                    .iter()
                    .map(|(host, w)| {
                        let tasks: Vec<&Entry> = busy(&st, host).collect();
                        let used: u32 = tasks.iter().map(|t| t.required).sum();
                        Candidate {
                            host,
                            available: w.capacity.saturating_sub(used),
                            version: w.version.as_deref(),
                            eligible: self.eligible(w, now),
                            groups: tasks.iter().filter_map(|t| t.group.as_deref()).collect(),
                        }
                    })
                    .collect();
                select_worker(
                    &candidates,
                    required,
                    group.as_deref(),
                    &self.cfg.min_worker_version,
                )
                .map(str::to_owned)
            };
            let Some(host) = chosen else { continue };
            let Some(e) = st.tasks.get_mut(&id) else {
                continue;
            };
            let Some(task) = e.task.clone() else { continue };
            e.worker = Some(host.clone());
            e.assigned_at = Some(now);
            self.set_phase(e, Phase::Assigned);
            actions.push(Action::Assign {
                host,
                id,
                body: task.to_json_string(),
            });
        }
        actions
    }

    /// Carries out actions as background requests.
    fn perform(self: Arc<Self>, actions: Vec<Action>) {
        for a in actions {
            let me = self.clone();
            tokio::spawn(async move {
                match a {
                    Action::Assign { host, id, body } => me.assign(host, id, body).await,
                    Action::Shutdown { host, id } => me.send_shutdown(host, id).await,
                }
            });
        }
    }

    async fn assign(self: Arc<Self>, host: String, id: String, body: String) {
        let Some(ep) = self.lock().workers.get(&host).map(|w| w.endpoint.clone()) else {
            return;
        };
        let url = ep.url(ASSIGN_PATH);
        let result = self
            .http
            .post(&url)
            .header("Content-Type", "application/json")
            .timeout(self.cfg.http_timeout)
            .body(body)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        if result.is_ok() {
            tracing::info!(task = %id, worker = %host, "task assigned");
            let cancelled = self
                .lock()
                .tasks
                .get(&id)
                .is_some_and(|e| e.cancel.is_some() && e.phase != Phase::Done);
            if cancelled {
                self.send_shutdown(host, id).await;
            }
            return;
        }
        let mut st = self.lock();
        match result {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(task = %id, worker = %host, error = %e, "assigning the task failed; it waits for a worker again");
                if let Some(w) = st.workers.get_mut(&host) {
                    w.assign_backoff_until = Some(Instant::now() + self.cfg.tick * 2);
                }
                if let Some(entry) = st.tasks.get_mut(&id)
                    && entry.phase == Phase::Assigned
                    && entry.worker.as_deref() == Some(host.as_str())
                {
                    entry.worker = None;
                    entry.assigned_at = None;
                    self.set_phase(entry, Phase::Pending);
                    if entry.cancel.is_some() {
                        let status = TaskStatus::failure(
                            &id,
                            format!("Task [{id}] was shut down before it was assigned to a worker"),
                        );
                        self.complete(&mut st, &id, status);
                    }
                }
            }
        }
    }

    async fn send_shutdown(self: Arc<Self>, host: String, id: String) {
        let Some(ep) = self.lock().workers.get(&host).map(|w| w.endpoint.clone()) else {
            return;
        };
        let url = ep.url(&protocol::shutdown_path(&id));
        for attempt in 0..3u32 {
            let r = self
                .http
                .post(&url)
                .timeout(self.cfg.http_timeout)
                .send()
                .await
                .and_then(|r| r.error_for_status());
            match r {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(task = %id, worker = %host, attempt, error = %e, "shutdown request failed");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    async fn ticker(self: Arc<Self>) {
        let mut interval = tokio::time::interval(self.cfg.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = interval.tick() => {}
                _ = self.wake.notified() => {}
            }
            let actions = self.tick();
            self.clone().perform(actions);
        }
    }

    fn sync_failed(&self, host: &str, error: String) {
        let mut st = self.lock();
        if let Some(w) = st.workers.get_mut(host) {
            if w.failing_since.is_none() {
                tracing::warn!(worker = %host, %error, "worker sync failed");
                w.failing_since = Some(Instant::now());
            }
            w.last_error = Some(error);
        }
    }

    fn sync_ok(&self, host: &str) {
        let mut st = self.lock();
        if let Some(w) = st.workers.get_mut(host) {
            w.failing_since = None;
            w.last_error = None;
            w.gone = false;
        }
    }

    /// The long-poll sync of one worker, until the runner stops.
    async fn sync_loop(self: Arc<Self>, host: String) {
        let Some((ep, stop)) = self
            .lock()
            .workers
            .get(&host)
            .map(|w| (w.endpoint.clone(), w.stop.clone()))
        else {
            return;
        };
        let poll_ms = self.cfg.sync_request_timeout.as_millis().max(1);
        let request_timeout = self.cfg.sync_request_timeout + Duration::from_secs(10);
        let mut counter: Option<Counter> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            if self.cancel.is_cancelled() || stop.is_cancelled() {
                return;
            }
            let (c, h) = counter.map_or((-1, 0), |c| (c.counter, c.hash));
            let url = ep.url(&format!(
                "{SYNC_PATH}?counter={c}&hash={h}&timeout={poll_ms}"
            ));
            let call = async {
                let resp = self
                    .http
                    .get(&url)
                    .header("Accept", "application/json")
                    .timeout(request_timeout)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let code = resp.status();
                if code == reqwest_rustls_ring::StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                if !code.is_success() {
                    return Err(format!("HTTP {code} from {url}"));
                }
                let body = resp.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice::<SyncResponse>(&body)
                    .map(Some)
                    .map_err(|e| format!("unreadable sync response from {url}: {e}"))
            };
            let result = tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = stop.cancelled() => return,
                r = call => r,
            };
            match result {
                Ok(None) => self.sync_ok(&host),
                Ok(Some(resp)) => {
                    backoff = Duration::from_millis(50);
                    if resp.reset_counter || resp.counter.is_none() {
                        tracing::info!(worker = %host, cause = ?resp.reset_cause, "worker asked for a full sync");
                        counter = None;
                        self.sync_ok(&host);
                        continue;
                    }
                    let full = counter.is_none();
                    counter = resp.counter;
                    let actions = self.apply_sync(&host, full, resp.requests.unwrap_or_default());
                    self.clone().perform(actions);
                }
                Err(error) => {
                    counter = None;
                    self.sync_failed(&host, error);
                    tokio::select! {
                        _ = self.cancel.cancelled() => return,
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c<'a>(host: &'a str, available: u32, version: Option<&'a str>) -> Candidate<'a> {
        Candidate {
            host,
            available,
            version,
            eligible: true,
            groups: vec![],
        }
    }

    #[test]
    fn equal_distribution_prefers_most_free_slots() {
        let ws = [c("a:1", 1, None), c("b:1", 2, None), c("c:1", 2, None)];
        // most free slots; a tie goes to the lower host name
        assert_eq!(select_worker(&ws, 1, None, "0"), Some("b:1"));
        // needs 2 slots
        assert_eq!(select_worker(&[c("a:1", 1, None)], 2, None, "0"), None);
        // ineligible (disabled, unsynced, unstable) workers get nothing
        let mut off = c("z:1", 5, None);
        off.eligible = false;
        assert_eq!(
            select_worker(&[off, c("a:1", 1, None)], 1, None, "0"),
            Some("a:1")
        );
        // minWorkerVersion
        let ws = [c("old:1", 5, Some("1")), c("new:1", 1, Some("2"))];
        assert_eq!(select_worker(&ws, 1, None, "2"), Some("new:1"));
        // availability group
        let mut g = c("g:1", 5, None);
        g.groups = vec!["grp"];
        assert_eq!(
            select_worker(&[g, c("h:1", 1, None)], 1, Some("grp"), "0"),
            Some("h:1")
        );
    }

    #[test]
    fn endpoints() {
        let w = WorkerEndpoint::parse("mm1:8091").unwrap();
        assert_eq!(w.url("/x"), "http://mm1:8091/x");
        let e = WorkerEndpoint::parse("mm1:port").unwrap_err();
        assert!(e.to_string().contains("k8sAndWorker.workers"), "{e}");
    }
}
