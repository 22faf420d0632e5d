//! The task runner: the I/O around the pure state machine ([`crate::core`]).
//!
//! * one shared watch on Jobs and one on Pods (label `druid.k8s.peons`, plus
//!   `druid.overlord.namespace` for the custom template adapter), feeding reflector stores and
//!   the state machine — no per-task watch, poll or thread;
//! * commands of the state machine run as short async tasks (create, delete, read the status,
//!   archive the log) whose results go back in as events;
//! * a timer tick drives launch timeouts and `maxTaskDuration`; a cleanup loop deletes old
//!   finished Jobs from the reflector store (no LIST).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use druid_k8s_adapters::{JobPayload, PayloadPlacement, RenderRequest, TemplateSource};
use druid_k8s_model::config::{AdapterType, RunnerConfig};
use druid_k8s_model::{
    DynamicConfig, LifecycleState, PodTemplateSelectStrategy, RunnerTaskState, Task, TaskLocation,
    TaskStatus,
};
use futures::{AsyncReadExt, Stream, StreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event as WatchEvent};
use kube::{Resource, ResourceExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{ApiLayer, RateLimiter};
use crate::core::{Command, Core, CoreConfig, Event, PeonLocation, Phase, Slots};
use crate::error::RunnerError;
use crate::metrics::{OutcomeLabels, RunnerMetrics, StateLabels};
use crate::retry::{Backoff, retry};
use crate::tasklogs::{Artifact, TaskLogs};
use crate::views::{JobView, PodView};

/// Storage reads in flight while restoring tasks whose payload is in task-log storage.
const RESTORE_CONCURRENCY: usize = 16;

/// Label every peon Job and Pod carries.
pub const PEON_LABEL: &str = "druid.k8s.peons";
/// Label naming the owning overlord (cluster) of a Job.
pub const OVERLORD_NAMESPACE_LABEL: &str = "druid.overlord.namespace";

/// Runner settings that are not Druid properties.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Client-side rate limit: requests per second (`<= 0` = unlimited). Default 50.
    pub qps: f64,
    /// Client-side rate limit: burst. Default 100.
    pub burst: u32,
    /// Period of the timer that checks launch timeouts and `maxTaskDuration`. Default 1 s.
    pub tick: Duration,
    /// Retries of API calls.
    pub backoff: Backoff,
    /// Capture pod logs while tasks run, so the log of an evicted pod is not lost. Default on.
    pub capture_logs: bool,
    /// Most bytes of one task's log kept on local disk while it runs (the tail beyond is
    /// dropped and noted). Default 256 MiB.
    pub log_capture_limit: u64,
    /// The overlord's own Pod (the overlord adapters copy its spec). When `None` and an
    /// overlord adapter is configured, the runner GETs `pods/<hostname>` in the namespace.
    pub overlord_pod: Option<Pod>,
    /// The overlord's pod name; default: env `HOSTNAME`.
    pub hostname: Option<String>,
    /// Directory for temporary log files; default: the system temp dir.
    pub temp_dir: Option<PathBuf>,
    /// Timeout of one peon HTTP request (live reports). Default 30 s.
    pub peon_timeout: Duration,
    /// How long past `maxTaskDuration` the runner waits for Kubernetes' `activeDeadlineSeconds`
    /// to end a Job before it ends the task itself. Default 30 s.
    pub deadline_grace: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            qps: 50.0,
            burst: 100,
            tick: Duration::from_secs(1),
            backoff: Backoff::default(),
            capture_logs: true,
            log_capture_limit: 256 * 1024 * 1024,
            overlord_pod: None,
            hostname: None,
            temp_dir: None,
            peon_timeout: Duration::from_secs(30),
            deadline_grace: Duration::from_secs(30),
        }
    }
}

/// Something that happened to a task (for listeners).
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerEvent {
    /// The task's final status is known.
    StatusChanged {
        /// Task id.
        task_id: String,
        /// The status.
        status: TaskStatus,
    },
    /// The task's location became known.
    LocationChanged {
        /// Task id.
        task_id: String,
        /// The location.
        location: TaskLocation,
    },
    /// The task's lifecycle state changed.
    StateChanged {
        /// Task id.
        task_id: String,
        /// The new state.
        state: LifecycleState,
    },
}

/// A snapshot of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    /// Task id.
    pub id: String,
    /// Task type.
    pub task_type: String,
    /// Data source.
    pub data_source: Option<String>,
    /// Job name.
    pub job_name: String,
    /// Lifecycle state.
    pub lifecycle: LifecycleState,
    /// Druid's runner task state.
    pub state: RunnerTaskState,
    /// Location (unknown until RUNNING).
    pub location: TaskLocation,
    /// Final status, once known.
    pub status: Option<TaskStatus>,
    /// Restored from an existing Job at start-up.
    pub restored: bool,
}

/// A stream of log bytes.
pub type LogStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// The future result of a task (from [`TaskRunner::run`] or [`TaskRunner::status`]).
#[derive(Debug, Clone)]
pub struct TaskHandle {
    id: String,
    rx: watch::Receiver<Option<TaskStatus>>,
}

impl TaskHandle {
    /// A handle on a status channel (for the other runners of this crate).
    pub(crate) fn from_watch(id: String, rx: watch::Receiver<Option<TaskStatus>>) -> Self {
        TaskHandle { id, rx }
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The status, if already known.
    pub fn try_status(&self) -> Option<TaskStatus> {
        self.rx.borrow().clone()
    }

    /// Waits for the final status.
    pub async fn status(mut self) -> Result<TaskStatus, RunnerError> {
        match self.rx.wait_for(Option::is_some).await {
            Ok(s) => s.clone().ok_or(RunnerError::Stopped),
            Err(_) => Err(RunnerError::Stopped),
        }
    }
}

struct Capture {
    file: tempfile::TempPath,
    task: tokio::task::JoinHandle<()>,
    truncated: Arc<std::sync::atomic::AtomicBool>,
    /// The follow stream ended cleanly (end of stream, no transport error, not truncated) after
    /// the pod had stopped running: the file holds the container's whole log, so archiving it
    /// needs no second read from the API.
    complete: Arc<std::sync::atomic::AtomicBool>,
}

/// How long [`Inner::save_logs`] waits for a log follower to reach the end of the stream
/// before it reads the whole log from the API instead.
const CAPTURE_DRAIN: Duration = Duration::from_millis(500);
/// How long a log follower that reached the end of the stream waits for the pod watch to show
/// the pod stopped (the stream ends when the container exits; the watch event can come later).
const CAPTURE_SETTLE: Duration = Duration::from_millis(1000);

struct State {
    core: Core<Arc<Task>, TaskStatus>,
    waiters: HashMap<String, watch::Sender<Option<TaskStatus>>>,
    captures: HashMap<String, Capture>,
}

struct Inner {
    jobs: Api<Job>,
    pods: Api<Pod>,
    config: RunnerConfig,
    opts: RunnerOptions,
    logs: Arc<dyn TaskLogs>,
    templates: Option<Arc<dyn TemplateSource + Send + Sync>>,
    strategy: RwLock<Option<PodTemplateSelectStrategy>>,
    overlord_pod: tokio::sync::Mutex<Option<Arc<Pod>>>,
    state: Mutex<State>,
    events: broadcast::Sender<RunnerEvent>,
    metrics: Arc<RunnerMetrics>,
    cancel: CancellationToken,
    selector: String,
    job_store: Store<Job>,
    pod_store: Store<Pod>,
    http: reqwest_rustls_ring::Client,
}

/// Everything needed to start a [`TaskRunner`].
pub struct RunnerParts {
    /// How to reach Kubernetes.
    pub kube: kube::Config,
    /// The validated Druid configuration.
    pub config: RunnerConfig,
    /// Task-log storage.
    pub task_logs: Arc<dyn TaskLogs>,
    /// Pod templates (`customTemplateAdapter`).
    pub templates: Option<Arc<dyn TemplateSource + Send + Sync>>,
    /// The dynamic config in force at start (capacity, selection strategy).
    pub dynamic: Option<DynamicConfig>,
    /// Metrics (register them in your registry with [`RunnerMetrics::register`]).
    pub metrics: Arc<RunnerMetrics>,
    /// Other settings.
    pub options: RunnerOptions,
}

/// Runs Druid tasks as Kubernetes Jobs (spec §8). Cheap to clone.
#[derive(Clone)]
pub struct TaskRunner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TaskRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRunner")
            .field("namespace", &self.inner.config.namespace)
            .field("selector", &self.inner.selector)
            .finish_non_exhaustive()
    }
}

