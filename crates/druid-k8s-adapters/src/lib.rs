//! Pure rendering of Apache Druid tasks into Kubernetes Jobs, compatible with Druid's
//! Kubernetes task runner (`druid-kubernetes-overlord-extensions`).
//!
//! Nothing here does I/O: [`render`] takes a validated [`RunnerConfig`], a [`Task`] and (per
//! adapter) the overlord's [`Pod`] or a [`TemplateSource`], and returns a
//! [`k8s_openapi::api::batch::v1::Job`] value plus where the task payload goes. The runner
//! sends it. Names, labels, annotations, env vars, the payload encoding and the memory formula
//! match Druid's, so Jobs created by Druid's Java runner and by druid-k8s are interchangeable
//! (a restarted overlord of either kind restores the other's Jobs, see [`task_from_job`]).
//!
//! The three adapters (`druid.indexer.runner.k8s.adapter.type`):
//! * `overlordSingleContainer` (default): the overlord pod's spec, main container only;
//! * `overlordMultiContainer`: the same, sidecars kept and stopped with kubexit, or as native
//!   sidecars with `druid.indexer.runner.k8s.sidecarMode=native`;
//! * `customTemplateAdapter`: a `PodTemplate` per key, chosen by `druid-k8s-select`.
//!
//! ```
//! use druid_k8s_adapters::{render, InMemoryTemplateSource, PayloadPlacement, RenderRequest};
//! use druid_k8s_model::config::{RawConfig, RunnerConfig};
//! use druid_k8s_model::Task;
//!
//! let raw = RawConfig::from_properties(
//!     "druid.indexer.runner.type=k8s\n\
//!      druid.indexer.runner.namespace=druid\n\
//!      druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
//!      druid.indexer.runner.k8s.podTemplate.base=/etc/druid/base.yaml\n",
//! )?;
//! let config = RunnerConfig::from_raw(&raw).expect("valid configuration");
//! let mut templates = InMemoryTemplateSource::new();
//! templates.insert_yaml(
//!     "base",
//!     "template:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n",
//! )?;
//! let task = Task::from_json(r#"{"type":"noop","id":"id","dataSource":"wiki"}"#)?;
//!
//! let rendered = render(&RenderRequest::new(&config, &task).with_templates(&templates))?;
//! assert_eq!(rendered.job.metadata.name.as_deref(), Some("id-3e70afe5cd823dfc7dd308eea616426b"));
//! assert!(matches!(rendered.payload, PayloadPlacement::Inline { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod common;
mod custom;
mod error;
pub mod java;
pub mod naming;
mod overlord;
pub mod payload;
mod restore;
pub mod sidecars;
pub mod sizing;
pub mod template;

pub use common::{
    ANNOTATION_JOB_TEMPLATE, ANNOTATION_TASK, ANNOTATION_TASK_DATASOURCE, ANNOTATION_TASK_GROUP_ID,
    ANNOTATION_TASK_ID, ANNOTATION_TASK_TYPE, ANNOTATION_TLS_ENABLED, ENV_TASK_JSON,
    LABEL_OVERLORD_NAMESPACE, LABEL_PEON, LABEL_TASK_DATASOURCE, LABEL_TASK_GROUP_ID,
    LABEL_TASK_ID, LABEL_TASK_TYPE, MAIN_CONTAINER, PEON_PORT, PEON_TLS_PORT,
};
pub use custom::template_labels;
pub use error::AdapterError;
pub use naming::{generic_label, job_name, task_id_label};
pub use overlord::{java_opts, move_primary_first, overlord_labels, peon_command};
pub use restore::{JobPayload, task_from_job, task_id_from_job};
pub use template::{InMemoryTemplateSource, TemplateSource, parse_pod_template, validate_all};

use druid_k8s_model::config::{AdapterType, RunnerConfig};
use druid_k8s_model::{PodTemplateSelectStrategy, Task};
use druid_k8s_select::Selection;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

