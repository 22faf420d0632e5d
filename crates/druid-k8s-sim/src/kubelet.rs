//! The simulated scheduler and kubelets.
//!
//! * Scheduling: a pod fits a node when the sum of its containers' requests (plus native
//!   sidecars; at least the largest init container) fits the node's free allocatable cpu and
//!   memory, the node has room for another pod, and its `nodeSelector` matches. Pods that fit
//!   nowhere stay `Pending` with `PodScheduled=False`, reason `Unschedulable`, and are retried
//!   whenever resources are released.
//! * Start-up: after `pod_startup_delay`, containers run. An image matching
//!   `image_pull_failure_pattern` never pulls (`ErrImagePull`, then `ImagePullBackOff`).
//! * Containers: the peon container (see `peon.rs`) follows its task; other containers follow a
//!   tiny `sh` interpreter (see [`command_plan`]); init containers complete at start; native
//!   sidecars (`restartPolicy: Always` init containers) run until the regular containers end and
//!   never block completion; a container wrapped by kubexit (env `KUBEXIT_DEATH_DEPS`) ends when a
//!   death dependency ends.
//! * Deletion: running containers get SIGTERM and exit after `sigterm_delay` (code 143), or are
//!   killed at the end of the grace period (code 137) when they ignore SIGTERM.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::controller::{Ctl, JOB_TRACKING, deleting, has_finalizer};
use crate::core::pod_terminal;
use crate::kinds::{CONFIGMAP, NODE, POD};
use crate::peon;
use crate::quantity;
use crate::store::Key;
use crate::util;

/// A simulated node's capacity and usage.
#[derive(Debug, Clone)]
pub(crate) struct NodeState {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub cpu: f64,
    pub mem: f64,
    pub max_pods: u32,
    pub used_cpu: f64,
    pub used_mem: f64,
    pub used_pods: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Init,
    Sidecar,
    Regular,
}

#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    name: String,
    image: String,
    role: Role,
    started: Option<jiff::Timestamp>,
    /// Planned exit: (when, exit code, reason).
    exit: Option<(Instant, i32, &'static str)>,
    terminated: Option<(i32, String, jiff::Timestamp)>,
    ignores_sigterm: bool,
    peon: Option<peon::Plan>,
    death_deps: Vec<String>,
    waiting: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unscheduled,
    Bound,
    PullFailing,
    Running,
    Done,
}

/// Kubelet-side state of a pod that has been seen by the scheduler.
#[derive(Debug, Clone)]
pub(crate) struct PodRuntime {
    phase: Phase,
    node: Option<usize>,
    cpu: f64,
    mem: f64,
    not_before: Instant,
    ip: Option<String>,
    start_ts: Option<String>,
    unschedulable_msg: Option<String>,
    ctrs: Vec<Ctr>,
    kill_at: Option<(Instant, bool)>,
}

/// Creates the Node objects and their scheduling state.
pub(crate) fn make_nodes(core: &crate::core::Core) -> Vec<NodeState> {
    let cfg = &core.cfg;
    let cpu = quantity::parse(&cfg.node_cpu).unwrap_or(16.0);
    let mem = quantity::parse(&cfg.node_memory).unwrap_or(64.0 * 1024.0 * 1024.0 * 1024.0);
    let mut out = Vec::new();
    for i in 0..cfg.nodes {
        let name = format!("sim-node-{i}");
        let labels: BTreeMap<String, String> = [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/hostname", name.as_str()),
            ("kubernetes.io/os", "linux"),
            ("node.kubernetes.io/instance-type", "druid-k8s-sim"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
        });
        if core.create(NODE, None, node, false).is_ok() {
            let now = util::now_str();
            let res = json!({
                "cpu": cfg.node_cpu,
                "memory": cfg.node_memory,
                "pods": cfg.node_pods.to_string(),
                "ephemeral-storage": "100Gi",
            });
            core.mutate(NODE, &(String::new(), name.clone()), |n| {
                let mut v = n.clone();
                v["status"] = json!({
                    "capacity": res,
                    "allocatable": res,
                    "conditions": [{
                        "type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status (druid-k8s-sim)",
                        "lastHeartbeatTime": now, "lastTransitionTime": now
                    }],
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": name}
                    ],
                    "nodeInfo": {
                        "architecture": "amd64", "operatingSystem": "linux",
                        "kubeletVersion": "v1.33.0-druid-k8s-sim", "kubeProxyVersion": "",
                        "containerRuntimeVersion": "sim://1.0", "osImage": "druid-k8s-sim",
                        "kernelVersion": "sim", "machineID": "", "systemUUID": "", "bootID": ""
                    }
                });
                Some(v)
            });
        }
        out.push(NodeState {
            name,
            labels,
            cpu,
            mem,
            max_pods: cfg.node_pods,
            used_cpu: 0.0,
            used_mem: 0.0,
            used_pods: 0,
        });
    }
    out
}

