//! The runner's pure state machine: `on_event(state, event) -> commands`.
//!
//! No I/O, no clock, no tokio: the driver ([`crate::TaskRunner`]) feeds it watch events, results
//! of the commands it ran and timer ticks, and carries out the commands it returns. Every task
//! goes `Queued` (lifecycle NOT_STARTED) → `Launching`/`Starting` (PENDING) → `Running`/
//! `Finishing` (RUNNING) → `Done` (STOPPED).
//!
//! Bookkeeping rules (the reasons this runner cannot lose or duplicate a task):
//! * a task id maps to one entry and one deterministic Job name; `Submit` of a known id does
//!   nothing, so a second Job is never created for it;
//! * a *slot* is held by every Job that may exist (launch sent, created or adopted, not yet seen
//!   deleted); new Jobs are launched only while `slots < capacity`, so no more than `capacity`
//!   Jobs exist at once (adopted Jobs count too);
//! * the queue is ordered by priority (higher first), then submission order;
//! * a queued task that is shut down leaves the queue and never launches.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::views::{JobEnd, JobView, PodView};

/// Settings the state machine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct CoreConfig {
    /// Maximum number of Jobs at once (the effective `capacity`).
    pub capacity: u32,
    /// `k8sjobLaunchTimeout`: from launch until the pod must have started.
    pub launch_timeout: Duration,
    /// `maxTaskDuration`: from RUNNING until the runner gives up on the task.
    pub max_task_duration: Duration,
    /// Extra time past `max_task_duration` before the runner gives up itself (Kubernetes'
    /// `activeDeadlineSeconds` normally ends the Job first, with reason `DeadlineExceeded`).
    pub deadline_grace: Duration,
    /// `debugJobs`: never delete Jobs.
    pub debug_jobs: bool,
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Waiting for a slot; no Job exists (lifecycle NOT_STARTED).
    Queued,
    /// Job create sent (PENDING).
    Launching,
    /// Job exists, waiting for its pod to start (PENDING).
    Starting,
    /// Pod started (RUNNING).
    Running,
    /// Job ended (or gave up): reading the status and saving logs (RUNNING).
    Finishing,
    /// Status known (STOPPED).
    Done,
}

impl Phase {
    /// Druid's lifecycle state of this phase.
    pub fn lifecycle(self) -> druid_k8s_model::LifecycleState {
        use druid_k8s_model::LifecycleState as L;
        match self {
            Phase::Queued => L::NotStarted,
            Phase::Launching | Phase::Starting => L::Pending,
            Phase::Running | Phase::Finishing => L::Running,
            Phase::Done => L::Stopped,
        }
    }
}

/// Where a task's peon can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeonLocation {
    /// Pod IP.
    pub host: String,
    /// TLS is enabled (annotation `tls.enabled`).
    pub tls: bool,
    /// Pod name.
    pub pod_name: String,
}

