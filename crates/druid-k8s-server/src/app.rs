//! The application: shared state, the router, authentication middleware and the small
//! endpoints (health, status, leader, metrics, OpenAPI).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use druid_k8s_model::{AdapterType, DynamicConfig};
use serde_json::json;

use crate::auth::{Action, AuthFailure, Authenticator, ResourceType};
use crate::backend::TaskBackend;
use crate::error::{ApiError, Category, ServerError};
use crate::metrics::Metrics;
use crate::store::Store;

/// What the runner configuration tells the HTTP layer (no Kubernetes needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerFacts {
    /// The pod adapter.
    pub adapter: AdapterType,
    /// Configured pod templates: key → file.
    pub pod_templates: BTreeMap<String, PathBuf>,
    /// Static capacity (`druid.indexer.runner.capacity`).
    pub static_capacity: u32,
}

/// Everything [`App::new`] needs.
pub struct AppParts {
    /// The metadata store.
    pub store: Store,
    /// Authentication (None: open).
    pub auth: Option<Authenticator>,
    /// The task runner (None: task endpoints answer 503, as a non-leader overlord does).
    pub backend: Option<Arc<dyn TaskBackend>>,
    /// Facts from the runner configuration.
    pub runner: RunnerFacts,
    /// Default history window.
    pub audit_history_millis: i64,
    /// Largest request body.
    pub max_request_bytes: usize,
    /// The URL this server is reachable at (for `/leader`).
    pub advertised_url: String,
    /// Metrics registry (None: a fresh one). Pass the one whose
    /// [`Metrics::runner_metrics`] the runner uses, so `/metrics` shows both.
    pub metrics: Option<Arc<Metrics>>,
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) auth: Option<Authenticator>,
    pub(crate) backend: Option<Arc<dyn TaskBackend>>,
    pub(crate) runner: RunnerFacts,
    pub(crate) audit_history_millis: i64,
    pub(crate) max_request_bytes: usize,
    pub(crate) advertised_url: String,
    pub(crate) metrics: Arc<Metrics>,
    /// Serialises config writes inside this process (the store's compare-and-swap covers
    /// writers in other processes).
    pub(crate) config_lock: tokio::sync::Mutex<()>,
}

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("runner", &self.inner.runner)
            .field("auth", &self.inner.auth.is_some())
            .field("backend", &self.inner.backend.is_some())
            .finish_non_exhaustive()
    }
}

/// The authenticated user of a request (`None` when authentication is off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub Option<String>);

