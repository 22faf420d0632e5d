//! Simulated Druid peons: the `main` container of a pod labelled `druid.k8s.peons` reads its task
//! the way `peon.sh` and `CliPeon` do, behaves as the task context's `sim` key asks, and pushes
//! `status.json` and `report.json` to task-log storage with Druid's layout.
//!
//! This module deliberately re-implements the payload decoding (gzip + base64) instead of
//! sharing code with the adapters crate: it is an independent witness.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::config::{SimConfig, TaskLogStorage};

/// The label marking peon pods.
pub(crate) const PEON_LABEL: &str = "druid.k8s.peons";

/// Task-log storage resolved for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Storage {
    File(PathBuf),
    S3 { base: PathBuf },
}

impl Storage {
    /// Path of `name` (`status.json`, `report.json`, `log`, `task.json`) for a task.
    pub fn path(&self, task_id: &str, name: &str) -> PathBuf {
        match self {
            Storage::File(dir) => dir.join(format!("{task_id}.{name}")),
            Storage::S3 { base } => base.join(task_id).join(name),
        }
    }

    fn describe(&self) -> String {
        match self {
            Storage::File(d) => format!("file:{}", d.display()),
            Storage::S3 { base } => format!("s3(local):{}", base.display()),
        }
    }
}

fn s3_base(root: &Path, bucket: &str, prefix: &str) -> PathBuf {
    let mut p = root.join(bucket);
    for part in prefix.split('/').filter(|s| !s.is_empty()) {
        p = p.join(part);
    }
    p
}

/// Resolves the task-log storage from the peon's env (Druid image convention), else the default.
pub(crate) fn storage_for(
    env: &BTreeMap<String, String>,
    cfg: &SimConfig,
) -> Result<Option<Storage>, String> {
    match env.get("druid_indexer_logs_type").map(String::as_str) {
        Some("file") => {
            let dir = env.get("druid_indexer_logs_directory").ok_or(
                "druid_indexer_logs_type=file but druid_indexer_logs_directory is not set",
            )?;
            Ok(Some(Storage::File(PathBuf::from(dir))))
        }
        Some("s3") => {
            let bucket = env
                .get("druid_indexer_logs_s3Bucket")
                .ok_or("druid_indexer_logs_type=s3 but druid_indexer_logs_s3Bucket is not set")?;
            let prefix = env
                .get("druid_indexer_logs_s3Prefix")
                .cloned()
                .unwrap_or_default();
            let root = cfg
                .s3_root
                .clone()
                .or_else(|| match &cfg.task_logs {
                    Some(TaskLogStorage::S3 { root, .. }) => Some(root.clone()),
                    _ => None,
                })
                .ok_or("druid_indexer_logs_type=s3 but the simulator has no s3_root directory standing in for buckets")?;
            Ok(Some(Storage::S3 {
                base: s3_base(&root, bucket, &prefix),
            }))
        }
        Some(other) => Err(format!(
            "druid_indexer_logs_type={other} is not simulated (supported: file, s3)"
        )),
        None => Ok(match &cfg.task_logs {
            Some(TaskLogStorage::File { directory }) => Some(Storage::File(directory.clone())),
            Some(TaskLogStorage::S3 {
                root,
                bucket,
                prefix,
            }) => Some(Storage::S3 {
                base: s3_base(root, bucket, prefix),
            }),
            None => None,
        }),
    }
}

/// Reads a field of the pod the way the downward API does (`metadata.annotations['task']`).
pub(crate) fn field_ref(pod: &Value, path: &str) -> Option<String> {
    let map_lookup = |prefix: &str, map: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?;
        let key = rest
            .strip_prefix("['")
            .and_then(|r| r.strip_suffix("']"))
            .or_else(|| rest.strip_prefix("[\"").and_then(|r| r.strip_suffix("\"]")))?;
        pod.pointer(&format!("/metadata/{map}"))?
            .get(key)?
            .as_str()
            .map(str::to_owned)
    };
    if path.starts_with("metadata.annotations") {
        return map_lookup("metadata.annotations", "annotations");
    }
    if path.starts_with("metadata.labels") {
        return map_lookup("metadata.labels", "labels");
    }
    let ptr = match path {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        "metadata.uid" => "/metadata/uid",
        "spec.nodeName" => "/spec/nodeName",
        "spec.serviceAccountName" => "/spec/serviceAccountName",
        "status.podIP" => "/status/podIP",
        "status.hostIP" => "/status/hostIP",
        _ => return None,
    };
    pod.pointer(ptr).and_then(Value::as_str).map(str::to_owned)
}

