//! `druid-k8s validate --config FILE`: reads a `runtime.properties` file and the process's
//! `druid_*` environment variables (Druid's image convention; the environment wins), validates
//! them, and prints the effective configuration as sorted `key=value` lines with secrets masked
//! (defaults included) — or every problem found, one per line, naming the key, with exit code 1.
//! Warnings (settings that are ignored or risky) go to stderr and do not fail the check.
//! With `--check-templates`, the pod template files of the `customTemplateAdapter` are read and
//! parsed too, as Druid does at overlord startup. The server's own settings (port, metadata
//! store, `druid.k8s.server.*`) are checked as well.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use druid_k8s_model::config::POD_TEMPLATE_PREFIX;
use druid_k8s_model::dynamic::DYNAMIC_CONFIG_KEY;
use druid_k8s_model::{
    AdapterType, DynamicConfig, ModelError, PodTemplateSelectStrategy, RawConfig, RunnerConfig,
};
use druid_k8s_server::error::ServerError;
use druid_k8s_server::settings::ServerSettings;

/// Arguments of `druid-k8s validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The overlord's runtime.properties file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Ignore `druid_*` environment variables (check the file alone).
    #[arg(long)]
    pub ignore_env: bool,
    /// Also check a dynamic config JSON document (the `k8s.taskrunner.config` body).
    #[arg(long, value_name = "FILE")]
    pub dynamic_config: Option<PathBuf>,
    /// Also read and parse every pod template file (customTemplateAdapter), as Druid does at
    /// startup. Relative paths are relative to the current directory.
    #[arg(long)]
    pub check_templates: bool,
}

/// Reads a template file (the file system in the binary, a map in tests).
pub type ReadTemplate<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

/// What the check found: lines for stdout and stderr, and whether it passed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `key=value` lines (empty when there are errors).
    pub stdout: Vec<String>,
    /// `error: …` and `warning: …` lines.
    pub stderr: Vec<String>,
    /// False when any error was found.
    pub ok: bool,
}

/// Checks a properties text, an environment and an optional dynamic config text; with
/// `read_template`, also loads and parses every pod template of the customTemplateAdapter.
pub fn check<I, K, V>(
    properties: &str,
    env: I,
    dynamic_config: Option<&str>,
    read_template: Option<ReadTemplate<'_>>,
) -> Result<Report, ModelError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let raw = RawConfig::load(properties, env)?;
    let mut report = Report {
        ok: true,
        ..Report::default()
    };
    let config = match RunnerConfig::from_raw(&raw) {
        Ok(config) => Some(config),
        Err(errors) => {
            report.ok = false;
            report
                .stderr
                .extend(errors.errors().iter().map(|e| format!("error: {e}")));
            None
        }
    };
    // The server's own settings come from the same file (first problem only).
    match ServerSettings::from_raw(&raw, None) {
        Ok(_) => {}
        Err(ServerError::Invalid { key, message }) => {
            report.ok = false;
            report.stderr.push(format!("error: {key}: {message}"));
        }
        Err(e) => {
            report.ok = false;
            report.stderr.push(format!("error: {e}"));
        }
    }
    let dynamic = match dynamic_config.map(DynamicConfig::from_json) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(ModelError::DynamicConfig(errors))) => {
            report.ok = false;
            report.stderr.extend(
                errors
                    .iter()
                    .map(|e| format!("error: {DYNAMIC_CONFIG_KEY}: {e}")),
            );
            None
        }
        Some(Err(e)) => {
            report.ok = false;
            report
                .stderr
                .push(format!("error: {DYNAMIC_CONFIG_KEY}: {e}"));
            None
        }
    };
    if let (Some(config), Some(read)) = (&config, read_template) {
        let problems = template_problems(config, read);
        report.ok &= problems.is_empty();
        report.stderr.extend(problems);
    }
    if let Some(config) = &config {
        report
            .stderr
            .extend(config.warnings.iter().map(|w| format!("warning: {w}")));
        let strategy = dynamic
            .as_ref()
            .and_then(|d| d.pod_template_select_strategy.as_ref());
        if strategy.is_some() && config.adapter_type != AdapterType::CustomTemplate {
            report.stderr.push(format!(
                "warning: {DYNAMIC_CONFIG_KEY}: `podTemplateSelectStrategy` is only used by the customTemplateAdapter; ignored with `{}`",
                config.adapter_type
            ));
        } else if let Some(PodTemplateSelectStrategy::SelectorBased { selectors }) = strategy {
            for (i, s) in selectors.iter().enumerate() {
                if !config.pod_templates.contains_key(&s.selection_key) {
                    report.stderr.push(format!(
                        "warning: {DYNAMIC_CONFIG_KEY}: `podTemplateSelectStrategy.selectors[{i}].selectionKey`: no template `{}` is configured (druid.indexer.runner.k8s.podTemplate.{}); matching tasks fall back to base",
                        s.selection_key, s.selection_key
                    ));
                }
            }
        }
    }
    if report.ok
        && let Some(config) = config
    {
        report.stdout = config
            .effective_properties()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(d) = dynamic {
            report
                .stdout
                .push(format!("{DYNAMIC_CONFIG_KEY}={}", d.to_json_string()));
        }
    }
    Ok(report)
}

