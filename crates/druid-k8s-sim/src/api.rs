//! The Kubernetes REST/JSON API over HTTP: routing, discovery, get/list/watch/create/update/
//! patch/delete, pod logs, fault injection and `/sim/stats`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use crate::core::{Core, DeleteOpts, PatchType, Propagation};
use crate::error::ApiError;
use crate::kinds::{self, KINDS, POD};
use crate::selector::{FieldSelector, LabelSelector, Selectors};
use crate::store::{Event, EventType, Key};
use crate::table;

/// The router serving everything.
pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new().fallback(handle).with_state(core)
}

struct ResRoute {
    kind: usize,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
    watch_path: bool,
}

enum Route {
    Root,
    Version,
    Health,
    Api,
    Apis,
    ApiGroup(String),
    Discovery(String, String),
    Stats,
    OpenApiV3Index,
    OpenApiV3(String, String),
    Res(ResRoute),
    NotFound,
}

fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] => Route::Root,
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz", ..] => Route::Health,
        ["sim", "stats"] => Route::Stats,
        ["openapi", "v3"] => Route::OpenApiV3Index,
        ["openapi", "v3", "api", v] => Route::OpenApiV3(String::new(), (*v).to_owned()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiV3((*g).to_owned(), (*v).to_owned()),
        ["api"] => Route::Api,
        ["api", "v1"] => Route::Discovery(String::new(), "v1".into()),
        ["apis"] => Route::Apis,
        ["apis", g] => Route::ApiGroup((*g).to_owned()),
        ["apis", g, v] => Route::Discovery((*g).to_owned(), (*v).to_owned()),
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["apis", g, v, rest @ ..] => resource_route(g, v, rest),
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (watch_path, rest) = match rest {
        ["watch", r @ ..] => (true, r),
        r => (false, r),
    };
    let s = |i: usize| rest.get(i).map(|x| (*x).to_owned());
    let (ns, plural, name, sub) = if rest.len() >= 3 && rest[0] == "namespaces" {
        match kinds::find(group, version, rest[2]) {
            Some(k) if KINDS[k].namespaced => (s(1), rest[2], s(3), s(4)),
            _ => (None, rest[0], s(1), s(2)),
        }
    } else if let Some(p) = rest.first() {
        (None, *p, s(1), s(2))
    } else {
        return Route::NotFound;
    };
    if rest.len() > 5 {
        return Route::NotFound;
    }
    let Some(kind) = kinds::find(group, version, plural) else {
        return Route::NotFound;
    };
    if ns.is_some() && !KINDS[kind].namespaced {
        return Route::NotFound;
    }
    if let Some(sb) = &sub
        && !KINDS[kind].subresources.contains(&sb.as_str())
    {
        return Route::NotFound;
    }
    if !KINDS[kind].namespaced || ns.is_some() || name.is_none() {
        Route::Res(ResRoute {
            kind,
            ns,
            name,
            sub,
            watch_path,
        })
    } else {
        Route::NotFound
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut r = (code, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn bytes_response(code: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(core: &Core, e: &ApiError) -> Response {
    if e.code == 410 {
        core.counters.gone_answers.fetch_add(1, Ordering::Relaxed);
    }
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = json_response(code, &e.status());
    if let Some(ra) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&ra.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn with_warning(mut r: Response, warning: Option<String>) -> Response {
    if let Some(w) = warning
        && let Ok(v) = HeaderValue::from_str(&format!("299 - \"{w}\""))
    {
        r.headers_mut().insert(header::WARNING, v);
    }
    r
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn truthy(q: &HashMap<String, String>, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

fn dry_run(q: &HashMap<String, String>) -> Result<bool, ApiError> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dry run mode {other:?}: supported values: \"All\""
        ))),
    }
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, 3 * 1024 * 1024)
        .await
        .map_err(|_| ApiError::too_large())
}

fn parse_body(bytes: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        return Err(ApiError::unsupported_media_type(content_type));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(je) => {
            if content_type.contains("yaml") {
                let text = std::str::from_utf8(bytes)
                    .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8: {e}")))?;
                serde_saphyr::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("the body is not valid YAML: {e}")))
            } else {
                Err(ApiError::bad_request(format!(
                    "the body of the request is not valid JSON: {je}"
                )))
            }
        }
    }
}

