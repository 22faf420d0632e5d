//! `druid-k8s-sim`: an in-process Kubernetes API server simulator for testing Druid's
//! Kubernetes task runner, with a Job controller, a scheduler, kubelets and simulated Druid
//! peons.
//!
//! It serves the Kubernetes REST/JSON API over real HTTP on 127.0.0.1 (discovery, get, list
//! with selectors and pagination, watch with resourceVersion/bookmarks/410, create, update,
//! merge/JSON/strategic patch, delete with propagation and grace periods, pod logs), so the
//! real `kube` client and `kubectl` talk to it unchanged. Objects, errors and watch streams are
//! shaped like a real kube-apiserver's. Pods of Jobs labelled `druid.k8s.peons` run a simulated
//! peon that decodes the task payload the way Druid's `peon.sh` does and pushes `status.json` and
//! `report.json` to task-log storage. The crate depends on none of the other druid-k8s crates: it
//! is an independent witness of their behaviour.
//!
//! See the README for the behaviour of simulated containers, the task context key `sim`, fault
//! injection and the standalone `druid-k8s sim` command.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use druid_k8s_sim::{Sim, SimConfig};
//!
//! let dir = std::env::temp_dir().join("task-logs");
//! let sim = Sim::start(SimConfig::default().task_logs_dir(&dir)).await?;
//! println!("API server at {}", sim.url());
//! sim.write_kubeconfig(std::env::temp_dir().join("sim.kubeconfig"))?;
//! // A kube client: kube::Client::try_from(kube::Config::new(sim.url().parse()?))
//! let stats = sim.stats();
//! assert_eq!(stats.watches_open, 0);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod config;
mod controller;
mod core;
mod error;
mod kinds;
mod kubelet;
mod logs;
mod patch;
mod peon;
mod quantity;
mod selector;
mod stats;
mod store;
mod table;
mod util;
mod validate;
pub mod worker;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::{FaultConfig, SimConfig, TaskLogStorage};
pub use error::SimError;
pub use stats::SimStats;
pub use worker::{SimWorker, SimWorkerConfig, SimWorkerHandle, SimWorkerTask};

use crate::core::Core;
use crate::kinds::{KINDS, NAMESPACE};

/// Entry point: starts simulators.
#[derive(Debug)]
pub struct Sim;

/// A running simulator. Dropping it stops the server and the controllers.
#[derive(Debug)]
pub struct SimHandle {
    core: Arc<Core>,
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("address", &self.address.get())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Starts a simulator: binds 127.0.0.1:`cfg.port`, creates the namespaces and nodes, and
    /// runs the API server and the controllers on the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<SimHandle, SimError> {
        cfg.validate()?;
        let image_fail =
            match &cfg.image_pull_failure_pattern {
                Some(p) => Some(regex::Regex::new(p).map_err(|e| {
                    SimError::Config(format!("image_pull_failure_pattern {p:?}: {e}"))
                })?),
                None => None,
            };
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let store = store::Store::new(cfg.event_window, cfg.watch_buffer, ctl_tx);
        let core = Arc::new(Core {
            cfg,
            store,
            logs: logs::LogStore::default(),
            counters: stats::Counters::default(),
            image_fail,
            address: OnceLock::new(),
            shutdown: shutdown_rx,
            recorded_events: std::sync::Mutex::new(std::collections::VecDeque::new()),
        });
        let mut namespaces: Vec<String> =
            ["default", "kube-system", "kube-public", "kube-node-lease"]
                .into_iter()
                .map(str::to_owned)
                .collect();
        for ns in &core.cfg.namespaces {
            if !namespaces.contains(ns) {
                namespaces.push(ns.clone());
            }
        }
        for ns in namespaces {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            core.create(NAMESPACE, None, obj, false)
                .map_err(|e| SimError::Config(format!("namespace {ns:?}: {}", e.message)))?;
        }
        let addr_req = format!("127.0.0.1:{}", core.cfg.port);
        let listener = tokio::net::TcpListener::bind(&addr_req)
            .await
            .map_err(|source| SimError::Bind {
                addr: addr_req.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: addr_req,
            source,
        })?;
        let _ = core.address.set(addr.to_string());
        let ctl = controller::Ctl::new(core.clone());
        let ctl_task = tokio::spawn(ctl.run(ctl_rx));
        let router = api::router(core.clone());
        let mut rx = core.shutdown.clone();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = rx.wait_for(|v| *v).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "druid-k8s-sim server stopped");
            }
        });
        tracing::info!(url = %format!("http://{addr}"), "druid-k8s-sim started");
        Ok(SimHandle {
            core,
            addr,
            shutdown_tx,
            tasks: vec![server, ctl_task],
        })
    }
}

impl SimHandle {
    /// The API server's URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.core.cfg
    }

    /// A kubeconfig document (YAML) pointing at this simulator, namespace `default`.
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_yaml_for_namespace("default")
    }

    /// A kubeconfig document whose context uses `namespace`.
    pub fn kubeconfig_yaml_for_namespace(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: druid-k8s-sim\n  cluster:\n    server: {url}\ncontexts:\n- name: druid-k8s-sim\n  context:\n    cluster: druid-k8s-sim\n    user: druid-k8s-sim\n    namespace: {namespace}\ncurrent-context: druid-k8s-sim\nusers:\n- name: druid-k8s-sim\n  user: {{}}\npreferences: {{}}\n",
            url = self.url()
        )
    }

    /// Writes [`SimHandle::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), SimError> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| SimError::Kubeconfig {
            path: path.to_owned(),
            source,
        })
    }

    /// A snapshot of the counters (requests by verb and resource, watches, injected faults).
    pub fn stats(&self) -> SimStats {
        let mut s = self.core.counters.snapshot();
        s.resource_version = self.core.store.current_rv();
        for (i, n) in self.core.store.counts().into_iter().enumerate() {
            s.objects.insert(KINDS[i].group_resource(), n as u64);
        }
        s
    }

    /// Stops the server (open watches end) and the controllers, and waits for them (at most
    /// two seconds: a connection whose client stopped reading cannot finish gracefully).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        for mut t in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut t)
                .await
                .is_err()
            {
                t.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
