//! Druid's task endpoints (`/druid/indexer/v1/task…`, `/tasks`, `…Tasks`) and the preview.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use druid_k8s_model::{RunnerTaskState, Task, TaskLocation};
use serde_json::{Value, json};

use crate::app::App;
use crate::backend::{RunnerTask, TaskBackend};
use crate::config_api::parse_json_body;
use crate::error::ApiError;
use crate::store::{StatusUpdate, TaskFilter, TaskRecord, format_ms, now_ms};

const API_TASK_STATES: [&str; 4] = ["pending", "waiting", "running", "complete"];

fn backend(app: &App) -> Result<&std::sync::Arc<dyn TaskBackend>, ApiError> {
    app.backend().ok_or_else(|| ApiError::Plain {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "no task runner is configured on this server".into(),
    })
}

/// Druid's random id part: 8 letters `a`–`p` (one per 4 random bits).
pub fn random_id() -> String {
    let bits: u32 = rand::random();
    (0..8)
        .map(|i| char::from(b'a' + ((bits >> (i * 4)) & 0x0f) as u8))
        .collect()
}

/// Druid's generated task id: `<type>_<dataSource>_<random>_<now>` (`IdUtils.newTaskId`).
pub fn new_task_id(task_type: &str, data_source: &str) -> String {
    format!(
        "{task_type}_{data_source}_{}_{}",
        random_id(),
        format_ms(now_ms())
    )
}

/// Druid's id rules (`IdUtils.validateId`).
pub fn validate_id(field: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!(
            "Invalid value for field [{field}]: must not be null"
        ));
    }
    if id.starts_with('.') {
        return Err(format!(
            "Invalid value for field [{field}]: Value [{id}] cannot start with '.'."
        ));
    }
    if id.contains('/') {
        return Err(format!(
            "Invalid value for field [{field}]: Value [{id}] cannot contain '/'."
        ));
    }
    // Java's `[^\S ]`: only ASCII whitespace other than the space is refused here.
    if id.contains(['\t', '\n', '\u{b}', '\u{c}', '\r']) {
        return Err(format!(
            "Invalid value for field [{field}]: Value [{id}] contains illegal whitespace characters.  Only space is allowed."
        ));
    }
    // Druid checks UTF-16 code units (Java chars), with exclusive bounds: control characters,
    // C1 controls, surrogates from U+D801 and the private use area, and U+FFF1..U+FFFE. The
    // position and the number reported are the code unit's, as Druid reports them.
    for (i, unit) in id.encode_utf16().enumerate() {
        if matches!(unit, 1..=30 | 128..=158 | 0xD801..=0xF8FE | 0xFFF1..=0xFFFE) {
            return Err(format!(
                "Invalid value for field [{field}]: Value [{id}] contains illegal UTF8 character [#{unit}] at position [{i}]"
            ));
        }
    }
    Ok(())
}

