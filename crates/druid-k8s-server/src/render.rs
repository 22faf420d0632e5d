//! `druid-k8s render`: print the Job that a task would get, without a cluster.
//!
//! Reads `runtime.properties` (the same keys as the overlord, with `druid_*` environment
//! variables on top unless `--ignore-env`), the task JSON, and the overlord's
//! pod YAML (overlord adapters) or the configured pod-template files (custom template adapter),
//! and prints the Job as YAML or JSON. `--explain` adds which adapter, template and selector were
//! used. Bad input exits with status 1 and a message naming the file and field.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use druid_k8s_adapters::{PayloadPlacement, RenderRequest, RenderedJob, validate_all};
use druid_k8s_model::config::{AdapterType, RawConfig, RunnerConfig};
use druid_k8s_model::{DynamicConfig, Task};
use druid_k8s_runner::templates::FileTemplateSource;
use k8s_openapi::api::core::v1::Pod;

/// Output format of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// YAML (the default; `--explain` lines become `#` comments).
    Yaml,
    /// JSON (`--explain` lines go to stderr).
    Json,
}

/// Arguments of `druid-k8s render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The overlord's runtime.properties (`druid.indexer.runner.*`, `druid.indexer.task.*`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Ignore `druid_*` environment variables (by default they override the file, as in Druid's
    /// image).
    #[arg(long)]
    pub ignore_env: bool,
    /// The task JSON (as submitted to Druid).
    #[arg(long, value_name = "FILE")]
    pub task: PathBuf,
    /// The overlord's pod as YAML (`kubectl get pod <overlord> -o yaml`); needed by the
    /// overlordSingleContainer and overlordMultiContainer adapters.
    #[arg(long, value_name = "FILE")]
    pub overlord_pod: Option<PathBuf>,
    /// The dynamic execution config JSON (as in POST /druid/indexer/v1/k8s/taskrunner/executionconfig).
    #[arg(long, value_name = "FILE")]
    pub execution_config: Option<PathBuf>,
    /// Also tell which adapter, template and selector were used, and where the payload goes.
    #[arg(long)]
    pub explain: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: Format,
}

fn read(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// Runs `druid-k8s render`, writing the Job to stdout.
pub fn run(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let properties = read(&args.config, "--config")?;
    let env: Vec<(String, String)> = if args.ignore_env {
        Vec::new()
    } else {
        // Non-UTF-8 variables cannot be Druid properties; skip them.
        std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect()
    };
    // Model and adapter errors already carry their detail in the message; they are turned into
    // plain messages so `{:#}` does not print the detail again as the source chain.
    let raw = RawConfig::load(&properties, env)
        .map_err(|e| anyhow::anyhow!("--config {}: {e}", args.config.display()))?;
    let config = RunnerConfig::from_raw(&raw).map_err(|e| {
        anyhow::anyhow!(
            "invalid configuration in --config {}: {e}",
            args.config.display()
        )
    })?;

    let task_text = read(&args.task, "--task")?;
    let task = Task::from_json(&task_text)
        .map_err(|e| anyhow::anyhow!("invalid task in --task {}: {e}", args.task.display()))?;

    let pod: Option<Pod> = match &args.overlord_pod {
        None => None,
        Some(path) => {
            let yaml = read(path, "--overlord-pod")?;
            let pod = serde_saphyr::from_str::<Pod>(&yaml).map_err(|e| {
                anyhow::anyhow!("invalid --overlord-pod {}: not a Pod: {e}", path.display())
            })?;
            Some(pod)
        }
    };

    let dynamic = match &args.execution_config {
        None => None,
        Some(path) => {
            let text = read(path, "--execution-config")?;
            Some(DynamicConfig::from_json(&text).map_err(|e| {
                anyhow::anyhow!("invalid --execution-config {}: {e}", path.display())
            })?)
        }
    };
    let strategy = DynamicConfig::effective_strategy(dynamic.as_ref());

    // Files are read when a template is loaded (every key once by validate_all, then the
    // selected one), as the overlord does.
    let templates = FileTemplateSource::new(config.pod_templates.clone());
    let mut request = RenderRequest::new(&config, &task).with_strategy(&strategy);
    match config.adapter_type {
        AdapterType::CustomTemplate => {
            validate_all(&templates).map_err(|e| anyhow::anyhow!("{e}"))?;
            request = request.with_templates(&templates);
        }
        AdapterType::OverlordSingleContainer | AdapterType::OverlordMultiContainer => {
            let Some(pod) = pod.as_ref() else {
                bail!(
                    "the {} adapter builds Jobs from the overlord's pod: pass it with --overlord-pod (kubectl get pod <overlord> -o yaml)",
                    config.adapter_type
                );
            };
            request = request.with_overlord_pod(pod);
        }
    }
    let rendered = druid_k8s_adapters::render(&request).map_err(|e| anyhow::anyhow!("{e}"))?;

    let body = match args.output {
        Format::Yaml => {
            serde_saphyr::to_string(&rendered.job).context("cannot print the Job as YAML")?
        }
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&rendered.job)?;
            s.push('\n');
            s
        }
    };
    let notes = if args.explain {
        explanation(&rendered, &config, &task)?
    } else {
        Vec::new()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.output {
        Format::Yaml => {
            for line in &notes {
                writeln!(out, "# {line}")?;
            }
        }
        Format::Json => {
            for line in &notes {
                eprintln!("{line}");
            }
        }
    }
    out.write_all(body.as_bytes())?;
    if !args.explain
        && let PayloadPlacement::Storage { .. } = rendered.payload
    {
        eprintln!("{}", storage_note(&rendered));
    }
    Ok(ExitCode::SUCCESS)
}

fn storage_note(rendered: &RenderedJob) -> String {
    match &rendered.payload {
        PayloadPlacement::Storage {
            task_json,
            encoded_chars,
        } => format!(
            "payload: task-log storage: the encoded task is {encoded_chars} characters (> {}), so the Job carries no payload; the runner uploads task.json ({} bytes) before creating the Job",
            druid_k8s_adapters::payload::MAX_INLINE_PAYLOAD_CHARS,
            task_json.len()
        ),
        PayloadPlacement::Inline { encoded_chars } => format!(
            "payload: inline ({encoded_chars} encoded characters, limit {})",
            druid_k8s_adapters::payload::MAX_INLINE_PAYLOAD_CHARS
        ),
    }
}

/// The `--explain` lines.
fn explanation(
    rendered: &RenderedJob,
    config: &RunnerConfig,
    task: &Task,
) -> anyhow::Result<Vec<String>> {
    let mut lines = vec![format!("adapter: {}", rendered.adapter)];
    if let Some(selection) = &rendered.selection {
        lines.push(format!("template: {}", selection.key));
        lines.push(format!("selection: {selection}"));
    }
    if rendered.adapter != AdapterType::CustomTemplate {
        let opts =
            druid_k8s_adapters::java_opts(config, task).map_err(|e| anyhow::anyhow!("{e}"))?;
        let sizing =
            druid_k8s_adapters::sizing::memory_sizing(&opts).map_err(|e| anyhow::anyhow!("{e}"))?;
        lines.push(format!("memory: {sizing}"));
        lines.push(format!(
            "cpu: {} (druid.indexer.runner.cpuCoreInMicro = {})",
            druid_k8s_adapters::sizing::cpu_quantity(config.cpu_core_in_micro).0,
            config.cpu_core_in_micro
        ));
        if rendered.adapter == AdapterType::OverlordMultiContainer {
            lines.push(format!("sidecars: {}", config.sidecar_mode));
        }
    }
    lines.push(storage_note(rendered));
    Ok(lines)
}
