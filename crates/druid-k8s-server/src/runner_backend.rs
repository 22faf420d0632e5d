//! [`TaskBackend`] on the real [`druid_k8s_runner::TaskRunner`], plus the glue that keeps the
//! store in step with it: status events are recorded, and at start-up the store is reconciled
//! with what the runner restored (Jobs without a record are adopted; running records without a
//! Job are finished from task-log storage or failed with a reason).
//!
//! With `druid.indexer.runner.type=k8sAndWorker` the backend also starts a
//! [`WorkerRunner`] and sends tasks through a [`CombinedRunner`] (spec §9.1): new tasks go where
//! the runner strategy says, task lists and capacity cover both runners. Archived logs, stored
//! statuses, the Job preview and the dynamic config stay with the Kubernetes runner.

use std::sync::Arc;

use druid_k8s_model::config::{AdapterType, RunnerConfig, RunnerType, TaskLogsConfig};
use druid_k8s_model::{DynamicConfig, Task, TaskLocation, TaskStatus};
use druid_k8s_runner::{
    Artifact, CombinedRunner, FileTaskLogs, FileTemplateSource, ObjectStoreTaskLogs, RunnerEvent,
    RunnerMetrics, RunnerOptions, RunnerParts, S3Settings, TaskHandle, TaskInfo, TaskLogs,
    TaskRunner, WorkerRunner, WorkerRunnerConfig,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::PostParams;
use serde_json::{Value, json};

use crate::app::App;
use crate::backend::{BackendError, Capacity, RunnerTask, TaskBackend};
use crate::error::ServerError;
use crate::store::{StatusUpdate, TaskRecord, now_ms};
use crate::tasks_api::location_json;

/// The runner behind the HTTP API.
pub struct RunnerBackend {
    runner: TaskRunner,
    /// Set in `k8sAndWorker` mode: the Kubernetes runner plus the worker runner.
    combined: Option<CombinedRunner>,
    config: RunnerConfig,
    templates: Option<Arc<FileTemplateSource>>,
    logs: Arc<dyn TaskLogs>,
    client: kube::Client,
}

impl std::fmt::Debug for RunnerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBackend")
            .field("runner", &self.runner)
            .field("combined", &self.combined)
            .finish_non_exhaustive()
    }
}

/// Task-log storage as configured by `druid.indexer.logs.*`.
pub fn task_logs_from(config: &TaskLogsConfig) -> Result<Arc<dyn TaskLogs>, ServerError> {
    match config {
        TaskLogsConfig::File { directory } => Ok(Arc::new(FileTaskLogs::new(directory))),
        TaskLogsConfig::S3 {
            bucket,
            prefix,
            endpoint_url,
            signing_region,
            path_style_access,
            access_key,
            secret_key,
            ..
        } => {
            let settings = S3Settings {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                region: signing_region.clone(),
                endpoint: endpoint_url.clone(),
                path_style: *path_style_access,
                allow_http: endpoint_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("http://")),
                access_key_id: access_key.as_ref().map(|s| s.expose().to_owned()),
                secret_access_key: secret_key.as_ref().map(|s| s.expose().to_owned()),
            };
            let logs = ObjectStoreTaskLogs::s3(&settings)
                .map_err(|e| ServerError::Runner(e.to_string()))?;
            Ok(Arc::new(logs))
        }
    }
}

/// The Kubernetes client settings to use: `druid.indexer.runner.disableClientProxy=true` drops any
/// proxy the kubeconfig names.
pub fn kube_config_for(mut kube: kube::Config, config: &RunnerConfig) -> kube::Config {
    if config.disable_client_proxy {
        kube.proxy_url = None;
    }
    kube
}