fn requests(spec: &Value) -> (f64, f64) {
    let req = |c: &Value, r: &str| {
        c.pointer(&format!("/resources/requests/{r}"))
            .or_else(|| c.pointer(&format!("/resources/limits/{r}")))
            .and_then(Value::as_str)
            .and_then(quantity::parse)
            .unwrap_or(0.0)
    };
    let (mut cpu, mut mem) = (0.0, 0.0);
    let (mut init_cpu, mut init_mem) = (0.0f64, 0.0f64);
    for c in spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        cpu += req(c, "cpu");
        mem += req(c, "memory");
    }
    for c in spec
        .get("initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if c["restartPolicy"] == "Always" {
            cpu += req(c, "cpu");
            mem += req(c, "memory");
        } else {
            init_cpu = init_cpu.max(req(c, "cpu"));
            init_mem = init_mem.max(req(c, "memory"));
        }
    }
    (cpu.max(init_cpu), mem.max(init_mem))
}

/// What a non-peon container does, from its command: a tiny interpreter for `sh -c` scripts
/// made of `true`, `:`, `false`, `exit N`, `echo …` and `sleep N` statements joined by `;`, `&&`
/// or new lines. Anything else (or no command: the image's entrypoint) runs until the pod ends.
/// Returns the exit (extra duration, code) and the lines printed.
pub(crate) fn command_plan(c: &Value) -> (Option<(Duration, i32)>, Vec<String>) {
    let words: Vec<String> = ["command", "args"]
        .iter()
        .flat_map(|f| c.get(*f).and_then(Value::as_array).into_iter().flatten())
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    let mut words: &[String] = &words;
    if words.first().is_some_and(|w| w.ends_with("kubexit")) {
        words = &words[1..];
    }
    if words.is_empty() {
        return (None, Vec::new());
    }
    let shells = ["sh", "/bin/sh", "bash", "/bin/bash", "/usr/bin/env sh"];
    let script = if words.len() >= 3 && shells.contains(&words[0].as_str()) && words[1] == "-c" {
        words[2].clone()
    } else {
        words.join(" ")
    };
    let mut lines = Vec::new();
    let mut extra = Duration::ZERO;
    let mut code = 0;
    for stmt in script
        .split(['\n', ';'])
        .flat_map(|s| s.split("&&"))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (cmd, rest) = stmt.split_once(' ').unwrap_or((stmt, ""));
        let rest = rest.trim();
        match cmd {
            "true" | ":" | "/bin/true" => code = 0,
            "false" | "/bin/false" => return (Some((extra, 1)), lines),
            "exit" => return (Some((extra, rest.parse().unwrap_or(0))), lines),
            "echo" => {
                lines.push(rest.trim_matches(|c| c == '"' || c == '\'').to_owned());
                code = 0;
            }
            "sleep" => match rest.parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => {
                    extra += Duration::from_secs_f64(s.min(1e9));
                }
                _ => return (None, lines),
            },
            _ => return (None, lines),
        }
    }
    (Some((extra, code)), lines)
}

