//! `cargo xtask package`: prove that every library crate can be published.
//!
//! Checks the metadata crates.io needs (description, license, repository, readme, keywords)
//! and then runs `cargo package` for all library crates at once, so that crates depending on
//! other unpublished workspace crates are packaged against each other.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The crates we publish.
pub(crate) const LIBRARY_CRATES: &[&str] = &[
    "druid-k8s-model",
    "druid-k8s-select",
    "druid-k8s-adapters",
    "druid-k8s-sim",
    "druid-k8s-runner",
];

/// Metadata problems of the library crates, one message each.
pub(crate) fn metadata_problems(metadata: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let packages = metadata["packages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for name in LIBRARY_CRATES {
        let Some(package) = packages.iter().find(|p| p["name"] == *name) else {
            problems.push(format!("{name}: not in the workspace"));
            continue;
        };
        for field in ["description", "license", "repository", "readme"] {
            if package[field].as_str().is_none_or(|v| v.trim().is_empty()) {
                problems.push(format!("{name}: `{field}` is missing from Cargo.toml"));
            }
        }
        if package["keywords"].as_array().is_none_or(|k| k.is_empty()) {
            problems.push(format!("{name}: `keywords` is missing from Cargo.toml"));
        }
        if package["publish"].as_array().is_some_and(Vec::is_empty) {
            problems.push(format!(
                "{name}: `publish = false` but it is a library crate"
            ));
        }
    }
    problems
}

/// Checks metadata, then runs `cargo package` for every library crate.
pub(crate) fn run(root: &Path, extra: &[String]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    let metadata: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let problems = metadata_problems(&metadata);
    if !problems.is_empty() {
        bail!("not publishable:\n{}", problems.join("\n"));
    }
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root).args(["package", "--locked"]);
    for name in LIBRARY_CRATES {
        cmd.args(["-p", name]);
    }
    cmd.args(extra);
    let status = cmd.status().context("running cargo package")?;
    if !status.success() {
        bail!("cargo package failed ({status})");
    }
    println!("packaged: {}", LIBRARY_CRATES.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_crates_have_publishing_metadata() {
        let root = crate::tidy::workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .current_dir(&root)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .output()
            .unwrap();
        let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
        let problems = metadata_problems(&metadata);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn missing_metadata_is_reported() {
        let metadata = serde_json::json!({"packages": [
            {"name": "druid-k8s-model", "description": "d", "license": "Apache-2.0",
             "repository": "r", "readme": "README.md", "keywords": ["k"], "publish": []},
        ]});
        let problems = metadata_problems(&metadata);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("druid-k8s-model: `publish = false`"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p == "druid-k8s-runner: not in the workspace")
        );
    }
}
