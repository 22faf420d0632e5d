//! Migration mode (`druid.indexer.runner.type=k8sAndWorker`, spec §9.1): one Kubernetes
//! [`TaskRunner`] and one [`WorkerRunner`] behind one interface. Each new task goes where
//! `druid.indexer.runner.k8sAndWorker.runnerStrategy.*` says; everything about a known task
//! goes to the runner that holds it.
//!
//! * `run`: a task either runner already holds stays there; otherwise
//!   [`RunnerStrategy::runner_for`] its type.
//! * `shutdown` goes to both (a no-op for the one that does not know the task).
//! * known / running / pending tasks: Kubernetes' then the workers'.
//! * slot maps: total = union with the worker entries after the Kubernetes entry; idle and used
//!   = key-wise sums. `total_capacity` / `used_capacity`: −1 if both are −1, else the sum of
//!   `max(0, ·)`.
//! * logs and reports: Kubernetes first, then the workers. Location: Kubernetes unless unknown,
//!   then the workers. Runner task state: Kubernetes if it knows the task, else the workers.
//! * one event stream with both runners' status, location and state events.

use bytes::Bytes;
use druid_k8s_model::config::{RunnerKind, RunnerStrategy};
use druid_k8s_model::{DynamicConfig, RunnerTaskState, Task, TaskLocation};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::RunnerError;
use crate::runner::{LogStream, RunnerEvent, RunnerParts, TaskHandle, TaskInfo, TaskRunner};
use crate::worker::{WorkerRunner, WorkerRunnerConfig};

/// The slot category of the Kubernetes runner (Druid's `KubernetesTaskRunner.WORKER_CATEGORY`).
pub const K8S_WORKER_CATEGORY: &str = "_k8s_worker_category";

/// Druid's slot maps (`getTotalTaskSlotCount`, `getIdleTaskSlotCount`,
/// `getUsedTaskSlotCount`), by worker category, in insertion order. Lazy and blacklisted slots
/// are always empty here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotMaps {
    /// Total slots.
    pub total: Vec<(String, u32)>,
    /// Free slots.
    pub idle: Vec<(String, u32)>,
    /// Slots in use.
    pub used: Vec<(String, u32)>,
}

impl SlotMaps {
    /// Adds `n` to `category` in `map` (appending the category if new).
    pub fn add(map: &mut Vec<(String, u32)>, category: &str, n: u32) {
        match map.iter_mut().find(|(k, _)| k == category) {
            Some((_, v)) => *v = v.saturating_add(n),
            None => map.push((category.to_owned(), n)),
        }
    }

    /// The Kubernetes runner's maps (one key, [`K8S_WORKER_CATEGORY`]).
    pub fn of_k8s(runner: &TaskRunner) -> SlotMaps {
        let s = runner.slots();
        let one = |n| vec![(K8S_WORKER_CATEGORY.to_owned(), n)];
        SlotMaps {
            total: one(s.total),
            idle: one(s.idle),
            used: one(s.used),
        }
    }

    /// Combines two runners' maps as `k8sAndWorker` does: total = union (entries of `other`
    /// after those of `self`; a key in both keeps `self`'s value), idle and used = key-wise
    /// sums.
    ///
    /// ```
    /// use druid_k8s_runner::combined::SlotMaps;
    /// let k8s = SlotMaps { total: vec![("k".into(), 4)], idle: vec![("k".into(), 1)], used: vec![("k".into(), 3)] };
    /// let mm = SlotMaps { total: vec![("w".into(), 2)], idle: vec![("w".into(), 2)], used: vec![("w".into(), 0)] };
    /// let all = k8s.combine(&mm);
    /// assert_eq!(all.total, vec![("k".into(), 4), ("w".into(), 2)]);
    /// assert_eq!(all.used, vec![("k".into(), 3), ("w".into(), 0)]);
    /// ```
    pub fn combine(&self, other: &SlotMaps) -> SlotMaps {
        let mut out = self.clone();
        for (k, v) in &other.total {
            if !out.total.iter().any(|(key, _)| key == k) {
                out.total.push((k.clone(), *v));
            }
        }
        for (k, v) in &other.idle {
            Self::add(&mut out.idle, k, *v);
        }
        for (k, v) in &other.used {
            Self::add(&mut out.used, k, *v);
        }
        out
    }
}

