//! Peon emulation: a Job carrying a Druid task runs to completion and leaves `status.json`,
//! `report.json` (and, when asked, the log) in task-log storage, for every payload transport.

mod common;

use std::time::Duration;

use common::{encode_task, eventually, has_condition, peon_job, start};
use druid_k8s_sim::{SimConfig, TaskLogStorage};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::{Value, json};

async fn finished_job(jobs: &Api<Job>, name: &str) -> Job {
    eventually(10, "the job to finish", || async {
        let j = jobs.get(name).await.ok()?;
        (has_condition(&j, "Complete") || has_condition(&j, "Failed")).then_some(j)
    })
    .await
}

async fn only_pod(pods: &Api<Pod>, job: &str) -> Pod {
    let list = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .expect("list pods");
    assert_eq!(list.items.len(), 1, "one pod for {job}");
    list.items.into_iter().next().expect("one pod")
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn task_json_env_runs_to_completion_and_pushes_status_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, client) = start(
        SimConfig::default()
            .task_logs_dir(dir.path())
            .peon_pushes_log(true),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let task = json!({"type": "index_parallel", "id": "task-env-1", "dataSource": "wiki",
        "context": {"sim": {"durationMs": 150, "logLines": 3}}});
    let env = json!([{"name": "TASK_ID", "value": "task-env-1"}, {"name": "TASK_JSON", "value": encode_task(&task)}]);
    jobs.create(
        &PostParams::default(),
        &peon_job("task-env-1", env, json!({})),
    )
    .await
    .expect("create job");
    let job = finished_job(&jobs, "task-env-1").await;
    assert!(has_condition(&job, "Complete"), "{:?}", job.status);
    let st = job.status.expect("status");
    assert_eq!(st.succeeded, Some(1));
    assert!(st.completion_time.is_some() && st.start_time.is_some());

    let pod = only_pod(&pods, "task-env-1").await;
    let ps = pod.status.clone().expect("pod status");
    assert_eq!(ps.phase.as_deref(), Some("Succeeded"));
    let ip = ps.pod_ip.expect("pod ip");
    assert!(ip.starts_with("127."), "{ip}");
    let term = ps.container_statuses.expect("statuses")[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(term.exit_code, 0);
    assert_eq!(term.reason.as_deref(), Some("Completed"));

    let status = read_json(&dir.path().join("task-env-1.status.json"));
    assert_eq!(status["id"], "task-env-1");
    assert_eq!(status["status"], "SUCCESS");
    assert_eq!(status["duration"], 150);
    assert!(status["errorMsg"].is_null());
    assert_eq!(
        status["location"],
        json!({"host": null, "port": -1, "tlsPort": -1})
    );
    let report = read_json(&dir.path().join("task-env-1.report.json"));
    assert_eq!(report["ingestionStatsAndErrors"]["taskId"], "task-env-1");
    let log = std::fs::read_to_string(dir.path().join("task-env-1.log")).expect("log pushed");
    assert!(
        log.contains("sim progress 3/3 of task [task-env-1]"),
        "{log}"
    );

    let name = pod.metadata.name.expect("name");
    let api_log = pods
        .logs(
            &name,
            &LogParams {
                container: Some("main".into()),
                ..LogParams::default()
            },
        )
        .await
        .expect("logs");
    assert!(
        api_log.contains("Read task payload from env TASK_JSON"),
        "{api_log}"
    );
    assert!(api_log.contains("Task completed with status"), "{api_log}");
    let tail = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .expect("tail");
    assert_eq!(tail.lines().count(), 1, "{tail}");
    sim.shutdown().await;
}

#[tokio::test]
async fn annotation_via_field_ref_and_failed_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let task = json!({"type": "noop", "id": "task-ann-1",
        "context": {"sim": {"durationMs": 20, "status": "FAILED", "errorMsg": "boom", "exitCode": 0}}});
    let env = json!([
        {"name": "TASK_ID", "value": "task-ann-1"},
        {"name": "TASK_JSON", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['task']"}}},
        {"name": "druid_indexer_logs_type", "value": "file"},
        {"name": "druid_indexer_logs_directory", "value": dir.path().to_string_lossy()}
    ]);
    let ann = json!({"task": encode_task(&task), "task.id": "task-ann-1"});
    jobs.create(&PostParams::default(), &peon_job("task-ann-1", env, ann))
        .await
        .expect("create");
    let job = finished_job(&jobs, "task-ann-1").await;
    // Exit code 0: the Job succeeds even though the task failed; the status tells the truth.
    assert!(has_condition(&job, "Complete"));
    let status = read_json(&dir.path().join("task-ann-1.status.json"));
    assert_eq!(status["status"], "FAILED");
    assert_eq!(status["errorMsg"], "boom");
    assert!(dir.path().join("task-ann-1.report.json").exists());
    assert!(
        !dir.path().join("task-ann-1.log").exists(),
        "the overlord pushes the log, not the peon"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn task_json_from_s3_style_storage() {
    let root = tempfile::tempdir().expect("tempdir");
    let (sim, client) = start(SimConfig::default().task_logs(TaskLogStorage::S3 {
        root: root.path().to_owned(),
        bucket: "bucket".into(),
        prefix: "druid/task-logs".into(),
    }))
    .await;
    let base = root.path().join("bucket/druid/task-logs/task-s3-1");
    std::fs::create_dir_all(&base).expect("mkdir");
    let task = json!({"type": "noop", "id": "task-s3-1", "context": {"sim": {"durationMs": 10}}});
    std::fs::write(base.join("task.json"), task.to_string()).expect("write task.json");
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let env = json!([{"name": "TASK_ID", "value": "task-s3-1"}]);
    jobs.create(
        &PostParams::default(),
        &peon_job("task-s3-1", env, json!({})),
    )
    .await
    .expect("create");
    let job = finished_job(&jobs, "task-s3-1").await;
    assert!(has_condition(&job, "Complete"));
    let status = read_json(&base.join("status.json"));
    assert_eq!(status["status"], "SUCCESS");
    assert!(base.join("report.json").exists());
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_payload_fails_without_status_and_oom_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (sim, client) = start(SimConfig::default().task_logs_dir(dir.path())).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    // No TASK_JSON and no task.json in storage: the peon cannot start the task.
    let env = json!([{"name": "TASK_ID", "value": "nothing-here"}]);
    jobs.create(
        &PostParams::default(),
        &peon_job("no-payload", env, json!({})),
    )
    .await
    .expect("create");
    let job = finished_job(&jobs, "no-payload").await;
    assert!(has_condition(&job, "Failed"));
    assert!(has_condition(&job, "FailureTarget"));
    assert_eq!(job.status.as_ref().and_then(|s| s.failed), Some(1));
    assert!(!dir.path().join("nothing-here.status.json").exists());
    let pod = only_pod(&pods, "no-payload").await;
    let log = pods
        .logs(
            pod.metadata.name.as_deref().expect("name"),
            &LogParams::default(),
        )
        .await
        .expect("logs");
    assert!(log.contains("Could not load task payload"), "{log}");

    let task = json!({"type": "noop", "id": "task-oom", "context": {"sim": {"durationMs": 10, "oom": true}}});
    let env = json!([{"name": "TASK_JSON", "value": encode_task(&task)}]);
    jobs.create(
        &PostParams::default(),
        &peon_job("task-oom", env, json!({})),
    )
    .await
    .expect("create");
    let job = finished_job(&jobs, "task-oom").await;
    assert!(has_condition(&job, "Failed"));
    let pod = only_pod(&pods, "task-oom").await;
    let term = pod
        .status
        .and_then(|s| s.container_statuses)
        .expect("statuses")[0]
        .state
        .clone()
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (137, Some("OOMKilled"))
    );
    assert!(!dir.path().join("task-oom.status.json").exists());
    tokio::time::sleep(Duration::from_millis(10)).await;
    sim.shutdown().await;
}
