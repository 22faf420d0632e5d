//! `druid-k8s validate --config FILE`: reads a `runtime.properties` file and the process's
//! `druid_*` environment variables (Druid's image convention; the environment wins), validates
//! them, and prints the effective configuration as sorted `key=value` lines with secrets masked
//! (defaults included) — or every problem found, one per line, naming the key, with exit code 1.
//! Warnings (settings that are ignored or risky) go to stderr and do not fail the check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use druid_k8s_model::dynamic::DYNAMIC_CONFIG_KEY;
use druid_k8s_model::{
    DynamicConfig, ModelError, PodTemplateSelectStrategy, RawConfig, RunnerConfig,
};

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
}

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

/// Checks a properties text, an environment and an optional dynamic config text.
pub fn check<I, K, V>(
    properties: &str,
    env: I,
    dynamic_config: Option<&str>,
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
    if let Some(config) = &config {
        report
            .stderr
            .extend(config.warnings.iter().map(|w| format!("warning: {w}")));
        if let Some(PodTemplateSelectStrategy::SelectorBased { selectors }) = dynamic
            .as_ref()
            .and_then(|d| d.pod_template_select_strategy.as_ref())
        {
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
    let report = check(&text, env, dynamic.as_deref())
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
        let r = check(&props, NO_ENV, Some(r#"{"capacity":-1}"#)).unwrap();
        assert!(!r.ok);
        assert!(
            r.stderr[0].starts_with("error: k8s.taskrunner.config: `capacity`"),
            "{r:?}"
        );
    }
}
