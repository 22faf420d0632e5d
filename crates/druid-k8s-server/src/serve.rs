//! `druid-k8s serve`: the overlord replacement. Reads `runtime.properties` (plus `druid_*`
//! environment variables), opens the metadata store, starts the task runner against the cluster
//! of the kubeconfig (`KUBECONFIG`, `~/.kube/config`) or the in-cluster service account, and
//! serves the HTTP API until SIGTERM or Ctrl-C; then it stops accepting requests, stops the
//! runner and leaves every Job running for the next start to adopt.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_runner::RunnerOptions;

use crate::app::{App, AppParts, RunnerFacts};
use crate::auth::Authenticator;
use crate::backend::TaskBackend;
use crate::error::ServerError;
use crate::runner_backend::RunnerBackend;
use crate::settings::{ServerSettings, StoreSettings};
use crate::store::Store;

/// Arguments of `druid-k8s serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The Druid `runtime.properties` (overlord settings, `druid.indexer.runner.*`).
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Listen address (default: all interfaces on `druid.plaintextPort`, 8090).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

/// A running server.
pub struct Running {
    /// The application state.
    pub app: App,
    /// The bound address.
    pub addr: SocketAddr,
    /// Whether it serves HTTPS.
    pub tls: bool,
    backend: Arc<RunnerBackend>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    events: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Reads a properties file with the environment's `druid_*` variables on top.
pub fn load_properties(path: &std::path::Path) -> Result<RawConfig, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    RawConfig::load(&text, std::env::vars()).map_err(|e| ServerError::Invalid {
        key: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Validates the runner part of the configuration (every problem, one per line).
pub fn runner_config(raw: &RawConfig) -> Result<RunnerConfig, ServerError> {
    RunnerConfig::from_raw(raw).map_err(|e| ServerError::Invalid {
        key: "runtime.properties".into(),
        message: format!("\n{e}"),
    })
}

/// Opens the store the settings name.
pub async fn open_store(settings: &ServerSettings) -> Result<Store, ServerError> {
    match &settings.store {
        StoreSettings::SqliteDir(dir) => Store::open_sqlite_dir(dir, &settings.table_prefix).await,
        StoreSettings::Url(url) => Store::connect(url, &settings.table_prefix).await,
    }
}

/// Starts everything: store, auth, runner (restoring Jobs), reconciliation, HTTP listener.
pub async fn start(
    raw: &RawConfig,
    listen: Option<SocketAddr>,
    kube: kube::Config,
    mut options: RunnerOptions,
) -> Result<Running, ServerError> {
    let settings = ServerSettings::from_raw(raw, listen)?;
    if let Some(qps) = settings.kube_qps {
        options.qps = f64::from(qps);
    }
    if let Some(burst) = settings.kube_burst {
        options.burst = burst;
    }
    let tls = match &settings.tls {
        Some((cert, key)) => Some(crate::tls::acceptor(cert, key)?),
        None => None,
    };
    let config = runner_config(raw)?;
    let store = open_store(&settings).await?;
    tracing::info!(store = ?settings.store, "metadata store open");
    let auth = match &settings.users_file {
        Some(path) => Some(Authenticator::from_file(path)?),
        None => None,
    };
    let dynamic = {
        let text = store
            .get_config(druid_k8s_model::dynamic::DYNAMIC_CONFIG_KEY)
            .await?;
        text.and_then(|t| druid_k8s_model::DynamicConfig::from_json(&t).ok())
    };
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let backend = Arc::new(
        RunnerBackend::start(
            kube,
            config.clone(),
            dynamic,
            options,
            metrics.runner_metrics(),
        )
        .await?,
    );
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| ServerError::Io {
            what: format!("listening on {}", settings.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServerError::Io {
        what: "reading the listen address".into(),
        source,
    })?;
    let host = if addr.ip().is_unspecified() {
        std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into())
    } else {
        addr.ip().to_string()
    };
    let app = App::new(AppParts {
        store,
        auth,
        backend: Some(backend.clone() as Arc<dyn TaskBackend>),
        runner: RunnerFacts {
            adapter: config.adapter_type,
            pod_templates: config.pod_templates.clone(),
            static_capacity: config.capacity,
        },
        audit_history_millis: settings.audit_history_millis,
        max_request_bytes: settings.max_request_bytes,
        advertised_url: format!(
            "{}://{host}:{}",
            if tls.is_some() { "https" } else { "http" },
            addr.port()
        ),
        metrics: Some(metrics),
    })
    .await?;
    let events = crate::runner_backend::attach(&app, backend.clone()).await?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let router = app.router();
    let tls_on = tls.is_some();
    let stopped = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    };
    let service = router.into_make_service_with_connect_info::<crate::app::PeerAddr>();
    let server = match tls {
        None => tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(stopped)
                .await
        }),
        Some(acceptor) => {
            let listener = crate::tls::TlsListener::new(listener, acceptor).map_err(|source| {
                ServerError::Io {
                    what: "starting the TLS listener".into(),
                    source,
                }
            })?;
            tokio::spawn(async move {
                axum::serve(listener, service)
                    .with_graceful_shutdown(stopped)
                    .await
            })
        }
    };
    Ok(Running {
        app,
        addr,
        tls: tls_on,
        backend,
        stop_tx,
        server,
        events,
    })
}

impl Running {
    /// Stops accepting requests, finishes in-flight ones, stops the runner (Jobs keep running)
    /// and closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop_tx.send(true);
        match tokio::time::timeout(std::time::Duration::from_secs(10), self.server).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "HTTP server ended with an error"),
            Err(_) => tracing::warn!("HTTP requests still running after 10 s; closing"),
            _ => {}
        }
        self.backend.stop().await;
        self.events.abort();
        self.app.store().close().await;
    }
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServerError::Io {
            what: "starting the async runtime".into(),
            source,
        })
}

/// `druid-k8s serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode, ServerError> {
    runtime()?.block_on(async {
        let raw = load_properties(&args.config)?;
        let kube = kube::Config::infer().await.map_err(|e| {
            ServerError::Kube(format!(
                "no Kubernetes access (KUBECONFIG, ~/.kube/config or in-cluster): {e}"
            ))
        })?;
        let running = start(&raw, args.listen, kube, RunnerOptions::default()).await?;
        let scheme = if running.tls { "https" } else { "http" };
        eprintln!("druid-k8s serving on {scheme}://{}", running.addr);
        wait_for_signal().await;
        eprintln!("druid-k8s shutting down (Jobs keep running)");
        running.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Arguments of `druid-k8s hash-password`.
#[derive(Debug, Clone, clap::Args)]
pub struct HashPasswordArgs {
    /// The password; read from standard input (first line) when absent.
    #[arg(long)]
    pub password: Option<String>,
}

/// `druid-k8s hash-password`: prints an argon2id hash for the users file.
pub fn hash_password(args: &HashPasswordArgs) -> Result<ExitCode, ServerError> {
    let password = match &args.password {
        Some(p) => p.clone(),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|source| ServerError::Io {
                    what: "reading the password from standard input".into(),
                    source,
                })?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    if password.is_empty() {
        return Err(ServerError::Invalid {
            key: "password".into(),
            message: "must not be empty".into(),
        });
    }
    println!("{}", crate::auth::hash_password(&password)?);
    Ok(ExitCode::SUCCESS)
}
