//! Why tasks fail: fast-failing pod errors, launch timeouts, OOM, deadlines, evictions,
//! shutdowns.

mod common;

use std::time::Duration;

use common::*;
use druid_k8s_model::TaskState;
use druid_k8s_runner::RunnerOptions;
use druid_k8s_sim::SimConfig;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};

fn failed_with(st: &druid_k8s_model::TaskStatus, needles: &[&str]) {
    assert_eq!(st.status, TaskState::Failed, "{st:?}");
    let msg = st.error_msg.clone().unwrap_or_default();
    for n in needles {
        assert!(msg.contains(n), "{n:?} not in {msg:?}");
    }
}

async fn job_count(env: &Env) -> usize {
    let api: kube::Api<Job> = kube::Api::namespaced(env.client(), "druid");
    api.list(&ListParams::default()).await.unwrap().items.len()
}

async fn wait_no_jobs(env: &Env) {
    within(20, async {
        while job_count(env).await > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_backoff_fails_fast_with_that_reason() {
    let env = Env::start_with_template(
        SimConfig::default(),
        &TEMPLATE.replace("apache/druid:33.0.0", "registry.example/nonexistent:1"),
    )
    .await;
    // the launch timeout is an hour: only fast failure can end this test in time
    let runner = env.runner(env.config(&[])).await;
    let st = within(
        20,
        runner
            .run(task("t-img", 0, serde_json::json!({})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    failed_with(&st, &["cannot start", "ImagePull"]);
    wait_no_jobs(&env).await;
    let log = env
        .stored("t-img", "log")
        .expect("a placeholder log explains");
    assert!(
        log.contains("did not report any logs") && log.contains("ImagePull"),
        "{log}"
    );
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_timeout_fails_the_task_and_deletes_its_job() {
    // a pod that can never be scheduled
    let env = Env::start_with_template(
        SimConfig::default(),
        &TEMPLATE.replace(
            "      command:",
            "      resources:\n        requests:\n          cpu: \"500\"\n      command:",
        ),
    )
    .await;
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.k8sjobLaunchTimeout", "PT1S")]))
        .await;
    let st = within(
        20,
        runner
            .run(task("t-unsched", 0, serde_json::json!({})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    failed_with(&st, &["Timed out after", "k8sjobLaunchTimeout"]);
    assert!(
        st.error_msg.as_deref().unwrap().contains("Unschedulable"),
        "{st:?}"
    );
    wait_no_jobs(&env).await;
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_killed_gives_that_reason() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let st = within(
        20,
        runner
            .run(task(
                "t-oom",
                0,
                serde_json::json!({"oom": true, "durationMs": 100}),
            ))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    failed_with(&st, &["Peon did not report status", "OOMKilled", "137"]);
    let log = env.stored("t-oom", "log").unwrap();
    assert!(log.contains("OutOfMemoryError"), "{log}");
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_gives_that_reason() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.maxTaskDuration", "PT1S")]))
        .await;
    let st = within(
        20,
        runner
            .run(task("t-long", 0, serde_json::json!({"durationMs": 20000})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    failed_with(&st, &["DeadlineExceeded"]);
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_enforces_max_task_duration_itself() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env
        .runner_with(
            env.config(&[("druid.indexer.runner.maxTaskDuration", "PT1S")]),
            RunnerOptions {
                tick: Duration::from_millis(50),
                deadline_grace: Duration::ZERO,
                ..Default::default()
            },
        )
        .await;
    let st = within(
        20,
        runner
            .run(task("t-long2", 0, serde_json::json!({"durationMs": 20000})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    // whichever comes first, the task fails for exceeding its time, and its Job is deleted
    let msg = st.error_msg.clone().unwrap_or_default();
    assert!(
        msg.contains("maxTaskDuration") || msg.contains("DeadlineExceeded"),
        "{msg}"
    );
    wait_no_jobs(&env).await;
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peon_failure_status_comes_from_status_json() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let st = within(
        20,
        runner
            .run(task(
                "t-f",
                0,
                serde_json::json!({"status": "FAILED", "errorMsg": "boom from peon"}),
            ))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    assert_eq!(st.status, TaskState::Failed);
    assert_eq!(st.error_msg.as_deref(), Some("boom from peon"));
    // a peon that exits 0 without a status: Druid's message plus what Kubernetes says
    let st = within(
        20,
        runner
            .run(task(
                "t-ns",
                0,
                serde_json::json!({"neverReportStatus": true}),
            ))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    failed_with(
        &st,
        &["Peon did not report status successfully", "succeeded"],
    );
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_of_a_queued_task_never_creates_a_job() {
    let env = Env::start(SimConfig::default()).await;
    let counter = JobCounter::spawn(env.client());
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.capacity", "1")]))
        .await;
    let a = runner
        .run(task("t-a", 0, serde_json::json!({"durationMs": 500})))
        .unwrap();
    let b = runner.run(task("t-b", 0, serde_json::json!({}))).unwrap();
    assert_eq!(runner.pending_tasks().len(), 2, "a launching, b waiting");
    runner.shutdown("t-b", "killed by user");
    let sb = within(10, b.status()).await.unwrap();
    failed_with(&sb, &["shut down before it was launched", "killed by user"]);
    assert_eq!(
        within(20, a.status()).await.unwrap().status,
        TaskState::Success
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let names = counter.order();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 1);
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_of_a_running_task_deletes_its_job() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let h = runner
        .run(task("t-kill", 0, serde_json::json!({"durationMs": 30000})))
        .unwrap();
    within(10, async {
        while runner.running_tasks().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(runner.location("t-kill").host.is_some());
    runner.shutdown("t-kill", "user asked");
    let st = within(20, h.status()).await.unwrap();
    failed_with(&st, &["shut down: user asked"]);
    wait_no_jobs(&env).await;
    assert!(
        runner.task("t-kill").is_none(),
        "shut down and done: forgotten"
    );
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_pods_log_is_still_archived() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let h = runner
        .run(task(
            "t-evict",
            0,
            serde_json::json!({"durationMs": 30000, "logLines": 300}),
        ))
        .unwrap();
    within(10, async {
        while runner.running_tasks().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // let the peon write a few lines, then the node takes the pod away with its log
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(env.client(), "druid");
    let name = runner.location("t-evict").k8s_pod_name.unwrap();
    pods.delete(
        &name,
        &DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let st = within(30, h.status()).await.unwrap();
    assert_eq!(st.status, TaskState::Failed, "{st:?}");
    let log = env.stored("t-evict", "log").expect("log archived");
    assert!(
        log.contains("sim progress 1/300 of task [t-evict]"),
        "{log}"
    );
    assert!(log.contains("captured while it ran"), "{log}");
    runner.stop();
}