impl RunnerBackend {
    /// Starts the runner (restoring existing Jobs) with the given Kubernetes access.
    pub async fn start(
        kube: kube::Config,
        config: RunnerConfig,
        dynamic: Option<DynamicConfig>,
        options: RunnerOptions,
        metrics: Arc<RunnerMetrics>,
    ) -> Result<RunnerBackend, ServerError> {
        let kube = kube_config_for(kube, &config);
        let logs = task_logs_from(&config.task_logs)?;
        let templates = (config.adapter_type == AdapterType::CustomTemplate)
            .then(|| Arc::new(FileTemplateSource::new(config.pod_templates.clone())));
        let client =
            kube::Client::try_from(kube.clone()).map_err(|e| ServerError::Kube(e.to_string()))?;
        let runner = TaskRunner::start(RunnerParts {
            kube,
            config: config.clone(),
            task_logs: logs.clone(),
            templates: templates
                .clone()
                .map(|t| t as Arc<dyn druid_k8s_adapters::TemplateSource + Send + Sync>),
            dynamic,
            metrics,
            options,
        })
        .await
        .map_err(|e| ServerError::Runner(e.to_string()))?;
        let combined = match (&config.runner_type, &config.k8s_and_worker) {
            (RunnerType::K8sAndWorker, Some(kw)) => {
                let worker = match WorkerRunnerConfig::from_config(kw) {
                    Ok(cfg) => WorkerRunner::start_with_client(cfg, client.clone()).await,
                    Err(e) => Err(e),
                };
                match worker {
                    Ok(worker) => Some(CombinedRunner::new(
                        runner.clone(),
                        worker,
                        kw.runner_strategy.clone(),
                    )),
                    Err(e) => {
                        runner.stop();
                        return Err(ServerError::Runner(e.to_string()));
                    }
                }
            }
            (RunnerType::K8sAndWorker, None) => {
                runner.stop();
                return Err(ServerError::Runner(
                    "druid.indexer.runner.type=k8sAndWorker but no k8sAndWorker settings were read"
                        .into(),
                ));
            }
            _ => None,
        };
        if let Some(c) = &combined {
            tracing::info!(strategy = ?c.strategy(), workers = c.worker().workers().len(), "k8sAndWorker mode: Kubernetes and worker runners");
        }
        Ok(RunnerBackend {
            runner,
            combined,
            config,
            templates,
            logs,
            client,
        })
    }

    /// The Kubernetes runner.
    pub fn runner(&self) -> &TaskRunner {
        &self.runner
    }

    /// The combined runner, in `k8sAndWorker` mode.
    pub fn combined(&self) -> Option<&CombinedRunner> {
        self.combined.as_ref()
    }

    fn run_task(&self, task: Task) -> Result<TaskHandle, druid_k8s_runner::RunnerError> {
        match &self.combined {
            Some(c) => c.run(task),
            None => self.runner.run(task),
        }
    }

    fn shutdown_task(&self, id: &str, reason: &str) {
        match &self.combined {
            Some(c) => c.shutdown(id, reason),
            None => self.runner.shutdown(id, reason),
        }
    }

    fn known(&self) -> Vec<TaskInfo> {
        match &self.combined {
            Some(c) => c.known_tasks(),
            None => self.runner.known_tasks(),
        }
    }

    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunnerEvent> {
        match &self.combined {
            Some(c) => c.subscribe(),
            None => self.runner.subscribe(),
        }
    }

    async fn overlord_pod(&self) -> Result<Pod, BackendError> {
        let name = std::env::var("HOSTNAME").map_err(|_| {
            BackendError(
                "the overlord adapters need the overlord's pod: HOSTNAME is not set".into(),
            )
        })?;
        let pods: kube::Api<Pod> =
            kube::Api::namespaced(self.client.clone(), &self.config.namespace);
        pods.get(&name)
            .await
            .map_err(|e| BackendError(format!("reading the overlord pod [{name}]: {e}")))
    }
}

async fn collect(stream: druid_k8s_runner::LogStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = stream;
    // a live log follows the container; read what is there now (bounded wait per chunk)
    loop {
        match tokio::time::timeout(std::time::Duration::from_millis(300), stream.next()).await {
            Ok(Some(Ok(b))) => out.extend_from_slice(&b),
            Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
        }
        if out.len() > 64 * 1024 * 1024 {
            break;
        }
    }
    out
}

