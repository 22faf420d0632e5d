//! Benchmark: N tasks through the runner against the simulator (in a child process, so the
//! runner's RSS is measured alone), and the floor: the same N Job creates + deletes by a bare
//! kube client.
//!
//! ```sh
//! cargo run --release -p druid-k8s-runner --example runner_bench -- --tasks 5000 --capacity 500
//! ```
//!
//! Options: `--tasks N` (5000), `--capacity C` (500), `--qps Q` (0 = no client-side limit),
//! `--no-capture` (do not capture logs while tasks run).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_model::{Task, TaskState};
use druid_k8s_runner::{
    FileTaskLogs, FileTemplateSource, RunnerMetrics, RunnerOptions, RunnerParts, TaskRunner,
};
use druid_k8s_sim::{Sim, SimConfig};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{DeleteParams, PostParams};

const TEMPLATE: &str = "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n";

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            let u: f64 = f.get(11)?.parse().ok()?;
            let k: f64 = f.get(12)?.parse().ok()?;
            Some((u + k) / 100.0)
        })
        .unwrap_or(0.0)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Child mode: run the simulator, print its URL, stop when stdin closes.
async fn serve_sim(logs_dir: &str) {
    let cfg = SimConfig {
        nodes: 50,
        node_pods: 1000,
        default_task_duration: Duration::from_millis(100),
        ..SimConfig::default()
    }
    .task_logs_dir(logs_dir);
    let sim = Sim::start(cfg).await.expect("sim");
    println!("{}", sim.url());
    std::io::stdout().flush().ok();
    let _ = tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::stdin().lock().read_line(&mut s);
    })
    .await;
    let stats = sim.stats();
    eprintln!("sim requests: {:?}", stats.requests);
    sim.shutdown().await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-sim") {
        serve_sim(&args[i + 1]).await;
        return;
    }
    let n: usize = arg(&args, "--tasks", 5000);
    let capacity: u32 = arg(&args, "--capacity", 500);
    let qps: f64 = arg(&args, "--qps", 0.0);
    let capture = !args.iter().any(|a| a == "--no-capture");

    let dir = tempfile::tempdir().expect("tempdir");
    let logs_dir = dir.path().join("logs");
    std::fs::create_dir_all(&logs_dir).expect("logs dir");
    let template = dir.path().join("base.yaml");
    std::fs::write(&template, TEMPLATE).expect("template");

    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--serve-sim", &logs_dir.display().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sim child");
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("sim url");
    let url = url.trim().to_string();
    let kube_config = || {
        let mut c = kube::Config::new(url.parse().expect("url"));
        c.default_namespace = "druid".into();
        c
    };

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
        .with("druid.indexer.runner.capacity", capacity.to_string())
        .with("druid.indexer.task.encapsulatedTask", "true")
        .with("druid.indexer.logs.type", "file")
        .with(
            "druid.indexer.logs.directory",
            logs_dir.display().to_string(),
        );
    let config = RunnerConfig::from_raw(&raw).expect("config");
    let metrics = RunnerMetrics::new();
    let runner = TaskRunner::start(RunnerParts {
        kube: kube_config(),
        task_logs: Arc::new(FileTaskLogs::new(&logs_dir)),
        templates: Some(Arc::new(FileTemplateSource::new(
            config.pod_templates.clone(),
        ))),
        dynamic: None,
        metrics: metrics.clone(),
        options: RunnerOptions {
            qps,
            burst: 100,
            capture_logs: capture,
            ..RunnerOptions::default()
        },
        config,
    })
    .await
    .expect("runner");

    let child_pid = child.id().to_string();
    let (cpu0, sim_cpu0) = (cpu_seconds("self"), cpu_seconds(&child_pid));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let t = Task::from_value(serde_json::json!({
                "id": format!("bench-{i:06}"), "type": "noop", "dataSource": "bench",
                "context": {"sim": {"durationMs": 100, "logLines": 3}}
            }))
            .expect("task");
            runner.run(t).expect("run")
        })
        .collect();
    let mut ok = 0usize;
    let mut done = futures::stream::iter(handles.into_iter().map(|h| async move {
        let id = h.id().to_string();
        (id, h.status().await)
    }))
    .buffer_unordered(n.max(1));
    while let Some((id, st)) = done.next().await {
        if st.map(|s| s.status == TaskState::Success).unwrap_or(false) {
            ok += 1;
        }
        runner.shutdown(&id, "completed");
    }
    while runner.jobs_held() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let (cpu1, sim_cpu1) = (cpu_seconds("self"), cpu_seconds(&child_pid));
    runner.stop();
    let rss = peak_rss_kib();

    let mut by_verb: BTreeMap<String, u64> = BTreeMap::new();
    for ((verb, _code), c) in metrics.api_counts() {
        *by_verb.entry(verb).or_default() += c;
    }

    // floor: the same number of creates and deletes from a bare client, same concurrency
    let client = kube::Client::try_from(kube_config()).expect("client");
    let jobs: kube::Api<Job> = kube::Api::namespaced(client, "druid");
    let floor_start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let jobs = jobs.clone();
            async move {
                let job: Job = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("floor-{i:06}")},
                    "spec": {"suspend": true, "template": {"spec": {"restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}
                }))
                .expect("job");
                jobs.create(&PostParams::default(), &job)
                    .await
                    .expect("create");
                jobs.delete(&format!("floor-{i:06}"), &DeleteParams::background())
                    .await
                    .expect("delete");
            }
        })
        .buffer_unordered(capacity as usize)
        .collect::<Vec<_>>()
        .await;
    let floor = floor_start.elapsed();
    drop(child.stdin.take());
    let _ = child.wait();

    println!("tasks: {n}, capacity: {capacity}, qps limit: {qps}, log capture: {capture}");
    println!("succeeded: {ok}/{n}");
    println!(
        "runner: {:.2} s, {:.1} tasks/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );
    println!("runner process peak RSS: {:.1} MiB", rss as f64 / 1024.0);
    println!(
        "CPU during the run: runner {:.1} s ({:.2} ms/task), simulator {:.1} s",
        cpu1 - cpu0,
        (cpu1 - cpu0) * 1000.0 / n as f64,
        sim_cpu1 - sim_cpu0
    );
    println!("API requests per task by verb:");
    for (verb, c) in &by_verb {
        println!("  {verb}: {:.2}", *c as f64 / n as f64);
    }
    println!(
        "floor (bare client, {n} creates + {n} deletes, concurrency {capacity}): {:.2} s, {:.1} create+delete pairs/s",
        floor.as_secs_f64(),
        n as f64 / floor.as_secs_f64()
    );
}