/// The label selector of our Jobs and Pods (spec §3.3).
pub fn peon_selector(config: &RunnerConfig) -> String {
    if config.adapter_type == AdapterType::CustomTemplate && !config.overlord_namespace.is_empty() {
        format!(
            "{PEON_LABEL},{OVERLORD_NAMESPACE_LABEL}={}",
            config.overlord_namespace
        )
    } else {
        PEON_LABEL.to_string()
    }
}

fn effective_capacity(config: &RunnerConfig, dynamic: Option<&DynamicConfig>) -> u32 {
    dynamic.and_then(|d| d.capacity).unwrap_or(config.capacity)
}

fn location_of(l: &PeonLocation) -> TaskLocation {
    TaskLocation::for_pod(l.host.clone(), l.tls, l.pod_name.clone())
}

fn strip_job(mut job: Job) -> Job {
    job.managed_fields_mut().clear();
    if let Some(spec) = job.spec.as_mut() {
        // the pod template (with a payload of up to 127 KiB) is only needed at restore
        spec.template = Default::default();
    }
    job
}

fn strip_pod(mut pod: Pod) -> Pod {
    pod.managed_fields_mut().clear();
    if let Some(spec) = pod.spec.as_mut() {
        for c in &mut spec.containers {
            c.env = None;
        }
    }
    pod
}