/// The container's environment as the kubelet would set it (later duplicates win).
/// `config_map` looks up `(name, key)` in the pod's namespace.
pub(crate) fn resolve_env(
    pod: &Value,
    container: &Value,
    config_map: &dyn Fn(&str, &str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for from in container
        .get("envFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(cm) = from.pointer("/configMapRef/name").and_then(Value::as_str) {
            // Only keys we look for are resolvable through the callback; envFrom is best effort.
            for key in [
                "druid_indexer_logs_type",
                "druid_indexer_logs_directory",
                "druid_indexer_logs_s3Bucket",
                "druid_indexer_logs_s3Prefix",
            ] {
                if let Some(v) = config_map(cm, key) {
                    let prefix = from
                        .get("prefix")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    env.insert(format!("{prefix}{key}"), v);
                }
            }
        }
    }
    for e in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = e.get("name").and_then(Value::as_str) else {
            continue;
        };
        let value = if let Some(v) = e.get("value").and_then(Value::as_str) {
            Some(v.to_owned())
        } else if let Some(p) = e
            .pointer("/valueFrom/fieldRef/fieldPath")
            .and_then(Value::as_str)
        {
            Some(field_ref(pod, p).unwrap_or_default())
        } else if let Some(r) = e.pointer("/valueFrom/configMapKeyRef") {
            let cm = r.get("name").and_then(Value::as_str).unwrap_or_default();
            let key = r.get("key").and_then(Value::as_str).unwrap_or_default();
            config_map(cm, key)
        } else {
            Some(String::new())
        };
        if let Some(v) = value {
            env.insert(name.to_owned(), v);
        }
    }
    env
}

/// Decodes a `TASK_JSON` value: standard base64, then gunzip, then UTF-8 JSON.
pub(crate) fn decode_payload(s: &str) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("TASK_JSON is not valid base64: {e}"))?;
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_string(&mut out)
        .map_err(|e| format!("TASK_JSON is not gzip-compressed UTF-8: {e}"))?;
    serde_json::from_str(&out).map_err(|e| format!("TASK_JSON does not hold task JSON: {e}"))
}

/// Behaviour of one simulated task.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub task_id: String,
    pub duration: Duration,
    pub exit_code: i32,
    pub oom: bool,
    pub hang: bool,
    pub ignore_sigterm: bool,
    /// `status.json` to push at exit, if any.
    pub status: Option<Value>,
    /// `report.json` to push at exit, if any.
    pub report: Option<Value>,
    pub storage: Option<Storage>,
    /// Log lines with their offset from the container start.
    pub lines: Vec<(Duration, String)>,
}

fn log_line(level: &str, thread: &str, class: &str, msg: &str) -> String {
    format!("{level} [{thread}] {class} - {msg}")
}

/// A plan for a peon that could not load its task: it logs the reason and exits 1 without
/// pushing anything (Druid then fails the task with "Peon did not report status successfully").
fn failed_start(reason: String) -> Plan {
    Plan {
        task_id: String::new(),
        duration: Duration::from_millis(10),
        exit_code: 1,
        oom: false,
        hang: false,
        ignore_sigterm: false,
        status: None,
        report: None,
        storage: None,
        lines: vec![(
            Duration::ZERO,
            log_line("ERROR", "main", "org.apache.druid.cli.CliPeon", &reason),
        )],
    }
}

/// Builds the plan of the peon container `container` of `pod`.
pub(crate) fn plan(
    pod: &Value,
    container: &Value,
    cfg: &SimConfig,
    config_map: &dyn Fn(&str, &str) -> Option<String>,
) -> Plan {
    let env = resolve_env(pod, container, config_map);
    let storage = match storage_for(&env, cfg) {
        Ok(s) => s,
        Err(e) => return failed_start(e),
    };
    let (task, source) = match env.get("TASK_JSON").filter(|v| !v.is_empty()) {
        Some(payload) => match decode_payload(payload) {
            Ok(t) => {
                let from_annotation = container
                    .get("env")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        e["name"] == "TASK_JSON" && e.pointer("/valueFrom/fieldRef").is_some()
                    });
                (
                    t,
                    if from_annotation {
                        "the pod annotation [task] (TASK_JSON via fieldRef)"
                    } else {
                        "env TASK_JSON"
                    },
                )
            }
            Err(e) => return failed_start(e),
        },
        None => {
            let task_id = env
                .get("TASK_ID")
                .cloned()
                .or_else(|| field_ref(pod, "metadata.annotations['task.id']"));
            let Some(task_id) = task_id else {
                return failed_start(
                    "TASK_JSON is not set and there is no task id (TASK_ID env or task.id annotation) to load task.json from task-log storage".to_owned(),
                );
            };
            let Some(st) = &storage else {
                return failed_start(format!(
                    "TASK_JSON is not set and no task-log storage is configured to load the payload of task [{task_id}]"
                ));
            };
            let path = st.path(&task_id, "task.json");
            match std::fs::read_to_string(&path) {
                Ok(s) => match serde_json::from_str::<Value>(&s) {
                    Ok(t) => (t, "task-log storage (task.json)"),
                    Err(e) => {
                        return failed_start(format!(
                            "task.json of task [{task_id}] at {} is not JSON: {e}",
                            path.display()
                        ));
                    }
                },
                Err(e) => {
                    return failed_start(format!(
                        "Could not load task payload for task [{task_id}] from {}: {e}",
                        path.display()
                    ));
                }
            }
        }
    };
    plan_task(
        &task,
        source,
        env.get("TASK_ID").map(String::as_str),
        storage,
        cfg,
        true,
    )
}

