//! `cargo xtask dist`: a reproducible release archive of the `druid-k8s` binary.
//!
//! The archive `target/dist/druid-k8s-<version>-<target>.tar.gz` holds the release binary,
//! README.md, LICENSE, CHANGELOG.md, `examples/` and `deploy/`. Entries are sorted, owned by
//! 0:0, have fixed modes (0755 for executables, 0644 otherwise) and the mtime of
//! `SOURCE_DATE_EPOCH` (default 0), and the gzip header carries no name and mtime 0, so building
//! twice from the same commit gives identical bytes. Next to it: `SHA256SUMS` (verifiable with
//! `sha256sum -c`) and a JSON manifest (version, target, git commit, per-file digests).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// Top-level files copied into the archive as they are.
const DOC_FILES: &[&str] = &["README.md", "LICENSE", "CHANGELOG.md"];
/// Directories copied recursively.
const DIRS: &[&str] = &["examples", "deploy"];

/// One file to put in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Path inside the archive, `/`-separated, below the top directory.
    pub(crate) name: String,
    /// Where the bytes come from.
    pub(crate) source: PathBuf,
    /// Whether the file gets mode 0755.
    pub(crate) executable: bool,
}

/// Builds the release binary and writes the archive, `SHA256SUMS` and the manifest.
pub(crate) fn run(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "druid-k8s-server",
            "--bin",
            "druid-k8s",
        ])
        .status()
        .context("starting cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    let version = workspace_version(&std::fs::read_to_string(root.join("Cargo.toml"))?)?;
    let target = host_target()?;
    let commit = git_commit(root).unwrap_or_else(|| "unknown".to_owned());
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .map(|s| {
            s.parse::<u64>()
                .context("SOURCE_DATE_EPOCH must be seconds since 1970")
        })
        .transpose()?
        .unwrap_or(0);

    let mut entries = vec![Entry {
        name: "druid-k8s".to_owned(),
        source: root.join("target/release/druid-k8s"),
        executable: true,
    }];
    entries.extend(collect_entries(root)?);
    sort_entries(&mut entries);

    let top = format!("druid-k8s-{version}-{target}");
    let out_dir = root.join("target/dist");
    std::fs::create_dir_all(&out_dir)?;
    let archive_name = format!("{top}.tar.gz");
    let archive = write_archive(&top, &entries, mtime)?;
    std::fs::write(out_dir.join(&archive_name), &archive)?;

    let manifest_name = format!("{top}.manifest.json");
    let manifest = manifest(&version, &target, &commit, &entries)?;
    std::fs::write(out_dir.join(&manifest_name), &manifest)?;

    let sums = format!(
        "{}  {archive_name}\n{}  {manifest_name}\n",
        sha256_hex(&archive),
        sha256_hex(&manifest)
    );
    std::fs::write(out_dir.join("SHA256SUMS"), sums)?;
    println!("wrote {}", out_dir.join(&archive_name).display());
    println!("wrote {}", out_dir.join(&manifest_name).display());
    println!("wrote {}", out_dir.join("SHA256SUMS").display());
    Ok(())
}

/// Every file under the documentation files and directories that exist.
fn collect_entries(root: &Path) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for file in DOC_FILES {
        let source = root.join(file);
        if !source.is_file() {
            bail!("{file} is missing: the release archive must contain it");
        }
        entries.push(Entry {
            name: (*file).to_owned(),
            source,
            executable: false,
        });
    }
    for dir in DIRS {
        let base = root.join(dir);
        if base.is_dir() {
            walk(&base, dir, &mut entries)?;
        }
    }
    Ok(entries)
}

fn walk(dir: &Path, prefix: &str, entries: &mut Vec<Entry>) -> Result<()> {
    for item in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let item = item?;
        let name = format!("{prefix}/{}", item.file_name().to_string_lossy());
        let kind = item.file_type()?;
        if kind.is_dir() {
            walk(&item.path(), &name, entries)?;
        } else if kind.is_file() {
            let executable = name.ends_with(".sh");
            entries.push(Entry {
                name,
                source: item.path(),
                executable,
            });
        }
    }
    Ok(())
}

