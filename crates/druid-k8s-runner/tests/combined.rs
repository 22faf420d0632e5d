//! Migration mode (`k8sAndWorker`): the Kubernetes runner against the simulator and the worker
//! runner against fake MiddleManagers, behind the combined runner.

mod common;
mod worker_support;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use druid_k8s_model::config::{RunnerConfig, RunnerKind};
use druid_k8s_model::{RunnerTaskState, Task, TaskState};
use druid_k8s_runner::combined::K8S_WORKER_CATEGORY;
use druid_k8s_runner::worker::{WorkerRunner, WorkerRunnerConfig};
use druid_k8s_runner::{
    CombinedRunner, FileTaskLogs, FileTemplateSource, RunnerEvent, RunnerMetrics, RunnerOptions,
    RunnerParts,
};
use druid_k8s_sim::SimConfig;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use worker_support::{FakeWorker, eventually};

const STRATEGY: &str = "druid.indexer.runner.k8sAndWorker.runnerStrategy.";

fn typed(id: &str, task_type: &str) -> Task {
    Task::from_value(serde_json::json!({
        "id": id, "type": task_type, "dataSource": "wiki",
        "context": {"sim": {"durationMs": 100}}
    }))
    .unwrap()
}

fn migration_config(env: &Env, workers: &[&FakeWorker], extra: &[(&str, &str)]) -> RunnerConfig {
    let hosts: Vec<String> = workers.iter().map(|w| w.host()).collect();
    let hosts = hosts.join(",");
    let mut props = vec![
        ("druid.indexer.runner.type", "k8sAndWorker"),
        ("druid.indexer.runner.capacity", "4"),
        ("druid.indexer.runner.k8sAndWorker.workers", hosts.as_str()),
        ("druid.indexer.runner.k8sAndWorker.workerCapacity", "2"),
        ("druid.indexer.runner.syncRequestTimeout", "PT0.5S"),
    ];
    props.extend_from_slice(extra);
    env.config(&props)
}

