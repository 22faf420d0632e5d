//! Jobs rendered by `druid-k8s-adapters` run to completion on `druid-k8s-sim`, whose simulated
//! peon decodes the payload on its own (the simulator shares no code with the adapters), and
//! leave Druid's `status.json` and `report.json` in task-log storage.
//!
//! Covered: the three adapters, and a payload too large to go inline (it travels through
//! `task.json` in task-log storage, as Druid's runner uploads it before creating the Job).

use std::path::Path;
use std::time::Duration;

use druid_k8s_adapters::{InMemoryTemplateSource, PayloadPlacement, RenderRequest, render};
use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_sim::{Sim, SimConfig};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::{Value, json};

const NAMESPACE: &str = "druid";

fn config(adapter: &str) -> RunnerConfig {
    let text = format!(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.task.encapsulatedTask=true\n\
         druid.indexer.runner.namespace={NAMESPACE}\n\
         druid.indexer.runner.k8s.adapter.type={adapter}\n\
         druid.indexer.runner.k8s.podTemplate.base=/templates/base.yaml\n\
         druid.indexer.runner.k8s.podTemplate.big=/templates/big.yaml\n"
    );
    RunnerConfig::from_raw(&RawConfig::from_properties(&text).unwrap()).unwrap()
}

/// The overlord's pod: the peon env tells where task logs go, as in Druid's image.
fn overlord_pod(logs: &Path) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "druid-overlord-0", "namespace": NAMESPACE},
        "spec": {"containers": [
            {"name": "overlord", "image": "apache/druid:33.0.0",
             "env": [
                {"name": "druid_indexer_logs_type", "value": "file"},
                {"name": "druid_indexer_logs_directory", "value": logs.display().to_string()}
             ]},
            {"name": "sidecar", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}
        ]}
    }))
    .unwrap()
}

fn templates(logs: &Path) -> InMemoryTemplateSource {
    let template = |name: &str| {
        format!(
            "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  metadata:\n    labels:\n      template: {name}\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n      command: [sh, -c, /peon.sh /druid/data 1]\n      env:\n      - name: druid_indexer_logs_type\n        value: file\n      - name: druid_indexer_logs_directory\n        value: {}\n",
            logs.display()
        )
    };
    let mut source = InMemoryTemplateSource::new();
    source.insert_yaml("base", &template("base")).unwrap();
    source.insert_yaml("big", &template("big")).unwrap();
    source
}

/// Renders `task` with `adapter`, creates the Job on the simulator (after uploading
/// `task.json` when the adapters say so), waits for it to finish and returns the decoded
/// `status.json` and `report.json`.
async fn run(adapter: &str, task: Value, expect_storage: bool) -> (Value, Value, String) {
    let logs = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();

    let config = config(adapter);
    let task = Task::from_value(task).unwrap();
    let pod = overlord_pod(logs.path());
    let templates = templates(logs.path());
    let request = RenderRequest::new(&config, &task)
        .with_overlord_pod(&pod)
        .with_templates(&templates);
    let rendered = render(&request).unwrap();
    match (&rendered.payload, expect_storage) {
        (PayloadPlacement::Storage { task_json, .. }, true) => {
            // Druid's file task logs keep the payload at `<dir>/<taskId>.task.json`.
            std::fs::write(
                logs.path().join(format!("{}.task.json", task.id())),
                task_json,
            )
            .unwrap();
        }
        (PayloadPlacement::Inline { .. }, false) => {}
        (other, _) => panic!("unexpected payload placement {other:?}"),
    }

    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let job = jobs
        .create(&PostParams::default(), &rendered.job)
        .await
        .unwrap();
    let name = job.metadata.name.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let job = jobs.get(&name).await.unwrap();
        let done = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| {
                c.iter()
                    .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
            });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {name} did not finish: {:?}",
            job.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
    let pod = pods
        .list(&ListParams::default().labels(&format!("job-name={name}")))
        .await
        .unwrap()
        .items
        .pop()
        .expect("the Job created a pod");
    let log = pods
        .logs(
            &pod.metadata.name.unwrap(),
            &LogParams {
                container: Some("main".to_owned()),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();

    let read = |suffix: &str| -> Value {
        let path = logs.path().join(format!("{}.{suffix}", task.id()));
        serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{} missing: {e}; log:\n{log}", path.display())),
        )
        .unwrap()
    };
    let status = read("status.json");
    let report = read("report.json");
    sim.shutdown().await;
    (status, report, log)
}

fn noop(id: &str, sim: Value) -> Value {
    json!({"type": "noop", "id": id, "dataSource": "wiki", "context": {"sim": sim}})
}

#[tokio::test]
async fn single_container_job_succeeds() {
    let (status, report, log) = run(
        "overlordSingleContainer",
        noop("single_1", json!({"logLines": 3})),
        false,
    )
    .await;
    assert_eq!(status["id"], "single_1");
    assert_eq!(status["status"], "SUCCESS");
    assert!(report.is_object(), "{report}");
    assert!(!log.is_empty());
}

#[tokio::test]
async fn multi_container_job_with_kubexit_completes_despite_the_sidecar() {
    let (status, _, _) = run(
        "overlordMultiContainer",
        noop(
            "multi_1",
            json!({"status": "FAILED", "errorMsg": "boom", "exitCode": 1}),
        ),
        false,
    )
    .await;
    assert_eq!(status["status"], "FAILED");
    assert_eq!(status["errorMsg"], "boom");
}

#[tokio::test]
async fn template_job_reads_the_payload_through_the_annotation() {
    let (status, _, _) = run(
        "customTemplateAdapter",
        noop("template_1", json!({})),
        false,
    )
    .await;
    assert_eq!(status["id"], "template_1");
    assert_eq!(status["status"], "SUCCESS");
}

#[tokio::test]
async fn large_payload_travels_through_task_log_storage() {
    // Incompressible padding pushes the gzip+base64 payload past 130048 characters.
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let padding: String = (0..200_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    let mut task = noop("big_1", json!({}));
    task["context"]["padding"] = json!(padding);
    for adapter in ["customTemplateAdapter", "overlordSingleContainer"] {
        let (status, _, _) = run(adapter, task.clone(), true).await;
        assert_eq!(status["id"], "big_1", "{adapter}");
        assert_eq!(status["status"], "SUCCESS", "{adapter}");
    }
}