/// Sorts entries by archive name so the order never depends on the filesystem.
pub(crate) fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
}

/// Writes a deterministic `.tar.gz` of `entries` below the directory `top`.
pub(crate) fn write_archive(top: &str, entries: &[Entry], mtime: u64) -> Result<Vec<u8>> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for entry in entries {
        let bytes = std::fs::read(&entry.source)
            .with_context(|| format!("reading {}", entry.source.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(if entry.executable { 0o755 } else { 0o644 });
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(
            &mut header,
            format!("{top}/{}", entry.name),
            bytes.as_slice(),
        )?;
    }
    let gz = tar.into_inner()?;
    let mut bytes = gz.finish()?;
    bytes.flush()?;
    Ok(bytes)
}

/// The JSON manifest: version, target, commit and the sha256 of every file in the archive.
pub(crate) fn manifest(
    version: &str,
    target: &str,
    commit: &str,
    entries: &[Entry],
) -> Result<Vec<u8>> {
    let mut files = serde_json::Map::new();
    for entry in entries {
        let bytes = std::fs::read(&entry.source)?;
        files.insert(
            entry.name.clone(),
            serde_json::json!({
                "sha256": sha256_hex(&bytes),
                "size": bytes.len(),
            }),
        );
    }
    let doc = serde_json::json!({
        "name": "druid-k8s",
        "version": version,
        "target": target,
        "gitCommit": commit,
        "files": files,
    });
    let mut out = serde_json::to_vec_pretty(&doc)?;
    out.push(b'\n');
    Ok(out)
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `version` of `[workspace.package]` in the root manifest.
pub(crate) fn workspace_version(manifest: &str) -> Result<String> {
    let mut in_section = false;
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == "[workspace.package]";
            continue;
        }
        if in_section && let Some(rest) = trimmed.strip_prefix("version") {
            let value = rest.trim_start().strip_prefix('=').map(str::trim);
            if let Some(v) = value
                .and_then(|v| v.strip_prefix('"'))
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(v.to_owned());
            }
        }
    }
    bail!("no version in [workspace.package] of Cargo.toml")
}

fn host_target() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("running rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .context("rustc -vV printed no host")
}

fn git_commit(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<Entry> {
        std::fs::write(dir.join("b.txt"), "bee").unwrap();
        std::fs::write(dir.join("a.sh"), "#!/bin/sh\n").unwrap();
        vec![
            Entry {
                name: "b.txt".into(),
                source: dir.join("b.txt"),
                executable: false,
            },
            Entry {
                name: "a.sh".into(),
                source: dir.join("a.sh"),
                executable: true,
            },
        ]
    }

    #[test]
    fn archives_are_byte_identical_and_sorted() {
        let dir = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut list = entries(&dir);
        sort_entries(&mut list);
        let first = write_archive("top", &list, 0).unwrap();
        // Touch the files: new mtimes on disk must not change the archive.
        let mut list2 = entries(&dir);
        sort_entries(&mut list2);
        let second = write_archive("top", &list2, 0).unwrap();
        assert_eq!(first, second);

        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(first.as_slice()));
        let names: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                ("top/a.sh".to_owned(), 0o755, 0),
                ("top/b.txt".to_owned(), 0o644, 0)
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn manifest_lists_digests() {
        let dir = std::env::temp_dir().join(format!("xtask-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let list = entries(&dir);
        let doc: serde_json::Value = serde_json::from_slice(
            &manifest("1.2.3", "x86_64-unknown-linux-gnu", "abc", &list).unwrap(),
        )
        .unwrap();
        assert_eq!(doc["version"], "1.2.3");
        assert_eq!(doc["gitCommit"], "abc");
        assert_eq!(doc["files"]["b.txt"]["sha256"], sha256_hex(b"bee"));
        assert_eq!(doc["files"]["b.txt"]["size"], 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_workspace_version() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.4.1\"\nedition = \"2024\"\n\n[dependencies]\nversion = \"9\"\n";
        assert_eq!(workspace_version(manifest).unwrap(), "0.4.1");
        assert!(workspace_version("[package]\nversion = \"1.0.0\"\n").is_err());
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
