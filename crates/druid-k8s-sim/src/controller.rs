//! The simulated control plane: one loop, driven by the store's events and a timer heap, runs the
//! Job controller, the TTL-after-finished controller, the garbage collector, the namespace
//! controller, and (in `kubelet.rs`) the scheduler and kubelets. No task per object: idle objects
//! cost nothing but their place in the store.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::core::{Core, DeleteOpts, Propagation, pod_terminal};
use crate::kinds::{self, JOB, KINDS, NAMESPACE, POD};
use crate::kubelet::{NodeState, PodRuntime};
use crate::store::{Event, EventType, Key, key_of};
use crate::util;

/// The Job controller's pod finalizer.
pub(crate) const JOB_TRACKING: &str = "batch.kubernetes.io/job-tracking";

pub(crate) struct Ctl {
    pub core: Arc<Core>,
    timers: BinaryHeap<Reverse<(Instant, u64, usize, Key)>>,
    /// Earliest pending timer per object.
    pending: HashMap<(usize, Key), Instant>,
    seq: u64,
    /// owner uid → dependents.
    dependents: HashMap<String, HashSet<(usize, Key)>>,
    /// object → its owner uids.
    owners_of: HashMap<(usize, Key), Vec<String>>,
    /// uid → live object.
    live: HashMap<String, (usize, Key)>,
    /// Objects to reconcile next.
    kicks: Vec<(usize, Key)>,
    pub nodes: Vec<NodeState>,
    pub runtimes: HashMap<Key, PodRuntime>,
    pub unschedulable: HashSet<Key>,
    /// job uid → (failures seen, time of the last new failure).
    backoff: HashMap<String, (i64, Instant)>,
    pub next_ip: u32,
}

fn uid_of(obj: &Value) -> String {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

pub(crate) fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == f))
}

pub(crate) fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
}

fn condition_true(obj: &Value, type_: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
}

fn job_condition(type_: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({
        "type": type_,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    })
}

impl Ctl {
    pub fn new(core: Arc<Core>) -> Self {
        let nodes = crate::kubelet::make_nodes(&core);
        Ctl {
            core,
            timers: BinaryHeap::new(),
            pending: HashMap::new(),
            seq: 0,
            dependents: HashMap::new(),
            owners_of: HashMap::new(),
            live: HashMap::new(),
            kicks: Vec::new(),
            nodes,
            runtimes: HashMap::new(),
            unschedulable: HashSet::new(),
            backoff: HashMap::new(),
            next_ip: 0,
        }
    }

    /// Reconcile `(kind, key)` at `at` (a reconcile already due earlier makes this one
    /// redundant: reconciles are idempotent and re-arm their timers).
    pub fn timer(&mut self, at: Instant, kind: usize, key: &Key) {
        let id = (kind, key.clone());
        if let Some(pending) = self.pending.get(&id)
            && *pending <= at
        {
            return;
        }
        self.pending.insert(id, at);
        self.seq += 1;
        self.timers.push(Reverse((at, self.seq, kind, key.clone())));
    }

    /// Reconcile `(kind, key)` soon (in this round).
    pub fn kick(&mut self, kind: usize, key: &Key) {
        self.kicks.push((kind, key.clone()));
    }