fn container_status(pod_name: &str, c: &Ctr, pod_done: bool) -> Value {
    let cid = format!("fake://{pod_name}-{}", c.name);
    let (state, ready, started) = if let Some((code, reason, at)) = &c.terminated {
        let startedat = c
            .started
            .map(util::fmt_ts)
            .unwrap_or_else(|| util::fmt_ts(*at));
        (
            json!({"terminated": {"containerID": cid, "exitCode": code, "reason": reason,
                "startedAt": startedat, "finishedAt": util::fmt_ts(*at)}}),
            false,
            false,
        )
    } else if let Some(s) = c.started {
        (
            json!({"running": {"startedAt": util::fmt_ts(s)}}),
            !pod_done,
            true,
        )
    } else {
        let mut w = json!({"reason": c.waiting.unwrap_or("ContainerCreating")});
        if matches!(c.waiting, Some("ErrImagePull" | "ImagePullBackOff")) {
            w["message"] = json!(format!(
                "Back-off pulling image \"{}\": ErrImagePull: failed to pull and unpack image (druid-k8s-sim pattern)",
                c.image
            ));
        }
        (json!({"waiting": w}), false, false)
    };
    let mut s = json!({
        "name": c.name,
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": c.image,
        "imageID": if c.started.is_some() || c.terminated.is_some() { format!("fake://{}", c.image) } else { String::new() },
        "started": started,
    });
    if c.started.is_some() || c.terminated.is_some() {
        s["containerID"] = json!(cid);
    }
    s
}

fn cond(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> Value {
    let mut c = json!({"type": type_, "status": if status { "True" } else { "False" }, "lastProbeTime": null});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Keeps `lastTransitionTime` of conditions whose status did not change.
fn merge_conditions(old: Option<&Value>, new: Vec<Value>, now: &str) -> Vec<Value> {
    new.into_iter()
        .map(|mut c| {
            let prev = old
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|o| o["type"] == c["type"] && o["status"] == c["status"])
                })
                .and_then(|o| o.get("lastTransitionTime").cloned());
            c["lastTransitionTime"] = prev.unwrap_or_else(|| json!(now));
            c
        })
        .collect()
}

impl Ctl {
    fn alloc_ip(&mut self) -> String {
        loop {
            self.next_ip = self.next_ip.wrapping_add(1);
            let n = self.next_ip.wrapping_add(256) & 0x00ff_ffff;
            let (a, b, c) = ((n >> 16) & 255, (n >> 8) & 255, n & 255);
            if c == 0 || c == 255 || (a == 0 && b == 0) {
                continue;
            }
            return format!("127.{a}.{b}.{c}");
        }
    }

    fn release(&mut self, rt: &mut PodRuntime) {
        if let Some(n) = rt.node.take()
            && let Some(node) = self.nodes.get_mut(n)
        {
            node.used_cpu -= rt.cpu;
            node.used_mem -= rt.mem;
            node.used_pods = node.used_pods.saturating_sub(1);
            let waiting: Vec<Key> = self.unschedulable.iter().cloned().collect();
            for k in waiting {
                self.kick(POD, &k);
            }
        }
    }

    /// A pod left the store.
    pub fn pod_gone(&mut self, key: &Key) {
        if let Some(mut rt) = self.runtimes.remove(key) {
            self.release(&mut rt);
        }
        self.unschedulable.remove(key);
        self.core.logs.remove_pod(key);
    }