impl TaskBackend for RunnerBackend {
    fn run(&self, task: Task) -> BoxFuture<'_, Result<(), BackendError>> {
        Box::pin(async move {
            self.run_task(task)
                .map(|_| ())
                .map_err(|e| BackendError(e.to_string()))
        })
    }

    fn shutdown<'a>(
        &'a self,
        id: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.shutdown_task(id, reason);
            Ok(())
        })
    }

    fn known_tasks(&self) -> Vec<RunnerTask> {
        self.known()
            .into_iter()
            .map(|t| RunnerTask {
                id: t.id,
                state: t.state,
                location: t.location,
            })
            .collect()
    }

    fn capacity(&self) -> Capacity {
        if let Some(c) = &self.combined {
            // −1 ("unknown") and anything below reads as 0 slots
            let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
            return Capacity {
                total: clamp(c.total_capacity()),
                used: clamp(c.used_capacity()),
            };
        }
        let s = self.runner.slots();
        Capacity {
            total: s.total,
            used: s.used,
        }
    }

    fn live_log<'a>(&'a self, id: &'a str, offset: i64) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            // offsets are applied by the HTTP layer (the same way for live and archived logs)
            let _ = offset;
            let stream = match &self.combined {
                Some(c) => c.stream_log(id, 0).await,
                None => self.runner.stream_log(id, 0).await,
            };
            match stream {
                Ok(Some(stream)) => Some(collect(stream).await),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "live log unavailable");
                    None
                }
            }
        })
    }

    fn archived_log<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match self.runner.stored_log(id).await {
                Ok(b) => b.map(|b| b.to_vec()),
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "archived log unavailable");
                    None
                }
            }
        })
    }

    fn reports<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let reports = match &self.combined {
                Some(c) => c.reports(id).await,
                None => self.runner.reports(id).await,
            };
            match reports {
                Ok(b) => b.map(|b| b.to_vec()),
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "live reports unavailable; trying storage");
                    self.logs
                        .get(id, Artifact::Report)
                        .await
                        .ok()
                        .flatten()
                        .map(|b| b.to_vec())
                }
            }
        })
    }

    fn stored_status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<TaskStatus>> {
        Box::pin(async move {
            let bytes = self.logs.get(id, Artifact::Status).await.ok().flatten()?;
            TaskStatus::from_json(&String::from_utf8_lossy(&bytes)).ok()
        })
    }

    fn apply_dynamic_config(&self, config: Option<DynamicConfig>) {
        self.runner.set_dynamic_config(&config.unwrap_or_default());
    }

    fn preview<'a>(
        &'a self,
        task: &'a Task,
        config: Option<&'a DynamicConfig>,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move {
            let strategy = DynamicConfig::effective_strategy(config);
            let pod = match self.config.adapter_type {
                AdapterType::CustomTemplate => None,
                _ => Some(self.overlord_pod().await?),
            };
            let rendered = {
                let mut req = druid_k8s_adapters::RenderRequest::new(&self.config, task)
                    .with_strategy(&strategy);
                if let Some(t) = &self.templates {
                    req = req.with_templates(t.as_ref());
                }
                if let Some(p) = &pod {
                    req = req.with_overlord_pod(p);
                }
                druid_k8s_adapters::render(&req)
            };
            let rendered = match rendered {
                Ok(r) => r,
                Err(e) => {
                    return Ok(json!({
                        "task": task.id(),
                        "adapter": self.config.adapter_type.as_str(),
                        "job": null,
                        "templateKey": null,
                        "selection": null,
                        "error": e.to_string(),
                    }));
                }
            };
            let (payload, encoded_chars) = match &rendered.payload {
                druid_k8s_adapters::PayloadPlacement::Inline { encoded_chars } => {
                    ("inline", *encoded_chars)
                }
                druid_k8s_adapters::PayloadPlacement::Storage { encoded_chars, .. } => {
                    ("taskLogStorage", *encoded_chars)
                }
            };
            let dry = if dry_run {
                let jobs: kube::Api<Job> =
                    kube::Api::namespaced(self.client.clone(), &self.config.namespace);
                let pp = PostParams {
                    dry_run: true,
                    ..Default::default()
                };
                Some(match jobs.create(&pp, &rendered.job).await {
                    Ok(_) => json!({"accepted": true}),
                    Err(kube::Error::Api(s)) => json!({
                        "accepted": false,
                        "code": s.code,
                        "reason": s.reason,
                        "message": s.message,
                    }),
                    Err(e) => json!({"accepted": false, "message": e.to_string()}),
                })
            } else {
                None
            };
            Ok(json!({
                "task": task.id(),
                "adapter": rendered.adapter.as_str(),
                "templateKey": rendered.selection.as_ref().map(|s| s.key.clone()),
                "selection": rendered.selection.as_ref().map(|s| json!({
                    "key": s.key,
                    "reason": s.reason,
                    "explanation": s.to_string(),
                })),
                "payload": {"placement": payload, "encodedChars": encoded_chars},
                "job": rendered.job,
                "dryRun": dry,
            }))
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match &self.combined {
                Some(c) => c.stop(),
                None => self.runner.stop(),
            }
        })
    }
}

