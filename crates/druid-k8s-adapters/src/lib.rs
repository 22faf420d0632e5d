//! WIP
#![allow(missing_docs)]
mod error;
pub mod java;
pub mod naming;
pub mod payload;
pub mod sidecars;
pub mod sizing;
pub mod template;
pub use error::AdapterError;
pub use naming::{generic_label, job_name, task_id_label};
pub use template::{parse_pod_template, InMemoryTemplateSource, TemplateSource, validate_all};
