//! Logs, reports, metrics, dynamic capacity, the overlord adapter, S3 task logs, large
//! payloads through storage, and the cleanup loop — against the simulator.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use druid_k8s_model::{DynamicConfig, TaskState};
use druid_k8s_runner::{
    ObjectStoreTaskLogs, RunnerMetrics, RunnerOptions, RunnerParts, TaskRunner,
};
use druid_k8s_sim::SimConfig;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;

async fn wait_running(runner: &TaskRunner, id: &str) {
    within(10, async {
        while !runner.running_tasks().iter().any(|t| t.id == id) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_log_reports_and_metrics() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let h = runner
        .run(task(
            "t-live",
            0,
            serde_json::json!({"durationMs": 1500, "logLines": 10}),
        ))
        .unwrap();
    wait_running(&runner, "t-live").await;
    // follow the live log, skipping the first 10 bytes
    let stream = runner
        .stream_log("t-live", 10)
        .await
        .unwrap()
        .expect("running: live log");
    let live: Vec<u8> = within(20, stream.map(|b| b.unwrap().to_vec()).concat()).await;
    let live = String::from_utf8(live).unwrap();
    assert!(
        live.contains("sim progress 10/10 of task [t-live]"),
        "followed to the end: {live}"
    );
    let st = within(20, h.status()).await.unwrap();
    assert_eq!(st.status, TaskState::Success);
    let archived =
        String::from_utf8(runner.stored_log("t-live").await.unwrap().unwrap().to_vec()).unwrap();
    // the live stream skipped the first 10 bytes; the archive is the whole log
    assert!(archived[10..].starts_with(&live), "the offset was honoured");
    assert!(
        archived.contains("Task completed with status"),
        "{archived}"
    );
    assert!(
        runner.stream_log("t-live", 0).await.unwrap().is_none(),
        "not running: use storage"
    );
    // reports after completion come from storage (pushed by the peon)
    let rep = runner
        .reports("t-live")
        .await
        .unwrap()
        .expect("report.json");
    assert!(String::from_utf8_lossy(&rep).contains("ingestionStatsAndErrors"));
    // metrics
    let m = runner.metrics();
    let counts = m.api_counts();
    assert_eq!(
        counts.get(&("create".to_string(), "201".to_string())),
        Some(&1),
        "{counts:?}"
    );
    assert!(counts.keys().any(|(v, _)| v == "watch"), "{counts:?}");
    let mut reg = prometheus_client::registry::Registry::default();
    let m2 = RunnerMetrics::register(&mut reg);
    m2.peon_startup_time.observe(1.0);
    let text = druid_k8s_runner::metrics::encode(&reg);
    assert!(
        text.contains("druid_k8s_peon_startup_time_seconds_count 1"),
        "{text}"
    );
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_changes_apply_live() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.capacity", "1")]))
        .await;
    let handles: Vec<_> = (0..4)
        .map(|i| {
            runner
                .run(task(
                    &format!("cap-{i}"),
                    0,
                    serde_json::json!({"durationMs": 1500}),
                ))
                .unwrap()
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(runner.jobs_held(), 1);
    let s = runner.slots();
    assert_eq!((s.total, s.idle, s.used), (1, 0, 1));
    runner.set_dynamic_config(&DynamicConfig {
        pod_template_select_strategy: None,
        capacity: Some(4),
    });
    within(5, async {
        while runner.running_tasks().len() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let s = runner.slots();
    assert_eq!((s.total, s.idle, s.used), (4, 0, 4));
    for h in handles {
        assert_eq!(
            within(20, h.status()).await.unwrap().status,
            TaskState::Success
        );
    }
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlord_single_container_adapter_with_an_injected_overlord_pod() {
    let env = Env::start(SimConfig::default()).await;
    let overlord: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "druid-overlord-0", "namespace": "druid", "labels": {"app": "overlord"}},
        "spec": {"containers": [{
            "name": "druid", "image": "apache/druid:33.0.0",
            "env": [{"name": "druid_service", "value": "druid/overlord"}]
        }]}
    }))
    .unwrap();
    let mut config = env.config(&[]);
    config.adapter_type = druid_k8s_model::config::AdapterType::OverlordSingleContainer;
    let runner = env
        .runner_with(
            config,
            RunnerOptions {
                tick: Duration::from_millis(100),
                overlord_pod: Some(overlord),
                ..Default::default()
            },
        )
        .await;
    let st = within(
        20,
        runner
            .run(task("t-ov", 0, serde_json::json!({"durationMs": 100})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    assert_eq!(st.status, TaskState::Success, "{st:?}");
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_task_logs_and_a_large_payload_through_storage_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    let bucket_dir = root.join("druid-bucket");
    std::fs::create_dir_all(&bucket_dir).unwrap();
    let template = TEMPLATE.replace(
        "      command:",
        "      env:\n      - name: druid_indexer_logs_type\n        value: s3\n      - name: druid_indexer_logs_s3Bucket\n        value: druid-bucket\n      - name: druid_indexer_logs_s3Prefix\n        value: tasks/logs\n      command:",
    );
    let env = Env::start_with_template(SimConfig::default().s3_root(&root), &template).await;
    let store = object_store::local::LocalFileSystem::new_with_prefix(&bucket_dir).unwrap();
    let logs = Arc::new(ObjectStoreTaskLogs::new(
        Arc::new(store),
        "druid-bucket",
        "tasks/logs",
    ));
    let config = env.config(&[]);
    let start = |config: druid_k8s_model::config::RunnerConfig| {
        let logs = logs.clone();
        let kube = env.kube_config();
        async move {
            TaskRunner::start(RunnerParts {
                kube,
                task_logs: logs,
                templates: Some(Arc::new(druid_k8s_runner::FileTemplateSource::new(
                    config.pod_templates.clone(),
                ))),
                dynamic: None,
                metrics: RunnerMetrics::new(),
                options: RunnerOptions {
                    tick: Duration::from_millis(100),
                    ..Default::default()
                },
                config,
            })
            .await
            .unwrap()
        }
    };
    // incompressible context so the payload exceeds 130048 characters
    let noise: String = {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        (0..300_000)
            .map(|_| char::from(rng.random_range(b'a'..=b'z')))
            .collect()
    };
    let mut big = task("t-big", 0, serde_json::json!({"durationMs": 1500}));
    big = druid_k8s_model::Task::from_value({
        let mut v = big.as_value().clone();
        v["context"]["noise"] = noise.into();
        v
    })
    .unwrap();
    let r1 = start(config.clone()).await;
    r1.run(big).unwrap();
    wait_running(&r1, "t-big").await;
    assert!(
        bucket_dir.join("tasks/logs/t-big/task.json").is_file(),
        "payload uploaded before the Job"
    );
    r1.stop();
    // the restored task is rebuilt from task.json in storage
    let r2 = start(config).await;
    let info = r2.task("t-big").expect("restored");
    assert!(info.restored);
    let st = within(20, r2.status("t-big").unwrap().status())
        .await
        .unwrap();
    assert_eq!(st.status, TaskState::Success, "{st:?}");
    assert!(bucket_dir.join("tasks/logs/t-big/status.json").is_file());
    assert!(
        bucket_dir.join("tasks/logs/t-big/log").is_file(),
        "log archived to S3 layout"
    );
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 1);
    r2.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_loop_deletes_old_finished_jobs_kept_by_debug_jobs() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env
        .runner(env.config(&[
            ("druid.indexer.runner.debugJobs", "true"),
            // Long enough that the Job is surely still there when the status is known (on a
            // loaded machine archiving the log can take a second), short enough for the test.
            ("druid.indexer.runner.taskCleanupDelay", "PT4S"),
            ("druid.indexer.runner.taskCleanupInterval", "PT1S"),
        ]))
        .await;
    let st = within(
        20,
        runner
            .run(task("t-dbg", 0, serde_json::json!({"durationMs": 50})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    assert_eq!(st.status, TaskState::Success);
    let jobs: kube::Api<Job> = kube::Api::namespaced(env.client(), "druid");
    assert_eq!(
        jobs.list(&ListParams::default()).await.unwrap().items.len(),
        1,
        "debugJobs keeps the Job"
    );
    within(15, async {
        while !jobs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_reports_come_from_the_peon_while_it_runs() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let h = runner
        .run(task("t-rep", 0, serde_json::json!({"durationMs": 30000})))
        .unwrap();
    wait_running(&runner, "t-rep").await;
    let loc = runner.location("t-rep");
    assert_eq!(loc.port, 8100);
    // play the peon's chat handler on the pod's (loopback) address
    let host = loc.host.clone().unwrap();
    assert!(
        host.starts_with("127."),
        "the simulator's pod IPs are loopback: {host}"
    );
    let listener = tokio::net::TcpListener::bind((host.as_str(), 8100))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).to_string();
        let body = r#"{"ingestionStatsAndErrors":{"payload":{"ingestionState":"BUILD_SEGMENTS"}}}"#;
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
        req
    });
    let rep = within(10, runner.reports("t-rep")).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&rep).contains("BUILD_SEGMENTS"));
    let req = server.await.unwrap();
    assert!(
        req.starts_with("GET /druid/worker/v1/chat/t-rep/liveReports HTTP/1.1"),
        "{req}"
    );
    runner.shutdown("t-rep", "test over");
    within(20, h.status()).await.unwrap();
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlord_adapter_reads_the_overlord_pod_by_hostname() {
    let env = Env::start(SimConfig::default()).await;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(env.client(), "druid");
    let overlord: k8s_openapi::api::core::v1::Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "druid-overlord-7f9c", "labels": {"app": "overlord"}},
        "spec": {"containers": [{"name": "druid", "image": "apache/druid:33.0.0", "command": ["sleep", "3600"]}]}
    }))
    .unwrap();
    pods.create(&Default::default(), &overlord).await.unwrap();
    let mut config = env.config(&[]);
    config.adapter_type = druid_k8s_model::config::AdapterType::OverlordSingleContainer;
    let runner = env
        .runner_with(
            config,
            RunnerOptions {
                tick: Duration::from_millis(100),
                hostname: Some("druid-overlord-7f9c".into()),
                ..Default::default()
            },
        )
        .await;
    for id in ["t-h1", "t-h2"] {
        let st = within(
            20,
            runner
                .run(task(id, 0, serde_json::json!({"durationMs": 50})))
                .unwrap()
                .status(),
        )
        .await
        .unwrap();
        assert_eq!(st.status, TaskState::Success, "{st:?}");
    }
    assert_eq!(
        env.sim.stats().requests_for("get", "pods"),
        1,
        "the overlord pod is read once"
    );
    runner.stop();
}