/// Fills in a missing id and checks the task JSON.
pub fn prepare_task(mut value: Value) -> Result<Task, ApiError> {
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::invalid("Task must be a JSON object"));
    };
    let task_type = match obj.get("type") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "Task field [type] must be a non-empty string",
            ));
        }
        None => return Err(ApiError::invalid("Task field [type] is missing")),
    };
    let needs_id = match obj.get("id") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => return Err(ApiError::invalid("Task field [id] must be a string")),
    };
    if needs_id {
        let ds = obj
            .get("dataSource")
            .and_then(Value::as_str)
            .or_else(|| {
                obj.get("spec")
                    .and_then(|s| s.pointer("/dataSchema/dataSource"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("none")
            .to_owned();
        obj.insert("id".into(), Value::String(new_task_id(&task_type, &ds)));
    }
    if let Some(Value::String(id)) = obj.get("id") {
        validate_id("id", id).map_err(ApiError::invalid)?;
    }
    Task::from_value(value).map_err(|e| ApiError::invalid(e.to_string()))
}

/// `POST /druid/indexer/v1/task` → `{"task": id}`.
pub async fn submit(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let backend = backend(&app)?.clone();
    let task = prepare_task(parse_json_body(&body)?)?;
    let now = now_ms();
    let record = TaskRecord {
        id: task.id().to_owned(),
        task_type: task.task_type().to_owned(),
        datasource: task.data_source().map(str::to_owned),
        group_id: task.group_id().to_owned(),
        payload: task.to_json_string(),
        created_ms: now,
        status_code: "RUNNING".into(),
        duration: -1,
        error_msg: None,
        location: location_json(&TaskLocation::unknown()),
        updated_ms: now,
    };
    if !app.store().insert_task(&record).await? {
        return Err(ApiError::invalid(format!(
            "Task[{}] already exists",
            task.id()
        )));
    }
    app.inner.metrics.task_submitted();
    let id = task.id().to_owned();
    tracing::info!(task = %id, task_type = %record.task_type, "task submitted");
    if let Err(e) = backend.run(task).await {
        tracing::warn!(task = %id, error = %e, "runner refused the task");
        let update = StatusUpdate {
            status_code: "FAILED".into(),
            duration: -1,
            error_msg: Some(format!("Failed to start the task: {e}")),
            location: location_json(&TaskLocation::unknown()),
        };
        app.store().update_status(&id, &update).await?;
        app.inner.metrics.task_completed("FAILED");
    }
    Ok(Json(json!({ "task": id })).into_response())
}

pub(crate) fn location_json(location: &TaskLocation) -> String {
    serde_json::to_string(location)
        .unwrap_or_else(|_| r#"{"host":null,"port":-1,"tlsPort":-1}"#.into())
}

/// `GET /task/{id}` → `{"task": id, "payload": {...}}` (404 with `payload: null`).
pub async fn payload(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match app.store().get_task(&id).await? {
        Some(r) => {
            let payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
            Ok(Json(json!({ "task": id, "payload": payload })).into_response())
        }
        None => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({ "task": id, "payload": null })),
        )
            .into_response()),
    }
}

fn runner_map(app: &App) -> HashMap<String, RunnerTask> {
    app.backend()
        .map(|b| b.known_tasks())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect()
}

/// Druid's `TaskStatusPlus` for a record, with the runner's view when it holds the task.
fn status_plus(r: &TaskRecord, runner: Option<&RunnerTask>) -> Value {
    let stored_location: Value = serde_json::from_str(&r.location)
        .unwrap_or_else(|_| json!({"host": null, "port": -1, "tlsPort": -1}));
    let (runner_state, location) = match runner {
        Some(t) => (
            t.state,
            serde_json::to_value(&t.location).unwrap_or(stored_location),
        ),
        None if r.is_active() => (RunnerTaskState::Waiting, stored_location),
        None => (RunnerTaskState::None, stored_location),
    };
    let runner_state = if r.is_active() {
        runner_state
    } else {
        RunnerTaskState::None
    };
    json!({
        "id": r.id,
        "groupId": r.group_id,
        "type": r.task_type,
        "createdTime": format_ms(r.created_ms),
        "queueInsertionTime": format_ms(0),
        "statusCode": r.status_code,
        "status": r.status_code,
        "runnerStatusCode": runner_state.as_str(),
        "duration": r.duration,
        "location": location,
        "dataSource": r.datasource,
        "errorMsg": r.error_msg,
    })
}

/// `GET /task/{id}/status` → `{"task": id, "status": TaskStatusPlus}` (404 with `status: null`).
pub async fn status(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    match app.store().get_task(&id).await? {
        Some(r) => {
            let runner = runner_map(&app);
            Ok(
                Json(json!({ "task": id, "status": status_plus(&r, runner.get(&id)) }))
                    .into_response(),
            )
        }
        None => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({ "task": id, "status": null })),
        )
            .into_response()),
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> ApiError {
    ApiError::Text {
        status,
        body: body.into(),
    }
}