impl TaskRunner {
    /// Starts the runner: opens the shared watches, restores every existing peon Job (adopting
    /// it — never creating a second Job for a known task), waits up to `taskJoinTimeout` for
    /// restored tasks to be located, and starts the timer and the cleanup loop.
    pub async fn start(parts: RunnerParts) -> Result<TaskRunner, RunnerError> {
        let RunnerParts {
            kube: kube_config,
            config,
            task_logs,
            templates,
            dynamic,
            metrics,
            options,
        } = parts;
        let limiter = Arc::new(RateLimiter::new(options.qps, options.burst));
        let client = kube::client::ClientBuilder::try_from(kube_config)
            .map_err(|e| RunnerError::kube("connect", "Kubernetes API", e))?
            .with_layer(&ApiLayer::new(limiter, metrics.clone()))
            .build();
        let ns = config.namespace.clone();
        let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
        let pods: Api<Pod> = Api::namespaced(client, &ns);
        let core = Core::new(CoreConfig {
            capacity: effective_capacity(&config, dynamic.as_ref()),
            launch_timeout: config.k8s_job_launch_timeout,
            max_task_duration: config.max_task_duration,
            deadline_grace: options.deadline_grace,
            debug_jobs: config.debug_jobs,
        });
        let (events, _) = broadcast::channel(4096);
        let (job_store, job_writer) = reflector::store();
        let (pod_store, pod_writer) = reflector::store();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest_rustls_ring::Client::builder()
            .timeout(options.peon_timeout)
            .build()
            .map_err(|e| RunnerError::Peon {
                url: String::new(),
                message: format!("cannot build the HTTP client: {e}"),
            })?;
        let inner = Arc::new(Inner {
            jobs,
            pods,
            selector: peon_selector(&config),
            strategy: RwLock::new(dynamic.and_then(|d| d.pod_template_select_strategy)),
            overlord_pod: tokio::sync::Mutex::new(options.overlord_pod.clone().map(Arc::new)),
            config,
            opts: options,
            logs: task_logs,
            templates,
            state: Mutex::new(State {
                core,
                waiters: HashMap::new(),
                captures: HashMap::new(),
            }),
            events,
            metrics,
            cancel: CancellationToken::new(),
            job_store,
            pod_store,
            http,
        });

        // Jobs first: the first complete list is the restore.
        let (restored_tx, restored_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(inner.clone().watch_jobs(job_writer, restored_tx));
        let adopted = tokio::select! {
            r = restored_rx => r.map_err(|_| RunnerError::Stopped)?,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {
                inner.cancel.cancel();
                return Err(RunnerError::Config { key: "namespace", message: "the initial list of Jobs did not complete within 10 minutes".into() });
            }
        };
        // Pods next, so that every pod finds its (restored) task.
        tokio::spawn(inner.clone().watch_pods(pod_writer));
        tokio::spawn(inner.clone().ticker());
        tokio::spawn(inner.clone().cleanup_loop());

        // taskJoinTimeout: wait for restored tasks to be located
        let deadline = tokio::time::Instant::now() + inner.config.task_join_timeout;
        loop {
            let waiting = {
                let st = inner.lock();
                adopted
                    .iter()
                    .filter(|id| {
                        st.core
                            .get(id)
                            .is_some_and(|e| matches!(e.phase, Phase::Starting | Phase::Launching))
                    })
                    .count()
            };
            if waiting == 0 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    restored = adopted.len(),
                    not_located = waiting,
                    "taskJoinTimeout passed before every restored task was located; continuing"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        inner.update_gauges();
        tracing::info!(restored = adopted.len(), selector = %inner.selector, "task runner started");
        Ok(TaskRunner { inner })
    }

    /// Runs a task (idempotent per task id: a known task gets its existing handle and no new
    /// Job). The task waits in the queue while all slots are in use.
    pub fn run(&self, task: Task) -> Result<TaskHandle, RunnerError> {
        if self.inner.cancel.is_cancelled() {
            return Err(RunnerError::Stopped);
        }
        let id = task.id().to_string();
        let job_name =
            druid_k8s_adapters::job_name(&self.inner.config.k8s_task_pod_name_prefix, &id);
        let priority = task.priority();
        let handle = {
            let mut st = self.inner.lock();
            st.waiters
                .entry(id.clone())
                .or_insert_with(|| watch::channel(None).0);
            st.waiters.get(&id).map(|w| w.subscribe())
        };
        self.inner.dispatch(Event::Submit {
            id: id.clone(),
            job_name,
            priority,
            task: Arc::new(task),
        });
        handle
            .map(|rx| TaskHandle { id, rx })
            .ok_or(RunnerError::Stopped)
    }

    /// Shuts a task down: a queued task never launches; a launched one has its Job deleted
    /// (background propagation, unless `debugJobs`). Unknown ids are ignored.
    pub fn shutdown(&self, task_id: &str, reason: &str) {
        self.inner.dispatch(Event::Shutdown {
            id: task_id.to_string(),
            reason: reason.to_string(),
        });
    }

    /// The handle of a known task.
    pub fn status(&self, task_id: &str) -> Option<TaskHandle> {
        let st = self.inner.lock();
        st.waiters.get(task_id).map(|w| TaskHandle {
            id: task_id.to_string(),
            rx: w.subscribe(),
        })
    }

    /// Listen to status, location and state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<RunnerEvent> {
        self.inner.events.subscribe()
    }

    /// The task's location (unknown unless RUNNING with a pod IP).
    pub fn location(&self, task_id: &str) -> TaskLocation {
        let st = self.inner.lock();
        st.core
            .get(task_id)
            .and_then(|e| e.location.as_ref())
            .map(location_of)
            .unwrap_or_else(TaskLocation::unknown)
    }

    /// Druid's runner task state, `None` for unknown tasks.
    pub fn runner_task_state(&self, task_id: &str) -> Option<RunnerTaskState> {
        let st = self.inner.lock();
        st.core
            .get(task_id)
            .map(|e| e.phase.lifecycle().runner_task_state())
    }

    /// Snapshot of one task.
    pub fn task(&self, task_id: &str) -> Option<TaskInfo> {
        let st = self.inner.lock();
        st.core.get(task_id).map(info)
    }

    /// All known tasks.
    pub fn known_tasks(&self) -> Vec<TaskInfo> {
        let st = self.inner.lock();
        st.core.entries().map(info).collect()
    }

    /// Tasks whose lifecycle is RUNNING.
    pub fn running_tasks(&self) -> Vec<TaskInfo> {
        self.known_tasks()
            .into_iter()
            .filter(|t| t.state == RunnerTaskState::Running)
            .collect()
    }

    /// Tasks whose lifecycle is NOT_STARTED or PENDING.
    pub fn pending_tasks(&self) -> Vec<TaskInfo> {
        self.known_tasks()
            .into_iter()
            .filter(|t| t.state == RunnerTaskState::Pending)
            .collect()
    }

    /// Slot counts as Druid reports them (§8.2).
    pub fn slots(&self) -> Slots {
        self.inner.lock().core.slots()
    }

    /// Jobs the runner believes exist (launched or adopted, not yet seen deleted).
    pub fn jobs_held(&self) -> usize {
        self.inner.lock().core.jobs_held()
    }

    /// Applies a new dynamic config: capacity changes take effect at once (no running task is
    /// touched when it shrinks); the selection strategy applies to the next launch.
    pub fn set_dynamic_config(&self, dynamic: &DynamicConfig) {
        if let Ok(mut s) = self.inner.strategy.write() {
            *s = dynamic.pod_template_select_strategy.clone();
        }
        self.inner.dispatch(Event::SetCapacity(effective_capacity(
            &self.inner.config,
            Some(dynamic),
        )));
        self.inner.update_gauges();
    }

    /// The live log of a running task from container `main` (following it). A non-negative
    /// `offset` skips that many bytes; a negative one returns the last `-offset` bytes (no
    /// follow). `None` when the task is not running (read the archived log instead).
    pub async fn stream_log(
        &self,
        task_id: &str,
        offset: i64,
    ) -> Result<Option<LogStream>, RunnerError> {
        let (pod, container) = {
            let st = self.inner.lock();
            match st.core.get(task_id) {
                Some(e) if e.phase == Phase::Running => match e.pod.as_ref() {
                    Some(p) => (p.name.clone(), p.log_container.clone()),
                    None => return Ok(None),
                },
                _ => return Ok(None),
            }
        };
        let container = container.or_else(|| Some(crate::views::MAIN_CONTAINER.to_string()));
        if offset < 0 {
            let lp = LogParams {
                container,
                ..Default::default()
            };
            let text = self
                .inner
                .pods
                .logs(&pod, &lp)
                .await
                .map_err(|e| RunnerError::kube("logs", &pod, e))?;
            let bytes = text.into_bytes();
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            let start = bytes.len().saturating_sub(keep);
            let tail = Bytes::from(bytes).slice(start..);
            return Ok(Some(Box::pin(futures::stream::once(
                async move { Ok(tail) },
            ))));
        }
        let lp = LogParams {
            container,
            follow: true,
            ..Default::default()
        };
        let reader = self
            .inner
            .pods
            .log_stream(&pod, &lp)
            .await
            .map_err(|e| RunnerError::kube("log_stream", &pod, e))?;
        let skip = u64::try_from(offset).unwrap_or(0);
        Ok(Some(reader_stream(Box::pin(reader), skip)))
    }

    /// The archived log of a task from task-log storage.
    pub async fn stored_log(&self, task_id: &str) -> Result<Option<Bytes>, RunnerError> {
        self.inner.logs.get(task_id, Artifact::Log).await
    }

    /// Task reports: live from the peon while the task runs
    /// (`/druid/worker/v1/chat/<id>/liveReports`), from task-log storage (`report.json`)
    /// otherwise.
    pub async fn reports(&self, task_id: &str) -> Result<Option<Bytes>, RunnerError> {
        let live = {
            let st = self.inner.lock();
            st.core
                .get(task_id)
                .filter(|e| e.phase == Phase::Running)
                .and_then(|e| e.location.clone())
        };
        if let Some(loc) = live {
            let (scheme, port) = if loc.tls {
                ("https", druid_k8s_adapters::PEON_TLS_PORT)
            } else {
                ("http", druid_k8s_adapters::PEON_PORT)
            };
            let url = format!(
                "{scheme}://{}:{port}/druid/worker/v1/chat/{task_id}/liveReports",
                loc.host
            );
            let perr = |e: reqwest_rustls_ring::Error| RunnerError::Peon {
                url: url.clone(),
                message: e.to_string(),
            };
            let resp = self.inner.http.get(&url).send().await.map_err(perr)?;
            if resp.status() == reqwest_rustls_ring::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = resp.error_for_status().map_err(perr)?;
            return resp.bytes().await.map(Some).map_err(perr);
        }
        self.inner.logs.get(task_id, Artifact::Report).await
    }

    /// The reflector store of our Jobs (no API call to read it).
    pub fn job_store(&self) -> Store<Job> {
        self.inner.job_store.clone()
    }

    /// The reflector store of our Pods.
    pub fn pod_store(&self) -> Store<Pod> {
        self.inner.pod_store.clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> Arc<RunnerMetrics> {
        self.inner.metrics.clone()
    }

    /// Stops the runner: watches, timers and in-flight work end; Jobs keep running in
    /// Kubernetes for the next start to adopt. `run` fails afterwards.
    pub fn stop(&self) {
        self.inner.cancel.cancel();
        let mut st = self.inner.lock();
        for (_, c) in st.captures.drain() {
            c.task.abort();
        }
        // handles of unfinished tasks resolve to `RunnerError::Stopped` (the next leader
        // adopts their Jobs)
        st.waiters.retain(|_, w| w.borrow().is_some());
    }
}

fn info(e: &crate::core::Entry<Arc<Task>, TaskStatus>) -> TaskInfo {
    let lifecycle = e.phase.lifecycle();
    TaskInfo {
        id: e.id.clone(),
        task_type: e.task.task_type().to_string(),
        data_source: e.task.data_source().map(str::to_string),
        job_name: e.job_name.clone(),
        lifecycle,
        state: lifecycle.runner_task_state(),
        location: e
            .location
            .as_ref()
            .map(location_of)
            .unwrap_or_else(TaskLocation::unknown),
        status: e.status.clone(),
        restored: e.adopted,
    }
}

/// Turns an `AsyncRead` into a byte stream, skipping the first `skip` bytes.
fn reader_stream(reader: Pin<Box<dyn futures::AsyncBufRead + Send>>, skip: u64) -> LogStream {
    let s = futures::stream::unfold(Some((reader, skip)), |state| async move {
        let (mut r, mut skip) = state?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) => return None,
                Ok(n) => {
                    let n64 = n as u64;
                    if skip >= n64 {
                        skip -= n64;
                        continue;
                    }
                    let from = usize::try_from(skip).unwrap_or(0);
                    let chunk = Bytes::copy_from_slice(&buf[from..n]);
                    return Some((Ok(chunk), Some((r, 0))));
                }
                Err(e) => return Some((Err(e), None)),
            }
        }
    });
    Box::pin(s)
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feeds one event to the state machine and carries out the commands.
    fn dispatch(self: &Arc<Self>, ev: Event<Arc<Task>, TaskStatus>) {
        let mut spawn = Vec::new();
        {
            let mut st = self.lock();
            let cmds = st.core.on_event(Instant::now(), ev);
            for c in cmds {
                match c {
                    Command::Completed { id, status } => {
                        if let Some(w) = st.waiters.get(&id) {
                            w.send_replace(Some(status.clone()));
                        }
                        if st.core.get(&id).is_none() {
                            st.waiters.remove(&id);
                        }
                        self.metrics
                            .completed
                            .get_or_create(&OutcomeLabels {
                                status: status.status.as_str().to_string(),
                            })
                            .inc();
                        let _ = self.events.send(RunnerEvent::StatusChanged {
                            task_id: id,
                            status,
                        });
                    }
                    Command::Located { id, location } => {
                        let _ = self.events.send(RunnerEvent::LocationChanged {
                            task_id: id,
                            location: location_of(&location),
                        });
                    }
                    Command::StateChanged { id, phase } => {
                        let _ = self.events.send(RunnerEvent::StateChanged {
                            task_id: id,
                            state: phase.lifecycle(),
                        });
                    }
                    Command::ObserveStartup { elapsed, .. } => {
                        self.metrics
                            .peon_startup_time
                            .observe(elapsed.as_secs_f64());
                    }
                    Command::ObservePending { elapsed, .. } => {
                        self.metrics
                            .task_pending_time
                            .observe(elapsed.as_secs_f64());
                    }
                    other => spawn.push(other),
                }
            }
            // forget waiters of tasks that are gone and done
            if st.waiters.len() > st.core.len() + 64 {
                let State { core, waiters, .. } = &mut *st;
                waiters.retain(|id, w| core.get(id).is_some() || w.borrow().is_none());
            }
        }
        for c in spawn {
            self.spawn_command(c);
        }
    }

    fn spawn_command(self: &Arc<Self>, c: Command<TaskStatus>) {
        let me = self.clone();
        let cancel = self.cancel.clone();
        let fut: Pin<Box<dyn std::future::Future<Output = ()> + Send>> = match c {
            Command::Launch { id, job_name } => {
                Box::pin(async move { me.launch(id, job_name).await })
            }
            Command::DeleteJob { job_name } => {
                Box::pin(async move { me.delete_job(job_name).await })
            }
            Command::Finish {
                id,
                job_name,
                failure,
                hint,
                pod_started,
            } => Box::pin(async move { me.finish(id, job_name, failure, hint, pod_started).await }),
            Command::CaptureLogs { id, pod_name } => {
                if self.opts.capture_logs {
                    self.start_capture(id, pod_name);
                }
                return;
            }
            _ => return,
        };
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    async fn overlord_pod(&self) -> Result<Arc<Pod>, String> {
        let mut cached = self.overlord_pod.lock().await;
        if let Some(p) = cached.as_ref() {
            return Ok(p.clone());
        }
        let name = self
            .opts
            .hostname
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|h| !h.is_empty())
            .ok_or("the overlord adapters need the overlord's pod, but HOSTNAME is not set")?;
        let pod = retry(&self.opts.backoff, "get overlord pod", || {
            self.pods.get(&name)
        })
        .await
        .map_err(|e| {
            format!(
                "cannot read the overlord pod [{name}] in namespace [{}]: {e}",
                self.config.namespace
            )
        })?;
        let pod = Arc::new(pod);
        *cached = Some(pod.clone());
        Ok(pod)
    }

    async fn render(&self, task: &Task) -> Result<druid_k8s_adapters::RenderedJob, String> {
        let pod = match self.config.adapter_type {
            AdapterType::OverlordSingleContainer | AdapterType::OverlordMultiContainer => {
                Some(self.overlord_pod().await?)
            }
            AdapterType::CustomTemplate => None,
        };
        let strategy = self.strategy.read().ok().and_then(|s| s.clone());
        let mut req = RenderRequest::new(&self.config, task);
        if let Some(p) = pod.as_deref() {
            req = req.with_overlord_pod(p);
        }
        if let Some(t) = self.templates.as_deref() {
            req = req.with_templates(t);
        }
        if let Some(s) = strategy.as_ref() {
            req = req.with_strategy(s);
        }
        druid_k8s_adapters::render(&req).map_err(|e| e.to_string())
    }

    async fn launch(self: Arc<Self>, id: String, job_name: String) {
        let result = self.try_launch(&id, &job_name).await;
        let adopted = matches!(result, Ok(true));
        if let Err(e) = &result {
            tracing::warn!(task = %id, job = %job_name, error = %e, "launch failed");
        }
        self.dispatch(Event::Launched {
            id,
            result: result.map(|_| ()),
        });
        if adopted {
            // the Job existed already and may not change again (it may even have finished):
            // feed its current state instead of waiting for a watch event
            if let Ok(job) = retry(&self.opts.backoff, "get job", || self.jobs.get(&job_name)).await
            {
                self.dispatch(Event::JobApplied(JobView::from_job(&job)));
            }
        }
    }

    /// Creates the Job; `Ok(true)` when it existed already (409) and was adopted.
    async fn try_launch(&self, id: &str, job_name: &str) -> Result<bool, String> {
        let task = {
            let st = self.lock();
            st.core.get(id).map(|e| e.task.clone())
        }
        .ok_or_else(|| format!("task [{id}] is no longer known"))?;
        let rendered = self.render(&task).await?;
        if let PayloadPlacement::Storage { task_json, .. } = &rendered.payload {
            self.logs
                .put(id, Artifact::TaskPayload, Bytes::from(task_json.clone()))
                .await
                .map_err(|e| format!("cannot upload task.json: {e}"))?;
        }
        let mut job = rendered.job;
        if job.metadata.name.as_deref() != Some(job_name) {
            return Err(format!(
                "the rendered Job is named {:?}, expected [{job_name}]",
                job.metadata.name
            ));
        }
        job.metadata.namespace = Some(self.config.namespace.clone());
        let pp = PostParams::default();
        match retry(&self.opts.backoff, "create job", || {
            self.jobs.create(&pp, &job)
        })
        .await
        {
            Ok(_) => Ok(false),
            // already exists: the Job of this task id is there (an earlier attempt, or another
            // runner instance): adopt it
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(true),
            Err(e) => Err(format!("Error when creating K8s job [{job_name}]: {e}")),
        }
    }

    async fn delete_job(self: Arc<Self>, job_name: String) {
        let dp = DeleteParams::background();
        let mut attempt = 0u32;
        loop {
            match retry(&self.opts.backoff, "delete job", || {
                self.jobs.delete(&job_name, &dp)
            })
            .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => break,
                Err(e) => {
                    attempt += 1;
                    let d = self
                        .opts
                        .backoff
                        .delay(attempt, &mut rand::rng())
                        .max(Duration::from_secs(1));
                    tracing::warn!(job = %job_name, error = %e, retry_in_ms = d.as_millis() as u64, "cannot delete Job; will retry");
                    tokio::time::sleep(d).await;
                }
            }
        }
        self.dispatch(Event::JobGone(job_name));
    }

    async fn read_status(&self, id: &str) -> Result<Option<TaskStatus>, String> {
        match self.logs.get(id, Artifact::Status).await {
            Ok(None) => Ok(None),
            Ok(Some(b)) => match std::str::from_utf8(&b) {
                Ok(text) => TaskStatus::from_json(text)
                    .map(Some)
                    .map_err(|e| format!("error loading status: {e}")),
                Err(e) => Err(format!("error loading status: {e}")),
            },
            Err(e) => Err(format!("error loading status: {e}")),
        }
    }

    /// Explains why a Job ended without a status (Job condition + pod termination).
    async fn explain(
        &self,
        job_name: &str,
        hint: &str,
        pod: Option<PodView>,
        job_failed: bool,
    ) -> String {
        let mut pod = pod;
        let informative = |p: &PodView| p.terminated.is_some() || p.reason.is_some();
        if job_failed && !pod.as_ref().is_some_and(informative) {
            // the pod watch may lag the Job watch: read the pod once
            let lp = ListParams::default().labels(&format!("job-name={job_name}"));
            if let Ok(list) = retry(&self.opts.backoff, "list pods", || self.pods.list(&lp)).await
                && let Some(p) = list
                    .items
                    .iter()
                    .map(PodView::from_pod)
                    .max_by_key(|p| informative(p))
            {
                pod = Some(p);
            }
        }
        let mut msg = hint.to_string();
        if let Some(p) =
            pod.filter(|p| p.terminated.is_some() || p.reason.is_some() || !p.phase.is_empty())
        {
            if !msg.is_empty() {
                msg.push_str("; ");
            }
            msg.push_str(&p.describe_end());
        }
        msg
    }

    async fn finish(
        self: Arc<Self>,
        id: String,
        job_name: String,
        failure: Option<String>,
        hint: String,
        pod_started: bool,
    ) {
        let (job, pod, location) = {
            let st = self.lock();
            match st.core.get(&id) {
                Some(e) => (e.job.clone(), e.pod.clone(), e.location.clone()),
                None => (None, None, None),
            }
        };
        let job_failed = job
            .as_ref()
            .is_some_and(|j| matches!(j.end, Some(crate::views::JobEnd::Failed { .. })));
        let mut status = match &failure {
            Some(msg) => TaskStatus::failure(&id, msg.clone()),
            None => match self.read_status(&id).await {
                Ok(Some(s)) => s,
                Ok(None) => {
                    let why = self
                        .explain(
                            &job_name,
                            &hint,
                            pod.clone(),
                            job_failed || !hint.contains("succeeded"),
                        )
                        .await;
                    TaskStatus::failure(
                        &id,
                        format!("Peon did not report status successfully. {why}"),
                    )
                }
                Err(e) => TaskStatus::failure(&id, e),
            },
        };
        status = status.with_duration(job.as_ref().map_or(-1, JobView::duration_ms));
        if status.location.is_unknown()
            && let Some(l) = &location
        {
            status = status.with_location(location_of(l));
        }
        let note = failure.clone().or_else(|| {
            (!status.is_success()).then(|| status.error_msg.clone().unwrap_or_default())
        });
        let save = self.save_logs(&id, pod.as_ref().filter(|_| pod_started), note);
        match tokio::time::timeout(self.config.log_save_timeout, save).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(task = %id, error = %e, "could not save the task log"),
            Err(_) => {
                tracing::warn!(task = %id, timeout_s = self.config.log_save_timeout.as_secs(), "saving the task log timed out (logSaveTimeout)")
            }
        }
        // on a timeout the capture may still be registered: drop it
        if let Some(c) = self.lock().captures.remove(&id) {
            c.task.abort();
        }
        self.dispatch(Event::Finished { id, status });
    }

    fn temp_file(&self, id: &str) -> Result<tempfile::NamedTempFile, RunnerError> {
        let mut b = tempfile::Builder::new();
        let prefix = format!(
            "{}-",
            id.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(40)
                .collect::<String>()
        );
        b.prefix(&prefix).suffix(".log");
        let dir = self
            .opts
            .temp_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        b.tempfile_in(&dir).map_err(|e| RunnerError::io(dir, e))
    }

    /// Archives the task log: the full log from the API if the pod still has it, else what was
    /// captured while it ran, else a placeholder that says why there is none.
    async fn save_logs(
        &self,
        id: &str,
        pod: Option<&PodView>,
        note: Option<String>,
    ) -> Result<(), RunnerError> {
        let capture = self.lock().captures.remove(id);
        if let Some(c) = &capture {
            // the follower usually ends with the container; wait briefly for it
            let _ = tokio::time::timeout(CAPTURE_DRAIN, async {
                while !c.task.is_finished() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            if c.task.is_finished() && c.complete.load(std::sync::atomic::Ordering::Acquire) {
                return self.logs.put_file(id, Artifact::Log, &c.file).await;
            }
            if pod.is_some() {
                // the full read below replaces the follower: stop it, so a follow request
                // still queued behind the client-side rate limit is never sent
                c.task.abort();
            }
        }
        if let Some(pod) = pod {
            let tmp = self.temp_file(id)?;
            let lp = LogParams {
                container: pod.log_container.clone(),
                ..Default::default()
            };
            let fetched = async {
                let reader = self
                    .pods
                    .log_stream(&pod.name, &lp)
                    .await
                    .map_err(|e| e.to_string())?;
                copy_limited(reader, tmp.path(), self.opts.log_capture_limit)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            match fetched {
                Ok(n) if n > 0 || capture.is_none() => {
                    if let Some(c) = capture {
                        c.task.abort();
                    }
                    return self.logs.put_file(id, Artifact::Log, tmp.path()).await;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::info!(task = %id, pod = %pod.name, error = %e, "pod log not readable; using the log captured while it ran")
                }
            }
        }
        if let Some(c) = capture {
            // give the follower a moment to drain what the pod wrote last
            let task = c.task;
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while !task.is_finished() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            task.abort();
            let len = tokio::fs::metadata(&c.file)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            if len > 0 {
                let mut f = tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(&c.file)
                    .await
                    .map_err(|e| RunnerError::io(c.file.to_path_buf(), e))?;
                let mut tail = String::new();
                if c.truncated.load(std::sync::atomic::Ordering::Relaxed) {
                    tail.push_str(&format!(
                        "\n[druid-k8s] log truncated at {} bytes\n",
                        self.opts.log_capture_limit
                    ));
                }
                tail.push_str(&format!(
                    "\n[druid-k8s] the pod's log could not be read after the task ended{}; this is the log captured while it ran\n",
                    note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
                ));
                f.write_all(tail.as_bytes())
                    .await
                    .map_err(|e| RunnerError::io(c.file.to_path_buf(), e))?;
                f.flush()
                    .await
                    .map_err(|e| RunnerError::io(c.file.to_path_buf(), e))?;
                drop(f);
                return self.logs.put_file(id, Artifact::Log, &c.file).await;
            }
        }
        let text = format!(
            "Peon for task [{id}] did not report any logs. Check k8s metrics and events for the pod to see what happened.{}\n",
            note.map(|n| format!("\nReason: {n}")).unwrap_or_default()
        );
        self.logs.put(id, Artifact::Log, Bytes::from(text)).await
    }

    fn start_capture(self: &Arc<Self>, id: String, pod_name: String) {
        let file = match self.temp_file(&id) {
            Ok(f) => f.into_temp_path(),
            Err(e) => {
                tracing::warn!(task = %id, error = %e, "cannot capture the live log");
                return;
            }
        };
        let path = file.to_path_buf();
        let truncated = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let complete = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let me = self.clone();
        let tr = truncated.clone();
        let done = complete.clone();
        let pod_ref = reflector::ObjectRef::<Pod>::new(&pod_name).within(&self.config.namespace);
        let container = {
            let st = self.lock();
            st.core
                .get(&id)
                .and_then(|e| e.pod.as_ref())
                .and_then(|p| p.log_container.clone())
        };
        let tid = id.clone();
        let task = tokio::spawn(async move {
            let lp = LogParams {
                container,
                follow: true,
                ..Default::default()
            };
            let mut attempt = 0u32;
            let still_running = || {
                let st = me.lock();
                st.core.get(&tid).is_some_and(|e| e.phase == Phase::Running)
                    && me
                        .pod_store
                        .get(&pod_ref)
                        .is_some_and(|p| PodView::from_pod(&p).phase == "Running")
            };
            loop {
                // each (re)connection reads the whole log again, so the file is rewritten
                let mut clean_end = false;
                if let Ok(reader) = me.pods.log_stream(&pod_name, &lp).await {
                    match copy_limited(reader, &path, me.opts.log_capture_limit).await {
                        Ok(n) if n >= me.opts.log_capture_limit => {
                            tr.store(true, std::sync::atomic::Ordering::Relaxed);
                            return;
                        }
                        Ok(_) => clean_end = true,
                        Err(_) => {}
                    }
                }
                if clean_end {
                    // a follow stream ends when the container exits; once the pod watch
                    // agrees, the file is the whole log
                    let settle = tokio::time::Instant::now() + CAPTURE_SETTLE;
                    while still_running() && tokio::time::Instant::now() < settle {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let ended = me.pod_store.get(&pod_ref).is_some_and(|p| {
                        matches!(PodView::from_pod(&p).phase.as_str(), "Succeeded" | "Failed")
                    });
                    if ended {
                        done.store(true, std::sync::atomic::Ordering::Release);
                        return;
                    }
                }
                if !still_running() || me.cancel.is_cancelled() {
                    return;
                }
                attempt += 1;
                let d = Duration::from_secs(1u64 << attempt.min(5));
                tokio::time::sleep(d).await;
            }
        });
        let mut st = self.lock();
        if let Some(old) = st.captures.insert(
            id,
            Capture {
                file,
                task,
                truncated,
                complete,
            },
        ) {
            old.task.abort();
        }
    }

    /// The shared Job watch: the first complete list restores tasks, later events drive them.
    async fn watch_jobs(
        self: Arc<Self>,
        mut writer: reflector::store::Writer<Job>,
        restored: tokio::sync::oneshot::Sender<Vec<String>>,
    ) {
        let wc = watcher::Config::default().labels(&self.selector);
        let mut stream = watcher::watcher(self.jobs.clone(), wc)
            .default_backoff()
            .boxed();
        let mut restored = Some(restored);
        let mut initial: Vec<Job> = Vec::new();
        let mut listed: HashSet<String> = HashSet::new();
        let mut inits = 0u64;
        loop {
            let next = tokio::select! {
                _ = self.cancel.cancelled() => return,
                n = stream.next() => n,
            };
            let Some(ev) = next else { return };
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::debug!(error = %e, "job watch error; the watcher retries");
                    self.metrics.count_watch_restart("jobs");
                    continue;
                }
            };
            match &ev {
                WatchEvent::Init => {
                    inits += 1;
                    if inits > 1 {
                        self.metrics.count_watch_restart("jobs");
                    }
                    listed.clear();
                }
                WatchEvent::InitApply(job) => {
                    listed.insert(job.name_any());
                    if restored.is_some() {
                        initial.push(job.clone());
                    } else {
                        self.dispatch(Event::JobApplied(JobView::from_job(job)));
                    }
                }
                WatchEvent::InitDone => {
                    if let Some(tx) = restored.take() {
                        let ids = self.restore(std::mem::take(&mut initial)).await;
                        let _ = tx.send(ids);
                    }
                    self.dispatch(Event::JobsListed(std::mem::take(&mut listed)));
                }
                WatchEvent::Apply(job) => self.dispatch(Event::JobApplied(JobView::from_job(job))),
                WatchEvent::Delete(job) => self.dispatch(Event::JobGone(job.name_any())),
            }
            writer.apply_watcher_event(&ev.modify(|j| *j = strip_job(std::mem::take(j))));
        }
    }

    /// Rebuilds tasks from the Jobs found at start (spec §4.4) and adopts them.
    async fn restore(self: &Arc<Self>, jobs: Vec<Job>) -> Vec<String> {
        // payloads in storage are fetched concurrently (a restart with many tasks must not
        // take one storage round trip per Job in a row)
        let rebuilt: Vec<(Job, Option<Task>)> = futures::stream::iter(jobs)
            .map(|job| async move {
                let task = self.task_of(&job).await;
                (job, task)
            })
            .buffered(RESTORE_CONCURRENCY)
            .collect()
            .await;
        let mut ids = Vec::new();
        for (job, task) in rebuilt {
            let Some(task) = task else { continue };
            let name = job.name_any();
            let id = task.id().to_string();
            let expected = druid_k8s_adapters::job_name(&self.config.k8s_task_pod_name_prefix, &id);
            if expected != name {
                tracing::warn!(job = %name, expected = %expected, task = %id, "Job name does not match the task id with the current prefix; adopting it under its own name");
            }
            {
                let mut st = self.lock();
                st.waiters
                    .entry(id.clone())
                    .or_insert_with(|| watch::channel(None).0);
            }
            let mut view = JobView::from_job(&job);
            view.name = name;
            self.dispatch(Event::Adopt {
                id: id.clone(),
                priority: task.priority(),
                task: Arc::new(task),
                job: view,
            });
            ids.push(id);
        }
        ids
    }

    /// The task of a peon Job (spec §4.4): from the Job itself, or `task.json` in storage.
    /// `None` (with a warning) when it cannot be rebuilt; Druid skips such Jobs too.
    async fn task_of(&self, job: &Job) -> Option<Task> {
        let name = job.name_any();
        match druid_k8s_adapters::task_from_job(job) {
            Ok(JobPayload::Inline(t)) => Some(t),
            Ok(JobPayload::InStorage { task_id }) => {
                match self.logs.get(&task_id, Artifact::TaskPayload).await {
                    Ok(Some(b)) => match std::str::from_utf8(&b)
                        .map_err(|e| e.to_string())
                        .and_then(|s| Task::from_json(s).map_err(|e| e.to_string()))
                    {
                        Ok(t) => Some(t),
                        Err(e) => {
                            tracing::warn!(job = %name, error = %e, "cannot parse task.json of a restored Job; skipping it");
                            None
                        }
                    },
                    Ok(None) => {
                        tracing::warn!(job = %name, task = %task_id, "Could not load task payload from deep storage; skipping the Job");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(job = %name, error = %e, "cannot read task.json of a restored Job; skipping it");
                        None
                    }
                }
            }
            Err(e) => {
                tracing::warn!(job = %name, error = %e, "not a peon Job this runner can restore; skipping it");
                None
            }
        }
    }

    /// The shared Pod watch.
    async fn watch_pods(self: Arc<Self>, mut writer: reflector::store::Writer<Pod>) {
        let wc = watcher::Config::default().labels(&self.selector);
        let mut stream = watcher::watcher(self.pods.clone(), wc)
            .default_backoff()
            .boxed();
        let mut inits = 0u64;
        loop {
            let next = tokio::select! {
                _ = self.cancel.cancelled() => return,
                n = stream.next() => n,
            };
            let Some(ev) = next else { return };
            let ev = match ev {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::debug!(error = %e, "pod watch error; the watcher retries");
                    self.metrics.count_watch_restart("pods");
                    continue;
                }
            };
            match &ev {
                WatchEvent::Init => {
                    inits += 1;
                    if inits > 1 {
                        self.metrics.count_watch_restart("pods");
                    }
                }
                WatchEvent::InitApply(p) | WatchEvent::Apply(p) => {
                    self.dispatch(Event::PodApplied(PodView::from_pod(p)))
                }
                WatchEvent::InitDone | WatchEvent::Delete(_) => {}
            }
            writer.apply_watcher_event(&ev.modify(|p| *p = strip_pod(std::mem::take(p))));
        }
    }

    async fn ticker(self: Arc<Self>) {
        let mut iv = tokio::time::interval(self.opts.tick);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = iv.tick() => {}
            }
            self.dispatch(Event::Tick);
            self.update_gauges();
        }
    }

    fn update_gauges(&self) {
        let st = self.lock();
        let s = st.core.slots();
        self.metrics.slot_total.set(i64::from(s.total));
        self.metrics.slot_idle.set(i64::from(s.idle));
        self.metrics.slot_used.set(i64::from(s.used));
        self.metrics.jobs_active.set(st.core.jobs_held() as i64);
        let mut counts: BTreeMap<&'static str, i64> = [
            ("waiting", 0),
            ("pending", 0),
            ("running", 0),
            ("stopped", 0),
        ]
        .into();
        for e in st.core.entries() {
            let k = match e.phase {
                Phase::Queued => "waiting",
                Phase::Launching | Phase::Starting => "pending",
                Phase::Running | Phase::Finishing => "running",
                Phase::Done => "stopped",
            };
            *counts.entry(k).or_default() += 1;
        }
        for (k, v) in counts {
            self.metrics
                .tasks
                .get_or_create(&StateLabels { state: k.into() })
                .set(v);
        }
    }

    /// Deletes finished Jobs older than `taskCleanupDelay` (RFC 3339 `completionTime`; Jobs
    /// without one are skipped), every `taskCleanupInterval`, reading the reflector store.
    async fn cleanup_loop(self: Arc<Self>) {
        let mut iv = tokio::time::interval(
            self.config
                .task_cleanup_interval
                .max(Duration::from_millis(10)),
        );
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = iv.tick() => {}
            }
            let now = jiff::Timestamp::now();
            for name in
                cleanup_candidates(&self.job_store.state(), now, self.config.task_cleanup_delay)
            {
                let dp = DeleteParams::background();
                match retry(&self.opts.backoff, "delete job", || {
                    self.jobs.delete(&name, &dp)
                })
                .await
                {
                    Ok(_) => tracing::info!(job = %name, "cleanup: deleted a finished Job"),
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => tracing::warn!(job = %name, error = %e, "cleanup: cannot delete Job"),
                }
            }
        }
    }
}