/// Input to the state machine.
#[derive(Debug, Clone)]
pub enum Event<T, S> {
    /// `run(task)`.
    Submit {
        /// Task id.
        id: String,
        /// Job name of the task.
        job_name: String,
        /// Task priority (higher runs first).
        priority: i32,
        /// The task itself (opaque here).
        task: T,
    },
    /// A Job found at start-up (restore).
    Adopt {
        /// Task id.
        id: String,
        /// Task priority.
        priority: i32,
        /// The task.
        task: T,
        /// The Job.
        job: JobView,
    },
    /// `shutdown(id, reason)`.
    Shutdown {
        /// Task id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The Job create finished: `Ok` = the Job exists (created, or adopted on 409).
    Launched {
        /// Task id.
        id: String,
        /// The error text when the launch failed.
        result: Result<(), String>,
    },
    /// The watch saw a Job (added or modified).
    JobApplied(JobView),
    /// The Job is gone: the watch saw it deleted, our delete succeeded or answered 404, or a
    /// relist no longer has it.
    JobGone(String),
    /// A relist finished: these are all the Jobs that exist.
    JobsListed(HashSet<String>),
    /// The watch saw a Pod.
    PodApplied(PodView),
    /// The final status was read and the logs saved.
    Finished {
        /// Task id.
        id: String,
        /// The status.
        status: S,
    },
    /// Timer tick: check launch timeouts and `maxTaskDuration`.
    Tick,
    /// The effective capacity changed (dynamic config).
    SetCapacity(u32),
}

/// Output of the state machine, carried out by the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<S> {
    /// Render and create the Job of task `id` (upload `task.json` first when needed).
    Launch {
        /// Task id.
        id: String,
        /// Job name.
        job_name: String,
    },
    /// Delete a Job (background propagation; 404 is success), then report `JobGone`.
    DeleteJob {
        /// Job name.
        job_name: String,
    },
    /// Decide the outcome and save the logs, then report `Finished`.
    Finish {
        /// Task id.
        id: String,
        /// Job name.
        job_name: String,
        /// `Some(msg)`: the task failed with this message (no status to read);
        /// `None`: read `status.json`, and fall back to a failure built from `hint`.
        failure: Option<String>,
        /// Why the Job ended as far as Kubernetes tells (for the fallback message).
        hint: String,
        /// Whether a pod ever started (there may be a log to save).
        pod_started: bool,
    },
    /// Start capturing the live log of the task's pod (so an evicted pod's log survives).
    CaptureLogs {
        /// Task id.
        id: String,
        /// Pod name.
        pod_name: String,
    },
    /// The task's status is final: notify listeners and waiters.
    Completed {
        /// Task id.
        id: String,
        /// The status.
        status: S,
    },
    /// The task's location became known.
    Located {
        /// Task id.
        id: String,
        /// The location.
        location: PeonLocation,
    },
    /// The task's lifecycle state changed.
    StateChanged {
        /// Task id.
        id: String,
        /// The new phase.
        phase: Phase,
    },
    /// `k8s/peon/startup/time`: Job launch → pod started.
    ObserveStartup {
        /// Task id.
        id: String,
        /// The time.
        elapsed: Duration,
    },
    /// `task/pending/time`: submitted (or restored) → RUNNING.
    ObservePending {
        /// Task id.
        id: String,
        /// The time.
        elapsed: Duration,
    },
}

/// What the state machine keeps per task.
#[derive(Debug, Clone)]
pub struct Entry<T, S> {
    /// Task id.
    pub id: String,
    /// Job name.
    pub job_name: String,
    /// Priority.
    pub priority: i32,
    /// The task.
    pub task: T,
    /// Phase.
    pub phase: Phase,
    /// Latest Job view.
    pub job: Option<JobView>,
    /// Latest pod view.
    pub pod: Option<PodView>,
    /// Location (set when RUNNING).
    pub location: Option<PeonLocation>,
    /// Final status.
    pub status: Option<S>,
    /// Restored from an existing Job at start-up.
    pub adopted: bool,
    seq: u64,
    submitted: Instant,
    launched: Option<Instant>,
    running_since: Option<Instant>,
    job_observed: bool,
    cancel: Option<String>,
    remove_when_done: bool,
    pod_started: bool,
}

/// Slot numbers as Druid reports them (§8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slots {
    /// Effective capacity.
    pub total: u32,
    /// `max(0, capacity − known)`.
    pub idle: u32,
    /// `min(capacity, known)`.
    pub used: u32,
}

/// The state machine.
#[derive(Debug)]
pub struct Core<T, S> {
    cfg: CoreConfig,
    tasks: HashMap<String, Entry<T, S>>,
    by_job: HashMap<String, String>,
    queue: BTreeSet<(Reverse<i32>, u64, String)>,
    slots: HashSet<String>,
    deleting: HashSet<String>,
    seq: u64,
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("PT{}H", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("PT{}M", s / 60)
    } else {
        format!("PT{}S", d.as_secs_f64())
    }
}