const COMPLETED: &str = "task completed; status recorded";

fn status_update(status: &TaskStatus) -> StatusUpdate {
    StatusUpdate {
        status_code: status.status.as_str().to_owned(),
        duration: status.duration,
        error_msg: status.error_msg.clone(),
        location: location_json(&status.location),
    }
}

async fn record_final(app: &App, status: &TaskStatus) -> Result<(), ServerError> {
    if !status.is_complete() {
        return Ok(());
    }
    if app
        .store()
        .update_status(&status.id, &status_update(status))
        .await?
    {
        tracing::info!(task = %status.id, status = %status.status.as_str(), "task finished");
        app.inner.metrics.task_completed(status.status.as_str());
    }
    Ok(())
}

/// Subscribes to the runner's events (before reconciling, so nothing is missed), reconciles the
/// store with the runner, then records events until the runner stops.
pub async fn attach(
    app: &App,
    backend: Arc<RunnerBackend>,
) -> Result<tokio::task::JoinHandle<()>, ServerError> {
    let mut events = backend.subscribe();
    reconcile(app, &backend).await?;
    let app = app.clone();
    Ok(tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(RunnerEvent::StatusChanged { status, .. }) => {
                    if let Err(e) = record_final(&app, &status).await {
                        tracing::error!(task = %status.id, error = %e, "recording a status failed");
                    } else if status.is_complete() {
                        // as Druid's TaskQueue does: the runner forgets the finished task and
                        // deletes its Job (unless debugJobs)
                        backend.shutdown_task(&status.id, COMPLETED);
                    }
                }
                Ok(RunnerEvent::LocationChanged { task_id, location }) => {
                    if let Err(e) = app
                        .store()
                        .update_location(&task_id, &location_json(&location))
                        .await
                    {
                        tracing::warn!(task = %task_id, error = %e, "recording a location failed");
                    }
                }
                Ok(RunnerEvent::StateChanged { .. }) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "status events were missed; reconciling");
                    if let Err(e) = reconcile(&app, &backend).await {
                        tracing::error!(error = %e, "reconciling after missed events failed");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    }))
}

/// Whether the task's pod ever had a location recorded (so its Job was created and ran).
fn ever_located(record: &TaskRecord) -> bool {
    serde_json::from_str::<Value>(&record.location)
        .ok()
        .is_some_and(|l| l["host"].as_str().is_some_and(|h| !h.is_empty()))
}

/// The `host:port` of a record's last location, if any.
fn last_location(record: &TaskRecord) -> Option<String> {
    let l: Value = serde_json::from_str(&record.location).ok()?;
    let host = l["host"].as_str().filter(|h| !h.is_empty())?;
    Some(match l["port"].as_i64().filter(|p| *p > 0) {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

/// In `k8sAndWorker` mode, an active record of a task the strategy sends to the workers that
/// no worker has announced (yet) is handed to the worker runner, which waits for the workers'
/// sync before it adopts, runs or fails it (with a reason naming the workers). True when
/// handed over.
fn restore_on_worker(backend: &RunnerBackend, record: &TaskRecord) -> bool {
    let Some(c) = &backend.combined else {
        return false;
    };
    if c.strategy().runner_for(&record.task_type) != druid_k8s_model::config::RunnerKind::Worker {
        return false;
    }
    let task = match Task::from_json(&record.payload) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(task = %record.id, error = %e, "the stored payload of an active worker task does not parse");
            return false;
        }
    };
    match c
        .worker()
        .restore(task, ever_located(record), last_location(record))
    {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(task = %record.id, error = %e, "could not restore a worker task");
            false
        }
    }
}

