//! The runner against the simulator over HTTP: basic lifecycle, statuses, logs, reasons.

mod common;

use std::time::Duration;

use common::*;
use druid_k8s_model::{LifecycleState, RunnerTaskState, TaskState};
use druid_k8s_runner::RunnerEvent;
use druid_k8s_sim::SimConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_task_to_success_and_archives_its_log() {
    let env = Env::start(SimConfig::default()).await;
    let runner = env.runner(env.config(&[])).await;
    let mut events = runner.subscribe();
    let h = runner
        .run(task(
            "t-ok",
            0,
            serde_json::json!({"durationMs": 200, "logLines": 3}),
        ))
        .unwrap();
    // idempotent: the same id gives the same handle and no second Job
    let h2 = runner.run(task("t-ok", 0, serde_json::json!({}))).unwrap();
    let st = within(30, h.status()).await.unwrap();
    assert_eq!(st.status, TaskState::Success, "{st:?}");
    assert!(st.duration >= 0, "duration from the Job's times: {st:?}");
    assert_eq!(within(5, h2.status()).await.unwrap(), st);
    let log = env.stored("t-ok", "log").expect("log archived");
    assert!(log.contains("sim progress 3/3 of task [t-ok]"), "{log}");
    let info = runner.task("t-ok").unwrap();
    assert_eq!(info.lifecycle, LifecycleState::Stopped);
    assert_eq!(info.state, RunnerTaskState::None);
    assert!(info.location.host.is_some(), "{info:?}");
    // listeners saw PENDING → RUNNING → STOPPED, the location and the status
    let mut seen = vec![];
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        seen.iter().any(
            |e| matches!(e, RunnerEvent::LocationChanged { task_id, .. } if task_id == "t-ok")
        )
    );
    assert!(seen.iter().any(|e| matches!(e, RunnerEvent::StatusChanged { status, .. } if status.status == TaskState::Success)));
    let states: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::StateChanged { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(states.first(), Some(&LifecycleState::Pending));
    assert!(states.contains(&LifecycleState::Running));
    assert_eq!(states.last(), Some(&LifecycleState::Stopped));
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 1);
    // shutdown after completion forgets the task and its Job is gone
    runner.shutdown("t-ok", "done");
    assert!(runner.task("t-ok").is_none());
    within(10, async {
        while runner.jobs_held() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_job_is_adopted_on_409_even_when_it_already_finished() {
    let env = Env::start(SimConfig::default()).await;
    // debugJobs keeps the finished Job; forgetting the task and running the same id again
    // must adopt that Job (409), not hang and not create a second one
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.debugJobs", "true")]))
        .await;
    let first = within(
        20,
        runner
            .run(task("t-again", 0, serde_json::json!({"durationMs": 50})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    assert_eq!(first.status, TaskState::Success);
    runner.shutdown("t-again", "done");
    assert!(runner.task("t-again").is_none());
    let again = within(
        20,
        runner
            .run(task("t-again", 0, serde_json::json!({})))
            .unwrap()
            .status(),
    )
    .await
    .unwrap();
    assert_eq!(again.status, TaskState::Success);
    let stats = env.sim.stats();
    assert_eq!(stats.objects.get("jobs.batch"), Some(&1), "{stats:?}");
    runner.stop();
}