/// `handler` for everything.
async fn handle(State(core): State<Arc<Core>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query = parse_query(parts.uri.query());
    let route = parse_route(parts.uri.path());
    let addr = core.address.get().cloned().unwrap_or_default();
    match route {
        Route::Root => json_response(
            StatusCode::OK,
            &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version", "/sim/stats"]}),
        ),
        Route::Version => json_response(StatusCode::OK, &kinds::version_doc()),
        Route::Health => (StatusCode::OK, "ok").into_response(),
        Route::Api => json_response(StatusCode::OK, &kinds::api_versions_doc(&addr)),
        Route::Apis => json_response(StatusCode::OK, &kinds::api_group_list_doc()),
        Route::ApiGroup(g) => match kinds::api_group_doc(&g) {
            Some(d) => json_response(StatusCode::OK, &d),
            None => error_response(&core, &ApiError::not_found_path()),
        },
        Route::Discovery(g, v) => match kinds::resource_list_doc(&g, &v) {
            Some(d) => json_response(StatusCode::OK, &d),
            None => error_response(&core, &ApiError::not_found_path()),
        },
        Route::Stats => {
            let mut s = core.counters.snapshot();
            s.resource_version = core.store.current_rv();
            for (i, n) in core.store.counts().into_iter().enumerate() {
                s.objects.insert(KINDS[i].group_resource(), n as u64);
            }
            json_response(
                StatusCode::OK,
                &serde_json::to_value(&s).unwrap_or_default(),
            )
        }
        Route::OpenApiV3Index => json_response(StatusCode::OK, &kinds::openapi_v3_index()),
        Route::OpenApiV3(g, v) => match kinds::openapi_v3_doc(&g, &v) {
            Some(d) => json_response(StatusCode::OK, &d),
            None => error_response(&core, &ApiError::not_found_path()),
        },
        Route::NotFound => error_response(&core, &ApiError::not_found_path()),
        Route::Res(r) => {
            let verb = match (&parts.method, &r.name, r.sub.as_deref()) {
                (&Method::GET, None, _) if r.watch_path || truthy(&query, "watch") => "watch",
                (&Method::GET, None, _) => "list",
                (&Method::GET, Some(_), _) if r.watch_path => "watch",
                (&Method::GET, Some(_), _) => "get",
                (&Method::POST, None, None) => "create",
                (&Method::PUT, Some(_), _) => "update",
                (&Method::PATCH, Some(_), _) => "patch",
                (&Method::DELETE, Some(_), None) => "delete",
                (&Method::DELETE, None, None) => "deletecollection",
                _ => {
                    return error_response(
                        &core,
                        &ApiError::method_not_allowed(format!(
                            "the server does not allow this method on the requested resource ({} {})",
                            parts.method,
                            parts.uri.path()
                        )),
                    );
                }
            };
            let resource = match &r.sub {
                Some(s) => format!("{}/{s}", KINDS[r.kind].plural),
                None => KINDS[r.kind].plural.to_owned(),
            };
            core.counters.request(verb, &resource);
            let faults = &core.cfg.faults;
            if !faults.latency.is_zero() {
                tokio::time::sleep(faults.latency).await;
            }
            let (drop, inject) = {
                let mut rng = rand::rng();
                let drop = faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate);
                let rate = faults.error_rate(verb);
                let inject =
                    (!drop && rate > 0.0 && rng.random_bool(rate.clamp(0.0, 1.0))).then(|| {
                        let codes = &faults.error_codes;
                        if codes.is_empty() {
                            500
                        } else {
                            codes[rng.random_range(0..codes.len())]
                        }
                    });
                (drop, inject)
            };
            if drop {
                core.counters
                    .dropped_connections
                    .fetch_add(1, Ordering::Relaxed);
                let stream = futures::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other(
                        "connection dropped by druid-k8s-sim fault injection",
                    ))
                });
                return Response::new(Body::from_stream(stream));
            }
            if let Some(code) = inject {
                core.counters
                    .injected_errors
                    .fetch_add(1, Ordering::Relaxed);
                return error_response(
                    &core,
                    &ApiError::injected(code, faults.retry_after_seconds),
                );
            }
            let ct = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/json")
                .to_owned();
            let result = serve_resource(&core, verb, &r, &query, &parts.headers, &ct, body).await;
            match result {
                Ok(resp) => resp,
                Err(e) => error_response(&core, &e),
            }
        }
    }
}

