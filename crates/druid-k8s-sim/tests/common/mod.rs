//! Helpers shared by the simulator's integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use druid_k8s_sim::{Sim, SimConfig, SimHandle};
use k8s_openapi::api::batch::v1::Job;
use serde_json::{Value, json};

/// Starts a simulator and returns it with a kube client.
pub async fn start(cfg: SimConfig) -> (SimHandle, kube::Client) {
    let sim = Sim::start(cfg).await.expect("sim starts");
    let client = client(&sim);
    (sim, client)
}

pub fn client(sim: &SimHandle) -> kube::Client {
    let url: http::Uri = sim.url().parse().expect("url");
    let mut config = kube::Config::new(url);
    config.default_namespace = "druid".to_owned();
    kube::Client::try_from(config).expect("client")
}

/// gzip + base64, as Druid encodes `TASK_JSON` (built by hand here, independently of the
/// adapters crate).
pub fn encode_task(task: &Value) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(task.to_string().as_bytes()).expect("gzip");
    base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"))
}

/// A peon-like Job whose `main` container has the given env.
pub fn peon_job(name: &str, env: Value, annotations: Value) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {"druid.k8s.peons": "true"}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"druid.k8s.peons": "true"}, "annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "main",
                        "image": "apache/druid:33.0.0",
                        "command": ["sh", "-c", "/peon.sh /druid/data 1"],
                        "env": env,
                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
                    }]
                }
            }
        }
    }))
    .expect("job json")
}

/// A plain Job running `command`.
pub fn command_job(name: &str, command: Value) -> Job {
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36", "command": command}]}}
        }
    }))
    .expect("job json")
}

/// Polls `f` every 20 ms until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a Job has condition `type_` = True.
pub fn has_condition(job: &Job, type_: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
}
