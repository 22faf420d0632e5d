//! The worker runner against fake MiddleManagers speaking Druid's HTTP worker protocol.

mod worker_support;

use std::time::Duration;

use druid_k8s_model::{RunnerTaskState, Task, TaskState};
use druid_k8s_runner::worker::{WorkerEndpoint, WorkerRunner, WorkerRunnerConfig};
use druid_k8s_runner::{RunnerEvent, SlotMaps};
use futures::StreamExt;
use worker_support::{FakeWorker, eventually};

fn config(workers: &[&FakeWorker], capacity: u32) -> WorkerRunnerConfig {
    let eps = workers
        .iter()
        .map(|w| WorkerEndpoint::parse(&w.host()).unwrap())
        .collect();
    let mut c = WorkerRunnerConfig::for_workers(eps, capacity);
    c.tick = Duration::from_millis(20);
    c.sync_request_timeout = Duration::from_millis(500);
    c.start_timeout = Duration::from_secs(5);
    c
}

fn task(id: &str, task_type: &str) -> Task {
    Task::from_value(serde_json::json!({"id": id, "type": task_type, "dataSource": "wiki"}))
        .unwrap()
}

/// The worker (host) each task landed on.
fn placement(runner: &WorkerRunner, ids: &[&str]) -> Vec<Option<String>> {
    ids.iter().map(|id| runner.worker_of(id)).collect()
}

#[tokio::test]
async fn tasks_spread_over_workers_and_statuses_arrive_through_the_sync() {
    let a = FakeWorker::start().await;
    let b = FakeWorker::start().await;
    let runner = WorkerRunner::start(config(&[&a, &b], 1)).await.unwrap();
    let mut events = runner.subscribe();

    let h1 = runner.run(task("t1", "index_kafka")).unwrap();
    let h2 = runner.run(task("t2", "index_kafka")).unwrap();
    let _h3 = runner.run(task("t3", "index_kafka")).unwrap();
    eventually(5, "two tasks running", || runner.running_tasks().len() == 2).await;
    // one per worker (most free slots first); the third waits: no free slot anywhere
    let on = placement(&runner, &["t1", "t2", "t3"]);
    assert_ne!(on[0], on[1], "{on:?}");
    assert!(
        on[0].is_some() && on[1].is_some() && on[2].is_none(),
        "{on:?}"
    );
    assert_eq!(
        runner.runner_task_state("t3"),
        Some(RunnerTaskState::Pending)
    );
    assert_eq!(a.assigned().len() + b.assigned().len(), 2);
    let slots = runner.slots();
    assert_eq!(
        slots.total,
        vec![("_default_worker_category".to_owned(), 2)]
    );
    assert_eq!(slots.used, vec![("_default_worker_category".to_owned(), 2)]);
    assert_eq!(slots.idle, vec![("_default_worker_category".to_owned(), 0)]);
    assert_eq!((runner.total_capacity(), runner.used_capacity()), (2, 2));

    // the location the worker announced
    let loc = runner.location("t1");
    assert_eq!(loc.host.as_deref(), Some("127.0.0.1"));
    assert!(loc.port >= 8100, "{loc:?}");

    // t1 finishes on its worker → the handle resolves, t3 takes the freed slot
    let w1 = if on[0].as_deref() == Some(a.host().as_str()) {
        &a
    } else {
        &b
    };
    w1.finish("t1", true);
    let s1 = tokio::time::timeout(Duration::from_secs(5), h1.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s1.status, TaskState::Success);
    assert_eq!(s1.location.host.as_deref(), Some("127.0.0.1"));
    eventually(5, "t3 assigned to the freed worker", || {
        runner.worker_of("t3") == on[0]
    })
    .await;
    let w2 = if w1.host() == a.host() { &b } else { &a };
    w2.finish("t2", false);
    let s2 = tokio::time::timeout(Duration::from_secs(5), h2.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s2.status, TaskState::Failed);
    assert_eq!(s2.error_msg.as_deref(), Some("task failed on the worker"));

    // listeners saw location and status events
    let mut seen_location = false;
    let mut seen_status = false;
    while let Ok(ev) = events.try_recv() {
        match ev {
            RunnerEvent::LocationChanged { task_id, .. } if task_id == "t1" => seen_location = true,
            RunnerEvent::StatusChanged { task_id, status } if task_id == "t1" => {
                seen_status = status.status == TaskState::Success
            }
            _ => {}
        }
    }
    assert!(seen_location && seen_status);

    // the overlord records the final status and tells the runner: the task is forgotten
    runner.shutdown("t1", "completed");
    assert!(runner.task("t1").is_none());
    runner.stop();
}

