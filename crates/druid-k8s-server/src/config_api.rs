//! `…/k8s/taskrunner/executionconfig` (GET/POST), its history, and `…/podTemplates`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use druid_k8s_model::dynamic::DYNAMIC_CONFIG_KEY;
use druid_k8s_model::{AdapterType, DynamicConfig, PodTemplateSelectStrategy};
use serde_json::{Value, json};

use crate::app::{App, Caller};
use crate::error::{ApiError, Category};
use crate::store::{AuditInfo, SetOutcome, now_ms};

/// Parses a request body as JSON, with a 400 that names the problem.
pub(crate) fn parse_json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "Request body is empty; expected a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("Malformed JSON body: {e}")))
}

fn json_response(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// `GET …/executionconfig`: the stored document with its `ETag`, or (nothing stored) the
/// effective default: the `default` strategy and the static capacity, without an `ETag`.
pub async fn get_config(State(app): State<App>) -> Result<Response, ApiError> {
    match app.store().get_config(DYNAMIC_CONFIG_KEY).await? {
        Some(text) => {
            let etag = crate::store::etag_of(text.as_bytes());
            let mut resp = json_response(StatusCode::OK, text);
            if let Ok(v) = HeaderValue::from_str(&etag) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            Ok(resp)
        }
        None => {
            let default = DynamicConfig {
                pod_template_select_strategy: Some(PodTemplateSelectStrategy::Default),
                capacity: Some(app.inner.runner.static_capacity),
            };
            Ok(json_response(StatusCode::OK, default.to_json_string()))
        }
    }
}

/// Checks that every `selectionKey` names a configured template.
fn check_selection_keys(app: &App, config: &DynamicConfig) -> Result<(), ApiError> {
    let Some(PodTemplateSelectStrategy::SelectorBased { selectors }) =
        &config.pod_template_select_strategy
    else {
        return Ok(());
    };
    let runner = &app.inner.runner;
    let known: Vec<&str> = runner.pod_templates.keys().map(String::as_str).collect();
    for (i, s) in selectors.iter().enumerate() {
        if runner.adapter != AdapterType::CustomTemplate {
            return Err(ApiError::invalid(format!(
                "podTemplateSelectStrategy.selectors[{i}].selectionKey: [{}] cannot be used: pod templates are only available when druid.indexer.runner.k8s.adapter.type is [customTemplateAdapter] (it is [{}])",
                s.selection_key,
                runner.adapter.as_str()
            )));
        }
        if !runner.pod_templates.contains_key(&s.selection_key) {
            return Err(ApiError::invalid(format!(
                "podTemplateSelectStrategy.selectors[{i}].selectionKey: no pod template is configured for [{key}] (set druid.indexer.runner.k8s.podTemplate.{key}); configured keys: [{}]",
                known.join(", "),
                key = s.selection_key,
            )));
        }
    }
    Ok(())
}

/// `POST …/executionconfig`: validate, merge into the stored document, store with an audit
/// entry (headers `X-Druid-Author` / `X-Druid-Comment`), honour `If-Match`, and apply to the
/// runner for the next task.
pub async fn post_config(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header_text = |name: &str| -> Result<Option<String>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.to_owned()))
                .map_err(|_| ApiError::invalid(format!("Header [{name}] is not valid text"))),
        }
    };
    let if_match = header_text("if-match")?;
    if if_match.as_deref().is_some_and(|v| v.trim().is_empty()) {
        return Err(ApiError::invalid("If-Match header must not be blank"));
    }
    let value = parse_json_body(&body)?;
    let request =
        DynamicConfig::from_value(&value).map_err(|e| ApiError::invalid(e.to_string()))?;
    check_selection_keys(&app, &request)?;
    let audit = AuditInfo {
        author: header_text("x-druid-author")?.unwrap_or_default(),
        identity: caller.identity.clone(),
        comment: header_text("x-druid-comment")?.unwrap_or_default(),
        ip: caller.ip.clone(),
    };
    let _guard = app.inner.config_lock.lock().await;
    let outcome = app
        .store()
        .set_config(DYNAMIC_CONFIG_KEY, if_match.as_deref(), &audit, |stored| {
            let stored = match stored {
                None => None,
                Some(text) => DynamicConfig::from_json(text).ok(),
            };
            Ok::<_, ApiError>(
                DynamicConfig::merge(stored.as_ref(), request.clone()).to_json_string(),
            )
        })
        .await??;
    match outcome {
        SetOutcome::Ok { etag } => {
            let merged = app.dynamic_config().await?;
            tracing::info!(
                author = %audit.author,
                comment = %audit.comment,
                ip = %audit.ip,
                config = %merged.as_ref().map(DynamicConfig::to_json_string).unwrap_or_default(),
                "updated k8s execution config"
            );
            app.inner.metrics.config_updated();
            if let Some(backend) = app.backend() {
                backend.apply_dynamic_config(merged);
            }
            let mut resp = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            Ok(resp)
        }
        SetOutcome::PreconditionFailed { current } => Err(ApiError::Druid {
            category: Category::PreconditionFailed,
            message: match current {
                Some(etag) => format!(
                    "If-Match [{}] does not match the current config (ETag {etag}); GET it again and retry",
                    if_match.unwrap_or_default()
                ),
                None => format!(
                    "If-Match [{}] cannot match: no config is stored yet",
                    if_match.unwrap_or_default()
                ),
            },
        }),
    }
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// `GET …/executionconfig/history?interval=&count=`: with `interval` (count ignored) the entries
/// in it, oldest first; with only `count` the last `count` entries, newest first; with neither,
/// the last `druid.audit.manager.auditHistoryMillis` (one week). Errors are `{"error": msg}`.
pub async fn history(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(raw.as_deref());
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let entries = if let Some(interval) = get("interval") {
        let i = crate::interval::parse_interval(&interval).map_err(ApiError::plain_bad_request)?;
        app.store()
            .audit_in_interval(DYNAMIC_CONFIG_KEY, i.start_ms, i.end_ms)
            .await?
    } else if let Some(count) = get("count") {
        let n: i64 = count.trim().parse().map_err(|_| {
            ApiError::plain_bad_request(format!("Invalid count [{count}]: expected an integer"))
        })?;
        if n < 1 {
            return Err(ApiError::plain_bad_request(
                "Limit must be greater than zero!",
            ));
        }
        app.store().audit_last(DYNAMIC_CONFIG_KEY, n).await?
    } else {
        let now = now_ms();
        app.store()
            .audit_in_interval(
                DYNAMIC_CONFIG_KEY,
                now - app.inner.audit_history_millis,
                now,
            )
            .await?
    };
    Ok(axum::Json(entries).into_response())
}

/// `GET …/podTemplates`: the configured templates (key → PodTemplate JSON) for the custom
/// template adapter; 404 for the others.
pub async fn pod_templates(State(app): State<App>) -> Result<Response, ApiError> {
    let runner = &app.inner.runner;
    if runner.adapter != AdapterType::CustomTemplate {
        return Err(ApiError::not_found(
            "Pod templates are only available when the k8s task adapter type is [customTemplateAdapter]",
        ));
    }
    let mut out = serde_json::Map::new();
    for (key, path) in &runner.pod_templates {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ApiError::internal(&format!("reading pod template [{key}] at {origin}: {e}"))
        })?;
        let template = druid_k8s_adapters::parse_pod_template(&text, &origin)
            .map_err(|e| ApiError::internal(&e))?;
        let value = serde_json::to_value(&template).map_err(|e| ApiError::internal(&e))?;
        out.insert(key.clone(), value);
    }
    Ok(axum::Json(json!(out)).into_response())
}
