//! `druid-k8s demo`: the whole system on one machine, no cluster needed. It starts the
//! Kubernetes API simulator in-process, the server on top of it (SQLite and file task logs in a
//! data directory), sets a selector-based dynamic config, submits the sample tasks of
//! `examples/demo/` (one succeeds, one fails, one is picked by a selector into the `highmem`
//! template, one is large enough to travel through task-log storage), shows their progress,
//! prints their final statuses and log excerpts, and keeps serving until Ctrl-C so that the
//! README's curl examples can be tried (`--exit-when-done` ends after the tasks instead).
//!
//! `druid-k8s demo --mixed` shows migration mode instead (`druid.indexer.runner.type=
//! k8sAndWorker`): it also starts simulated MiddleManagers (`--workers`, default 2) on
//! loopback, routes `index_kafka` tasks to them with a `taskType` runner strategy (everything
//! else becomes a Kubernetes Job), and prints which side ran each task.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request};
use druid_k8s_model::config::RawConfig;
use druid_k8s_runner::RunnerOptions;
use druid_k8s_sim::{Sim, SimConfig, SimWorker, SimWorkerConfig, SimWorkerHandle};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app::App;
use crate::error::ServerError;

const BASE_TEMPLATE: &str = include_str!("../../../examples/demo/base.yaml");
const HIGHMEM_TEMPLATE: &str = include_str!("../../../examples/demo/highmem.yaml");
const PROPERTIES: &str = include_str!("../../../examples/demo/runtime.properties");
const DYNAMIC_CONFIG: &str = include_str!("../../../examples/demo/dynamic-config.json");
const TASKS: [(&str, &str, Expect); 4] = [
    (
        "succeeds",
        include_str!("../../../examples/demo/task-succeeds.json"),
        Expect::Success("base"),
    ),
    (
        "fails",
        include_str!("../../../examples/demo/task-fails.json"),
        Expect::Failure("base"),
    ),
    (
        "selected",
        include_str!("../../../examples/demo/task-selected.json"),
        Expect::Success("highmem"),
    ),
    (
        "large",
        include_str!("../../../examples/demo/task-large.json"),
        Expect::Success("base"),
    ),
];

#[derive(Debug, Clone, Copy)]
enum Expect {
    Success(&'static str),
    Failure(&'static str),
    /// Runs on a worker (migration mode): the final status code.
    OnWorker(&'static str),
}

/// The worker tasks of `--mixed` (name, task JSON, expected status).
fn worker_tasks() -> Vec<(&'static str, String, Expect)> {
    let kafka = |ds: &str, sim: Value| {
        json!({
            "type": "index_kafka",
            "dataSource": ds,
            "spec": {"ioConfig": {"type": "kafka", "topic": ds}},
            "context": {"sim": sim}
        })
        .to_string()
    };
    vec![
        (
            "kafka-1",
            kafka("clicks", json!({"durationMs": 2500, "logLines": 3})),
            Expect::OnWorker("SUCCESS"),
        ),
        (
            "kafka-2",
            kafka("views", json!({"durationMs": 1500, "logLines": 3})),
            Expect::OnWorker("SUCCESS"),
        ),
        (
            "kafka-bad",
            kafka(
                "orders",
                json!({"durationMs": 1000, "status": "FAILED", "logLines": 2,
                       "errorMsg": "Simulated: offset out of range for partition 0"}),
            ),
            Expect::OnWorker("FAILED"),
        ),
    ]
}

/// Migration-mode settings appended to the demo's properties.
fn mixed_properties(properties: &str, workers: &[SimWorkerHandle]) -> String {
    let hosts: Vec<String> = workers.iter().map(SimWorkerHandle::host).collect();
    let mut p = properties.replace(
        "druid.indexer.runner.type=k8s\n",
        "druid.indexer.runner.type=k8sAndWorker\n",
    );
    p.push_str(&format!(
        "# migration mode (druid-k8s demo --mixed): index_kafka on the simulated MiddleManagers\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=k8s\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={{\"index_kafka\":\"worker\"}}\n\
         druid.indexer.runner.k8sAndWorker.workers={}\n\
         druid.indexer.runner.k8sAndWorker.workerCapacity={WORKER_CAPACITY}\n\
         druid.indexer.runner.syncRequestTimeout=PT10S\n",
        hosts.join(",")
    ));
    p
}

/// Slots of each simulated worker of `--mixed`.
const WORKER_CAPACITY: u32 = 2;

/// The worker holding `id`, if any.
fn worker_of(workers: &[SimWorkerHandle], id: &str) -> Option<String> {
    workers
        .iter()
        .find(|w| w.tasks().iter().any(|t| t.id == id))
        .map(SimWorkerHandle::host)
}

/// Arguments of `druid-k8s demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its SQLite database, templates and task logs.
    #[arg(long, default_value = "./.data/demo")]
    pub data_dir: PathBuf,
    /// Listen address of the API.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Exit once the sample tasks are done (exit code 1 if one did not end as expected).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Give up waiting for the tasks after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Migration mode: `druid.indexer.runner.type=k8sAndWorker` with simulated MiddleManagers;
    /// `index_kafka` tasks run on them, the rest as Kubernetes Jobs.
    #[arg(long)]
    pub mixed: bool,
    /// Number of simulated MiddleManagers of `--mixed`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub workers: u32,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ServerError {
    move |source| ServerError::Io { what, source }
}

fn write(path: &Path, text: &str) -> Result<(), ServerError> {
    std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))
}