/// Brings the store in line with the runner: runner tasks without a record are adopted (with
/// the runner's final status when it has one), and active records the runner does not hold are
/// finished from task-log storage (`status.json`); those never launched (no location ever
/// recorded) are launched; the rest are failed with a reason. No task is run twice.
pub async fn reconcile(app: &App, backend: &RunnerBackend) -> Result<(), ServerError> {
    let known = backend.known();
    for info in &known {
        if app.store().get_task(&info.id).await?.is_none() {
            let now = now_ms();
            let mut payload = json!({"id": info.id, "type": info.task_type});
            if let Some(ds) = &info.data_source {
                payload["dataSource"] = json!(ds);
            }
            let record = TaskRecord {
                id: info.id.clone(),
                task_type: info.task_type.clone(),
                datasource: info.data_source.clone(),
                group_id: info.id.clone(),
                payload: payload.to_string(),
                created_ms: now,
                status_code: "RUNNING".into(),
                duration: -1,
                error_msg: None,
                location: location_json(&info.location),
                updated_ms: now,
            };
            if app.store().insert_task(&record).await? {
                tracing::info!(task = %info.id, job = %info.job_name, "adopted a Job that had no task record");
            }
        }
        if let Some(status) = &info.status {
            record_final(app, status).await?;
            if status.is_complete() {
                backend.shutdown_task(&status.id, COMPLETED);
            }
        }
    }
    let active = app
        .store()
        .list_tasks(&crate::store::TaskFilter {
            active: Some(true),
            ..Default::default()
        })
        .await?;
    for record in active {
        if known.iter().any(|k| k.id == record.id) {
            continue;
        }
        let stored = backend.stored_status(&record.id).await;
        if !stored.as_ref().is_some_and(TaskStatus::is_complete)
            && restore_on_worker(backend, &record)
        {
            continue;
        }
        if !stored.as_ref().is_some_and(TaskStatus::is_complete) && !ever_located(&record) {
            // Accepted but never launched (still waiting for capacity, or the server stopped
            // between recording the task and creating its Job): launch it now, as Druid's
            // TaskQueue hands its active tasks to the runner again at start-up. A Job that was
            // created in the meantime is found by name (409) and adopted, never duplicated.
            match druid_k8s_model::Task::from_json(&record.payload) {
                Ok(task) => match backend.run_task(task) {
                    Ok(_) => {
                        tracing::info!(task = %record.id, "launching a task accepted before the restart");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(task = %record.id, error = %e, "could not relaunch a task accepted before the restart");
                    }
                },
                Err(e) => {
                    tracing::warn!(task = %record.id, error = %e, "the stored payload of an active task does not parse");
                }
            }
        }
        let status = match stored {
            Some(s) if s.is_complete() => s,
            _ => TaskStatus::failure(
                record.id.clone(),
                "The task was active when druid-k8s stopped and its Kubernetes Job no longer exists (nor did the peon report a status)",
            )
            .with_location(TaskLocation::unknown()),
        };
        tracing::warn!(task = %record.id, status = %status.status.as_str(), "reconciled a task whose Job is gone");
        record_final(app, &status).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use druid_k8s_model::config::RawConfig;

    fn config(extra: &[(&str, &str)]) -> RunnerConfig {
        let mut raw = RawConfig::new()
            .with("druid.indexer.runner.type", "k8s")
            .with("druid.indexer.runner.namespace", "druid")
            .with("druid.indexer.task.encapsulatedTask", "true");
        for (k, v) in extra {
            raw.insert(*k, *v);
        }
        RunnerConfig::from_raw(&raw).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn disable_client_proxy_drops_the_kubeconfig_proxy() {
        let mut kube = kube::Config::new("https://10.0.0.1:6443".parse().unwrap());
        kube.proxy_url = Some("http://proxy.example:3128".parse().unwrap());
        let kept = kube_config_for(kube.clone(), &config(&[]));
        assert!(kept.proxy_url.is_some());
        let dropped = kube_config_for(
            kube,
            &config(&[("druid.indexer.runner.disableClientProxy", "true")]),
        );
        assert!(dropped.proxy_url.is_none());
    }
}