impl<T: Clone, S: Clone> Core<T, S> {
    /// An empty state machine.
    pub fn new(cfg: CoreConfig) -> Self {
        Core {
            cfg,
            tasks: HashMap::new(),
            by_job: HashMap::new(),
            queue: BTreeSet::new(),
            slots: HashSet::new(),
            deleting: HashSet::new(),
            seq: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// One task.
    pub fn get(&self, id: &str) -> Option<&Entry<T, S>> {
        self.tasks.get(id)
    }

    /// All tasks.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<T, S>> {
        self.tasks.values()
    }

    /// Number of known tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// No task is known.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The task id of a Job name.
    pub fn task_of_job(&self, job_name: &str) -> Option<&str> {
        self.by_job.get(job_name).map(String::as_str)
    }

    /// Jobs that may exist (launched or adopted, not yet gone).
    pub fn jobs_held(&self) -> usize {
        self.slots.len()
    }

    /// Tasks waiting for a slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Slot numbers (§8.2).
    pub fn slots(&self) -> Slots {
        let total = self.cfg.capacity;
        let known = u32::try_from(self.tasks.len()).unwrap_or(u32::MAX);
        Slots {
            total,
            idle: total.saturating_sub(known),
            used: total.min(known),
        }
    }

    /// Feeds one event; returns what to do.
    pub fn on_event(&mut self, now: Instant, ev: Event<T, S>) -> Vec<Command<S>> {
        let mut out = Vec::new();
        match ev {
            Event::Submit {
                id,
                job_name,
                priority,
                task,
            } => {
                if !self.tasks.contains_key(&id) {
                    self.seq += 1;
                    let e = self.entry(id.clone(), job_name.clone(), priority, task, now);
                    self.queue.insert((Reverse(priority), e.seq, id.clone()));
                    self.by_job.insert(job_name, id.clone());
                    self.tasks.insert(id, e);
                }
            }
            Event::Adopt {
                id,
                priority,
                task,
                job,
            } => {
                if !self.tasks.contains_key(&id) {
                    self.seq += 1;
                    let job_name = job.name.clone();
                    let mut e = self.entry(id.clone(), job_name.clone(), priority, task, now);
                    e.adopted = true;
                    e.phase = Phase::Starting;
                    e.launched = Some(now);
                    e.job_observed = true;
                    self.slots.insert(job_name.clone());
                    self.by_job.insert(job_name, id.clone());
                    self.tasks.insert(id.clone(), e);
                    out.push(Command::StateChanged {
                        id: id.clone(),
                        phase: Phase::Starting,
                    });
                    self.apply_job(now, &id, job, &mut out);
                }
            }
            Event::Shutdown { id, reason } => self.shutdown(&id, reason, &mut out),
            Event::Launched { id, result } => self.launched(now, &id, result, &mut out),
            Event::JobApplied(job) => {
                if let Some(id) = self.by_job.get(&job.name).cloned() {
                    self.apply_job(now, &id, job, &mut out);
                }
            }
            Event::JobGone(name) => {
                self.deleting.remove(&name);
                self.job_gone(&name, &mut out)
            }
            Event::JobsListed(names) => {
                let gone: Vec<String> = self
                    .tasks
                    .values()
                    .filter(|e| {
                        e.job_observed
                            && self.slots.contains(&e.job_name)
                            && !names.contains(&e.job_name)
                    })
                    .map(|e| e.job_name.clone())
                    .collect();
                for name in gone {
                    self.job_gone(&name, &mut out);
                }
            }
            Event::PodApplied(pod) => {
                if let Some(id) = self.by_job.get(&pod.job_name).cloned() {
                    self.apply_pod(now, &id, pod, &mut out);
                }
            }
            Event::Finished { id, status } => self.finished(&id, status, &mut out),
            Event::Tick => self.tick(now, &mut out),
            Event::SetCapacity(c) => self.cfg.capacity = c,
        }
        self.launch_more(now, &mut out);
        // one delete per Job at a time (a shutdown right after completion must not send a
        // second DELETE while the first is in flight)
        out.retain(|c| match c {
            Command::DeleteJob { job_name } => self.deleting.insert(job_name.clone()),
            _ => true,
        });
        out
    }

    fn entry(
        &self,
        id: String,
        job_name: String,
        priority: i32,
        task: T,
        now: Instant,
    ) -> Entry<T, S> {
        Entry {
            id,
            job_name,
            priority,
            task,
            phase: Phase::Queued,
            job: None,
            pod: None,
            location: None,
            status: None,
            adopted: false,
            seq: self.seq,
            submitted: now,
            launched: None,
            running_since: None,
            job_observed: false,
            cancel: None,
            remove_when_done: false,
            pod_started: false,
        }
    }

    /// Changes the phase; listeners hear of lifecycle changes only (Launching → Starting are
    /// both PENDING).
    fn set_phase(e: &mut Entry<T, S>, phase: Phase, out: &mut Vec<Command<S>>) {
        if e.phase != phase {
            let changed = e.phase.lifecycle() != phase.lifecycle();
            e.phase = phase;
            if changed {
                out.push(Command::StateChanged {
                    id: e.id.clone(),
                    phase,
                });
            }
        }
    }

    fn launch_more(&mut self, now: Instant, out: &mut Vec<Command<S>>) {
        let mut deferred = Vec::new();
        while (self.slots.len() as u64) < u64::from(self.cfg.capacity) {
            let Some(first) = self.queue.pop_first() else {
                break;
            };
            let Some(e) = self.tasks.get_mut(&first.2) else {
                continue;
            };
            if e.phase != Phase::Queued || e.cancel.is_some() {
                continue;
            }
            if self.slots.contains(&e.job_name) {
                // an earlier Job of the same task id is still being deleted: creating now would
                // "adopt" the dying Job (Druid #14030); wait until it is gone
                deferred.push(first);
                continue;
            }
            e.launched = Some(now);
            self.slots.insert(e.job_name.clone());
            Self::set_phase(e, Phase::Launching, out);
            out.push(Command::Launch {
                id: e.id.clone(),
                job_name: e.job_name.clone(),
            });
        }
        self.queue.extend(deferred);
    }

    /// Moves a task to `Finishing` and asks the driver to decide the outcome.
    fn finish(
        e: &mut Entry<T, S>,
        failure: Option<String>,
        hint: String,
        out: &mut Vec<Command<S>>,
    ) {
        if matches!(e.phase, Phase::Finishing | Phase::Done) {
            return;
        }
        Self::set_phase(e, Phase::Finishing, out);
        out.push(Command::Finish {
            id: e.id.clone(),
            job_name: e.job_name.clone(),
            failure,
            hint,
            pod_started: e.pod_started,
        });
    }

    fn shutdown(&mut self, id: &str, reason: String, out: &mut Vec<Command<S>>) {
        let debug = self.cfg.debug_jobs;
        let Some(e) = self.tasks.get_mut(id) else {
            return;
        };
        match e.phase {
            Phase::Queued => {
                self.queue
                    .remove(&(Reverse(e.priority), e.seq, e.id.clone()));
                e.remove_when_done = true;
                e.cancel = Some(reason.clone());
                Self::finish(
                    e,
                    Some(format!(
                        "Task [{id}] was shut down before it was launched: {reason}"
                    )),
                    String::new(),
                    out,
                );
            }
            Phase::Launching => {
                // the delete waits for the create to return (else the create could win)
                e.cancel = Some(reason);
                e.remove_when_done = true;
            }
            Phase::Starting | Phase::Running => {
                e.remove_when_done = true;
                e.cancel = Some(reason);
                if !debug {
                    out.push(Command::DeleteJob {
                        job_name: e.job_name.clone(),
                    });
                }
            }
            Phase::Finishing => e.remove_when_done = true,
            Phase::Done => {
                let name = e.job_name.clone();
                self.remove(id);
                if self.slots.contains(&name) && !debug {
                    out.push(Command::DeleteJob { job_name: name });
                }
            }
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(e) = self.tasks.remove(id) {
            self.queue
                .remove(&(Reverse(e.priority), e.seq, e.id.clone()));
            // keep the job → task mapping only while the Job may still exist
            if !self.slots.contains(&e.job_name) {
                self.by_job.remove(&e.job_name);
            }
        }
    }

    fn launched(
        &mut self,
        now: Instant,
        id: &str,
        result: Result<(), String>,
        out: &mut Vec<Command<S>>,
    ) {
        let debug = self.cfg.debug_jobs;
        let Some(e) = self.tasks.get_mut(id) else {
            return;
        };
        if e.phase != Phase::Launching {
            // the watch was faster; nothing to do unless the launch failed late
            return;
        }
        match result {
            Ok(()) => {
                Self::set_phase(e, Phase::Starting, out);
                if let Some(reason) = e.cancel.clone() {
                    if !debug {
                        out.push(Command::DeleteJob {
                            job_name: e.job_name.clone(),
                        });
                    }
                    Self::finish(
                        e,
                        Some(format!("Task [{id}] was shut down: {reason}")),
                        String::new(),
                        out,
                    );
                } else if let Some(pod) = e.pod.clone() {
                    self.apply_pod(now, id, pod, out);
                }
            }
            Err(msg) => {
                // the Job may exist after all (e.g. a create that timed out): delete to be sure
                out.push(Command::DeleteJob {
                    job_name: e.job_name.clone(),
                });
                Self::finish(
                    e,
                    Some(format!(
                        "Failed to launch Job [{}] for task [{id}]: {msg}",
                        e.job_name
                    )),
                    String::new(),
                    out,
                );
            }
        }
    }

    fn apply_job(&mut self, now: Instant, id: &str, job: JobView, out: &mut Vec<Command<S>>) {
        let Some(e) = self.tasks.get_mut(id) else {
            return;
        };
        e.job_observed = true;
        if e.phase == Phase::Queued {
            // the Job exists already (e.g. left by an earlier runner): adopt it, never create a
            // second one
            self.queue
                .remove(&(Reverse(e.priority), e.seq, e.id.clone()));
            e.launched = Some(now);
            Self::set_phase(e, Phase::Starting, out);
        }
        if !self.slots.contains(&job.name) && e.phase != Phase::Done {
            // a Job we did not count (e.g. it came back after we saw it gone): count it now
            self.slots.insert(job.name.clone());
        }
        if e.phase == Phase::Launching {
            Self::set_phase(e, Phase::Starting, out);
        }
        let end = job.end.clone();
        e.job = Some(job);
        if let Some(end) = end {
            if matches!(e.phase, Phase::Starting | Phase::Running) {
                let hint = match end {
                    JobEnd::Succeeded => format!("Job [{}] succeeded", e.job_name),
                    JobEnd::Failed { reason, message } => {
                        let mut h = format!("Job [{}] failed", e.job_name);
                        if !reason.is_empty() {
                            h.push_str(&format!(": {reason}"));
                        }
                        if !message.is_empty() {
                            h.push_str(&format!(" ({message})"));
                        }
                        h
                    }
                };
                Self::finish(e, None, hint, out);
            }
        } else if let Some(pod) = e.pod.clone() {
            self.apply_pod(now, id, pod, out);
        }
    }

    fn apply_pod(&mut self, now: Instant, id: &str, pod: PodView, out: &mut Vec<Command<S>>) {
        let debug = self.cfg.debug_jobs;
        let Some(e) = self.tasks.get_mut(id) else {
            return;
        };
        let started = pod.started();
        let fatal = pod.fatal_wait().cloned();
        let pod_name = pod.name.clone();
        let ip = pod.pod_ip.clone();
        let tls = pod.tls;
        e.pod = Some(pod);
        if e.phase != Phase::Starting {
            return;
        }
        if started {
            e.pod_started = true;
            e.running_since = Some(now);
            Self::set_phase(e, Phase::Running, out);
            if let (Some(l), false) = (e.launched, e.adopted) {
                out.push(Command::ObserveStartup {
                    id: id.to_string(),
                    elapsed: now.saturating_duration_since(l),
                });
            }
            out.push(Command::ObservePending {
                id: id.to_string(),
                elapsed: now.saturating_duration_since(e.submitted),
            });
            if let Some(host) = ip {
                let loc = PeonLocation {
                    host,
                    tls,
                    pod_name: pod_name.clone(),
                };
                e.location = Some(loc.clone());
                out.push(Command::Located {
                    id: id.to_string(),
                    location: loc,
                });
            }
            out.push(Command::CaptureLogs {
                id: id.to_string(),
                pod_name,
            });
        } else if let Some((reason, message)) = fatal {
            if !debug {
                out.push(Command::DeleteJob {
                    job_name: e.job_name.clone(),
                });
            }
            let mut msg = format!(
                "Pod [{pod_name}] of Job [{}] cannot start: {reason}",
                e.job_name
            );
            if !message.is_empty() {
                msg.push_str(&format!(" ({message})"));
            }
            Self::finish(e, Some(msg), String::new(), out);
        }
    }

    fn job_gone(&mut self, name: &str, out: &mut Vec<Command<S>>) {
        let Some(id) = self.by_job.get(name).cloned() else {
            self.slots.remove(name);
            return;
        };
        let Some(e) = self.tasks.get_mut(&id) else {
            // the task was removed already; only the slot was left
            self.slots.remove(name);
            self.by_job.remove(name);
            return;
        };
        if e.phase == Phase::Launching {
            // our create has not returned yet: the Job may still appear; keep the slot
            return;
        }
        self.slots.remove(name);
        e.job_observed = false;
        match e.phase {
            Phase::Starting | Phase::Running => {
                let hint = match &e.cancel {
                    Some(r) => {
                        format!("Job [{name}] was deleted because the task was shut down: {r}")
                    }
                    None => format!("Job [{name}] was deleted before it completed"),
                };
                Self::finish(e, None, hint, out);
            }
            Phase::Done => {
                if e.remove_when_done {
                    self.remove(&id);
                }
            }
            Phase::Queued | Phase::Launching | Phase::Finishing => {}
        }
    }

    fn finished(&mut self, id: &str, status: S, out: &mut Vec<Command<S>>) {
        let debug = self.cfg.debug_jobs;
        let Some(e) = self.tasks.get_mut(id) else {
            return;
        };
        if e.phase == Phase::Done {
            return;
        }
        e.status = Some(status.clone());
        Self::set_phase(e, Phase::Done, out);
        out.push(Command::Completed {
            id: id.to_string(),
            status,
        });
        let name = e.job_name.clone();
        let remove = e.remove_when_done;
        if self.slots.contains(&name) {
            if debug {
                // debugJobs keeps the Job; it no longer counts against capacity
                self.slots.remove(&name);
            } else {
                out.push(Command::DeleteJob { job_name: name });
            }
        }
        if remove {
            self.remove(id);
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Command<S>>) {
        let debug = self.cfg.debug_jobs;
        let launch_timeout = self.cfg.launch_timeout;
        let max = self.cfg.max_task_duration;
        let limit = max.saturating_add(self.cfg.deadline_grace);
        for e in self.tasks.values_mut() {
            match e.phase {
                // not `Launching`: the create is in flight (bounded by its retries) and the
                // task must not end before we know whether its Job exists
                Phase::Starting => {
                    let Some(l) = e.launched else { continue };
                    if now.saturating_duration_since(l) < launch_timeout {
                        continue;
                    }
                    if !debug {
                        out.push(Command::DeleteJob {
                            job_name: e.job_name.clone(),
                        });
                    }
                    let mut msg = format!(
                        "Timed out after {} (k8sjobLaunchTimeout) waiting for the pod of Job [{}] to start",
                        fmt_duration(launch_timeout),
                        e.job_name
                    );
                    match e.pod.as_ref() {
                        Some(p) => {
                            if let Some((r, m)) = p.unscheduled.as_ref().or(p.waiting.as_ref()) {
                                msg.push_str(&format!("; pod [{}] is pending: {r}", p.name));
                                if !m.is_empty() {
                                    msg.push_str(&format!(" ({m})"));
                                }
                            }
                        }
                        None => msg.push_str("; no pod was created"),
                    }
                    Self::finish(e, Some(msg), String::new(), out);
                }
                Phase::Running => {
                    let Some(r) = e.running_since else { continue };
                    if now.saturating_duration_since(r) < limit {
                        continue;
                    }
                    if !debug {
                        out.push(Command::DeleteJob {
                            job_name: e.job_name.clone(),
                        });
                    }
                    let msg = format!(
                        "Task [{}] exceeded maxTaskDuration ({}); its Job [{}] was deleted",
                        e.id,
                        fmt_duration(max),
                        e.job_name
                    );
                    Self::finish(e, Some(msg), String::new(), out);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