impl App {
    /// Builds the state and hands the stored dynamic config to the backend.
    pub async fn new(parts: AppParts) -> Result<App, ServerError> {
        let app = App {
            inner: Arc::new(Inner {
                store: parts.store,
                auth: parts.auth,
                backend: parts.backend,
                runner: parts.runner,
                audit_history_millis: parts.audit_history_millis,
                max_request_bytes: parts.max_request_bytes,
                advertised_url: parts.advertised_url,
                metrics: parts.metrics.unwrap_or_default(),
                config_lock: tokio::sync::Mutex::new(()),
            }),
        };
        if let Some(backend) = &app.inner.backend {
            backend.apply_dynamic_config(app.dynamic_config().await?);
        }
        Ok(app)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The backend, if any.
    pub fn backend(&self) -> Option<&Arc<dyn TaskBackend>> {
        self.inner.backend.as_ref()
    }

    /// The stored dynamic config, parsed (None when nothing is stored).
    pub async fn dynamic_config(&self) -> Result<Option<DynamicConfig>, ServerError> {
        match self
            .inner
            .store
            .get_config(druid_k8s_model::dynamic::DYNAMIC_CONFIG_KEY)
            .await?
        {
            None => Ok(None),
            Some(text) => match DynamicConfig::from_json(&text) {
                Ok(c) => Ok(Some(c)),
                Err(e) => {
                    tracing::error!(error = %e, "stored dynamic config is invalid; ignoring it");
                    Ok(None)
                }
            },
        }
    }

    /// The router with every endpoint; `routes()` lists them (for the OpenAPI check).
    pub fn router(&self) -> Router {
        self.routes().0
    }

    /// The router and the `(method, path)` pairs it serves.
    pub fn routes(&self) -> (Router, Vec<(Method, &'static str)>) {
        use crate::{config_api as c, tasks_api as t};
        use axum::routing::{get, post};
        let mut r = Routes::default();
        // open
        r.add("/status/health", get(health), None);
        r.add("/druid/indexer/v1/isLeader", get(is_leader), None);
        r.add("/openapi.json", get(openapi), None);
        // state
        let state = Some(Need::ByMethod(ResourceType::State));
        r.add("/status", get(status), state);
        r.add("/metrics", get(metrics), state);
        r.add("/druid/indexer/v1/leader", get(leader), state);
        r.add("/druid/indexer/v1/task", post(t::submit), state);
        r.add("/druid/indexer/v1/task/{id}", get(t::payload), state);
        r.add("/druid/indexer/v1/task/{id}/status", get(t::status), state);
        r.add("/druid/indexer/v1/task/{id}/log", get(t::log), state);
        r.add(
            "/druid/indexer/v1/task/{id}/reports",
            get(t::reports),
            state,
        );
        r.add(
            "/druid/indexer/v1/task/{id}/shutdown",
            post(t::shutdown),
            state,
        );
        r.add("/druid/indexer/v1/tasks", get(t::tasks), state);
        r.add(
            "/druid/indexer/v1/runningTasks",
            get(t::running_tasks),
            state,
        );
        r.add(
            "/druid/indexer/v1/pendingTasks",
            get(t::pending_tasks),
            state,
        );
        r.add(
            "/druid/indexer/v1/waitingTasks",
            get(t::waiting_tasks),
            state,
        );
        r.add(
            "/druid/indexer/v1/completeTasks",
            get(t::complete_tasks),
            state,
        );
        r.add(
            "/druid/indexer/v1/k8s/taskrunner/preview",
            post(t::preview),
            Some(Need::Fixed(ResourceType::State, Action::Read)),
        );
        // config
        let config = Some(Need::ByMethod(ResourceType::Config));
        r.add(
            "/druid/indexer/v1/totalWorkerCapacity",
            get(t::total_worker_capacity),
            config,
        );
        r.add(
            "/druid/indexer/v1/k8s/taskrunner/executionconfig",
            get(c::get_config).post(c::post_config),
            config,
        );
        r.add(
            "/druid/indexer/v1/k8s/taskrunner/executionconfig/history",
            get(c::history),
            config,
        );
        r.add(
            "/druid/indexer/v1/k8s/taskrunner/podTemplates",
            get(c::pod_templates),
            config,
        );

        let router = r
            .router
            .fallback(fallback)
            .layer(middleware::from_fn_with_state(self.clone(), authenticate))
            .layer(middleware::from_fn_with_state(self.clone(), observe))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                too_large_as_json,
            ))
            .layer(DefaultBodyLimit::max(self.inner.max_request_bytes))
            .with_state(self.clone());
        (router, r.seen)
    }
}

/// Which permission a route needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// READ for GET/HEAD, WRITE otherwise (Druid's resource filters).
    ByMethod(ResourceType),
    /// Always this.
    Fixed(ResourceType, Action),
}

#[derive(Default)]
struct Routes {
    router: Router<App>,
    seen: Vec<(Method, &'static str)>,
}

impl Routes {
    fn add(&mut self, path: &'static str, route: MethodRouter<App>, need: Option<Need>) {
        let methods = methods_of(path);
        for m in methods {
            self.seen.push((m.clone(), path));
        }
        let route = match need {
            None => route,
            Some(need) => {
                route.route_layer(middleware::from_fn(move |req: Request, next: Next| {
                    authorize(need, req, next)
                }))
            }
        };
        let router = std::mem::take(&mut self.router);
        self.router = router.route(path, route);
    }
}

/// The methods each path serves (kept next to the router so the OpenAPI test can compare).
fn methods_of(path: &str) -> Vec<Method> {
    match path {
        "/druid/indexer/v1/task"
        | "/druid/indexer/v1/task/{id}/shutdown"
        | "/druid/indexer/v1/k8s/taskrunner/preview" => vec![Method::POST],
        "/druid/indexer/v1/k8s/taskrunner/executionconfig" => vec![Method::GET, Method::POST],
        _ => vec![Method::GET],
    }
}

/// A body over `druid.k8s.server.maxRequestBytes` is refused by the body extractor with a
/// plain-text 413; answer it in Druid's error shape instead, naming the limit and the property.
async fn too_large_as_json(State(app): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return resp;
    }
    let mut out = crate::error::ApiError::invalid(format!(
        "Request body is larger than {} bytes (druid.k8s.server.maxRequestBytes)",
        app.inner.max_request_bytes
    ))
    .into_response();
    *out.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    out
}