fn key_for(r: &ResRoute) -> Key {
    (
        r.ns.clone().unwrap_or_default(),
        r.name.clone().unwrap_or_default(),
    )
}

fn selectors(kind: usize, q: &HashMap<String, String>) -> Result<Selectors, ApiError> {
    Ok(Selectors {
        labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str), kind)?,
    })
}

fn delete_opts(q: &HashMap<String, String>, body: Option<&Value>) -> Result<DeleteOpts, ApiError> {
    let get = |k: &str| -> Option<Value> {
        q.get(k)
            .map(|v| json!(v))
            .or_else(|| body.and_then(|b| b.get(k)).cloned())
    };
    let propagation = match get("propagationPolicy").as_ref().and_then(Value::as_str) {
        None => match get("orphanDependents") {
            Some(v) if v == json!(true) || v == json!("true") => Some(Propagation::Orphan),
            Some(v) if v == json!(false) || v == json!("false") => Some(Propagation::Background),
            _ => None,
        },
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy {other:?} is not supported: supported values: \"Background\", \"Foreground\", \"Orphan\""
            )));
        }
    };
    let grace = match get("gracePeriodSeconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => Some(s.parse().map_err(|_| {
            ApiError::bad_request(format!("gracePeriodSeconds {s:?} is not an integer"))
        })?),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "gracePeriodSeconds {v} is not an integer"
            )));
        }
    };
    let pre = body.and_then(|b| b.get("preconditions"));
    let dry = match get("dryRun") {
        Some(Value::Array(a)) => a.iter().any(|x| x == "All"),
        Some(Value::String(s)) => s == "All",
        _ => false,
    };
    Ok(DeleteOpts {
        propagation,
        grace_period_seconds: grace,
        precondition_uid: pre
            .and_then(|p| p.get("uid"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        precondition_rv: pre
            .and_then(|p| p.get("resourceVersion"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        dry_run: dry,
    })
}

/// A list item: the object without `kind` and `apiVersion`, as the API server writes items.
struct Item<'a>(&'a Value);

impl Serialize for Item<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(m) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in m {
                    if k != "kind" && k != "apiVersion" {
                        map.serialize_entry(k, v)?;
                    }
                }
                map.end()
            }
            other => other.serialize(s),
        }
    }
}

#[derive(serde::Deserialize, Serialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn wants_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"))
}