/// Finished Jobs whose `completionTime` is older than `delay` (Jobs still active or without a
/// completion time are kept).
pub fn cleanup_candidates(jobs: &[Arc<Job>], now: jiff::Timestamp, delay: Duration) -> Vec<String> {
    let Ok(cutoff) =
        now.checked_sub(jiff::SignedDuration::try_from(delay).unwrap_or(jiff::SignedDuration::MAX))
    else {
        return Vec::new();
    };
    jobs.iter()
        .filter(|j| {
            let Some(st) = j.status.as_ref() else {
                return false;
            };
            if st.active.unwrap_or(0) > 0 {
                return false;
            }
            st.completion_time.as_ref().is_some_and(|t| t.0 < cutoff)
        })
        .filter_map(|j| j.meta().name.clone())
        .collect()
}

/// Copies a log stream into `path` (truncating it first), at most `limit` bytes.
async fn copy_limited(
    reader: impl futures::AsyncBufRead + Send,
    path: &std::path::Path,
    limit: u64,
) -> std::io::Result<u64> {
    let mut reader = Box::pin(reader);
    let mut f = tokio::fs::File::create(path).await?;
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let room = limit.saturating_sub(total);
        let take = usize::try_from(room.min(n as u64)).unwrap_or(n);
        f.write_all(&buf[..take]).await?;
        total += take as u64;
        if total >= limit {
            break;
        }
        f.flush().await?;
    }
    f.flush().await?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, active: Option<i32>, completion: Option<&str>) -> Arc<Job> {
        let mut v = serde_json::json!({"metadata": {"name": name}, "status": {}});
        if let Some(a) = active {
            v["status"]["active"] = a.into();
        }
        if let Some(c) = completion {
            v["status"]["completionTime"] = c.into();
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn cleanup_uses_rfc3339_and_skips_jobs_without_completion_time() {
        let now: jiff::Timestamp = "2024-01-10T00:00:00Z".parse().unwrap();
        let jobs = [
            job("old", None, Some("2024-01-01T00:00:00Z")),
            job("old-frac", Some(0), Some("2024-01-07T23:59:59.5Z")),
            job("recent", None, Some("2024-01-09T00:00:00Z")),
            job("active", Some(1), Some("2024-01-01T00:00:00Z")),
            job("failed-no-time", None, None),
        ];
        let got = cleanup_candidates(&jobs, now, Duration::from_secs(2 * 86400));
        assert_eq!(got, ["old", "old-frac"]);
    }

    #[test]
    fn selector_follows_the_spec() {
        let mut c = RunnerConfig::for_namespace("druid");
        assert_eq!(peon_selector(&c), "druid.k8s.peons");
        c.overlord_namespace = "ov".into();
        assert_eq!(
            peon_selector(&c),
            "druid.k8s.peons",
            "overlord adapters list every peon Job"
        );
        c.adapter_type = AdapterType::CustomTemplate;
        assert_eq!(
            peon_selector(&c),
            "druid.k8s.peons,druid.overlord.namespace=ov"
        );
    }

    #[tokio::test]
    async fn reader_stream_skips_the_offset() {
        let data: &[u8] = b"0123456789abcdef";
        let s = reader_stream(Box::pin(futures::io::Cursor::new(data)), 10);
        let got: Vec<u8> = s.map(|b| b.unwrap().to_vec()).concat().await;
        assert_eq!(got, b"abcdef");
    }

    /// A log followed to the end of a finished pod is archived as it is: one log read per task
    /// (the follow), not a second full read after the task ends — and the archive is whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_log_followed_to_the_end_is_archived_without_a_second_read() {
        use druid_k8s_model::config::RawConfig;
        let dir = tempfile::tempdir().unwrap();
        let logs_dir = dir.path().join("task-logs");
        std::fs::create_dir_all(&logs_dir).unwrap();
        let template = dir.path().join("base.yaml");
        std::fs::write(
            &template,
            "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n",
        )
        .unwrap();
        let sim =
            druid_k8s_sim::Sim::start(druid_k8s_sim::SimConfig::default().task_logs_dir(&logs_dir))
                .await
                .unwrap();
        let raw = RawConfig::new()
            .with("druid.indexer.runner.type", "k8s")
            .with("druid.indexer.runner.namespace", "druid")
            .with(
                "druid.indexer.runner.k8s.adapter.type",
                "customTemplateAdapter",
            )
            .with(
                "druid.indexer.runner.k8s.podTemplate.base",
                template.display().to_string(),
            )
            .with("druid.indexer.task.encapsulatedTask", "true")
            .with("druid.indexer.logs.type", "file")
            .with(
                "druid.indexer.logs.directory",
                logs_dir.display().to_string(),
            );
        let config = RunnerConfig::from_raw(&raw).unwrap();
        let mut kube = kube::Config::new(sim.url().parse().unwrap());
        kube.default_namespace = "druid".into();
        let runner = TaskRunner::start(RunnerParts {
            kube,
            task_logs: Arc::new(crate::FileTaskLogs::new(&logs_dir)),
            templates: Some(Arc::new(crate::FileTemplateSource::new(
                config.pod_templates.clone(),
            ))),
            dynamic: None,
            metrics: RunnerMetrics::new(),
            options: RunnerOptions::default(),
            config,
        })
        .await
        .unwrap();
        let n = 4;
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let t = Task::from_value(serde_json::json!({
                    "id": format!("t-follow-{i}"), "type": "noop", "dataSource": "ds",
                    "context": {"sim": {"durationMs": 1000, "logLines": 7}}
                }))
                .unwrap();
                runner.run(t).unwrap()
            })
            .collect();
        for h in handles {
            let st = tokio::time::timeout(Duration::from_secs(30), h.status())
                .await
                .expect("finished in time")
                .unwrap();
            assert!(st.is_success(), "{st:?}");
        }
        for i in 0..n {
            let log = runner
                .stored_log(&format!("t-follow-{i}"))
                .await
                .unwrap()
                .expect("archived");
            let log = String::from_utf8_lossy(&log);
            assert!(
                log.contains(&format!("sim progress 7/7 of task [t-follow-{i}]")),
                "{log}"
            );
            assert!(
                log.contains("Task completed with status"),
                "whole log: {log}"
            );
            assert!(!log.contains("[druid-k8s]"), "no fallback note: {log}");
        }
        // each task's follower connects (the tasks run 1 s); reading the whole log again after
        // the end would make it 2 per task. A loaded machine may still fall back for a task
        // whose pod watch event comes late, so the bound is "fewer", not "exactly one".
        let reads = sim.stats().requests_for("get", "pods/log");
        assert!(
            (n..2 * n).contains(&reads),
            "{reads} log reads for {n} tasks: the followed logs were read again"
        );
        runner.stop();
        sim.shutdown().await;
    }
}