/// Applies Druid's log offset: `offset > 0` skips that many bytes, `offset < 0` keeps the last
/// `-offset` bytes.
pub fn apply_offset(bytes: Vec<u8>, offset: i64) -> Vec<u8> {
    let len = bytes.len();
    let start = if offset >= 0 {
        usize::try_from(offset).unwrap_or(usize::MAX).min(len)
    } else {
        len.saturating_sub(usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX))
    };
    bytes[start..].to_vec()
}

/// `GET /task/{id}/log?offset=`: live from the pod while running, else from task-log storage.
pub async fn log(
    State(app): State<App>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let offset = match query(raw.as_deref(), "offset") {
        None => 0,
        Some(v) => v.trim().parse::<i64>().map_err(|_| {
            text(
                StatusCode::BAD_REQUEST,
                format!("Invalid offset [{v}]: expected an integer"),
            )
        })?,
    };
    let backend = backend(&app)?;
    let live = match runner_map(&app).get(&id) {
        Some(t) if t.state == RunnerTaskState::Running => backend.live_log(&id, offset).await,
        _ => None,
    };
    let bytes = match live {
        Some(b) => Some(b),
        None => backend.archived_log(&id).await,
    };
    match bytes {
        Some(b) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            apply_offset(b, offset),
        )
            .into_response()),
        None => Err(text(
            StatusCode::NOT_FOUND,
            "No log was found for this task. The task may not exist, or it may not have begun running yet.",
        )),
    }
}

/// `GET /task/{id}/reports`.
pub async fn reports(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let backend = backend(&app)?;
    match backend.reports(&id).await {
        Some(b) => Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            b,
        )
            .into_response()),
        None => Err(text(
            StatusCode::NOT_FOUND,
            "No task reports were found for this task. The task may not exist, or it may not have completed yet.",
        )),
    }
}

/// `POST /task/{id}/shutdown` → `{"task": id}`; the task is marked FAILED
/// ("Shutdown request from user") and its Job deleted.
pub async fn shutdown(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let backend = backend(&app)?.clone();
    let Some(record) = app.store().get_task(&id).await? else {
        return Err(ApiError::not_found(format!("Task[{id}] not found")));
    };
    if record.is_active() {
        let reason = "Shutdown request from user";
        let location = runner_map(&app)
            .get(&id)
            .map(|t| location_json(&t.location))
            .unwrap_or(record.location.clone());
        let update = StatusUpdate {
            status_code: "FAILED".into(),
            duration: -1,
            error_msg: Some(reason.into()),
            location,
        };
        if app.store().update_status(&id, &update).await? {
            app.inner.metrics.task_completed("FAILED");
        }
        backend
            .shutdown(&id, reason)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(Json(json!({ "task": id })).into_response())
}

fn query(raw: Option<&str>, key: &str) -> Option<String> {
    raw.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    })
}

/// Which list a runner/store view puts a task in.
fn api_state(r: &TaskRecord, runner: Option<&RunnerTask>) -> &'static str {
    if !r.is_active() {
        return "complete";
    }
    match runner.map(|t| t.state) {
        Some(RunnerTaskState::Running) => "running",
        Some(RunnerTaskState::Pending) | Some(RunnerTaskState::None) => "pending",
        Some(RunnerTaskState::Waiting) | None => "waiting",
    }
}

async fn list(
    app: &App,
    state: Option<&str>,
    datasource: Option<String>,
    task_type: Option<String>,
    max: Option<i64>,
    created: Option<crate::interval::Interval>,
) -> Result<Vec<Value>, ApiError> {
    let runner = runner_map(app);
    let base = TaskFilter {
        datasource,
        task_type,
        created_after_ms: created.map(|i| i.start_ms),
        created_before_ms: created.map(|i| i.end_ms),
        ..Default::default()
    };
    let mut out = Vec::new();
    if state != Some("complete") {
        let active = app
            .store()
            .list_tasks(&TaskFilter {
                active: Some(true),
                ..base.clone()
            })
            .await?;
        for r in active.iter().rev() {
            let st = api_state(r, runner.get(&r.id));
            if state.is_none_or(|s| s == st) {
                out.push(status_plus(r, runner.get(&r.id)));
            }
        }
    }
    if state.is_none() || state == Some("complete") {
        let complete = app
            .store()
            .list_tasks(&TaskFilter {
                active: Some(false),
                limit: max,
                ..base
            })
            .await?;
        out.extend(complete.iter().map(|r| status_plus(r, None)));
    }
    Ok(out)
}

