//! The crate's error type.

/// Everything that can go wrong while rendering a Job or reading a task back from one.
///
/// Every variant names the input at fault (the option, container, template key or path, or Job).
/// The `Display` text is complete on its own (it includes the underlying parser or I/O error),
/// so wrapped errors are not repeated as `source()`: printing the chain (`{:#}` in anyhow)
/// shows each detail once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// A task payload could not be decoded (bad base64, gzip or UTF-8).
    #[error("invalid task payload: {0}")]
    Payload(String),

    /// The task JSON inside a Job (or given to render) is not a valid task.
    #[error("invalid task JSON: {0}")]
    Task(druid_k8s_model::ModelError),

    /// A Java option used for sizing has a value Druid cannot parse.
    #[error("invalid Java option `{option}`: {reason}")]
    InvalidJavaOption {
        /// The whole option token, e.g. `-Xmx1.5g`.
        option: String,
        /// What is wrong with its value.
        reason: String,
    },

    /// The task context key `druid.indexer.runner.javaOpts` is not a string.
    #[error(
        "task context `druid.indexer.runner.javaOpts` must be a string of Java options, got {0}"
    )]
    ContextJavaOptsNotString(String),

    /// The pod spec has no container at all.
    #[error("the pod spec must have at least one container")]
    NoContainers,

    /// `primaryContainerName` names a container the overlord pod does not have.
    #[error(
        "druid.indexer.runner.primaryContainerName: no container named `{name}` in the overlord pod (containers: {available})"
    )]
    PrimaryContainerNotFound {
        /// The configured name.
        name: String,
        /// The containers the pod has, comma-separated.
        available: String,
    },

    /// The overlord adapters need the overlord's own pod.
    #[error("adapter `{adapter}` needs the overlord's pod (its spec is the base of every Job)")]
    MissingOverlordPod {
        /// The adapter's property value.
        adapter: &'static str,
    },

    /// The overlord pod has no `spec`.
    #[error("the overlord pod `{0}` has no spec")]
    OverlordPodWithoutSpec(String),

    /// The kubexit rewrite cannot wrap a sidecar that relies on its image entrypoint.
    #[error(
        "sidecar container `{container}` has no explicit `command`: overlordMultiContainer (kubexit) must wrap the command, so set it in the overlord pod spec, or use druid.indexer.runner.k8s.sidecarMode=native"
    )]
    SidecarWithoutCommand {
        /// The container's name.
        container: String,
    },

    /// A pod template is not a valid `PodTemplate` document.
    #[error("pod template {origin} is not a valid PodTemplate: {error}")]
    TemplateParse {
        /// Where the YAML came from (path or description).
        origin: String,
        /// The parser's error, with line and snippet.
        error: Box<serde_saphyr::Error>,
    },

    /// A pod template parsed but cannot be used.
    #[error("pod template {origin} is unusable: {reason}")]
    TemplateInvalid {
        /// Where the template came from.
        origin: String,
        /// What is missing.
        reason: String,
    },

    /// A pod template file could not be read (built by file-backed sources). Unlike the other
    /// variants the I/O error is also the `source()`.
    #[error("cannot read pod template {origin}: {source}")]
    TemplateIo {
        /// Where the template should be.
        origin: String,
        /// The I/O error.
        source: std::io::Error,
    },

    /// No template is configured under a key.
    #[error("no pod template is configured under druid.indexer.runner.k8s.podTemplate.{key}")]
    TemplateNotFound {
        /// The key.
        key: String,
    },

    /// A configured template failed to load during validation (the overlord would not start).
    #[error(
        "failed to load pod template file for [druid.indexer.runner.k8s.podTemplate.{key}] at [{location}]: {error}"
    )]
    TemplateLoad {
        /// The template key.
        key: String,
        /// Its path or description.
        location: String,
        /// The underlying error.
        error: Box<AdapterError>,
    },

    /// `customTemplateAdapter` was chosen but no template source was given.
    #[error(
        "customTemplateAdapter needs pod templates (druid.indexer.runner.k8s.podTemplate.<key>), but none were provided"
    )]
    MissingTemplateSource,

    /// Template selection failed.
    #[error("pod template selection failed: {0}")]
    Select(#[from] druid_k8s_select::SelectError),

    /// A duration does not fit the Job field it is written to.
    #[error("{property}: {seconds} seconds does not fit the Job field `{field}`")]
    DurationOutOfRange {
        /// The runtime property.
        property: &'static str,
        /// The value in seconds.
        seconds: u64,
        /// The Job field.
        field: &'static str,
    },

    /// A Job does not carry what is needed to read its task back.
    #[error("job `{job}`: {reason}")]
    NotAPeonJob {
        /// The Job's name.
        job: String,
        /// What is missing.
        reason: String,
    },
}