/// Builds the plan of a task (its JSON read from `source`) as the task context's `sim` key
/// asks. `storage_expected`: a missing task-log storage is logged as an error (peons push
/// their status there; a MiddleManager's peons report through their worker instead).
pub(crate) fn plan_task(
    task: &Value,
    source: &str,
    fallback_id: Option<&str>,
    storage: Option<Storage>,
    cfg: &SimConfig,
    storage_expected: bool,
) -> Plan {
    let task_id = task
        .get("id")
        .and_then(Value::as_str)
        .or(fallback_id)
        .unwrap_or_default()
        .to_owned();
    let task_type = task
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let sim = task.pointer("/context/sim").cloned().unwrap_or(Value::Null);
    let duration = sim
        .get("durationMs")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
        .unwrap_or(cfg.default_task_duration);
    let status_str = sim
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("SUCCESS")
        .to_ascii_uppercase();
    let status_str = if status_str == "FAILED" {
        "FAILED"
    } else {
        "SUCCESS"
    };
    let error_msg = sim
        .get("errorMsg")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| (status_str == "FAILED").then(|| "Task failed (druid-k8s-sim)".to_owned()));
    let oom = sim.get("oom").and_then(Value::as_bool).unwrap_or(false);
    let hang = sim.get("hang").and_then(Value::as_bool).unwrap_or(false);
    let never_report = sim
        .get("neverReportStatus")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let exit_code = if oom {
        137
    } else {
        sim.get("exitCode")
            .and_then(Value::as_i64)
            .map(|c| c as i32)
            .unwrap_or(if status_str == "FAILED" { 1 } else { 0 })
    };
    let n_lines = sim
        .get("logLines")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .min(100_000);
    let class = format!("org.apache.druid.indexing.common.task.{task_type}");
    let mut lines = vec![
        (
            Duration::ZERO,
            log_line(
                "INFO",
                "main",
                "org.apache.druid.cli.CliPeon",
                &format!("Running peon for task [{task_id}] of type [{task_type}] (druid-k8s-sim)"),
            ),
        ),
        (
            Duration::ZERO,
            log_line(
                "INFO",
                "main",
                "org.apache.druid.cli.CliPeon",
                &format!("Read task payload from {source}"),
            ),
        ),
    ];
    for i in 1..=n_lines {
        let at = duration.mul_f64(i as f64 / (n_lines + 1) as f64);
        lines.push((
            at,
            log_line(
                "INFO",
                "task-runner-0-priority-0",
                &class,
                &format!("sim progress {i}/{n_lines} of task [{task_id}]"),
            ),
        ));
    }
    let status = (!oom && !never_report && !hang).then(|| {
        json!({
            "id": task_id,
            "status": status_str,
            "duration": duration.as_millis() as u64,
            "errorMsg": error_msg,
            "location": {"host": null, "port": -1, "tlsPort": -1}
        })
    });
    if let Some(s) = &status {
        lines.push((
            duration,
            log_line(
                "INFO",
                "main",
                "org.apache.druid.indexing.worker.executor.ExecutorLifecycle",
                &format!("Task completed with status: {s}"),
            ),
        ));
    }
    if oom {
        lines.push((
            duration,
            log_line(
                "ERROR",
                "task-runner-0-priority-0",
                &class,
                "java.lang.OutOfMemoryError: Java heap space (druid-k8s-sim)",
            ),
        ));
    }
    let report = status.as_ref().map(|_| {
        sim.get("report").cloned().unwrap_or_else(|| {
            json!({
                "ingestionStatsAndErrors": {
                    "type": "ingestionStatsAndErrors",
                    "taskId": task_id,
                    "payload": {
                        "ingestionState": "COMPLETED",
                        "unparseableEvents": {},
                        "rowStats": {},
                        "errorMsg": error_msg,
                        "segmentAvailabilityConfirmed": false,
                        "segmentAvailabilityWaitTimeMs": 0,
                        "recordsProcessed": null
                    }
                }
            })
        })
    });
    if storage.is_none() && storage_expected {
        lines.push((
            duration,
            log_line(
                "ERROR",
                "main",
                "org.apache.druid.cli.CliPeon",
                "No task-log storage configured (druid_indexer_logs_type): cannot push status.json and report.json",
            ),
        ));
    }
    Plan {
        task_id,
        duration,
        exit_code,
        oom,
        hang,
        ignore_sigterm: sim
            .get("ignoreSigterm")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        status,
        report,
        storage,
        lines,
    }
}

