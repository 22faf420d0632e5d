//! Repository rules checked as ordinary tests (rust-analyzer's "tidy" pattern).
//!
//! * The pure crates (model, select, adapters) must not depend, directly or transitively, on
//!   crates that do I/O: an async runtime, an HTTP client or server, kube's client, a database
//!   driver or an object store. Their dependency closure is computed from `cargo metadata`.
//! * Every crate has a README.md and its root source file starts with a `//!` crate doc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The crates that must stay free of I/O.
pub(crate) const PURE_CRATES: &[&str] =
    &["druid-k8s-model", "druid-k8s-select", "druid-k8s-adapters"];

/// Crates whose presence in a pure crate's dependency closure means it can do I/O.
pub(crate) const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    "hyper",
    "hyper-util",
    "h2",
    "reqwest",
    "ureq",
    "isahc",
    "curl",
    "axum",
    "tower",
    "kube",
    "kube-client",
    "kube-runtime",
    "sqlx",
    "object_store",
    "wiremock",
];

/// The workspace root (the parent of the xtask directory).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Runs every check and returns the problems found, one message each.
pub(crate) fn check_all(root: &Path) -> Result<Vec<String>> {
    let metadata = cargo_metadata(root)?;
    let mut problems = io_dependency_problems(&metadata)?;
    problems.extend(crate_doc_problems(&metadata)?);
    Ok(problems)
}

fn cargo_metadata(root: &Path) -> Result<Value> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing cargo metadata")
}

/// Package id → (name, ids of its normal and build dependencies).
fn dependency_graph(metadata: &Value) -> Result<BTreeMap<String, (String, Vec<String>)>> {
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .context("metadata.packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut graph = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .context("metadata.resolve.nodes")?
    {
        let id = node["id"].as_str().context("node id")?;
        let deps = node["deps"]
            .as_array()
            .context("node deps")?
            .iter()
            .filter(|dep| {
                dep["dep_kinds"].as_array().is_some_and(|kinds| {
                    kinds
                        .iter()
                        .any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
            })
            .filter_map(|dep| dep["pkg"].as_str().map(str::to_owned))
            .collect();
        let name = names.get(id).copied().unwrap_or(id).to_owned();
        graph.insert(id.to_owned(), (name, deps));
    }
    Ok(graph)
}

/// For each pure crate, the I/O crates in its closure, with the path that pulls each one in.
pub(crate) fn io_dependency_problems(metadata: &Value) -> Result<Vec<String>> {
    let graph = dependency_graph(metadata)?;
    let mut problems = Vec::new();
    for pure in PURE_CRATES {
        let Some(start) = graph
            .iter()
            .find(|(_, (name, _))| name == pure)
            .map(|(id, _)| id)
        else {
            problems.push(format!("pure crate {pure} is not in the workspace"));
            continue;
        };
        // Breadth-first search that remembers how each package was reached.
        let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
        let mut seen: BTreeSet<&str> = BTreeSet::from([start.as_str()]);
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        while let Some(id) = queue.pop_front() {
            for dep in &graph[id].1 {
                if seen.insert(dep.as_str()) {
                    parent.insert(dep.as_str(), id);
                    queue.push_back(dep.as_str());
                }
            }
        }
        for id in &seen {
            let name = &graph[*id].0;
            if IO_CRATES.contains(&name.as_str()) {
                let mut path = vec![name.clone()];
                let mut cur = *id;
                while let Some(p) = parent.get(cur) {
                    path.push(graph[*p].0.clone());
                    cur = p;
                }
                path.reverse();
                problems.push(format!(
                    "pure crate {pure} depends on the I/O crate {name}: {}",
                    path.join(" -> ")
                ));
            }
        }
    }
    Ok(problems)
}

fn crate_doc_problems(metadata: &Value) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for package in metadata["packages"].as_array().context("packages")? {
        if !package["id"]
            .as_str()
            .is_some_and(|id| members.contains(id))
        {
            continue;
        }
        let name = package["name"].as_str().unwrap_or("?");
        let manifest = PathBuf::from(package["manifest_path"].as_str().context("manifest_path")?);
        let dir = manifest.parent().context("manifest dir")?;
        if name.starts_with("druid-k8s-")
            && name != "druid-k8s-tests"
            && !dir.join("README.md").is_file()
        {
            problems.push(format!("{name}: no README.md"));
        }
        for target in package["targets"].as_array().context("targets")? {
            let kinds = target["kind"].as_array().context("target kind")?;
            if !kinds.iter().any(|k| k == "lib" || k == "bin") {
                continue;
            }
            let src = target["src_path"].as_str().context("src_path")?;
            let text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
            if !text.trim_start().starts_with("//!") {
                problems.push(format!("{src}: the crate root must start with a `//!` doc"));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Value {
        cargo_metadata(&workspace_root()).expect("cargo metadata runs")
    }

    #[test]
    fn pure_crates_do_no_io() {
        let problems = io_dependency_problems(&metadata()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn crates_have_docs_and_readmes() {
        let problems = crate_doc_problems(&metadata()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// The check itself must be able to fail: a fake metadata graph where the model crate
    /// reaches tokio through an intermediate crate is reported with the path.
    #[test]
    fn io_check_reports_the_path_to_an_io_crate() {
        let pkg = |id: &str, name: &str| serde_json::json!({"id": id, "name": name});
        let dep = |id: &str| serde_json::json!({"pkg": id, "dep_kinds": [{"kind": null}]});
        let dev = |id: &str| serde_json::json!({"pkg": id, "dep_kinds": [{"kind": "dev"}]});
        let metadata = serde_json::json!({
            "packages": [
                pkg("m", "druid-k8s-model"), pkg("s", "druid-k8s-select"),
                pkg("a", "druid-k8s-adapters"), pkg("x", "some-helper"),
                pkg("t", "tokio"), pkg("w", "wiremock"),
            ],
            "resolve": {"nodes": [
                {"id": "m", "deps": [dep("x"), dev("w")]},
                {"id": "s", "deps": [dep("m")]},
                {"id": "a", "deps": [dep("s")]},
                {"id": "x", "deps": [dep("t")]},
                {"id": "t", "deps": []},
                {"id": "w", "deps": [dep("t")]},
            ]}
        });
        let problems = io_dependency_problems(&metadata).unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("druid-k8s-model -> some-helper -> tokio"),
            "{problems:?}"
        );
        assert!(
            problems.iter().all(|p| !p.contains("wiremock")),
            "dev-dependencies don't count"
        );
    }
}