/// `GET /druid/indexer/v1/tasks?state=&datasource=&type=&max=&createdTimeInterval=`.
pub async fn tasks(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = |k| query(raw.as_deref(), k);
    let state = match q("state") {
        None => None,
        Some(s) => {
            let lower = s.to_lowercase();
            match API_TASK_STATES.iter().find(|x| **x == lower) {
                Some(x) => Some(*x),
                None => {
                    return Err(text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "Invalid task state[{s}]. Must be one of [pending, waiting, running, complete]."
                        ),
                    ));
                }
            }
        }
    };
    let max = parse_max(q("max"), "max")?;
    let created = match q("createdTimeInterval") {
        None => None,
        Some(v) => Some(
            crate::interval::parse_interval(&v.replace('_', "/"))
                .map_err(|e| text(StatusCode::BAD_REQUEST, e))?,
        ),
    };
    let out = list(&app, state, q("datasource"), q("type"), max, created).await?;
    Ok(Json(out).into_response())
}

fn parse_max(v: Option<String>, name: &str) -> Result<Option<i64>, ApiError> {
    match v {
        None => Ok(None),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(text(
                StatusCode::BAD_REQUEST,
                format!("Invalid {name} [{v}]: expected a non-negative integer"),
            )),
        },
    }
}

/// `GET /runningTasks?type=`.
pub async fn running_tasks(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let out = list(
        &app,
        Some("running"),
        None,
        query(raw.as_deref(), "type"),
        None,
        None,
    )
    .await?;
    Ok(Json(out).into_response())
}

/// `GET /pendingTasks`.
pub async fn pending_tasks(State(app): State<App>) -> Result<Response, ApiError> {
    Ok(Json(list(&app, Some("pending"), None, None, None, None).await?).into_response())
}

/// `GET /waitingTasks`.
pub async fn waiting_tasks(State(app): State<App>) -> Result<Response, ApiError> {
    Ok(Json(list(&app, Some("waiting"), None, None, None, None).await?).into_response())
}

/// `GET /completeTasks?n=`.
pub async fn complete_tasks(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let n = parse_max(query(raw.as_deref(), "n"), "n")?;
    Ok(Json(list(&app, Some("complete"), None, None, n, None).await?).into_response())
}

/// `GET /totalWorkerCapacity` (Druid's `TotalWorkerCapacityResponse`).
pub async fn total_worker_capacity(State(app): State<App>) -> Result<Response, ApiError> {
    let c = backend(&app)?.capacity();
    Ok(Json(json!({
        "currentClusterCapacity": c.total,
        "maximumCapacityWithAutoScale": c.total,
        "usedClusterCapacity": c.used,
    }))
    .into_response())
}