async fn call(
    app: &App,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let Ok(req) = req.body(Body::from(body)) else {
        return (0, "bad request".into());
    };
    match app.router().oneshot(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024)
                .await
                .unwrap_or_default();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
        Err(e) => (0, e.to_string()),
    }
}

fn large_payload(template: &str) -> String {
    use rand::Rng as _;
    let data: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(200_000)
        .map(char::from)
        .collect();
    template.replace("REPLACED_BY_THE_DEMO", &data)
}

fn excerpt(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    if lines.len() <= 5 {
        return lines.iter().map(|l| (*l).to_owned()).collect();
    }
    let mut out: Vec<String> = lines[..2].iter().map(|l| (*l).to_owned()).collect();
    out.push(format!("… ({} more lines)", lines.len() - 4));
    out.extend(lines[lines.len() - 2..].iter().map(|l| (*l).to_owned()));
    out
}

/// `druid-k8s demo`.
pub fn run(args: &DemoArgs) -> Result<ExitCode, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the async runtime".into()))?
        .block_on(demo(args))
}

async fn demo(args: &DemoArgs) -> Result<ExitCode, ServerError> {
    std::fs::create_dir_all(&args.data_dir)
        .map_err(io(format!("creating {}", args.data_dir.display())))?;
    let data = std::fs::canonicalize(&args.data_dir)
        .map_err(io(format!("resolving {}", args.data_dir.display())))?;
    let templates = data.join("templates");
    let logs = data.join("task-logs");
    for d in [&templates, &logs] {
        std::fs::create_dir_all(d).map_err(io(format!("creating {}", d.display())))?;
    }
    write(&templates.join("base.yaml"), BASE_TEMPLATE)?;
    write(&templates.join("highmem.yaml"), HIGHMEM_TEMPLATE)?;
    let mut properties = PROPERTIES.replace("@DATA@", &data.display().to_string());
    let mut workers = Vec::new();
    if args.mixed {
        for _ in 0..args.workers {
            let w = SimWorker::start(
                SimWorkerConfig::default()
                    .capacity(WORKER_CAPACITY)
                    .task_logs_dir(&logs),
            )
            .await
            .map_err(|e| ServerError::Kube(format!("starting a simulated worker: {e}")))?;
            workers.push(w);
        }
        properties = mixed_properties(&properties, &workers);
    }
    write(&data.join("runtime.properties"), &properties)?;

    let sim = Sim::start(
        SimConfig::default()
            .task_logs_dir(&logs)
            .pod_startup_delay(Duration::from_millis(400)),
    )
    .await
    .map_err(|e| ServerError::Kube(format!("starting the simulator: {e}")))?;
    let kubeconfig = data.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig)
        .map_err(|e| ServerError::Kube(format!("writing the kubeconfig: {e}")))?;
    let url = sim
        .url()
        .parse()
        .map_err(|e| ServerError::Kube(format!("simulator URL: {e}")))?;
    let mut kube = kube::Config::new(url);
    kube.default_namespace = "druid".into();
    let raw = RawConfig::from_properties(&properties).map_err(|e| ServerError::Invalid {
        key: "runtime.properties".into(),
        message: e.to_string(),
    })?;
    let running = crate::serve::start(
        &raw,
        Some(args.listen),
        kube,
        RunnerOptions {
            tick: Duration::from_millis(200),
            ..Default::default()
        },
    )
    .await?;
    let base = format!("http://{}", running.addr);
    println!("druid-k8s demo");
    println!("  API:                  {base}  (OpenAPI: {base}/openapi.json)");
    println!(
        "  Kubernetes simulator: {}  (kubeconfig: {})",
        sim.url(),
        kubeconfig.display()
    );
    for w in &workers {
        println!(
            "  simulated worker:     {}  (MiddleManager, {} slots)",
            w.url(),
            w.config().capacity
        );
    }
    if args.mixed {
        println!(
            "  runner:               k8sAndWorker, taskType strategy: index_kafka -> worker, default -> k8s"
        );
    }
    println!("  data directory:       {}", data.display());
    println!();
    let app = running.app.clone();

    let (code, text) = call(
        &app,
        Method::POST,
        "/druid/indexer/v1/k8s/taskrunner/executionconfig",
        &[
            ("X-Druid-Author", "druid-k8s demo"),
            ("X-Druid-Comment", "route tagged wikipedia tasks to highmem"),
        ],
        DYNAMIC_CONFIG.to_owned(),
    )
    .await;
    println!(
        "POST executionconfig (selectorBased: tagged wikipedia tasks -> highmem): HTTP {code} {text}"
    );

    let mut plan: Vec<(&str, String, Expect)> = Vec::new();
    for (name, body, expect) in TASKS {
        if args.mixed && matches!(name, "selected" | "large") {
            continue;
        }
        let body = if name == "large" {
            large_payload(body)
        } else {
            body.to_owned()
        };
        plan.push((name, body, expect));
    }
    if args.mixed {
        plan.extend(worker_tasks());
    }
    let expected_tasks = plan.len();
    let mut submitted = Vec::new();
    for (name, body, expect) in plan {
        if let Expect::OnWorker(_) = expect {
            let (code, text) = call(&app, Method::POST, "/druid/indexer/v1/task", &[], body).await;
            let id = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["task"].as_str().map(str::to_owned));
            let Some(id) = id else {
                println!("submitting the {name} task failed: HTTP {code} {text}");
                continue;
            };
            println!("submitted {name:<9} {id}");
            println!("          runnerStrategy taskType: index_kafka -> worker");
            submitted.push((name, id, expect, None));
            continue;
        }
        let (_, preview) = call(
            &app,
            Method::POST,
            "/druid/indexer/v1/k8s/taskrunner/preview",
            &[],
            body.clone(),
        )
        .await;
        let preview: Value = serde_json::from_str(&preview).unwrap_or(Value::Null);
        let (code, text) = call(&app, Method::POST, "/druid/indexer/v1/task", &[], body).await;
        let id = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["task"].as_str().map(str::to_owned));
        let Some(id) = id else {
            println!("submitting the {name} task failed: HTTP {code} {text}");
            continue;
        };
        println!("submitted {name:<9} {id}");
        if let Some(expl) = preview["selection"]["explanation"].as_str() {
            println!("          {expl}");
        }
        if let Some(p) = preview["payload"]["placement"].as_str() {
            println!(
                "          payload: {p} ({} encoded chars)",
                preview["payload"]["encodedChars"]
            );
        }
        submitted.push((
            name,
            id,
            expect,
            preview["templateKey"].as_str().map(str::to_owned),
        ));
    }
    println!();

    let started = Instant::now();
    let mut last: Vec<String> = vec![String::new(); submitted.len()];
    let mut finals: Vec<Value> = vec![Value::Null; submitted.len()];
    let mut pods: Vec<Option<String>> = vec![None; submitted.len()];
    loop {
        let mut done = 0;
        for (i, (name, id, _, _)) in submitted.iter().enumerate() {
            let (_, text) = call(
                &app,
                Method::GET,
                &format!("/druid/indexer/v1/task/{id}/status"),
                &[],
                String::new(),
            )
            .await;
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let s = &v["status"];
            if let Some(p) = s["location"]["k8sPodName"].as_str() {
                pods[i] = Some(p.to_owned());
            }
            let place = match (
                s["location"]["k8sPodName"].as_str(),
                worker_of(&workers, id),
            ) {
                (Some(p), _) => format!(" on pod {p}"),
                (None, Some(w)) => format!(" on worker {w}"),
                (None, None) => String::new(),
            };
            let line = format!(
                "{} / {}{place}",
                s["statusCode"].as_str().unwrap_or("?"),
                s["runnerStatusCode"].as_str().unwrap_or("?"),
            );
            if line != last[i] {
                println!(
                    "[{:>5.1}s] {name:<9} {line}",
                    started.elapsed().as_secs_f64()
                );
                last[i] = line;
            }
            if s["statusCode"] != "RUNNING" && !s.is_null() {
                done += 1;
                finals[i] = s.clone();
            }
        }
        if done == submitted.len() || started.elapsed() > Duration::from_secs(args.timeout_secs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // the log is archived right after the status; give it a moment
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!();
    println!("Final statuses");
    let mut all_ok = submitted.len() == expected_tasks;
    for (i, (name, id, expect, template)) in submitted.iter().enumerate() {
        let s = &finals[i];
        let code = s["statusCode"].as_str().unwrap_or("UNFINISHED");
        let on_worker = worker_of(&workers, id);
        let (want_code, want_template) = match expect {
            Expect::Success(t) => ("SUCCESS", Some(*t)),
            Expect::Failure(t) => ("FAILED", Some(*t)),
            Expect::OnWorker(c) => (*c, None),
        };
        let (side, right_side) = match (&on_worker, want_template) {
            (Some(w), None) => (format!("worker {w}"), true),
            (Some(w), Some(_)) => (format!("worker {w}"), false),
            (None, t) => (
                format!(
                    "k8s{}",
                    pods[i]
                        .as_deref()
                        .map(|p| format!(" (pod {p})"))
                        .unwrap_or_default()
                ),
                t.is_some(),
            ),
        };
        let as_expected = code == want_code
            && right_side
            && want_template.is_none_or(|t| template.as_deref() == Some(t));
        all_ok &= as_expected;
        let template = match template {
            Some(t) => format!("template={t:<8} "),
            None if on_worker.is_some() => String::new(),
            None => "template=?        ".to_owned(),
        };
        let side = if args.mixed {
            format!(" ran on {side}")
        } else {
            String::new()
        };
        println!(
            "  {name:<9} {code:<10} {template}duration={}ms{side}{}{}",
            s["duration"],
            s["errorMsg"]
                .as_str()
                .map(|m| format!(" error=\"{m}\""))
                .unwrap_or_default(),
            if as_expected {
                ""
            } else {
                "   <-- NOT AS EXPECTED"
            }
        );
        let (code, log) = call(
            &app,
            Method::GET,
            &format!("/druid/indexer/v1/task/{id}/log"),
            &[],
            String::new(),
        )
        .await;
        if code == 200 {
            for l in excerpt(&log) {
                println!("      | {l}");
            }
        } else {
            println!("      | (no log: HTTP {code})");
        }
    }
    println!();
    if args.exit_when_done {
        running.shutdown().await;
        for w in workers {
            w.shutdown().await;
        }
        sim.shutdown().await;
        return Ok(if all_ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let first = submitted
        .first()
        .map(|s| s.1.clone())
        .unwrap_or_else(|| "<task id>".into());
    println!("Try it (Ctrl-C to stop):");
    println!("  curl {base}/druid/indexer/v1/k8s/taskrunner/executionconfig");
    println!("  curl '{base}/druid/indexer/v1/k8s/taskrunner/executionconfig/history?count=5'");
    println!("  curl {base}/druid/indexer/v1/tasks");
    println!("  curl {base}/druid/indexer/v1/task/{first}/status");
    println!("  curl {base}/druid/indexer/v1/task/{first}/log");
    println!(
        "  curl -X POST -H 'Content-Type: application/json' -d '{}' {base}/druid/indexer/v1/task",
        json!({"type": "noop", "dataSource": "try_me", "context": {"sim": {"durationMs": 5000}}})
    );
    if args.mixed {
        println!(
            "  curl -X POST -H 'Content-Type: application/json' -d '{}' {base}/druid/indexer/v1/task   # runs on a worker",
            json!({"type": "index_kafka", "dataSource": "try_me", "context": {"sim": {"durationMs": 5000}}})
        );
        println!("  curl {base}/druid/indexer/v1/workers");
    }
    crate::serve::wait_for_signal().await;
    println!("stopping");
    running.shutdown().await;
    for w in workers {
        w.shutdown().await;
    }
    sim.shutdown().await;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