    /// The loop; ends when the simulator shuts down.
    pub async fn run(mut self, mut events: mpsc::UnboundedReceiver<Arc<Event>>) {
        let mut shutdown = self.core.shutdown.clone();
        loop {
            if !self.kicks.is_empty() {
                // Work left from the previous round: take what arrived meanwhile and go on.
                tokio::task::yield_now().await;
                if *shutdown.borrow() {
                    return;
                }
                while let Ok(ev) = events.try_recv() {
                    self.observe(&ev);
                }
                self.process();
                continue;
            }
            let next = self.timers.peek().map(|Reverse((at, ..))| *at);
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return };
                    self.observe(&ev);
                    let mut n = 0;
                    while n < 4096 {
                        match events.try_recv() {
                            Ok(ev) => self.observe(&ev),
                            Err(_) => break,
                        }
                        n += 1;
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    while let Some(Reverse((at, ..))) = self.timers.peek() {
                        if *at > now {
                            break;
                        }
                        if let Some(Reverse((at, _, kind, key))) = self.timers.pop() {
                            let id = (kind, key);
                            if self.pending.get(&id) == Some(&at) {
                                self.pending.remove(&id);
                            }
                            self.kicks.push(id);
                        }
                    }
                }
                _ = shutdown.changed() => return,
            }
            self.process();
        }
    }

    fn process(&mut self) {
        let mut rounds = 0;
        while !self.kicks.is_empty() && rounds < 16 {
            rounds += 1;
            let mut seen = HashSet::new();
            let batch: Vec<(usize, Key)> = std::mem::take(&mut self.kicks)
                .into_iter()
                .filter(|k| seen.insert(k.clone()))
                .collect();
            for (kind, key) in batch {
                self.reconcile(kind, &key);
            }
        }
    }

    /// Keeps the indexes up to date and queues what an event affects.
    fn observe(&mut self, ev: &Event) {
        let uid = uid_of(&ev.slim);
        let id = (ev.kind, ev.key.clone());
        let new_owners = if ev.etype == EventType::Deleted {
            Vec::new()
        } else {
            owner_uids(&ev.slim)
        };
        let old_owners = self.owners_of.remove(&id).unwrap_or_default();
        for o in &old_owners {
            if !new_owners.contains(o)
                && let Some(set) = self.dependents.get_mut(o)
            {
                set.remove(&id);
                if set.is_empty() {
                    self.dependents.remove(o);
                }
            }
        }
        for o in &new_owners {
            self.dependents
                .entry(o.clone())
                .or_default()
                .insert(id.clone());
        }
        if !new_owners.is_empty() {
            self.owners_of.insert(id.clone(), new_owners.clone());
        }
        match ev.etype {
            EventType::Added | EventType::Modified => {
                if !uid.is_empty() {
                    self.live.insert(uid.clone(), id.clone());
                }
            }
            EventType::Deleted => {
                self.live.remove(&uid);
                if let Some(deps) = self.dependents.get(&uid) {
                    let deps: Vec<(usize, Key)> = deps.iter().cloned().collect();
                    self.kicks.extend(deps);
                }
            }
        }
        // Owners react to their dependents (Job ← pods; foreground deletion ← anything).
        for o in old_owners.iter().chain(new_owners.iter()) {
            if let Some(owner) = self.live.get(o) {
                self.kicks.push(owner.clone());
            }
        }
        self.kicks.push(id);
    }

    fn reconcile(&mut self, kind: usize, key: &Key) {
        let Some(obj) = self.core.store.get(kind, key) else {
            if kind == POD {
                self.pod_gone(key);
            }
            return;
        };
        if !self.sync_gc(kind, key, &obj) {
            return;
        }
        match kind {
            POD => self.sync_pod(key, &obj),
            JOB => self.sync_job(key, &obj),
            NAMESPACE => self.sync_namespace(key, &obj),
            _ => {}
        }
    }

    /// Garbage collection for one object. Returns false when the object is being removed.
    fn sync_gc(&mut self, kind: usize, key: &Key, obj: &Value) -> bool {
        // A dependent whose owners are all gone is deleted (owners of kinds we do not serve are
        // assumed to exist).
        let refs: Vec<&Value> = obj
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        if !refs.is_empty() && !deleting(obj) {
            let all_gone = refs.iter().all(|r| {
                let known = kinds::find_by_kind(
                    r["apiVersion"].as_str().unwrap_or_default(),
                    r["kind"].as_str().unwrap_or_default(),
                )
                .is_some();
                let uid = r["uid"].as_str().unwrap_or_default();
                known && !self.live.contains_key(uid)
            });
            if all_gone {
                let _ = self.core.delete(
                    kind,
                    key,
                    &DeleteOpts {
                        propagation: Some(Propagation::Background),
                        ..DeleteOpts::default()
                    },
                );
                return false;
            }
        }
        if !deleting(obj) {
            return true;
        }
        let uid = uid_of(obj);
        let deps: Vec<(usize, Key)> = self
            .dependents
            .get(&uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if has_finalizer(obj, "orphan") {
            for (dk, dkey) in &deps {
                self.core.mutate(*dk, dkey, |d| {
                    let mut v = d.clone();
                    let refs = v
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)?;
                    refs.retain(|r| r["uid"] != uid.as_str());
                    if refs.is_empty()
                        && let Some(m) = v["metadata"].as_object_mut()
                    {
                        m.remove("ownerReferences");
                    }
                    Some(v)
                });
            }
            self.remove_finalizer(kind, key, "orphan");
            return false;
        }
        if has_finalizer(obj, "foregroundDeletion") {
            let mut blocking = 0;
            for (dk, dkey) in &deps {
                if let Some(d) = self.core.store.get(*dk, dkey) {
                    blocking += 1;
                    if !deleting(&d) {
                        let _ = self.core.delete(
                            *dk,
                            dkey,
                            &DeleteOpts {
                                propagation: Some(Propagation::Foreground),
                                ..DeleteOpts::default()
                            },
                        );
                    }
                }
            }
            if blocking == 0 {
                self.remove_finalizer(kind, key, "foregroundDeletion");
                return false;
            }
        }
        true
    }

    pub fn remove_finalizer(&self, kind: usize, key: &Key, f: &str) {
        self.core.mutate(kind, key, |o| {
            let mut v = o.clone();
            let fins = v
                .pointer_mut("/metadata/finalizers")
                .and_then(Value::as_array_mut)?;
            let before = fins.len();
            fins.retain(|x| x != f);
            if fins.len() == before {
                return None;
            }
            if fins.is_empty()
                && let Some(m) = v["metadata"].as_object_mut()
            {
                m.remove("finalizers");
            }
            Some(v)
        });
    }

    fn sync_namespace(&mut self, key: &Key, ns: &Value) {
        if !deleting(ns) {
            return;
        }
        let name = key.1.clone();
        let mut remaining = 0;
        for (k, kind) in KINDS.iter().enumerate() {
            if !kind.namespaced {
                continue;
            }
            let page = self.core.store.list(k, Some(&name), None, None, &|_| true);
            for obj in page.items {
                remaining += 1;
                if !deleting(&obj) {
                    let _ = self.core.delete(
                        k,
                        &key_of(&obj),
                        &DeleteOpts {
                            propagation: Some(Propagation::Background),
                            ..DeleteOpts::default()
                        },
                    );
                }
            }
        }
        if remaining == 0 {
            self.core.mutate(NAMESPACE, key, |o| {
                let mut v = o.clone();
                v["spec"]["finalizers"] = json!([]);
                Some(v)
            });
            self.core.finish_deletion_if_done(NAMESPACE, key);
        } else {
            self.timer(Instant::now() + Duration::from_millis(200), NAMESPACE, key);
        }
    }

    fn owned_pods(&self, uid: &str) -> Vec<Arc<Value>> {
        let mut pods: Vec<Arc<Value>> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter(|(k, _)| *k == POD)
            .filter_map(|(_, key)| self.core.store.get(POD, key))
            .filter(|p| {
                p.pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .is_some_and(|rs| {
                        rs.iter()
                            .any(|r| r["uid"] == uid && r["controller"] == true)
                    })
            })
            .collect();
        pods.sort_by_key(|a| key_of(a));
        pods
    }

    fn delete_pod(&self, pod: &Value) {
        let _ = self.core.delete(
            POD,
            &key_of(pod),
            &DeleteOpts {
                propagation: Some(Propagation::Background),
                ..DeleteOpts::default()
            },
        );
    }

    fn sync_job(&mut self, key: &Key, job: &Value) {
        let uid = uid_of(job);
        let now_ts = jiff::Timestamp::now();
        let now = util::fmt_ts(now_ts);
        let pods = self.owned_pods(&uid);
        if deleting(job) {
            // Let pods of a Job being deleted go once they stop.
            for p in &pods {
                if has_finalizer(p, JOB_TRACKING) && (pod_terminal(p) || deleting(p)) {
                    self.remove_finalizer(POD, &key_of(p), JOB_TRACKING);
                }
            }
            return;
        }
        let spec = job.get("spec").cloned().unwrap_or(json!({}));
        let int = |f: &str| spec.get(f).and_then(Value::as_i64);
        let completions = int("completions");
        let parallelism = int("parallelism").unwrap_or(1);
        let backoff_limit = int("backoffLimit").unwrap_or(6);
        let deadline = int("activeDeadlineSeconds");
        let ttl = int("ttlSecondsAfterFinished");
        let suspend = spec
            .get("suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let finished = condition_true(job, "Complete") || condition_true(job, "Failed");
        if finished {
            for p in &pods {
                if has_finalizer(p, JOB_TRACKING) && (pod_terminal(p) || deleting(p)) {
                    self.remove_finalizer(POD, &key_of(p), JOB_TRACKING);
                }
            }
            if let Some(ttl) = ttl {
                let finish = job
                    .pointer("/status/completionTime")
                    .and_then(Value::as_str)
                    .or_else(|| {
                        job.pointer("/status/conditions")
                            .and_then(Value::as_array)
                            .and_then(|cs| {
                                cs.iter()
                                    .find(|c| c["type"] == "Failed" || c["type"] == "Complete")
                            })
                            .and_then(|c| c["lastTransitionTime"].as_str())
                    })
                    .and_then(util::parse_ts)
                    .unwrap_or(now_ts);
                let expire = util::add_secs(finish, ttl);
                if expire <= now_ts {
                    let _ = self.core.delete(
                        JOB,
                        key,
                        &DeleteOpts {
                            propagation: Some(Propagation::Background),
                            ..DeleteOpts::default()
                        },
                    );
                } else {
                    self.timer(util::instant_at(expire), JOB, key);
                }
            }
            return;
        }
        let status = job.get("status").cloned().unwrap_or(json!({}));
        let mut succeeded = status.get("succeeded").and_then(Value::as_i64).unwrap_or(0);
        let mut failed = status.get("failed").and_then(Value::as_i64).unwrap_or(0);
        let mut uncount = Vec::new();
        let (mut active, mut ready, mut terminating) = (0i64, 0i64, 0i64);
        let mut active_pods = Vec::new();
        for p in &pods {
            let phase = p
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            let is_deleting = deleting(p);
            if has_finalizer(p, JOB_TRACKING) {
                let gone_before_start = is_deleting
                    && !pod_terminal(p)
                    && p.pointer("/metadata/deletionGracePeriodSeconds")
                        .and_then(Value::as_i64)
                        == Some(0);
                match phase {
                    "Succeeded" => {
                        succeeded += 1;
                        uncount.push(key_of(p));
                    }
                    "Failed" => {
                        failed += 1;
                        uncount.push(key_of(p));
                    }
                    _ if gone_before_start => {
                        failed += 1;
                        uncount.push(key_of(p));
                    }
                    _ => {}
                }
            }
            if !pod_terminal(p) {
                if is_deleting {
                    terminating += 1;
                } else {
                    active += 1;
                    active_pods.push(p.clone());
                    if p.pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                        })
                    {
                        ready += 1;
                    }
                }
            }
        }
        let mut conditions: Vec<Value> = status
            .get("conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let has =
            |cs: &Vec<Value>, t: &str| cs.iter().any(|c| c["type"] == t && c["status"] == "True");
        let mut start_time = status
            .get("startTime")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut completion_time = status
            .get("completionTime")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if start_time.is_none() && !suspend {
            start_time = Some(now.clone());
        }
        let mut events: Vec<(&str, &str, String)> = Vec::new();
        if !has(&conditions, "FailureTarget") && !has(&conditions, "SuccessCriteriaMet") {
            let target = completions.unwrap_or(1);
            let deadline_hit = match (deadline, start_time.as_deref().and_then(util::parse_ts)) {
                (Some(d), Some(st)) if !suspend => util::add_secs(st, d) <= now_ts,
                _ => false,
            };
            if succeeded >= target {
                conditions.push(job_condition(
                    "SuccessCriteriaMet",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    &now,
                ));
                for p in &active_pods {
                    self.delete_pod(p);
                }
            } else if failed > backoff_limit {
                conditions.push(job_condition(
                    "FailureTarget",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    &now,
                ));
                events.push((
                    "Warning",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit".to_owned(),
                ));
                for p in &active_pods {
                    self.delete_pod(p);
                }
            } else if deadline_hit {
                conditions.push(job_condition(
                    "FailureTarget",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    &now,
                ));
                events.push((
                    "Warning",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline".to_owned(),
                ));
                for p in &active_pods {
                    self.delete_pod(p);
                }
            }
            if has(&conditions, "FailureTarget") || has(&conditions, "SuccessCriteriaMet") {
                // Pods being deleted now count as terminating, not active.
                terminating += active;
                active = 0;
                ready = 0;
            }
        }
        let success = has(&conditions, "SuccessCriteriaMet");
        let failure = has(&conditions, "FailureTarget");
        if success || failure {
            if active == 0 && terminating == 0 {
                let src = conditions
                    .iter()
                    .find(|c| {
                        c["type"]
                            == if success {
                                "SuccessCriteriaMet"
                            } else {
                                "FailureTarget"
                            }
                    })
                    .cloned()
                    .unwrap_or(json!({}));
                let reason = src["reason"].as_str().unwrap_or_default().to_owned();
                let message = src["message"].as_str().unwrap_or_default().to_owned();
                if success {
                    conditions.push(job_condition("Complete", &reason, &message, &now));
                    completion_time = Some(now.clone());
                    events.push(("Normal", "Completed", "Job completed".to_owned()));
                } else {
                    conditions.push(job_condition("Failed", &reason, &message, &now));
                }
            }
        } else if suspend {
            for p in &active_pods {
                self.delete_pod(p);
            }
            if !has(&conditions, "Suspended") {
                conditions.retain(|c| c["type"] != "Suspended");
                conditions.push(job_condition(
                    "Suspended",
                    "JobSuspended",
                    "Job suspended",
                    &now,
                ));
                events.push(("Normal", "Suspended", "Job suspended".to_owned()));
            }
            terminating += active;
            active = 0;
            ready = 0;
            start_time = None;
        } else {
            if has(&conditions, "Suspended") {
                for c in conditions.iter_mut().filter(|c| c["type"] == "Suspended") {
                    *c = json!({"type": "Suspended", "status": "False", "lastProbeTime": now,
                        "lastTransitionTime": now, "reason": "JobResumed", "message": "Job resumed"});
                }
                events.push(("Normal", "Resumed", "Job resumed".to_owned()));
                start_time = Some(now.clone());
            }
            let want_total = match completions {
                Some(c) => parallelism.min(c - succeeded),
                None if succeeded > 0 => 0,
                None => parallelism,
            };
            let want = want_total - active;
            if want > 0 {
                let (seen, at) = self
                    .backoff
                    .get(&uid)
                    .copied()
                    .unwrap_or((0, Instant::now()));
                let last_failure = if failed > seen {
                    let n = Instant::now();
                    self.backoff.insert(uid.clone(), (failed, n));
                    n
                } else {
                    at
                };
                let not_before = if failed > 0 {
                    let exp = (failed - 1).clamp(0, 20) as u32;
                    let delay = self
                        .core
                        .cfg
                        .job_backoff
                        .saturating_mul(2u32.saturating_pow(exp))
                        .min(self.core.cfg.job_backoff_max);
                    last_failure + delay
                } else {
                    Instant::now()
                };
                if not_before > Instant::now() {
                    self.timer(not_before, JOB, key);
                } else {
                    for _ in 0..want {
                        self.create_pod(job);
                    }
                }
            }
            if let (Some(d), Some(st)) = (deadline, start_time.as_deref().and_then(util::parse_ts))
            {
                self.timer(util::instant_at(util::add_secs(st, d)), JOB, key);
            }
        }
        let mut st = serde_json::Map::new();
        if !conditions.is_empty() {
            st.insert("conditions".into(), json!(conditions));
        }
        if let Some(s) = &start_time {
            st.insert("startTime".into(), json!(s));
        }
        if let Some(c) = &completion_time {
            st.insert("completionTime".into(), json!(c));
        }
        if active > 0 {
            st.insert("active".into(), json!(active));
        }
        if succeeded > 0 {
            st.insert("succeeded".into(), json!(succeeded));
        }
        if failed > 0 {
            st.insert("failed".into(), json!(failed));
        }
        st.insert("terminating".into(), json!(terminating));
        st.insert("uncountedTerminatedPods".into(), json!({}));
        st.insert("ready".into(), json!(ready));
        let new_status = Value::Object(st);
        let written = self.core.mutate(JOB, key, |cur| {
            if cur.get("status") == Some(&new_status) {
                return None;
            }
            let mut v = cur.clone();
            v["status"] = new_status.clone();
            Some(v)
        });
        for p in uncount {
            self.remove_finalizer(POD, &p, JOB_TRACKING);
        }
        if let Some(j) = written {
            for (t, reason, msg) in events {
                self.core
                    .record_event(JOB, &j, t, reason, &msg, "job-controller");
            }
        }
    }

    fn create_pod(&mut self, job: &Value) {
        let name = job
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ns = job
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let tmpl = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = json!({
            "generateName": format!("{name}-"),
            "namespace": ns,
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": name,
                "uid": uid_of(job),
                "controller": true,
                "blockOwnerDeletion": true
            }],
            "finalizers": [JOB_TRACKING],
        });
        for f in ["labels", "annotations"] {
            if let Some(v) = tmpl.pointer(&format!("/metadata/{f}")) {
                meta[f] = v.clone();
            }
        }
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": tmpl.get("spec").cloned().unwrap_or(json!({})),
        });
        match self.core.create(POD, Some(ns), pod, false) {
            Ok(p) => {
                // Expect the pod now, before its event arrives, so a second sync in this round
                // does not create another one.
                let id = (POD, key_of(&p));
                self.dependents
                    .entry(uid_of(job))
                    .or_default()
                    .insert(id.clone());
                self.owners_of.insert(id, vec![uid_of(job)]);
                let pname = p
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.core.record_event(
                    JOB,
                    job,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created pod: {pname}"),
                    "job-controller",
                );
            }
            Err(e) => {
                self.core.record_event(
                    JOB,
                    job,
                    "Warning",
                    "FailedCreate",
                    &format!("Error creating: {}", e.message),
                    "job-controller",
                );
            }
        }
    }
}