/// `POST /druid/indexer/v1/k8s/taskrunner/preview[?dryRun=true]`: renders the Job a task would
/// get, with the adapter, template key and the selection explanation; `dryRun=true` also asks
/// the API server (server-side dry run).
pub async fn preview(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let dry_run = match query(raw.as_deref(), "dryRun").as_deref() {
        None | Some("false") => false,
        Some("true") | Some("") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Query parameter [dryRun]: [{other}] is not true or false"
            )));
        }
    };
    let backend = backend(&app)?.clone();
    let task = prepare_task(parse_json_body(&body)?)?;
    let config = app.dynamic_config().await?;
    let out = backend
        .preview(&task, config.as_ref(), dry_run)
        .await
        .map_err(|e| ApiError::invalid(e.0))?;
    Ok(Json(out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_rules_are_druids() {
        // Druid's own IdUtilsTest cases
        assert_eq!(
            validate_id("thingToValidate", "form\u{81}feed?").unwrap_err(),
            "Invalid value for field [thingToValidate]: Value [form\u{81}feed?] contains illegal UTF8 character [#129] at position [4]"
        );
        assert_eq!(
            validate_id("thingToValidate", "form💯feed?").unwrap_err(),
            "Invalid value for field [thingToValidate]: Value [form💯feed?] contains illegal UTF8 character [#55357] at position [4]"
        );
        assert!(
            validate_id("x", "what\u{b}is line tabulation")
                .unwrap_err()
                .ends_with("contains illegal whitespace characters.  Only space is allowed.")
        );
        assert!(
            validate_id("x", ".hidden")
                .unwrap_err()
                .contains("cannot start with '.'")
        );
        assert!(
            validate_id("x", "a/b")
                .unwrap_err()
                .contains("cannot contain '/'")
        );
        assert!(
            validate_id("x", "")
                .unwrap_err()
                .ends_with("must not be null")
        );
        // what Druid lets through: spaces, non-ASCII whitespace, the bounds of its ranges, and
        // a character whose high surrogate is U+D800 but not its low one
        for ok in [
            "a b",
            "a\u{a0}b",
            "a\u{1f}b",
            "a\u{9f}b",
            "日本語",
            "\u{ffff}",
        ] {
            assert_eq!(validate_id("x", ok), Ok(()), "{ok:?}");
        }
        assert!(
            validate_id("x", "a\u{10000}")
                .unwrap_err()
                .ends_with("illegal UTF8 character [#56320] at position [2]")
        );
    }

    #[test]
    fn generated_ids_follow_druid() {
        let id = new_task_id("index_parallel", "wiki");
        let parts: Vec<&str> = id.splitn(4, '_').collect();
        assert_eq!(parts[0], "index");
        let rest = id.strip_prefix("index_parallel_wiki_").unwrap();
        let (random, time) = rest.split_once('_').unwrap();
        assert_eq!(random.len(), 8);
        assert!(random.chars().all(|c| ('a'..='p').contains(&c)), "{random}");
        assert!(time.ends_with('Z') && time.contains('T'), "{time}");
        assert_ne!(new_task_id("a", "b"), new_task_id("a", "b"));
    }

    #[test]
    fn prepare_task_fills_id_and_names_fields() {
        let t = prepare_task(json!({"type": "noop", "dataSource": "ds"})).unwrap();
        assert!(t.id().starts_with("noop_ds_"), "{}", t.id());
        let t = prepare_task(json!({"type": "noop"})).unwrap();
        assert!(t.id().starts_with("noop_none_"), "{}", t.id());
        let t = prepare_task(json!({"id": "given", "type": "noop"})).unwrap();
        assert_eq!(t.id(), "given");
        let e = format!(
            "{:?}",
            prepare_task(json!({"id": "a/b", "type": "noop"})).unwrap_err()
        );
        assert!(e.contains("cannot contain '/'"), "{e}");
        let e = format!("{:?}", prepare_task(json!({"id": "x"})).unwrap_err());
        assert!(e.contains("[type]"), "{e}");
        let e = format!("{:?}", prepare_task(json!([1])).unwrap_err());
        assert!(e.contains("JSON object"), "{e}");
        let e = format!(
            "{:?}",
            prepare_task(json!({"id": 3, "type": "noop"})).unwrap_err()
        );
        assert!(e.contains("[id]"), "{e}");
    }

    #[test]
    fn offsets() {
        let b = b"0123456789".to_vec();
        assert_eq!(apply_offset(b.clone(), 0), b);
        assert_eq!(apply_offset(b.clone(), 7), b"789");
        assert_eq!(apply_offset(b.clone(), 70), b"");
        assert_eq!(apply_offset(b.clone(), -3), b"789");
        assert_eq!(apply_offset(b.clone(), -30), b);
    }
}