fn write(path: &Path, content: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write then rename, so a reader never sees a half-written status.
    let tmp = path.with_extension(format!("tmp-{}", crate::util::random_hex(8)));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

/// Pushes the task's outputs at a normal exit: `report.json`, then `status.json` (and the log
/// when configured). Returns log lines describing what happened.
pub(crate) fn push_outputs(plan: &Plan, log: &[String], push_log: bool) -> Vec<String> {
    let mut out = Vec::new();
    let Some(storage) = &plan.storage else {
        return out;
    };
    let mut push =
        |name: &str, bytes: Vec<u8>| match write(&storage.path(&plan.task_id, name), &bytes) {
            Ok(()) => out.push(log_line(
                "INFO",
                "main",
                "org.apache.druid.tasklogs.TaskLogs",
                &format!("Pushed task {name} to {}", storage.describe()),
            )),
            Err(e) => out.push(log_line(
                "ERROR",
                "main",
                "org.apache.druid.tasklogs.TaskLogs",
                &format!("Failed to push task {name} to {}: {e}", storage.describe()),
            )),
        };
    if let Some(r) = &plan.report {
        push("report.json", r.to_string().into_bytes());
    }
    if let Some(s) = &plan.status {
        push("status.json", s.to_string().into_bytes());
    }
    if push_log {
        let mut text = log.join("\n");
        text.push('\n');
        push("log", text.into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn encode(task: &Value) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(task.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    #[test]
    fn decodes_the_reference_annotation() {
        // From k8s-reference/01-job-create-response.json.
        let t = decode_payload("H4sIAAAAAAAAA6tWKqksSFWyUsrLzy9Q0lHKTAGyi1LTdEsSi7N1DYEiKYklicH5pUXJIFXlmdmZSrUA8DeGAjUAAAA=").unwrap();
        assert_eq!(t["id"], "ref-task-1");
        assert!(decode_payload("not base64!").is_err());
        assert!(decode_payload("aGVsbG8=").is_err());
    }

    #[test]
    fn plan_from_annotation_via_field_ref() {
        let task = json!({"id": "t1", "type": "noop", "context": {"sim": {"status": "FAILED", "errorMsg": "boom", "durationMs": 5}}});
        let pod = json!({"metadata": {"annotations": {"task": encode(&task)}}});
        let c = json!({"name": "main", "env": [{"name": "TASK_JSON", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['task']"}}}]});
        let dir = tempfile::tempdir().unwrap();
        let cfg = SimConfig::default().task_logs_dir(dir.path());
        let p = plan(&pod, &c, &cfg, &|_, _| None);
        assert_eq!(p.task_id, "t1");
        assert_eq!(p.exit_code, 1);
        assert_eq!(p.duration, Duration::from_millis(5));
        let st = p.status.clone().unwrap();
        assert_eq!(st["status"], "FAILED");
        assert_eq!(st["errorMsg"], "boom");
        push_outputs(&p, &[], true);
        let written: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("t1.status.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(written, st);
        assert!(dir.path().join("t1.report.json").exists());
        assert!(dir.path().join("t1.log").exists());
    }

    #[test]
    fn storage_from_env() {
        let cfg = SimConfig::default().s3_root("/tmp/s3root");
        let env: BTreeMap<String, String> = [
            ("druid_indexer_logs_type", "s3"),
            ("druid_indexer_logs_s3Bucket", "b"),
            ("druid_indexer_logs_s3Prefix", "druid/logs"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let s = storage_for(&env, &cfg).unwrap().unwrap();
        assert_eq!(
            s.path("t1", "status.json"),
            PathBuf::from("/tmp/s3root/b/druid/logs/t1/status.json")
        );
        let file = Storage::File(PathBuf::from("/logs"));
        assert_eq!(
            file.path("t1", "report.json"),
            PathBuf::from("/logs/t1.report.json")
        );
    }
}