    fn write_status(&self, key: &Key, pod: &Value, rt: &PodRuntime) {
        let now = util::now_str();
        let old = pod.get("status").cloned().unwrap_or(json!({}));
        let mut st = serde_json::Map::new();
        let name = key.1.as_str();
        let regular: Vec<&Ctr> = rt.ctrs.iter().filter(|c| c.role == Role::Regular).collect();
        let all_done = !regular.is_empty() && regular.iter().all(|c| c.terminated.is_some());
        let phase = match rt.phase {
            Phase::Unscheduled | Phase::Bound | Phase::PullFailing => "Pending",
            Phase::Running | Phase::Done => {
                if all_done {
                    if regular
                        .iter()
                        .all(|c| c.terminated.as_ref().is_some_and(|t| t.0 == 0))
                    {
                        "Succeeded"
                    } else {
                        "Failed"
                    }
                } else {
                    "Running"
                }
            }
        };
        let conditions = match rt.phase {
            Phase::Unscheduled => vec![cond(
                "PodScheduled",
                false,
                Some("Unschedulable"),
                rt.unschedulable_msg.clone(),
            )],
            Phase::Bound => vec![
                cond("PodReadyToStartContainers", false, None, None),
                cond("Initialized", true, None, None),
                cond(
                    "Ready",
                    false,
                    Some("ContainersNotReady"),
                    Some(format!(
                        "containers with unready status: [{}]",
                        regular
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                ),
                cond(
                    "ContainersReady",
                    false,
                    Some("ContainersNotReady"),
                    Some(format!(
                        "containers with unready status: [{}]",
                        regular
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )),
                ),
                cond("PodScheduled", true, None, None),
            ],
            Phase::PullFailing => {
                let unready = regular
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                vec![
                    cond("PodReadyToStartContainers", true, None, None),
                    cond("Initialized", true, None, None),
                    cond(
                        "Ready",
                        false,
                        Some("ContainersNotReady"),
                        Some(format!("containers with unready status: [{unready}]")),
                    ),
                    cond(
                        "ContainersReady",
                        false,
                        Some("ContainersNotReady"),
                        Some(format!("containers with unready status: [{unready}]")),
                    ),
                    cond("PodScheduled", true, None, None),
                ]
            }
            Phase::Running | Phase::Done => {
                let terminal = phase != "Running";
                let ready = !terminal
                    && regular
                        .iter()
                        .all(|c| c.started.is_some() && c.terminated.is_none());
                let (r, m) = if terminal {
                    (Some("PodCompleted"), None)
                } else if ready {
                    (None, None)
                } else {
                    let unready: Vec<&str> = regular
                        .iter()
                        .filter(|c| c.terminated.is_some())
                        .map(|c| c.name.as_str())
                        .collect();
                    (
                        Some("ContainersNotReady"),
                        Some(format!(
                            "containers with unready status: [{}]",
                            unready.join(" ")
                        )),
                    )
                };
                vec![
                    cond("PodReadyToStartContainers", !terminal, None, None),
                    cond("Initialized", true, None, None),
                    cond("Ready", ready, r, m.clone()),
                    cond("ContainersReady", ready, r, m),
                    cond("PodScheduled", true, None, None),
                ]
            }
        };
        st.insert("phase".into(), json!(phase));
        st.insert(
            "conditions".into(),
            json!(merge_conditions(old.get("conditions"), conditions, &now)),
        );
        if rt.phase != Phase::Unscheduled {
            st.insert("hostIP".into(), json!("127.0.0.1"));
            st.insert("hostIPs".into(), json!([{"ip": "127.0.0.1"}]));
        }
        if let Some(ip) = &rt.ip {
            st.insert("podIP".into(), json!(ip));
            st.insert("podIPs".into(), json!([{"ip": ip}]));
        }
        if let Some(s) = &rt.start_ts {
            st.insert("startTime".into(), json!(s));
        }
        let pod_done = phase != "Running" && phase != "Pending";
        let inits: Vec<Value> = rt
            .ctrs
            .iter()
            .filter(|c| c.role != Role::Regular)
            .map(|c| container_status(name, c, pod_done))
            .collect();
        if !inits.is_empty() {
            st.insert("initContainerStatuses".into(), json!(inits));
        }
        if rt.phase != Phase::Unscheduled {
            st.insert(
                "containerStatuses".into(),
                json!(
                    regular
                        .iter()
                        .map(|c| container_status(name, c, pod_done))
                        .collect::<Vec<_>>()
                ),
            );
        }
        if let Some(q) = old.get("qosClass") {
            st.insert("qosClass".into(), q.clone());
        }
        let new_status = Value::Object(st);
        self.core.mutate(POD, key, |cur| {
            if cur.get("status") == Some(&new_status) {
                return None;
            }
            let mut v = cur.clone();
            v["status"] = new_status.clone();
            Some(v)
        });
    }

    /// Scheduler + kubelet for one pod.
    pub fn sync_pod(&mut self, key: &Key, pod: &Value) {
        // Pods of a vanished Job lose the tracking finalizer once they stop (the Job controller
        // does this upstream).
        if has_finalizer(pod, JOB_TRACKING) && (pod_terminal(pod) || deleting(pod)) {
            let owner_live = pod
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|r| r["controller"] == true)
                .any(|r| {
                    let uid = r["uid"].as_str().unwrap_or_default();
                    self.core
                        .store
                        .get(
                            crate::kinds::JOB,
                            &(
                                key.0.clone(),
                                r["name"].as_str().unwrap_or_default().to_owned(),
                            ),
                        )
                        .is_some_and(|j| {
                            j.pointer("/metadata/uid").and_then(Value::as_str) == Some(uid)
                                && !deleting(&j)
                        })
                });
            if !owner_live {
                self.remove_finalizer(POD, key, JOB_TRACKING);
            }
        }
        let mut rt = match self.runtimes.remove(key) {
            Some(rt) => rt,
            None => {
                let (cpu, mem) = requests(pod.get("spec").unwrap_or(&Value::Null));
                PodRuntime {
                    phase: Phase::Unscheduled,
                    node: None,
                    cpu,
                    mem,
                    not_before: Instant::now() + self.core.cfg.schedule_delay,
                    ip: None,
                    start_ts: None,
                    unschedulable_msg: None,
                    ctrs: Vec::new(),
                    kill_at: None,
                }
            }
        };
        self.step(key, pod, &mut rt);
        if rt.phase == Phase::Done {
            self.release(&mut rt);
        }
        self.runtimes.insert(key.clone(), rt);
    }

    fn step(&mut self, key: &Key, pod: &Value, rt: &mut PodRuntime) {
        let now = Instant::now();
        if pod_terminal(pod) && rt.phase != Phase::Running {
            rt.phase = Phase::Done;
            return;
        }
        if rt.phase == Phase::Done {
            return;
        }
        if deleting(pod) {
            match rt.phase {
                Phase::Unscheduled | Phase::Bound | Phase::PullFailing => {
                    // Nothing runs: the kubelet stops the pod at once.
                    for c in rt.ctrs.iter_mut().filter(|c| c.terminated.is_none()) {
                        c.terminated =
                            Some((137, "ContainerStatusUnknown".into(), jiff::Timestamp::now()));
                    }
                    if rt.ctrs.is_empty() {
                        self.core.mutate(POD, key, |cur| {
                            let mut v = cur.clone();
                            v["status"]["phase"] = json!("Failed");
                            Some(v)
                        });
                        rt.phase = Phase::Done;
                        return;
                    }
                    rt.phase = Phase::Done;
                    self.write_status(key, pod, rt);
                    return;
                }
                Phase::Running => {
                    let (at, hard) = *rt.kill_at.get_or_insert_with(|| {
                        let deadline = pod
                            .pointer("/metadata/deletionTimestamp")
                            .and_then(Value::as_str)
                            .and_then(util::parse_ts)
                            .map(util::instant_at)
                            .unwrap_or(now);
                        let stubborn = rt.ctrs.iter().any(|c| {
                            c.terminated.is_none() && c.started.is_some() && c.ignores_sigterm
                        });
                        if stubborn {
                            (deadline, true)
                        } else {
                            (
                                (now + self.core.cfg.sigterm_delay).min(deadline.max(now)),
                                false,
                            )
                        }
                    });
                    if now < at {
                        self.timer(at, POD, key);
                        // Containers may still exit on their own before the kill.
                    } else {
                        let ts = jiff::Timestamp::now();
                        let (code, msg) = if hard {
                            (137, "killed (SIGKILL) at the end of the grace period")
                        } else {
                            (143, "stopped (SIGTERM)")
                        };
                        for c in rt
                            .ctrs
                            .iter_mut()
                            .filter(|c| c.terminated.is_none() && c.started.is_some())
                        {
                            c.terminated = Some((code, "Error".into(), ts));
                            self.core.logs.finish(
                                key,
                                &c.name,
                                ts,
                                vec![format!("druid-k8s-sim: container {msg}")],
                            );
                        }
                    }
                }
                Phase::Done => return,
            }
        }
        match rt.phase {
            Phase::Unscheduled => {
                if now < rt.not_before {
                    self.timer(rt.not_before, POD, key);
                    return;
                }
                if let Some(node_name) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
                    let idx = self.nodes.iter().position(|n| n.name == node_name);
                    self.bind(key, rt, idx, false);
                    return;
                }
                self.schedule(key, pod, rt);
            }
            Phase::Bound => {
                if now < rt.not_before {
                    self.timer(rt.not_before, POD, key);
                    return;
                }
                self.start(key, pod, rt);
            }
            Phase::PullFailing => {
                let mut changed = false;
                for c in rt.ctrs.iter_mut() {
                    if c.waiting == Some("ErrImagePull") {
                        c.waiting = Some("ImagePullBackOff");
                        changed = true;
                    }
                }
                if changed {
                    self.write_status(key, pod, rt);
                }
            }
            Phase::Running => self.run_containers(key, pod, rt),
            Phase::Done => {}
        }
    }