async fn authenticate(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let Some(auth) = &app.inner.auth else {
        req.extensions_mut().insert(Identity(None));
        return next.run(req).await;
    };
    let path = req.uri().path();
    if matches!(
        path,
        "/status/health" | "/druid/indexer/v1/isLeader" | "/openapi.json"
    ) {
        req.extensions_mut().insert(Identity(None));
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match auth.authenticate(header.as_deref()).await {
        Ok(user) => {
            req.extensions_mut().insert(Identity(Some(user)));
            next.run(req).await
        }
        Err(failure) => {
            let message = match failure {
                AuthFailure::Missing => "Unauthorized: send HTTP Basic credentials",
                AuthFailure::Invalid => "Unauthorized: invalid user name or password",
            };
            let mut resp = ApiError::Druid {
                category: Category::Unauthorized,
                message: message.into(),
            }
            .into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"druid\""),
            );
            resp
        }
    }
}

async fn authorize(need: Need, req: Request, next: Next) -> Response {
    let identity = req.extensions().get::<Identity>().cloned();
    let Some(Identity(Some(user))) = identity else {
        // authentication is off
        return next.run(req).await;
    };
    let Some(app) = req.extensions().get::<App>().cloned() else {
        return next.run(req).await;
    };
    let (rt, action) = match need {
        Need::Fixed(rt, a) => (rt, a),
        Need::ByMethod(rt) => {
            if req.method() == Method::GET || req.method() == Method::HEAD {
                (rt, Action::Read)
            } else {
                (rt, Action::Write)
            }
        }
    };
    let allowed = app
        .inner
        .auth
        .as_ref()
        .is_none_or(|a| a.authorize(&user, rt, action));
    if allowed {
        next.run(req).await
    } else {
        ApiError::Druid {
            category: Category::Forbidden,
            message: format!(
                "Unauthorized: user [{user}] needs {} on resource type [{}] name [{}]",
                action.as_str(),
                rt.as_str(),
                rt.as_str()
            ),
        }
        .into_response()
    }
}

async fn observe(State(app): State<App>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(app.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    app.inner
        .metrics
        .http_request(&method, &route, resp.status().as_u16());
    resp
}

/// The peer address of a connection (plain or TLS), as axum connect info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The client's IP (the peer address; `127.0.0.1` for in-process requests) and identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Peer IP.
    pub ip: String,
    /// Authenticated user, when authentication is on.
    pub identity: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<PeerAddr>>()
            .map(|c| c.0.0.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let identity = parts.extensions.get::<Identity>().and_then(|i| i.0.clone());
        Ok(Caller { ip, identity })
    }
}

async fn fallback(method: Method, uri: axum::http::Uri) -> Response {
    let mut resp =
        ApiError::not_found(format!("No endpoint [{method} {}]", uri.path())).into_response();
    resp.headers_mut()
        .insert("x-druid-k8s-route", HeaderValue::from_static("none"));
    resp
}

async fn health() -> Json<bool> {
    Json(true)
}

async fn is_leader() -> Json<serde_json::Value> {
    Json(json!({ "leader": true }))
}

async fn leader(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::Value::String(app.inner.advertised_url.clone()).to_string(),
    )
        .into_response()
}

async fn status(State(app): State<App>) -> Json<serde_json::Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "modules": [{
            "name": "druid-k8s",
            "artifact": "druid-k8s-server",
            "version": env!("CARGO_PKG_VERSION"),
        }],
        "adapter": app.inner.runner.adapter.as_str(),
        "runner": app.inner.backend.is_some(),
        "store": match app.inner.store.kind() {
            crate::store::StoreKind::Sqlite => "sqlite",
            crate::store::StoreKind::Postgres => "postgresql",
        },
        "authentication": app.inner.auth.is_some(),
    }))
}

async fn metrics(State(app): State<App>) -> Response {
    let capacity = app.inner.backend.as_ref().map(|b| b.capacity());
    let known = app
        .inner
        .backend
        .as_ref()
        .map(|b| b.known_tasks())
        .unwrap_or_default();
    let body = app.inner.metrics.render(capacity, &known);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn openapi(State(app): State<App>) -> Json<serde_json::Value> {
    Json(crate::openapi::document(app.inner.auth.is_some()))
}