/// Everything [`render`] needs for one task.
#[derive(Clone, Copy)]
pub struct RenderRequest<'a> {
    /// The validated runner configuration (adapter type, labels, durations, …).
    pub config: &'a RunnerConfig,
    /// The task to run.
    pub task: &'a Task,
    /// The overlord's own pod (`overlordSingleContainer` / `overlordMultiContainer`).
    pub overlord_pod: Option<&'a Pod>,
    /// The pod templates (`customTemplateAdapter`); loaded for every task.
    pub templates: Option<&'a dyn TemplateSource>,
    /// The effective selection strategy (from the dynamic config); `None` means the default
    /// task-type strategy.
    pub strategy: Option<&'a PodTemplateSelectStrategy>,
}

impl<'a> RenderRequest<'a> {
    /// A request with only the config and the task.
    pub fn new(config: &'a RunnerConfig, task: &'a Task) -> Self {
        Self {
            config,
            task,
            overlord_pod: None,
            templates: None,
            strategy: None,
        }
    }

    /// Sets the overlord's pod.
    pub fn with_overlord_pod(mut self, pod: &'a Pod) -> Self {
        self.overlord_pod = Some(pod);
        self
    }

    /// Sets the template source.
    pub fn with_templates(mut self, templates: &'a dyn TemplateSource) -> Self {
        self.templates = Some(templates);
        self
    }

    /// Sets the effective selection strategy.
    pub fn with_strategy(mut self, strategy: &'a PodTemplateSelectStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }
}

/// Where the task payload travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadPlacement {
    /// In the Job: env `TASK_JSON` (overlord adapters) or pod annotation `task` (template
    /// adapter).
    Inline {
        /// Length of the gzip+base64 payload in characters (≤ 130048).
        encoded_chars: usize,
    },
    /// Too large for the Job: the caller must upload `task_json` as the task's `task.json` to
    /// task-log storage **before** creating the Job (the peon downloads it).
    Storage {
        /// The task JSON (uncompressed), as the peon expects it.
        task_json: String,
        /// Length the encoded payload would have had.
        encoded_chars: usize,
    },
}

/// A rendered Job and how it was chosen.
#[derive(Debug, Clone)]
pub struct RenderedJob {
    /// The Job to create (no namespace set: the caller decides).
    pub job: Job,
    /// The adapter that built it.
    pub adapter: AdapterType,
    /// The template selection (`customTemplateAdapter` only), with the reason.
    pub selection: Option<Selection>,
    /// Where the payload goes.
    pub payload: PayloadPlacement,
}

/// Renders the Job for a task with the configured adapter.
///
/// The payload is encoded once; the same encoded string ends up in the Job when it fits
/// ([`payload::MAX_INLINE_PAYLOAD_CHARS`]), otherwise [`PayloadPlacement::Storage`] is returned.
pub fn render(request: &RenderRequest<'_>) -> Result<RenderedJob, AdapterError> {
    let config = request.config;
    let task = request.task;
    let task_json = task.to_json_string();
    let encoded = payload::encode(task_json.as_bytes());
    let inline = payload::fits_inline(encoded.len());
    let adapter = config.adapter_type;

    let (job, selection) = match adapter {
        AdapterType::OverlordSingleContainer | AdapterType::OverlordMultiContainer => {
            let pod = request
                .overlord_pod
                .ok_or(AdapterError::MissingOverlordPod {
                    adapter: adapter.as_str(),
                })?;
            let multi = adapter == AdapterType::OverlordMultiContainer;
            let job = overlord::overlord_job(config, task, pod, multi, &encoded, inline)?;
            (job, None)
        }
        AdapterType::CustomTemplate => {
            let templates = request
                .templates
                .ok_or(AdapterError::MissingTemplateSource)?;
            let default_strategy = PodTemplateSelectStrategy::Default;
            let strategy = request.strategy.unwrap_or(&default_strategy);
            let selection = druid_k8s_select::select(
                task,
                strategy,
                &|key: &str| templates.contains(key),
                config.allow_task_pod_template_selection,
            )?;
            let template = templates.load(&selection.key)?;
            let origin = templates.location(&selection.key);
            let job = custom::template_job(
                config,
                task,
                template,
                &selection.key,
                &origin,
                &encoded,
                inline,
            )?;
            (job, Some(selection))
        }
    };
    let encoded_chars = encoded.len();
    let payload = if inline {
        PayloadPlacement::Inline { encoded_chars }
    } else {
        PayloadPlacement::Storage {
            task_json,
            encoded_chars,
        }
    };
    Ok(RenderedJob {
        job,
        adapter,
        selection,
        payload,
    })
}
