//! The druid-k8s server library: a Druid-compatible overlord HTTP API over the Kubernetes task
//! runner, with its metadata store, authentication and the embedded demo.
pub mod error;
pub mod store;
pub mod auth;
pub mod settings;