async fn serve_resource(
    core: &Arc<Core>,
    verb: &str,
    r: &ResRoute,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    ct: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let kind = r.kind;
    let k = &KINDS[kind];
    match verb {
        "get" => {
            let key = key_for(r);
            if r.sub.as_deref() == Some("log") {
                return pod_log(core, &key, q).await;
            }
            let obj = core
                .store
                .get(kind, &key)
                .ok_or_else(|| ApiError::not_found(k, &key.1))?;
            if wants_table(headers) {
                return Ok(json_response(
                    StatusCode::OK,
                    &table::table(kind, &[obj], core.store.current_rv(), None),
                ));
            }
            Ok(json_response(StatusCode::OK, &obj))
        }
        "list" => list(core, r, q, headers),
        "watch" => watch(core, r, q),
        "create" => {
            let bytes = read_body(body).await?;
            let v = parse_body(&bytes, ct)?;
            let dry = dry_run(q)?;
            let ns = r.ns.as_deref();
            let obj = core.create(kind, ns, v, dry)?;
            if !dry {
                let name = obj
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
                core.counters.created(KINDS[kind].plural, ns, name);
            }
            Ok(json_response(StatusCode::CREATED, &obj))
        }
        "update" => {
            let bytes = read_body(body).await?;
            let v = parse_body(&bytes, ct)?;
            let dry = dry_run(q)?;
            let obj = core.replace(kind, &key_for(r), v, r.sub.as_deref(), dry)?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        "patch" => {
            let ptype = if ct.starts_with("application/merge-patch+json") {
                PatchType::Merge
            } else if ct.starts_with("application/json-patch+json") {
                PatchType::Json
            } else if ct.starts_with("application/strategic-merge-patch+json") {
                PatchType::Strategic
            } else if ct.starts_with("application/apply-patch+yaml") {
                PatchType::Apply
            } else {
                return Err(ApiError::unsupported_media_type(ct));
            };
            let bytes = read_body(body).await?;
            let v = parse_body(&bytes, ct)?;
            let dry = dry_run(q)?;
            if ptype == PatchType::Apply && !q.contains_key("fieldManager") {
                return Err(ApiError::bad_request(
                    "fieldManager must be set for apply patches (PATCH with application/apply-patch+yaml)",
                ));
            }
            let obj = core.patch(kind, &key_for(r), ptype, &v, r.sub.as_deref(), dry)?;
            Ok(json_response(StatusCode::OK, &obj))
        }
        "delete" => {
            let bytes = read_body(body).await?;
            let b = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(parse_body(&bytes, ct)?)
            };
            let mut opts = delete_opts(q, b.as_ref())?;
            opts.dry_run = opts.dry_run || dry_run(q)?;
            let d = core.delete(kind, &key_for(r), &opts)?;
            Ok(with_warning(
                json_response(StatusCode::OK, &d.object),
                d.warning,
            ))
        }
        "deletecollection" => {
            let bytes = read_body(body).await?;
            let b = if bytes.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                Some(parse_body(&bytes, ct)?)
            };
            let mut opts = delete_opts(q, b.as_ref())?;
            opts.dry_run = opts.dry_run || dry_run(q)?;
            let sel = selectors(kind, q)?;
            let page = core
                .store
                .list(kind, r.ns.as_deref(), None, None, &|o| sel.matches(o));
            let mut warning = None;
            let mut items = Vec::new();
            for o in page.items {
                let key = crate::store::key_of(&o);
                if let Ok(d) = core.delete(kind, &key, &opts) {
                    warning = warning.or(d.warning);
                    items.push(d.object);
                }
            }
            let list = list_bytes(kind, &items, core.store.current_rv(), None, None);
            Ok(with_warning(bytes_response(StatusCode::OK, list), warning))
        }
        _ => Err(ApiError::method_not_allowed("unsupported verb")),
    }
}

fn list_bytes(
    kind: usize,
    items: &[Arc<Value>],
    rv: u64,
    cont: Option<String>,
    remaining: Option<usize>,
) -> Vec<u8> {
    let k = &KINDS[kind];
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    if let Some(n) = remaining {
        meta["remainingItemCount"] = json!(n);
    }
    let mut out = Vec::with_capacity(256 + items.len() * 2048);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
            k.kind,
            k.api_version(),
            meta
        )
        .as_bytes(),
    );
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, &Item(it));
    }
    out.extend_from_slice(b"]}");
    out
}