    fn schedule(&mut self, key: &Key, pod: &Value, rt: &mut PodRuntime) {
        let selector = pod.pointer("/spec/nodeSelector").and_then(Value::as_object);
        let (mut no_cpu, mut no_mem, mut no_pods, mut no_sel) = (0, 0, 0, 0);
        let mut best: Option<(usize, f64)> = None;
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(sel) = selector
                && !sel
                    .iter()
                    .all(|(k, v)| n.labels.get(k).map(String::as_str) == v.as_str())
            {
                no_sel += 1;
                continue;
            }
            let mut fits = true;
            if n.used_cpu + rt.cpu > n.cpu + 1e-9 {
                no_cpu += 1;
                fits = false;
            }
            if n.used_mem + rt.mem > n.mem + 0.5 {
                no_mem += 1;
                fits = false;
            }
            if n.used_pods >= n.max_pods {
                no_pods += 1;
                fits = false;
            }
            if fits {
                let free = n.cpu - n.used_cpu;
                if best.is_none_or(|(_, f)| free > f) {
                    best = Some((i, free));
                }
            }
        }
        match best {
            Some((i, _)) => {
                self.unschedulable.remove(key);
                self.bind(key, rt, Some(i), true);
            }
            None => {
                let total = self.nodes.len();
                let mut reasons = Vec::new();
                if no_cpu > 0 {
                    reasons.push(format!("{no_cpu} Insufficient cpu"));
                }
                if no_mem > 0 {
                    reasons.push(format!("{no_mem} Insufficient memory"));
                }
                if no_pods > 0 {
                    reasons.push(format!("{no_pods} Too many pods"));
                }
                if no_sel > 0 {
                    reasons.push(format!(
                        "{no_sel} node(s) didn't match Pod's node affinity/selector"
                    ));
                }
                let msg = format!(
                    "0/{total} nodes are available: {}. preemption: 0/{total} nodes are available: {total} No preemption victims found for incoming pod.",
                    reasons.join(", ")
                );
                let first = rt.unschedulable_msg.as_deref() != Some(msg.as_str());
                rt.unschedulable_msg = Some(msg.clone());
                self.unschedulable.insert(key.clone());
                if first {
                    self.write_status(key, pod, rt);
                    self.core.record_event(
                        POD,
                        pod,
                        "Warning",
                        "FailedScheduling",
                        &msg,
                        "default-scheduler",
                    );
                }
            }
        }
    }

    fn bind(&mut self, key: &Key, rt: &mut PodRuntime, node: Option<usize>, write_node: bool) {
        if let Some(i) = node
            && let Some(n) = self.nodes.get_mut(i)
        {
            n.used_cpu += rt.cpu;
            n.used_mem += rt.mem;
            n.used_pods += 1;
        }
        rt.node = node;
        rt.phase = Phase::Bound;
        rt.not_before = Instant::now() + self.core.cfg.pod_startup_delay;
        rt.start_ts = Some(util::now_str());
        let node_name = node.and_then(|i| self.nodes.get(i)).map(|n| n.name.clone());
        if write_node && let Some(nn) = &node_name {
            self.core.mutate(POD, key, |cur| {
                let mut v = cur.clone();
                v["spec"]["nodeName"] = json!(nn);
                Some(v)
            });
        }
        if let Some(pod) = self.core.store.get(POD, key) {
            // Build waiting statuses for the containers.
            rt.ctrs = containers_of(&pod);
            self.write_status(key, &pod, rt);
            if let Some(nn) = node_name {
                self.core.record_event(
                    POD,
                    &pod,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {}/{} to {nn}", key.0, key.1),
                    "default-scheduler",
                );
            }
        }
        self.timer(rt.not_before, POD, key);
    }

    fn start(&mut self, key: &Key, pod: &Value, rt: &mut PodRuntime) {
        rt.ip = Some(self.alloc_ip());
        // The peon reads its env (status.podIP included) from the pod as it is now.
        let mut pod_now = pod.clone();
        pod_now["status"]["podIP"] = json!(rt.ip.clone());
        if let Some(re) = &self.core.image_fail {
            let mut failing = false;
            for c in rt.ctrs.iter_mut() {
                if re.is_match(&c.image) {
                    c.waiting = Some("ErrImagePull");
                    failing = true;
                }
            }
            if failing {
                rt.phase = Phase::PullFailing;
                self.write_status(key, pod, rt);
                self.core.record_event(
                    POD,
                    pod,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull",
                    "kubelet",
                );
                self.timer(Instant::now() + Duration::from_millis(200), POD, key);
                return;
            }
        }
        let now = Instant::now();
        let ts = jiff::Timestamp::now();
        let is_peon_pod = pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(peon::PEON_LABEL))
            .is_some();
        let specs = pod.get("spec").cloned().unwrap_or(json!({}));
        let regular: Vec<Value> = specs
            .get("containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let peon_name = if is_peon_pod {
            regular
                .iter()
                .find(|c| c["name"] == "main")
                .or_else(|| regular.first())
                .and_then(|c| c["name"].as_str())
                .map(str::to_owned)
        } else {
            None
        };
        let ns = key.0.clone();
        let store = &self.core.store;
        let cm_lookup = |name: &str, k: &str| -> Option<String> {
            store
                .get(CONFIGMAP, &(ns.clone(), name.to_owned()))
                .and_then(|cm| {
                    cm.pointer(&format!(
                        "/data/{}",
                        k.replace('~', "~0").replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                })
        };
        let all_specs: Vec<Value> = specs
            .get("initContainers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(regular.iter().cloned())
            .collect();
        for c in rt.ctrs.iter_mut() {
            let Some(cspec) = all_specs.iter().find(|s| s["name"] == c.name.as_str()) else {
                continue;
            };
            c.started = Some(ts);
            c.waiting = None;
            let env = peon::resolve_env(&pod_now, cspec, &cm_lookup);
            c.death_deps = env
                .get("KUBEXIT_DEATH_DEPS")
                .map(|d| {
                    d.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            match c.role {
                Role::Init => {
                    let (_, lines) = command_plan(cspec);
                    c.terminated = Some((0, "Completed".into(), ts));
                    self.core.logs.set(
                        key,
                        &c.name,
                        lines.into_iter().map(|l| (ts, l)).collect(),
                        Some(ts),
                    );
                }
                Role::Sidecar | Role::Regular => {
                    if peon_name.as_deref() == Some(c.name.as_str()) {
                        let plan = peon::plan(&pod_now, cspec, &self.core.cfg, &cm_lookup);
                        let end =
                            ts + jiff::SignedDuration::try_from(plan.duration).unwrap_or_default();
                        let lines: Vec<(jiff::Timestamp, String)> = plan
                            .lines
                            .iter()
                            .map(|(d, l)| {
                                let at =
                                    ts + jiff::SignedDuration::try_from(*d).unwrap_or_default();
                                (at, format!("{} {l}", at.strftime("%Y-%m-%dT%H:%M:%S,%3f")))
                            })
                            .collect();
                        if !plan.hang {
                            let reason = if plan.oom {
                                "OOMKilled"
                            } else if plan.exit_code == 0 {
                                "Completed"
                            } else {
                                "Error"
                            };
                            c.exit = Some((now + plan.duration, plan.exit_code, reason));
                        }
                        c.ignores_sigterm = plan.ignore_sigterm;
                        self.core
                            .logs
                            .set(key, &c.name, lines, (!plan.hang).then_some(end));
                        c.peon = Some(plan);
                    } else {
                        let (exit, lines) = command_plan(cspec);
                        let d = self.core.cfg.command_duration;
                        let logs: Vec<(jiff::Timestamp, String)> =
                            lines.into_iter().map(|l| (ts, l)).collect();
                        match exit {
                            Some((extra, code)) => {
                                let total = d + extra;
                                c.exit = Some((
                                    now + total,
                                    code,
                                    if code == 0 { "Completed" } else { "Error" },
                                ));
                                let end =
                                    ts + jiff::SignedDuration::try_from(total).unwrap_or_default();
                                self.core.logs.set(key, &c.name, logs, Some(end));
                            }
                            None => self.core.logs.set(key, &c.name, logs, None),
                        }
                    }
                }
            }
        }
        rt.phase = Phase::Running;
        self.core.record_event(
            POD,
            pod,
            "Normal",
            "Started",
            "Started containers (druid-k8s-sim)",
            "kubelet",
        );
        self.run_containers(key, pod, rt);
    }

    fn run_containers(&mut self, key: &Key, pod: &Value, rt: &mut PodRuntime) {
        let now = Instant::now();
        let ts = jiff::Timestamp::now();
        let push_log = self.core.cfg.peon_pushes_log;
        // Planned exits that are due.
        for c in rt.ctrs.iter_mut() {
            if c.terminated.is_some() {
                continue;
            }
            if let Some((at, code, reason)) = c.exit
                && at <= now
            {
                let mut extra = Vec::new();
                if let Some(plan) = &c.peon {
                    let written: Vec<String> = self
                        .core
                        .logs
                        .read(key, &c.name)
                        .map(|s| s.lines.into_iter().map(|l| l.1).collect())
                        .unwrap_or_default();
                    if !plan.oom {
                        extra = peon::push_outputs(plan, &written, push_log);
                    }
                }
                c.terminated = Some((code, reason.to_owned(), ts));
                let stamp = ts.strftime("%Y-%m-%dT%H:%M:%S,%3f").to_string();
                let last = extra.into_iter().map(|l| format!("{stamp} {l}")).collect();
                self.core
                    .logs
                    .finish(key, &c.name, ts.max(c.started.unwrap_or(ts)), last);
            }
        }
        // kubexit: containers whose death dependency ended stop too.
        let ended: Vec<String> = rt
            .ctrs
            .iter()
            .filter(|c| c.terminated.is_some())
            .map(|c| c.name.clone())
            .collect();
        let sig = self.core.cfg.sigterm_delay;
        for c in rt.ctrs.iter_mut() {
            if c.terminated.is_none()
                && c.death_deps.iter().any(|d| ended.contains(d))
                && c.exit.is_none_or(|(at, _, _)| at > now + sig)
            {
                c.exit = Some((now + sig, 0, "Completed"));
            }
        }
        // Native sidecars stop once every regular container has ended.
        let regular_done = rt
            .ctrs
            .iter()
            .filter(|c| c.role == Role::Regular)
            .all(|c| c.terminated.is_some());
        if regular_done {
            for c in rt
                .ctrs
                .iter_mut()
                .filter(|c| c.role == Role::Sidecar && c.terminated.is_none())
            {
                c.terminated = Some((0, "Completed".into(), ts));
                self.core.logs.finish(key, &c.name, ts, Vec::new());
            }
            rt.phase = Phase::Done;
        }
        if let Some(next) = rt
            .ctrs
            .iter()
            .filter(|c| c.terminated.is_none())
            .filter_map(|c| c.exit.map(|e| e.0))
            .min()
        {
            self.timer(next, POD, key);
        }
        self.write_status(key, pod, rt);
    }
}

fn containers_of(pod: &Value) -> Vec<Ctr> {
    let mut out = Vec::new();
    let mk = |c: &Value, role: Role| Ctr {
        name: c["name"].as_str().unwrap_or_default().to_owned(),
        image: c["image"].as_str().unwrap_or_default().to_owned(),
        role,
        started: None,
        exit: None,
        terminated: None,
        ignores_sigterm: false,
        peon: None,
        death_deps: Vec::new(),
        waiting: None,
    };
    for c in pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = if c["restartPolicy"] == "Always" {
            Role::Sidecar
        } else {
            Role::Init
        };
        out.push(mk(c, role));
    }
    for c in pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push(mk(c, Role::Regular));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_interpreter() {
        let c = |cmd: Value| command_plan(&json!({"command": cmd}));
        assert_eq!(c(json!(["true"])), (Some((Duration::ZERO, 0)), vec![]));
        assert_eq!(
            c(json!(["sh", "-c", "exit 3"])),
            (Some((Duration::ZERO, 3)), vec![])
        );
        assert_eq!(
            c(json!(["sh", "-c", "echo hello; sleep 0.5 && echo 'bye'"])),
            (
                Some((Duration::from_millis(500), 0)),
                vec!["hello".to_owned(), "bye".to_owned()]
            )
        );
        assert_eq!(
            c(json!(["/kubexit/kubexit", "sh", "-c", "false"])).0,
            Some((Duration::ZERO, 1))
        );
        assert_eq!(c(json!(["nginx"])).0, None);
        assert_eq!(command_plan(&json!({})).0, None);
    }

    #[test]
    fn requests_sum_containers_and_sidecars() {
        let spec = json!({
            "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                           {"resources": {"limits": {"cpu": "500m"}}}],
            "initContainers": [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
                               {"resources": {"requests": {"cpu": "8"}}}]
        });
        let (cpu, mem) = requests(&spec);
        assert_eq!(cpu, 8.0);
        assert_eq!(mem, 1024.0 * 1024.0 * 1024.0);
    }
}