/// Loads every pod template the customTemplateAdapter would load; one `error:` line per
/// unreadable or unparsable file, in Druid's words.
fn template_problems(config: &RunnerConfig, read: ReadTemplate<'_>) -> Vec<String> {
    if config.adapter_type != AdapterType::CustomTemplate {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for (prop, path) in config.properties.iter() {
        if !prop.starts_with(POD_TEMPLATE_PREFIX) || path.is_empty() {
            continue;
        }
        let result = read(Path::new(path))
            .map_err(|e| e.to_string())
            .and_then(|yaml| {
                druid_k8s_adapters::parse_pod_template(&yaml, path)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        if let Err(cause) = result {
            problems.push(format!(
                "error: {prop}: Failed to load pod template file for [{prop}] at [{path}]: {cause}"
            ));
        }
    }
    problems
}

/// Runs the subcommand against the real file system and process environment.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("cannot read {}", args.config.display()))?;
    let dynamic = args
        .dynamic_config
        .as_ref()
        .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    let env: Vec<(String, String)> = if args.ignore_env {
        Vec::new()
    } else {
        std::env::vars_os()
            .filter_map(|(k, v)| {
                let k = k.into_string().ok()?;
                match v.into_string() {
                    Ok(v) => Some((k, v)),
                    Err(_) => {
                        tracing::warn!(variable = %k, "ignoring an environment variable whose value is not UTF-8");
                        None
                    }
                }
            })
            .collect()
    };
    let read: ReadTemplate<'_> = &|p: &Path| std::fs::read_to_string(p);
    let report = check(
        &text,
        env,
        dynamic.as_deref(),
        args.check_templates.then_some(read),
    )
    .with_context(|| format!("cannot read {}", args.config.display()))?;
    for line in &report.stdout {
        println!("{line}");
    }
    for line in &report.stderr {
        eprintln!("{line}");
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "druid.indexer.runner.type=k8s\ndruid.indexer.runner.namespace=druid\ndruid.indexer.task.encapsulatedTask=true\n";
    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn valid_config_prints_sorted_masked_lines() {
        let r = check(
            &format!("{BASE}druid.s3.secretKey=abc\n"),
            [("druid_indexer_runner_capacity", "3"), ("OTHER", "x")],
            None,
            None,
        )
        .unwrap();
        assert!(r.ok, "{r:?}");
        assert!(r.stderr.is_empty(), "{r:?}");
        let mut sorted = r.stdout.clone();
        sorted.sort();
        assert_eq!(r.stdout, sorted);
        assert!(
            r.stdout
                .contains(&"druid.indexer.runner.capacity=3".to_owned())
        );
        assert!(r.stdout.contains(&"druid.s3.secretKey=<masked>".to_owned()));
        assert!(
            r.stdout
                .contains(&"druid.indexer.runner.maxTaskDuration=PT4H".to_owned())
        );
    }

    #[test]
    fn errors_are_one_per_line() {
        let r = check(
            &format!(
                "{BASE}druid.indexer.runner.capacity=0\ndruid.indexer.runner.maxTaskDuration=P1M\n"
            ),
            NO_ENV,
            None,
            None,
        )
        .unwrap();
        assert!(!r.ok);
        assert!(r.stdout.is_empty());
        assert_eq!(r.stderr.len(), 2, "{r:?}");
        assert!(r.stderr[0].starts_with("error: druid.indexer.runner.capacity: "));
        assert!(r.stderr[1].starts_with("error: druid.indexer.runner.maxTaskDuration: "));
    }

    #[test]
    fn dynamic_config_is_checked_against_templates() {
        let props = format!(
            "{BASE}druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\ndruid.indexer.runner.k8s.podTemplate.base=/b.yaml\n"
        );
        let r = check(
            &props,
            NO_ENV,
            Some(r#"{"podTemplateSelectStrategy":{"type":"selectorBased","selectors":[{"selectionKey":"big"}]}}"#),
            None,
        )
        .unwrap();
        assert!(r.ok);
        assert!(r.stderr[0].contains("no template `big`"), "{r:?}");
        assert!(
            r.stdout
                .last()
                .unwrap()
                .starts_with("k8s.taskrunner.config={\"type\":\"default\"")
        );
        let r = check(&props, NO_ENV, Some(r#"{"capacity":-1}"#), None).unwrap();
        assert!(!r.ok);
        assert!(
            r.stderr[0].starts_with("error: k8s.taskrunner.config: `capacity`"),
            "{r:?}"
        );
    }

    #[test]
    fn templates_are_loaded_on_request() {
        let props = format!(
            "{BASE}druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
             druid.indexer.runner.k8s.podTemplate.base=/t/base.yaml\n\
             druid.indexer.runner.k8s.podTemplate.bad=/t/bad.yaml\n\
             druid.indexer.runner.k8s.podTemplate.gone=/t/gone.yaml\n"
        );
        let read: ReadTemplate<'_> = &|p: &Path| {
            match p.to_str() {
            Some("/t/base.yaml") => Ok("apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n".to_owned()),
            Some("/t/bad.yaml") => Ok("template: [unclosed".to_owned()),
            _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")),
        }
        };
        let r = check(&props, NO_ENV, None, Some(read)).unwrap();
        assert!(!r.ok);
        assert_eq!(r.stderr.len(), 2, "{r:?}");
        assert!(r.stderr[0].starts_with("error: druid.indexer.runner.k8s.podTemplate.bad: Failed to load pod template file for [druid.indexer.runner.k8s.podTemplate.bad] at [/t/bad.yaml]"), "{r:?}");
        assert!(
            r.stderr[1].contains("[/t/gone.yaml]: No such file"),
            "{r:?}"
        );
        // without the flag, files are not read
        assert!(check(&props, NO_ENV, None, None).unwrap().ok);
    }

    #[test]
    fn server_settings_are_checked_too() {
        let r = check(
            &format!("{BASE}druid.plaintextPort=http\n"),
            NO_ENV,
            None,
            None,
        )
        .unwrap();
        assert!(!r.ok);
        assert_eq!(r.stderr.len(), 1, "{r:?}");
        assert!(
            r.stderr[0].starts_with("error: druid.plaintextPort: "),
            "{r:?}"
        );
    }

    #[test]
    fn strategy_without_template_adapter_is_a_warning() {
        let r = check(
            BASE,
            NO_ENV,
            Some(r#"{"podTemplateSelectStrategy":{"type":"default"},"capacity":3}"#),
            None,
        )
        .unwrap();
        assert!(r.ok);
        assert_eq!(r.stderr.len(), 1, "{r:?}");
        assert!(
            r.stderr[0].contains("only used by the customTemplateAdapter"),
            "{r:?}"
        );
    }
}