#[tokio::test]
async fn shutdown_and_logs_reach_the_task_worker() {
    let a = FakeWorker::start().await;
    let b = FakeWorker::start().await;
    let runner = WorkerRunner::start(config(&[&a, &b], 2)).await.unwrap();
    let h = runner.run(task("tk", "index_kafka")).unwrap();
    eventually(5, "tk running", || {
        runner.runner_task_state("tk") == Some(RunnerTaskState::Running)
    })
    .await;
    let host = runner.worker_of("tk").unwrap();
    let (mine, other) = if host == a.host() { (&a, &b) } else { (&b, &a) };

    let mut log = Vec::new();
    let mut s = runner.stream_log("tk", 0).await.unwrap().expect("a log");
    while let Some(chunk) = s.next().await {
        log.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        String::from_utf8(log).unwrap(),
        format!("log of tk on {host}\n")
    );
    let mut tail = Vec::new();
    let mut s = runner.stream_log("tk", -3).await.unwrap().expect("a log");
    while let Some(chunk) = s.next().await {
        tail.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(tail, format!("{}\n", &host[host.len() - 2..]).into_bytes());
    assert_eq!(
        mine.log_requests(),
        vec![("tk".to_owned(), 0), ("tk".to_owned(), -3)]
    );
    assert!(other.log_requests().is_empty());
    // no worker holds an unknown task
    assert!(runner.stream_log("nope", 0).await.unwrap().is_none());

    runner.shutdown("tk", "killed by the operator");
    let status = tokio::time::timeout(Duration::from_secs(5), h.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, TaskState::Failed);
    assert_eq!(mine.shutdowns(), vec!["tk".to_owned()]);
    assert!(other.shutdowns().is_empty());
    // shut down while running: forgotten once its final status arrived
    eventually(5, "tk forgotten", || runner.task("tk").is_none()).await;

    // a pending task that is shut down never reaches a worker
    mine.set_disabled(true);
    other.set_disabled(true);
    eventually(5, "workers disabled", || {
        runner.workers().iter().all(|w| !w.enabled)
    })
    .await;
    let hp = runner.run(task("tp", "index")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(runner.worker_of("tp"), None);
    runner.shutdown("tp", "no longer needed");
    let status = hp.status().await.unwrap();
    assert_eq!(status.status, TaskState::Failed);
    assert!(
        status
            .error_msg
            .unwrap()
            .contains("shut down before it was assigned to a worker: no longer needed")
    );
    assert!(!a.assigned().contains(&"tp".to_owned()) && !b.assigned().contains(&"tp".to_owned()));
    runner.stop();
}

#[tokio::test]
async fn disabled_workers_get_no_tasks() {
    let a = FakeWorker::start().await;
    let b = FakeWorker::start().await;
    a.set_disabled(true);
    let runner = WorkerRunner::start(config(&[&a, &b], 3)).await.unwrap();
    for i in 0..3 {
        runner.run(task(&format!("d{i}"), "index")).unwrap();
    }
    eventually(5, "three running", || runner.running_tasks().len() == 3).await;
    assert!(a.assigned().is_empty());
    assert_eq!(b.assigned().len(), 3);
    let slots = runner.slots();
    // a disabled worker's slots count in total but are not idle
    assert_eq!(
        slots.total,
        vec![("_default_worker_category".to_owned(), 6)]
    );
    assert_eq!(slots.idle, vec![("_default_worker_category".to_owned(), 0)]);
    // enabled again: it takes the next task
    a.set_disabled(false);
    runner.run(task("d3", "index")).unwrap();
    eventually(5, "d3 on a", || runner.worker_of("d3") == Some(a.host())).await;
    assert_eq!(SlotMaps::default().total.len(), 0);
    runner.stop();
}

#[tokio::test]
async fn a_vanished_worker_fails_its_tasks_and_pending_tasks_go_elsewhere() {
    let a = FakeWorker::start().await;
    let b = FakeWorker::start().await;
    let mut cfg = config(&[&a, &b], 1);
    cfg.server_unstability_timeout = Duration::from_millis(100);
    cfg.task_cleanup_timeout = Duration::from_millis(600);
    let runner = WorkerRunner::start(cfg).await.unwrap();
    let h1 = runner.run(task("v1", "index")).unwrap();
    let _h2 = runner.run(task("v2", "index")).unwrap();
    eventually(5, "both running", || runner.running_tasks().len() == 2).await;
    let on_a = if runner.worker_of("v1") == Some(a.host()) {
        "v1"
    } else {
        "v2"
    };
    let on_b = if on_a == "v1" { "v2" } else { "v1" };

    a.vanish();
    let h_lost = if on_a == "v1" {
        h1
    } else {
        runner.status("v2").unwrap()
    };
    let status = tokio::time::timeout(Duration::from_secs(5), h_lost.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status, TaskState::Failed);
    let msg = status.error_msg.unwrap();
    assert!(msg.contains(&format!("Worker [{}]", a.host())), "{msg}");
    assert!(
        msg.contains("unreachable for longer than taskCleanupTimeout (PT0.6S)"),
        "{msg}"
    );
    assert!(msg.contains("503"), "{msg}");
    let w = runner
        .workers()
        .into_iter()
        .find(|w| w.endpoint.host == a.host())
        .unwrap();
    assert!(!w.reachable && w.tasks.is_empty());

    // a new task waits (b is full, a is gone), then runs on b when b frees a slot
    let h3 = runner.run(task("v3", "index")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        runner.runner_task_state("v3"),
        Some(RunnerTaskState::Pending)
    );
    assert_eq!(runner.worker_of("v3"), None);
    b.finish(on_b, true);
    eventually(5, "v3 on b", || {
        runner.runner_task_state("v3") == Some(RunnerTaskState::Running)
    })
    .await;
    assert_eq!(runner.worker_of("v3"), Some(b.host()));
    b.finish("v3", true);
    assert_eq!(h3.status().await.unwrap().status, TaskState::Success);
    assert!(!a.assigned().contains(&"v3".to_owned()));
    runner.stop();
}

#[tokio::test]
async fn restore_adopts_the_tasks_workers_already_run() {
    let a = FakeWorker::start().await;
    a.already_running("index_kafka_wiki_old", "index_kafka");
    let runner = WorkerRunner::start(config(&[&a], 2)).await.unwrap();
    // known on return from start
    let info = runner.task("index_kafka_wiki_old").expect("adopted");
    assert!(info.restored);
    assert_eq!(info.state, RunnerTaskState::Running);
    assert_eq!(info.task_type, "index_kafka");
    assert_eq!(info.data_source.as_deref(), Some("wiki"));
    assert_eq!(info.location.port, 8199);
    assert_eq!(runner.used_capacity(), 1);
    // run() of the adopted id does not assign it again
    let h = runner
        .run(task("index_kafka_wiki_old", "index_kafka"))
        .unwrap();
    a.finish("index_kafka_wiki_old", true);
    assert_eq!(h.status().await.unwrap().status, TaskState::Success);
    assert!(a.assigned().is_empty());
    // a worker that drops a running task without a final status: the task fails, saying so
    let h = runner.run(task("dropped", "index")).unwrap();
    eventually(5, "dropped running", || {
        runner.runner_task_state("dropped") == Some(RunnerTaskState::Running)
    })
    .await;
    a.remove("dropped");
    let s = h.status().await.unwrap();
    assert_eq!(s.status, TaskState::Failed);
    assert!(
        s.error_msg
            .unwrap()
            .contains("removed task [dropped] without reporting a final status")
    );
    runner.stop();
}

#[tokio::test]
async fn a_task_its_worker_never_starts_fails_after_the_assignment_timeout() {
    let a = FakeWorker::start().await;
    a.ignore_assignments();
    let mut cfg = config(&[&a], 1);
    cfg.task_assignment_timeout = Duration::from_millis(300);
    let runner = WorkerRunner::start(cfg).await.unwrap();
    let h = runner.run(task("lazy", "index")).unwrap();
    let s = tokio::time::timeout(Duration::from_secs(5), h.status())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, TaskState::Failed);
    let msg = s.error_msg.unwrap();
    assert!(
        msg.contains("did not start task [lazy] within taskAssignmentTimeout (PT0.3S)"),
        "{msg}"
    );
    assert_eq!(a.assigned(), vec!["lazy".to_owned()]);
    eventually(5, "shutdown sent", || {
        a.shutdowns() == vec!["lazy".to_owned()]
    })
    .await;
    runner.stop();
}

// ---- against the simulator's MiddleManager (druid-k8s-sim's `SimWorker`, an independent
// implementation of the worker side of the protocol) ----

use druid_k8s_sim::{SimWorker, SimWorkerConfig, SimWorkerHandle};

fn sim_config(workers: &[&SimWorkerHandle], capacity: u32) -> WorkerRunnerConfig {
    let eps = workers
        .iter()
        .map(|w| WorkerEndpoint::parse(&w.host()).unwrap())
        .collect();
    let mut c = WorkerRunnerConfig::for_workers(eps, capacity);
    c.tick = Duration::from_millis(20);
    c.sync_request_timeout = Duration::from_millis(500);
    c.start_timeout = Duration::from_secs(5);
    c
}

fn sim_task(id: &str, sim: serde_json::Value) -> Task {
    Task::from_value(serde_json::json!({
        "id": id, "type": "index_kafka", "dataSource": "clicks", "context": {"sim": sim}
    }))
    .unwrap()
}

async fn wait(h: druid_k8s_runner::TaskHandle) -> druid_k8s_model::TaskStatus {
    tokio::time::timeout(Duration::from_secs(10), h.status())
        .await
        .expect("final status in time")
        .expect("a status")
}

async fn log_of(runner: &WorkerRunner, id: &str) -> String {
    let mut s = runner.stream_log(id, 0).await.unwrap().expect("a log");
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn sim_worker_runs_tasks_as_their_sim_context_says() {
    let mm = SimWorker::start(SimWorkerConfig::default().capacity(3))
        .await
        .unwrap();
    let runner = WorkerRunner::start(sim_config(&[&mm], 3)).await.unwrap();
    let ok = runner
        .run(sim_task(
            "ok",
            serde_json::json!({"durationMs": 100, "logLines": 2}),
        ))
        .unwrap();
    let bad = runner
        .run(sim_task(
            "bad",
            serde_json::json!({"durationMs": 50, "status": "FAILED", "errorMsg": "boom"}),
        ))
        .unwrap();
    let hung = runner
        .run(sim_task("hung", serde_json::json!({"hang": true})))
        .unwrap();
    let s = wait(ok).await;
    assert_eq!(s.status, TaskState::Success, "{s:?}");
    assert!(s.duration >= 100, "{s:?}");
    let s = wait(bad).await;
    assert_eq!(
        (s.status, s.error_msg.as_deref()),
        (TaskState::Failed, Some("boom"))
    );
    // the log, as a simulated peon writes it
    let log = log_of(&runner, "ok").await;
    assert!(
        log.contains("Running peon for task [ok] of type [index_kafka]"),
        "{log}"
    );
    assert!(log.contains("sim progress 2/2 of task [ok]"), "{log}");
    assert!(log.contains("Task completed with status"), "{log}");
    // a hanging task ends only when shut down, through the worker
    eventually(5, "hung running", || {
        runner.runner_task_state("hung") == Some(RunnerTaskState::Running)
    })
    .await;
    runner.shutdown("hung", "test");
    let s = wait(hung).await;
    assert_eq!(s.status, TaskState::Failed);
    assert!(s.error_msg.unwrap().contains("shut down"));
    // each task was assigned exactly once
    let mut assigned = mm.assigned();
    assigned.sort();
    assert_eq!(assigned, vec!["bad", "hung", "ok"]);
    runner.stop();
    mm.shutdown().await;
}

#[tokio::test]
async fn a_restarted_runner_re_adopts_restored_tasks_from_the_sync_without_reassigning() {
    let mm = SimWorker::start(SimWorkerConfig::default().capacity(4))
        .await
        .unwrap();
    let first = WorkerRunner::start(sim_config(&[&mm], 4)).await.unwrap();
    let _ = first
        .run(sim_task("long", serde_json::json!({"durationMs": 1500})))
        .unwrap();
    let _ = first
        .run(sim_task("short", serde_json::json!({"durationMs": 50})))
        .unwrap();
    eventually(5, "both assigned", || mm.assigned().len() == 2).await;
    first.stop();
    // `short` ends while no runner listens
    eventually(5, "short finished on the worker", || {
        mm.tasks()
            .iter()
            .any(|t| t.id == "short" && t.status == "SUCCESS")
    })
    .await;

    let second = WorkerRunner::start(sim_config(&[&mm], 4)).await.unwrap();
    // the store says: both were running, `lost` too (no worker has it), `never` was accepted
    // but had not reached a worker
    let long = second
        .restore(sim_task("long", serde_json::json!({})), true, None)
        .unwrap();
    let short = second
        .restore(sim_task("short", serde_json::json!({})), true, None)
        .unwrap();
    let lost = second
        .restore(
            sim_task("lost", serde_json::json!({})),
            true,
            Some("127.0.0.1:8105".into()),
        )
        .unwrap();
    let never = second
        .restore(
            sim_task("never", serde_json::json!({"durationMs": 20})),
            false,
            None,
        )
        .unwrap();
    assert_eq!(wait(short).await.status, TaskState::Success);
    assert_eq!(wait(long).await.status, TaskState::Success);
    assert_eq!(wait(never).await.status, TaskState::Success);
    let s = wait(lost).await;
    assert_eq!(s.status, TaskState::Failed);
    let msg = s.error_msg.unwrap();
    assert!(
        msg.contains(&format!(
            "worker [{}] synced and does not have it",
            mm.host()
        )) && msg.contains("127.0.0.1:8105")
            && !msg.contains("Kubernetes"),
        "{msg}"
    );
    // no task was assigned twice; `never` went out once, after the sync
    let mut assigned = mm.assigned();
    assigned.sort();
    assert_eq!(assigned, vec!["long", "never", "short"]);
    second.stop();
    mm.shutdown().await;
}

#[tokio::test]
async fn restored_tasks_wait_for_an_unreachable_worker_until_the_unstability_timeout() {
    // a worker address nobody listens on
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = dead.local_addr().unwrap().to_string();
    drop(dead);
    let mut cfg = WorkerRunnerConfig::for_workers(vec![WorkerEndpoint::parse(&host).unwrap()], 1);
    cfg.tick = Duration::from_millis(20);
    cfg.server_unstability_timeout = Duration::from_millis(1500);
    let runner = WorkerRunner::start(cfg).await.unwrap();
    let h = runner
        .restore(sim_task("r1", serde_json::json!({})), true, None)
        .unwrap();
    // not failed before the timeout
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.try_status().is_none());
    assert_eq!(
        runner.runner_task_state("r1"),
        Some(RunnerTaskState::Pending)
    );
    let s = wait(h).await;
    assert_eq!(s.status, TaskState::Failed);
    let msg = s.error_msg.unwrap();
    assert!(
        msg.contains(&format!(
            "worker [{host}] did not answer its sync within serverUnstabilityTimeout (PT1.5S)"
        )),
        "{msg}"
    );
    runner.stop();
}

#[tokio::test]
async fn stop_resolves_the_handles_of_tasks_waiting_for_a_worker() {
    let a = FakeWorker::start().await;
    a.set_disabled(true);
    let runner = WorkerRunner::start(config(&[&a], 1)).await.unwrap();
    let waiting = runner.run(task("w1", "index")).unwrap();
    let restored = runner.restore(task("w2", "index"), true, None).unwrap();
    eventually(5, "w1 pending", || {
        runner.runner_task_state("w1") == Some(RunnerTaskState::Pending)
    })
    .await;
    runner.stop();
    for h in [waiting, restored] {
        let r = tokio::time::timeout(Duration::from_secs(2), h.status())
            .await
            .expect("the handle resolves once the runner stops");
        assert!(
            matches!(r, Err(druid_k8s_runner::RunnerError::Stopped)),
            "{r:?}"
        );
    }
    assert!(runner.run(task("w3", "index")).is_err());
    assert!(a.assigned().is_empty());
}
