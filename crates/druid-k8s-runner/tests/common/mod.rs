//! Shared harness: a simulator, a runner configured like a Druid operator would, tasks.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_runner::{
    FileTaskLogs, FileTemplateSource, RunnerMetrics, RunnerOptions, RunnerParts, TaskRunner,
};
use druid_k8s_sim::{Sim, SimConfig, SimHandle};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::{WatchStreamExt, watcher};

pub const TEMPLATE: &str = r#"apiVersion: v1
kind: PodTemplate
template:
  metadata:
    labels:
      app: peon
  spec:
    restartPolicy: Never
    containers:
    - name: main
      image: apache/druid:33.0.0
      command: ["sh", "-c", "/peon.sh"]
"#;

pub struct Env {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub logs_dir: PathBuf,
    pub template: PathBuf,
}

impl Env {
    pub async fn start(cfg: SimConfig) -> Env {
        Self::start_with_template(cfg, TEMPLATE).await
    }

    pub async fn start_with_template(cfg: SimConfig, template_text: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let logs_dir = dir.path().join("task-logs");
        std::fs::create_dir_all(&logs_dir).unwrap();
        let template = dir.path().join("base.yaml");
        std::fs::write(&template, template_text).unwrap();
        let sim = Sim::start(cfg.task_logs_dir(&logs_dir)).await.unwrap();
        Env {
            sim,
            dir,
            logs_dir,
            template,
        }
    }

    pub fn kube_config(&self) -> kube::Config {
        let mut c = kube::Config::new(self.sim.url().parse().unwrap());
        c.default_namespace = "druid".into();
        c
    }

    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.kube_config()).unwrap()
    }

    /// A Druid configuration: custom template adapter, file task logs, `extra` on top.
    pub fn config(&self, extra: &[(&str, &str)]) -> RunnerConfig {
        let mut raw = RawConfig::new()
            .with("druid.indexer.runner.type", "k8s")
            .with("druid.indexer.runner.namespace", "druid")
            .with(
                "druid.indexer.runner.k8s.adapter.type",
                "customTemplateAdapter",
            )
            .with(
                "druid.indexer.runner.k8s.podTemplate.base",
                self.template.display().to_string(),
            )
            .with("druid.indexer.task.encapsulatedTask", "true")
            .with("druid.indexer.logs.type", "file")
            .with(
                "druid.indexer.logs.directory",
                self.logs_dir.display().to_string(),
            );
        for (k, v) in extra {
            raw.insert(*k, *v);
        }
        RunnerConfig::from_raw(&raw).unwrap_or_else(|e| panic!("config: {e:?}"))
    }

    pub async fn runner(&self, config: RunnerConfig) -> TaskRunner {
        self.runner_with(
            config,
            RunnerOptions {
                tick: Duration::from_millis(100),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn runner_with(&self, config: RunnerConfig, options: RunnerOptions) -> TaskRunner {
        let templates = FileTemplateSource::new(config.pod_templates.clone());
        TaskRunner::start(RunnerParts {
            kube: self.kube_config(),
            task_logs: Arc::new(FileTaskLogs::new(&self.logs_dir)),
            templates: Some(Arc::new(templates)),
            dynamic: None,
            metrics: RunnerMetrics::new(),
            options,
            config,
        })
        .await
        .unwrap()
    }

    pub fn stored(&self, task_id: &str, name: &str) -> Option<String> {
        std::fs::read_to_string(self.logs_dir.join(format!("{task_id}.{name}"))).ok()
    }
}

/// A task whose simulated peon behaves as `sim` says.
pub fn task(id: &str, priority: i32, sim: serde_json::Value) -> Task {
    Task::from_value(serde_json::json!({
        "id": id,
        "type": "noop",
        "dataSource": "wiki",
        "context": {"priority": priority, "sim": sim}
    }))
    .unwrap()
}

/// Live Job names, the most at once, every name in order of appearance.
type Seen = (HashSet<String>, usize, Vec<String>);

/// Watches Jobs and records the most that existed at once, and every Job name seen.
#[derive(Clone, Default)]
pub struct JobCounter {
    pub inner: Arc<Mutex<Seen>>,
    guard: Arc<AbortOnDrop>,
}

#[derive(Default)]
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

impl JobCounter {
    pub fn spawn(client: kube::Client) -> JobCounter {
        let mut c = JobCounter::default();
        let me = c.clone();
        let api: kube::Api<Job> = kube::Api::namespaced(client, "druid");
        let task = tokio::spawn(async move {
            let mut s = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            // a relist replaces the set: Jobs deleted while the watch was down disappear
            let mut relist: Option<HashSet<String>> = None;
            while let Some(ev) = s.next().await {
                let Ok(ev) = ev else { continue };
                let mut g = me.inner.lock().unwrap();
                match ev {
                    watcher::Event::Init => relist = Some(HashSet::new()),
                    watcher::Event::InitApply(j) => {
                        let n = j.metadata.name.clone().unwrap_or_default();
                        if let Some(r) = relist.as_mut() {
                            r.insert(n.clone());
                        }
                        if !g.2.contains(&n) {
                            g.2.push(n);
                        }
                    }
                    watcher::Event::InitDone => {
                        if let Some(r) = relist.take() {
                            g.0 = r;
                        }
                    }
                    watcher::Event::Apply(j) => {
                        let n = j.metadata.name.clone().unwrap_or_default();
                        if g.0.insert(n.clone()) && !g.2.contains(&n) {
                            g.2.push(n);
                        }
                    }
                    watcher::Event::Delete(j) => {
                        g.0.remove(&j.metadata.name.clone().unwrap_or_default());
                    }
                }
                g.1 = g.1.max(g.0.len());
            }
        });
        c.guard = Arc::new(AbortOnDrop(Some(task.abort_handle())));
        c
    }

    pub fn max(&self) -> usize {
        self.inner.lock().unwrap().1
    }

    /// Job names in order of first appearance.
    pub fn order(&self) -> Vec<String> {
        self.inner.lock().unwrap().2.clone()
    }
}

pub async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}