async fn combined(env: &Env, config: RunnerConfig) -> CombinedRunner {
    let kw = config.k8s_and_worker.clone().expect("k8sAndWorker");
    let mut wcfg = WorkerRunnerConfig::from_config(&kw).unwrap();
    wcfg.tick = Duration::from_millis(20);
    let worker = WorkerRunner::start(wcfg).await.unwrap();
    let k8s = env.runner(config).await;
    CombinedRunner::new(k8s, worker, kw.runner_strategy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_type_strategy_sends_index_kafka_to_workers_and_the_rest_to_kubernetes() {
    let env = Env::start(SimConfig::default()).await;
    let mm = FakeWorker::start().await;
    let config = migration_config(
        &env,
        &[&mm],
        &[
            (&format!("{STRATEGY}type"), "taskType"),
            (&format!("{STRATEGY}taskType.default"), "k8s"),
            (
                &format!("{STRATEGY}taskType.overrides"),
                r#"{"index_kafka": "worker"}"#,
            ),
        ],
    );
    let runner = combined(&env, config).await;
    let mut events = runner.subscribe();

    let kafka = runner.run(typed("kafka-1", "index_kafka")).unwrap();
    let batch = runner.run(typed("batch-1", "index_parallel")).unwrap();
    eventually(10, "kafka-1 running on the worker", || {
        runner.runner_task_state("kafka-1") == Some(RunnerTaskState::Running)
    })
    .await;
    assert_eq!(mm.assigned(), vec!["kafka-1".to_owned()]);
    assert_eq!(runner.holder("kafka-1"), Some(RunnerKind::Worker));
    assert_eq!(runner.holder("batch-1"), Some(RunnerKind::K8s));
    assert!(runner.k8s().task("kafka-1").is_none());
    assert!(runner.worker().task("batch-1").is_none());

    // both runners' tasks in one list, Kubernetes' first
    let known: Vec<String> = runner.known_tasks().into_iter().map(|t| t.id).collect();
    assert_eq!(known, ["batch-1", "kafka-1"]);
    // slot maps: k8s entry, then the workers' category; capacities add up
    let slots = runner.slots();
    let keys: Vec<&str> = slots.total.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, [K8S_WORKER_CATEGORY, "_default_worker_category"]);
    assert_eq!(slots.total[0].1, 4);
    assert_eq!(slots.total[1].1, 2);
    assert_eq!(slots.used[1].1, 1);
    assert_eq!(runner.total_capacity(), 6);

    // the Kubernetes task ends by itself in the simulator; its Job existed, the kafka one never
    let st = within(30, batch.status()).await.unwrap();
    assert_eq!(st.status, TaskState::Success, "{st:?}");
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 1);

    // logs and shutdown of the worker task go to its worker
    let mut log = Vec::new();
    let mut s = runner.stream_log("kafka-1", 0).await.unwrap().expect("log");
    while let Some(c) = s.next().await {
        log.extend_from_slice(&c.unwrap());
    }
    assert_eq!(
        String::from_utf8(log).unwrap(),
        format!("log of kafka-1 on {}\n", mm.host())
    );
    assert_eq!(
        runner.location("kafka-1").host.as_deref(),
        Some("127.0.0.1")
    );
    runner.shutdown("kafka-1", "stop supervisor");
    let st = within(10, kafka.status()).await.unwrap();
    assert_eq!(st.status, TaskState::Failed);
    assert_eq!(mm.shutdowns(), vec!["kafka-1".to_owned()]);

    // one event stream carries both runners' final statuses
    let mut finished = Vec::new();
    while finished.len() < 2 {
        let ev = within(5, events.recv()).await.unwrap();
        if let RunnerEvent::StatusChanged { task_id, .. } = ev {
            finished.push(task_id);
        }
    }
    finished.sort();
    assert_eq!(finished, ["batch-1", "kafka-1"]);
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_and_worker_strategies_route_every_task_and_restore_covers_both() {
    let env = Env::start(SimConfig::default()).await;
    let mm = FakeWorker::start().await;
    mm.already_running("old-kafka", "index_kafka");

    // `k8s` (the default): even index_kafka goes to Kubernetes
    let runner = combined(&env, migration_config(&env, &[&mm], &[])).await;
    // restore: the worker's running task is known at once
    assert_eq!(runner.holder("old-kafka"), Some(RunnerKind::Worker));
    assert!(runner.task("old-kafka").unwrap().restored);
    let h = runner.run(typed("k-kafka", "index_kafka")).unwrap();
    assert_eq!(runner.holder("k-kafka"), Some(RunnerKind::K8s));
    assert_eq!(
        within(30, h.status()).await.unwrap().status,
        TaskState::Success
    );
    assert!(mm.assigned().is_empty());
    // a long Kubernetes task outlives this runner
    let long = Task::from_value(serde_json::json!({
        "id": "k-long", "type": "index_kafka", "dataSource": "wiki",
        "context": {"sim": {"durationMs": 20000}}
    }))
    .unwrap();
    runner.run(long).unwrap();
    eventually(10, "k-long running", || {
        runner.runner_task_state("k-long") == Some(RunnerTaskState::Running)
    })
    .await;
    runner.stop();

    // `worker`, started from the properties alone: every task goes to the workers
    let config = migration_config(&env, &[&mm], &[(&format!("{STRATEGY}type"), "worker")]);
    let runner = CombinedRunner::start(RunnerParts {
        kube: env.kube_config(),
        task_logs: Arc::new(FileTaskLogs::new(&env.logs_dir)),
        templates: Some(Arc::new(FileTemplateSource::new(
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
    .unwrap();
    // restore covers both: the running Kubernetes Job and the worker's running task
    let restored: Vec<String> = runner
        .known_tasks()
        .into_iter()
        .filter(|t| t.restored)
        .map(|t| t.id)
        .collect();
    assert!(restored.contains(&"k-long".to_owned()), "{restored:?}");
    assert!(restored.contains(&"old-kafka".to_owned()), "{restored:?}");
    let h = runner.run(typed("w-batch", "index_parallel")).unwrap();
    eventually(10, "w-batch on the worker", || {
        mm.assigned() == vec!["w-batch".to_owned()]
    })
    .await;
    assert_eq!(runner.holder("w-batch"), Some(RunnerKind::Worker));
    mm.finish("w-batch", true);
    assert_eq!(
        within(10, h.status()).await.unwrap().status,
        TaskState::Success
    );
    // run() of a task a runner already holds stays there, whatever the strategy says
    runner.run(typed("k-long", "index_kafka")).unwrap();
    assert_eq!(runner.holder("k-long"), Some(RunnerKind::K8s));
    assert_eq!(mm.assigned(), vec!["w-batch".to_owned()]);
    assert_eq!(env.sim.stats().requests_for("create", "jobs"), 2);
    // shutdown reaches the Kubernetes task (its Job is deleted)
    let h = runner.status("k-long").unwrap();
    runner.shutdown("k-long", "done");
    assert_eq!(
        within(30, h.status()).await.unwrap().status,
        TaskState::Failed
    );
    assert!(!mm.shutdowns().contains(&"k-long".to_owned()));
    runner.stop();
}

/// A pod announced the way druid-kubernetes-extensions' `K8sDruidNodeAnnouncer` does.
fn announced_pod(name: &str, cluster: &str, node_info: &serde_json::Value) -> Pod {
    let host = format!(
        "{}-{}",
        node_info["druidNode"]["host"].as_str().unwrap(),
        node_info["druidNode"]["plaintextPort"]
    );
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "app": "druid-middlemanager",
                "druidDiscoveryAnnouncement-middleManager": "true",
                "druidDiscoveryAnnouncement-id": host,
                "druidDiscoveryAnnouncement-cluster-identifier": cluster
            },
            "annotations": {"druidNodeInfo-middleManager": node_info.to_string()}
        },
        "spec": {"containers": [{"name": "mm", "image": "apache/druid:33.0.0"}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn workers_come_and_go_with_their_announced_pods() {
    use druid_k8s_model::config::K8sDiscoveryConfig;
    use druid_k8s_sim::{SimWorker, SimWorkerConfig};
    use kube::api::{DeleteParams, PostParams};

    let env = Env::start(SimConfig::default()).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(env.client(), "druid");
    let a = SimWorker::start(SimWorkerConfig::default().capacity(3))
        .await
        .unwrap();
    let b = SimWorker::start(SimWorkerConfig::default().capacity(1))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &announced_pod("mm-a", "test-cluster", &a.druid_node_info()),
    )
    .await
    .unwrap();
    // another Druid cluster's MiddleManager in the same namespace is not ours
    pods.create(
        &PostParams::default(),
        &announced_pod("mm-other", "other-cluster", &b.druid_node_info()),
    )
    .await
    .unwrap();

    let mut cfg = WorkerRunnerConfig::for_workers(vec![], 1);
    cfg.tick = Duration::from_millis(20);
    cfg.sync_request_timeout = Duration::from_millis(500);
    cfg.task_cleanup_timeout = Duration::from_millis(300);
    cfg.discovery = Some(K8sDiscoveryConfig {
        cluster_identifier: "test-cluster".into(),
        namespace: "druid".into(),
    });
    let runner = WorkerRunner::start_with_client(cfg, env.client())
        .await
        .unwrap();
    // announced at start-up: known and synced on return, with the announced capacity
    let ws = runner.workers();
    assert_eq!(ws.len(), 1, "{ws:?}");
    assert_eq!((ws[0].endpoint.host.clone(), ws[0].capacity), (a.host(), 3));
    assert!(ws[0].synced, "{ws:?}");
    let h = runner
        .run(
            Task::from_value(serde_json::json!({"id": "d1", "type": "index_kafka",
                "context": {"sim": {"durationMs": 20}}}))
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), h.status())
            .await
            .unwrap()
            .unwrap()
            .status,
        TaskState::Success
    );
    assert_eq!(a.assigned(), vec!["d1".to_owned()]);

    // a MiddleManager announced later joins
    pods.create(
        &PostParams::default(),
        &announced_pod("mm-b", "test-cluster", &b.druid_node_info()),
    )
    .await
    .unwrap();
    eventually(10, "worker b discovered", || {
        runner
            .workers()
            .iter()
            .any(|w| w.endpoint.host == b.host() && w.synced)
    })
    .await;
    // a task runs on b; then b's pod goes away: b gets nothing new and its task fails after
    // taskCleanupTimeout, saying why
    let hang = runner
        .run(
            Task::from_value(serde_json::json!({"id": "d2", "type": "index_kafka",
                "context": {"sim": {"hang": true}}}))
            .unwrap(),
        )
        .unwrap();
    eventually(10, "d2 running", || {
        runner.runner_task_state("d2") == Some(RunnerTaskState::Running)
    })
    .await;
    let on = runner.worker_of("d2").unwrap();
    let (pod, gone) = if on == b.host() {
        ("mm-b", b.host())
    } else {
        ("mm-a", a.host())
    };
    pods.delete(pod, &DeleteParams::background().grace_period(0))
        .await
        .unwrap();
    let s = tokio::time::timeout(Duration::from_secs(10), hang.status())
        .await
        .expect("the task of a vanished worker fails")
        .unwrap();
    assert_eq!(s.status, TaskState::Failed);
    let msg = s.error_msg.unwrap();
    assert!(
        msg.contains(&gone) && msg.contains("no longer announces"),
        "{msg}"
    );
    eventually(10, "the removed worker is forgotten", || {
        runner.workers().iter().all(|w| w.endpoint.host != gone)
    })
    .await;
    assert_eq!(runner.workers().len(), 1, "{:?}", runner.workers());
    runner.stop();
}