/// Druid's capacity rule of `k8sAndWorker`: −1 if both are −1, else the sum of `max(0, ·)`.
///
/// ```
/// use druid_k8s_runner::combined::combine_capacity;
/// assert_eq!(combine_capacity(-1, -1), -1);
/// assert_eq!(combine_capacity(-1, 3), 3);
/// assert_eq!(combine_capacity(5, 3), 8);
/// ```
pub fn combine_capacity(k8s: i64, worker: i64) -> i64 {
    if k8s == -1 && worker == -1 {
        -1
    } else {
        k8s.max(0) + worker.max(0)
    }
}

/// The `k8sAndWorker` runner. Cheap to clone.
#[derive(Clone)]
pub struct CombinedRunner {
    k8s: TaskRunner,
    worker: WorkerRunner,
    strategy: RunnerStrategy,
    events: broadcast::Sender<RunnerEvent>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for CombinedRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombinedRunner")
            .field("k8s", &self.k8s)
            .field("worker", &self.worker)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl CombinedRunner {
    /// Starts both runners from one configuration (`config.k8s_and_worker` must be set, i.e.
    /// `druid.indexer.runner.type=k8sAndWorker`).
    pub async fn start(parts: RunnerParts) -> Result<CombinedRunner, RunnerError> {
        let kw = parts
            .config
            .k8s_and_worker
            .clone()
            .ok_or_else(|| RunnerError::Config {
                key: "druid.indexer.runner.type",
                message: "the combined runner needs druid.indexer.runner.type=k8sAndWorker".into(),
            })?;
        let worker_cfg = WorkerRunnerConfig::from_config(&kw)?;
        let client =
            kube::Client::try_from(parts.kube.clone()).map_err(|e| RunnerError::Config {
                key: "kubeconfig",
                message: format!("cannot build a Kubernetes client: {e}"),
            })?;
        let k8s = TaskRunner::start(parts).await?;
        let worker = match WorkerRunner::start_with_client(worker_cfg, client).await {
            Ok(w) => w,
            Err(e) => {
                k8s.stop();
                return Err(e);
            }
        };
        Ok(Self::new(k8s, worker, kw.runner_strategy))
    }

    /// Combines two running runners. Spawns the task that merges their events (call it inside
    /// a Tokio runtime).
    pub fn new(k8s: TaskRunner, worker: WorkerRunner, strategy: RunnerStrategy) -> Self {
        let (events, _) = broadcast::channel(4096);
        let cancel = CancellationToken::new();
        for mut rx in [k8s.subscribe(), worker.subscribe()] {
            let tx = events.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                loop {
                    let ev = tokio::select! {
                        _ = cancel.cancelled() => return,
                        ev = rx.recv() => ev,
                    };
                    match ev {
                        Ok(ev) => {
                            let _ = tx.send(ev);
                        }
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "combined runner: events were dropped");
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        CombinedRunner {
            k8s,
            worker,
            strategy,
            events,
            cancel,
        }
    }

    /// The Kubernetes runner.
    pub fn k8s(&self) -> &TaskRunner {
        &self.k8s
    }

    /// The worker runner.
    pub fn worker(&self) -> &WorkerRunner {
        &self.worker
    }

    /// The runner strategy.
    pub fn strategy(&self) -> &RunnerStrategy {
        &self.strategy
    }

    /// Which runner holds the task, if any.
    pub fn holder(&self, task_id: &str) -> Option<RunnerKind> {
        if self.k8s.runner_task_state(task_id).is_some() {
            Some(RunnerKind::K8s)
        } else if self.worker.runner_task_state(task_id).is_some() {
            Some(RunnerKind::Worker)
        } else {
            None
        }
    }

    /// Runs a task: on the runner that already holds it, else where the strategy says.
    pub fn run(&self, task: Task) -> Result<TaskHandle, RunnerError> {
        let kind = self
            .holder(task.id())
            .unwrap_or_else(|| self.strategy.runner_for(task.task_type()));
        tracing::debug!(task = %task.id(), runner = %kind, "routing task");
        match kind {
            RunnerKind::K8s => self.k8s.run(task),
            RunnerKind::Worker => self.worker.run(task),
        }
    }

    /// Shuts the task down in both runners.
    pub fn shutdown(&self, task_id: &str, reason: &str) {
        self.k8s.shutdown(task_id, reason);
        self.worker.shutdown(task_id, reason);
    }

    /// The handle of a known task.
    pub fn status(&self, task_id: &str) -> Option<TaskHandle> {
        self.k8s
            .status(task_id)
            .or_else(|| self.worker.status(task_id))
    }

    /// Both runners' status, location and state events.
    pub fn subscribe(&self) -> broadcast::Receiver<RunnerEvent> {
        self.events.subscribe()
    }

    /// Kubernetes' location unless unknown, else the workers'.
    pub fn location(&self, task_id: &str) -> TaskLocation {
        let l = self.k8s.location(task_id);
        if l.is_unknown() {
            self.worker.location(task_id)
        } else {
            l
        }
    }

    /// Kubernetes' state if it knows the task, else the workers'.
    pub fn runner_task_state(&self, task_id: &str) -> Option<RunnerTaskState> {
        self.k8s
            .runner_task_state(task_id)
            .or_else(|| self.worker.runner_task_state(task_id))
    }

    /// Snapshot of one task.
    pub fn task(&self, task_id: &str) -> Option<TaskInfo> {
        self.k8s.task(task_id).or_else(|| self.worker.task(task_id))
    }

    /// Kubernetes' known tasks, then the workers'.
    pub fn known_tasks(&self) -> Vec<TaskInfo> {
        let mut v = self.k8s.known_tasks();
        v.extend(self.worker.known_tasks());
        v
    }

    /// Running tasks of both.
    pub fn running_tasks(&self) -> Vec<TaskInfo> {
        let mut v = self.k8s.running_tasks();
        v.extend(self.worker.running_tasks());
        v
    }

    /// Pending tasks of both.
    pub fn pending_tasks(&self) -> Vec<TaskInfo> {
        let mut v = self.k8s.pending_tasks();
        v.extend(self.worker.pending_tasks());
        v
    }

    /// Slot maps of both (see [`SlotMaps::combine`]).
    pub fn slots(&self) -> SlotMaps {
        SlotMaps::of_k8s(&self.k8s).combine(&self.worker.slots())
    }

    /// Total capacity (see [`combine_capacity`]).
    pub fn total_capacity(&self) -> i64 {
        combine_capacity(
            i64::from(self.k8s.slots().total),
            self.worker.total_capacity(),
        )
    }

    /// Used capacity (see [`combine_capacity`]).
    pub fn used_capacity(&self) -> i64 {
        combine_capacity(
            i64::try_from(self.k8s.known_tasks().len()).unwrap_or(i64::MAX),
            self.worker.used_capacity(),
        )
    }

    /// Applies a dynamic config (capacity, pod template selection) to the Kubernetes runner.
    pub fn set_dynamic_config(&self, dynamic: &DynamicConfig) {
        self.k8s.set_dynamic_config(dynamic);
    }

    /// The live log: Kubernetes first, then the task's worker.
    pub async fn stream_log(
        &self,
        task_id: &str,
        offset: i64,
    ) -> Result<Option<LogStream>, RunnerError> {
        if let Some(s) = self.k8s.stream_log(task_id, offset).await? {
            return Ok(Some(s));
        }
        self.worker.stream_log(task_id, offset).await
    }

    /// The archived log from task-log storage (shared by peons and MiddleManagers).
    pub async fn stored_log(&self, task_id: &str) -> Result<Option<Bytes>, RunnerError> {
        self.k8s.stored_log(task_id).await
    }

    /// Reports: Kubernetes first (live from its peon, else task-log storage), then the live
    /// reports of a worker's task.
    pub async fn reports(&self, task_id: &str) -> Result<Option<Bytes>, RunnerError> {
        if let Some(r) = self.k8s.reports(task_id).await? {
            return Ok(Some(r));
        }
        self.worker.reports(task_id).await
    }

    /// Stops both runners (tasks keep running; the next start adopts them).
    pub fn stop(&self) {
        self.cancel.cancel();
        self.k8s.stop();
        self.worker.stop();
    }
}