fn list(
    core: &Arc<Core>,
    r: &ResRoute,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let kind = r.kind;
    let sel = selectors(kind, q)?;
    let limit = match q.get("limit").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(l) => Some(l.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("limit {l:?} is not a non-negative integer"))
        })?),
    };
    let compacted = core.store.compacted_rv();
    if q.get("resourceVersionMatch").map(String::as_str) == Some("Exact")
        && let Some(rv) = q.get("resourceVersion")
    {
        let rv: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("resourceVersion {rv:?} is invalid")))?;
        if rv != core.store.current_rv() {
            return Err(ApiError::gone(format!(
                "too old resource version: {rv} ({})",
                compacted + 1
            )));
        }
    }
    let token = match q.get("continue").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::bad_request("continue key is not valid: not base64"))?;
            let t: ContinueToken = serde_json::from_slice(&bytes)
                .map_err(|_| ApiError::bad_request("continue key is not valid: malformed"))?;
            if t.rv < compacted {
                return Err(ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response of the latest list operation.",
                ));
            }
            Some(t)
        }
    };
    let after = token.as_ref().map(|t| (t.ns.clone(), t.name.clone()));
    let page = core
        .store
        .list(kind, r.ns.as_deref(), after.as_ref(), limit, &|o| {
            sel.matches(o)
        });
    let rv = token.as_ref().map_or(page.rv, |t| t.rv);
    let cont = page.continue_key.as_ref().map(|(ns, name)| {
        let t = ContinueToken {
            rv,
            ns: ns.clone(),
            name: name.clone(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&t).unwrap_or_default())
    });
    if wants_table(headers) {
        return Ok(json_response(
            StatusCode::OK,
            &table::table(kind, &page.items, rv, cont),
        ));
    }
    let remaining = cont.as_ref().map(|_| page.remaining);
    Ok(bytes_response(
        StatusCode::OK,
        list_bytes(kind, &page.items, rv, cont, remaining),
    ))
}

fn event_line(etype: &str, obj: &Value) -> Bytes {
    let mut s = serde_json::to_vec(&json!({"type": etype, "object": obj})).unwrap_or_default();
    s.push(b'\n');
    Bytes::from(s)
}

fn bookmark(kind: usize, rv: u64, initial_end: bool) -> Bytes {
    let k = &KINDS[kind];
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": k.kind, "apiVersion": k.api_version(), "metadata": meta}),
    )
}

