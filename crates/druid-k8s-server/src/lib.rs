//! The druid-k8s server library: a Druid-compatible overlord HTTP API over the Kubernetes task
//! runner, with its metadata store, authentication and the embedded demo.
//!
//! The binary's `main` only parses arguments; everything else lives here so that it can be
//! tested in-process (`tower::ServiceExt::oneshot` on [`App::router`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use druid_k8s_server::{App, AppParts, RunnerFacts, store::Store};
//! let store = Store::connect("sqlite::memory:", "druid_k8s").await?;
//! let app = App::new(AppParts {
//!     store,
//!     auth: None,
//!     backend: None,
//!     runner: RunnerFacts {
//!         adapter: druid_k8s_model::AdapterType::CustomTemplate,
//!         pod_templates: Default::default(),
//!         static_capacity: 2,
//!     },
//!     audit_history_millis: 7 * 24 * 3600 * 1000,
//!     max_request_bytes: 1 << 20,
//!     advertised_url: "http://localhost:8090".into(),
//!     metrics: None,
//! })
//! .await?;
//! let router: axum::Router = app.router();
//! # let _ = router; Ok(()) }
//! ```

pub mod app;
pub mod auth;
pub mod backend;
pub mod config_api;
pub mod demo;
pub mod error;
pub mod interval;
pub mod metrics;
pub mod openapi;
pub mod runner_backend;
pub mod serve;
pub mod settings;
pub mod store;
pub mod tasks_api;
pub mod tls;

pub use app::{App, AppParts, RunnerFacts};
pub use error::{ApiError, ServerError};
