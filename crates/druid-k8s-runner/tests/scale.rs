//! Acceptance: capacity and priorities with 200 tasks, restart with tasks in flight, and
//! everything again with faults on.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use druid_k8s_model::{LifecycleState, TaskState, TaskStatus};
use druid_k8s_runner::{RunnerEvent, TaskHandle};
use druid_k8s_sim::{FaultConfig, SimConfig};

/// Task `i`: every 7th fails with its own message; priorities cycle through -1..=2.
fn spec(i: usize) -> (String, i32, serde_json::Value) {
    let id = format!("task-{i:04}");
    let prio = (i % 4) as i32 - 1;
    let sim = if i % 7 == 3 {
        serde_json::json!({"durationMs": 50 + (i % 5) * 20, "status": "FAILED", "errorMsg": format!("peon error of {id}")})
    } else {
        serde_json::json!({"durationMs": 50 + (i % 5) * 20, "logLines": 2})
    };
    (id, prio, sim)
}

fn check_status(i: usize, st: &TaskStatus) {
    let (id, _, _) = spec(i);
    assert_eq!(st.id, id);
    if i % 7 == 3 {
        assert_eq!(st.status, TaskState::Failed, "{st:?}");
        assert_eq!(
            st.error_msg.as_deref(),
            Some(format!("peon error of {id}").as_str())
        );
    } else {
        assert_eq!(st.status, TaskState::Success, "{st:?}");
    }
}

async fn run_many(env: &Env, n: usize, capacity: usize, secs: u64) -> Vec<String> {
    let counter = JobCounter::spawn(env.client());
    let cap = capacity.to_string();
    let runner = env
        .runner(env.config(&[("druid.indexer.runner.capacity", cap.as_str())]))
        .await;
    let mut events = runner.subscribe();
    let order = tokio::spawn(async move {
        let mut order = vec![];
        while let Ok(ev) = events.recv().await {
            if let RunnerEvent::StateChanged {
                task_id,
                state: LifecycleState::Pending,
            } = ev
            {
                order.push(task_id);
                if order.len() == n {
                    break;
                }
            }
        }
        order
    });
    let handles: Vec<TaskHandle> = (0..n)
        .map(|i| {
            let (id, p, sim) = spec(i);
            runner.run(task(&id, p, sim)).unwrap()
        })
        .collect();
    let statuses = within(
        secs,
        futures::future::join_all(handles.into_iter().map(|h| h.status())),
    )
    .await;
    for (i, st) in statuses.iter().enumerate() {
        check_status(i, st.as_ref().unwrap());
        // the overlord's TaskQueue shuts a task down once it completed
        runner.shutdown(&spec(i).0, "completed");
    }
    within(20, async {
        while runner.jobs_held() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        counter.max() <= capacity,
        "{} Jobs existed at once, capacity {capacity}",
        counter.max()
    );
    assert!(runner.known_tasks().is_empty());
    runner.stop();
    within(5, order).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_with_capacity_twenty() {
    let env = Env::start(SimConfig::default()).await;
    let order = run_many(&env, 200, 20, 90).await;
    // the first 20 launch at submission; all others wait and launch by priority, then FIFO
    let rank: HashMap<String, usize> = (0..200).map(|i| (spec(i).0, i)).collect();
    let later: Vec<(i32, usize)> = order[20..]
        .iter()
        .map(|id| {
            let i = rank[id];
            (-spec(i).1, i)
        })
        .collect();
    let mut sorted = later.clone();
    sorted.sort();
    assert_eq!(
        later, sorted,
        "launch order must follow priority, then submission"
    );
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_with_faults() {
    let cfg = SimConfig {
        faults: FaultConfig {
            error_rates: [("*".to_string(), 0.05)].into(),
            error_codes: vec![500, 429],
            retry_after_seconds: 1,
            watch_cut_after: Some(Duration::from_secs(2)),
            watch_resume_gone_rate: 1.0,
            ..FaultConfig::default()
        },
        ..SimConfig::default()
    };
    let env = Env::start(cfg).await;
    run_many(&env, 200, 20, 100).await;
    let stats = env.sim.stats();
    assert!(stats.injected_errors > 0, "{stats:?}");
    assert!(
        stats.gone_answers > 0 && stats.watches_total > 4,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_fifty_tasks_in_flight() {
    let env = Env::start(SimConfig::default()).await;
    let config = env.config(&[("druid.indexer.runner.capacity", "100")]);
    let r1 = env.runner(config.clone()).await;
    // half finish while no runner is up, half outlive the restart
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let id = format!("rs-{i:02}");
            let ms = if i % 2 == 0 { 1500 } else { 4000 };
            let sim = if i % 5 == 1 {
                serde_json::json!({"durationMs": ms, "status": "FAILED", "errorMsg": format!("err {id}")})
            } else {
                serde_json::json!({"durationMs": ms})
            };
            task(&id, 0, sim)
        })
        .collect();
    for t in &tasks {
        r1.run(t.clone()).unwrap();
    }
    within(20, async {
        while !r1.pending_tasks().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        r1.known_tasks().iter().all(|t| t.status.is_none()),
        "all 50 in flight at the stop"
    );
    let orphan = r1.status("rs-00").unwrap();
    r1.stop();
    assert!(
        matches!(
            within(5, orphan.status()).await,
            Err(druid_k8s_runner::RunnerError::Stopped)
        ),
        "a stopped runner's handles do not hang"
    );
    assert!(r1.run(tasks[0].clone()).is_err(), "run after stop fails");
    tokio::time::sleep(Duration::from_millis(2000)).await;

    let r2 = env.runner(config).await;
    assert_eq!(r2.known_tasks().len(), 50, "every Job adopted");
    assert!(r2.known_tasks().iter().all(|t| t.restored));
    // the TaskQueue re-submits its active tasks: same handles, no new Jobs
    let handles: Vec<_> = tasks.iter().map(|t| r2.run(t.clone()).unwrap()).collect();
    let statuses = within(
        30,
        futures::future::join_all(handles.into_iter().map(|h| h.status())),
    )
    .await;
    for (i, st) in statuses.into_iter().enumerate() {
        let st = st.unwrap();
        let id = format!("rs-{i:02}");
        assert_eq!(st.id, id);
        if i % 5 == 1 {
            assert_eq!(st.status, TaskState::Failed, "{st:?}");
            assert_eq!(st.error_msg.as_deref(), Some(format!("err {id}").as_str()));
        } else {
            assert_eq!(st.status, TaskState::Success, "{st:?}");
        }
    }
    assert_eq!(
        env.sim.stats().requests_for("create", "jobs"),
        50,
        "exactly one create per task"
    );
    r2.stop();
}