struct WatchGuard(Arc<Core>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.counters.watches_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn stream_response(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Response {
    let mut r = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn watch(
    core: &Arc<Core>,
    r: &ResRoute,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let kind = r.kind;
    let mut sel = selectors(kind, q)?;
    if let Some(name) = &r.name {
        // `/watch/.../{name}`: a watch on one object.
        let extra = FieldSelector::parse(&format!("metadata.name={name}"), kind)?;
        sel.fields = extra;
    }
    let rv_param = q.get("resourceVersion").map(String::as_str).unwrap_or("");
    let send_initial = truthy(q, "sendInitialEvents");
    let from = match rv_param {
        "" | "0" => None,
        s if send_initial => {
            let _ = s;
            None
        }
        s => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("resourceVersion {s:?} is invalid")))?,
        ),
    };
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(core.cfg.watch_max_timeout)
        .min(core.cfg.watch_max_timeout);
    let bookmarks = truthy(q, "allowWatchBookmarks");
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    core.counters.watches_total.fetch_add(1, Ordering::Relaxed);
    core.counters.watches_open.fetch_add(1, Ordering::Relaxed);
    let guard = WatchGuard(core.clone());
    let forced_gone = from.is_some() && {
        let rate = core.cfg.faults.watch_resume_gone_rate;
        rate > 0.0 && rand::rng().random_bool(rate)
    };
    let ns = r.ns.clone();
    let start = if forced_gone {
        Err(ApiError::gone(format!(
            "too old resource version: {} ({}) (injected by druid-k8s-sim)",
            from.unwrap_or(0),
            core.store.current_rv()
        )))
    } else {
        let s = sel.clone();
        core.store
            .watch(kind, ns.as_deref(), from, &move |o| s.matches(o))
    };
    let start = match start {
        Ok(s) => s,
        Err(e) => {
            core.counters.gone_answers.fetch_add(1, Ordering::Relaxed);
            let line = event_line("ERROR", &e.status());
            tokio::spawn(async move {
                let _guard = guard;
                let _ = tx.send(Ok(line)).await;
            });
            return Ok(stream_response(rx));
        }
    };
    let core = core.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let cut_after = core.cfg.faults.watch_cut_after;
        let cut = async move {
            match cut_after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let mut shutdown = core.shutdown.clone();
        let counters = core.clone();
        let body = async move {
            let mut last_rv = start.rv;
            for obj in &start.current {
                send(&tx, event_line("ADDED", obj)).await?;
            }
            for ev in &start.backlog {
                if let Some(line) = render(kind, ns.as_deref(), &sel, ev) {
                    send(&tx, line).await?;
                }
            }
            if send_initial {
                send(&tx, bookmark(kind, last_rv, true)).await?;
            }
            let mut rx_ev = start.rx;
            let mut tick =
                tokio::time::interval(core.cfg.bookmark_interval.max(Duration::from_millis(10)));
            tick.tick().await;
            loop {
                tokio::select! {
                    r = rx_ev.recv() => match r {
                        Ok(ev) => {
                            last_rv = ev.rv;
                            if ev.kind != kind {
                                continue;
                            }
                            if let Some(line) = render(kind, ns.as_deref(), &sel, &ev) {
                                send(&tx, line).await?;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => return Err(Cut::Slow),
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    },
                    _ = tick.tick(), if bookmarks => {
                        send(&tx, bookmark(kind, last_rv, false)).await?;
                    }
                    () = tx.closed() => return Ok(()),
                }
            }
        };
        let outcome = tokio::select! {
            r = body => r,
            () = tokio::time::sleep(timeout) => Ok(()),
            () = cut => Err(Cut::Injected),
            _ = shutdown.wait_for(|v| *v) => Ok(()),
        };
        if matches!(outcome, Err(Cut::Slow | Cut::Injected)) {
            counters
                .counters
                .watches_cut
                .fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok(stream_response(rx))
}

/// Why a watch stream ended early.
enum Cut {
    /// The client went away.
    Gone,
    /// The client does not keep up (it lagged behind the broadcast buffer, or did not accept
    /// data for [`SLOW_WATCHER`]).
    Slow,
    /// Fault injection.
    Injected,
}

/// How long a watcher may refuse data before it is cut.
const SLOW_WATCHER: Duration = Duration::from_secs(10);

async fn send(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, line: Bytes) -> Result<(), Cut> {
    match tokio::time::timeout(SLOW_WATCHER, tx.send(Ok(line))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Cut::Gone),
        Err(_) => Err(Cut::Slow),
    }
}

/// The watch line for an event, honouring the namespace and selectors (objects moving out of a
/// selector are DELETED, objects moving in are ADDED).
fn render(kind: usize, ns: Option<&str>, sel: &Selectors, ev: &Event) -> Option<Bytes> {
    if ev.kind != kind || ns.is_some_and(|n| n != ev.key.0) {
        return None;
    }
    let now = sel.matches(&ev.slim);
    let before = ev.old_slim.as_ref().is_some_and(|o| sel.matches(o));
    let etype = match ev.etype {
        EventType::Added => now.then_some("ADDED"),
        EventType::Deleted => (before || now).then_some("DELETED"),
        EventType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
    }?;
    let mut line = Vec::with_capacity(ev.json.len() + 32);
    line.extend_from_slice(format!("{{\"type\":\"{etype}\",\"object\":").as_bytes());
    line.extend_from_slice(&ev.json);
    line.extend_from_slice(b"}\n");
    Some(Bytes::from(line))
}

async fn pod_log(
    core: &Arc<Core>,
    key: &Key,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let pod = core
        .store
        .get(POD, key)
        .ok_or_else(|| ApiError::not_found(&KINDS[POD], &key.1))?;
    let names = |list: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    };
    let regular = names("containers");
    let init = names("initContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !regular.contains(c) && !init.contains(c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {}",
                    key.1
                )));
            }
            c.clone()
        }
        None if regular.len() == 1 => regular[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {}, choose one of: [{}]",
                key.1,
                regular.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            return Err(ApiError::bad_request(msg));
        }
    };
    let Some(snap) = core.logs.read(key, &container) else {
        let reason = ["containerStatuses", "initContainerStatuses"]
            .iter()
            .flat_map(|l| {
                pod.pointer(&format!("/status/{l}"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|s| s["name"] == container.as_str())
            .and_then(|s| {
                s.pointer("/state/waiting/reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "ContainerCreating".to_owned());
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{}\" is waiting to start: {reason}",
            key.1
        )));
    };
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        q.get(k)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("{k} {v:?} is not an integer")))
            })
            .transpose()
    };
    let tail = int("tailLines")?;
    let limit = int("limitBytes")?;
    let since = int("sinceSeconds")?;
    let since_time = q.get("sinceTime").and_then(|s| crate::util::parse_ts(s));
    let timestamps = truthy(q, "timestamps");
    let follow = truthy(q, "follow");
    let cutoff = since
        .map(|s| jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s))
        .or(since_time);
    let fmt = move |(t, l): &(jiff::Timestamp, String)| -> String {
        if timestamps {
            format!("{} {l}\n", t.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        } else {
            format!("{l}\n")
        }
    };
    let mut lines: Vec<(jiff::Timestamp, String)> = snap
        .lines
        .into_iter()
        .filter(|(t, _)| cutoff.is_none_or(|c| *t >= c))
        .collect();
    if let Some(n) = tail {
        let n = n.max(0) as usize;
        if lines.len() > n {
            lines.drain(..lines.len() - n);
        }
    }
    let mut text = String::new();
    for l in &lines {
        text.push_str(&fmt(l));
    }
    let limit = limit.map(|l| l.max(0) as usize);
    if let Some(l) = limit
        && text.len() > l
    {
        let mut cut = l;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if !follow || snap.finished || limit.is_some_and(|l| text.len() >= l) {
        let mut r = (StatusCode::OK, text).into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(r);
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let core = core.clone();
    let key = key.clone();
    let mut sent_bytes = text.len();
    let mut seen = snap_len(&core, &key, &container);
    tokio::spawn(async move {
        if !text.is_empty() && send(&tx, Bytes::from(text)).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if *core.shutdown.borrow() {
                return;
            }
            let Some(s) = core.logs.read(&key, &container) else {
                return;
            };
            let mut chunk = String::new();
            for l in s.lines.iter().skip(seen) {
                chunk.push_str(&fmt(l));
            }
            seen = s.lines.len();
            if let Some(l) = limit
                && sent_bytes + chunk.len() > l
            {
                let mut cut = l - sent_bytes;
                while !chunk.is_char_boundary(cut) {
                    cut -= 1;
                }
                chunk.truncate(cut);
                let _ = send(&tx, Bytes::from(chunk)).await;
                return;
            }
            sent_bytes += chunk.len();
            if !chunk.is_empty() && send(&tx, Bytes::from(chunk)).await.is_err() {
                return;
            }
            if s.finished || tx.is_closed() {
                return;
            }
        }
    });
    let mut r = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(r)
}

fn snap_len(core: &Core, key: &Key, container: &str) -> usize {
    core.logs.read(key, container).map_or(0, |s| s.lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let r = |p: &str| match parse_route(p) {
            Route::Res(r) => Some((KINDS[r.kind].plural, r.ns, r.name, r.sub, r.watch_path)),
            _ => None,
        };
        assert_eq!(
            r("/apis/batch/v1/namespaces/druid/jobs/j1/status"),
            Some((
                "jobs",
                Some("druid".into()),
                Some("j1".into()),
                Some("status".into()),
                false
            ))
        );
        assert_eq!(r("/api/v1/pods"), Some(("pods", None, None, None, false)));
        assert_eq!(
            r("/api/v1/namespaces/druid"),
            Some(("namespaces", None, Some("druid".into()), None, false))
        );
        assert_eq!(
            r("/api/v1/watch/namespaces/d/pods"),
            Some(("pods", Some("d".into()), None, None, true))
        );
        assert_eq!(
            r("/api/v1/namespaces/d/pods/p/log"),
            Some((
                "pods",
                Some("d".into()),
                Some("p".into()),
                Some("log".into()),
                false
            ))
        );
        assert!(r("/api/v1/namespaces/d/jobs").is_none());
        assert!(r("/api/v1/pods/x").is_none());
        assert!(r("/api/v1/namespaces/d/pods/p/exec").is_none());
    }
}
