//! `cargo xtask release --version X.Y.Z`: bump the workspace version and cut the changelog.
//!
//! Refuses a dirty work tree, a version that is not semver, and a version that is not greater
//! than the current one. Bumps `[workspace.package].version` and the `version` of every internal
//! crate in `[workspace.dependencies]`, moves CHANGELOG's `[Unreleased]` entries under
//! `## [X.Y.Z] - <date>` (leaving an empty Unreleased section), and refreshes Cargo.lock
//! offline. It never touches the network, commits or tags: review the diff, then commit.

use std::cmp::Ordering;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A parsed semantic version (`MAJOR.MINOR.PATCH[-PRE][+BUILD]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Option<String>,
}

impl Version {
    /// Parses a strict semver string; leading zeros and empty parts are rejected.
    pub(crate) fn parse(text: &str) -> Result<Version> {
        let core_and_pre = text.split_once('+').map_or(text, |(core, _build)| core);
        let (core, pre) = match core_and_pre.split_once('-') {
            Some((core, pre)) => (core, Some(pre.to_owned())),
            None => (core_and_pre, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 {
            bail!("`{text}` is not a semantic version (expected MAJOR.MINOR.PATCH, e.g. 1.2.3)");
        }
        let number = |p: &str| -> Result<u64> {
            if p.is_empty()
                || !p.bytes().all(|b| b.is_ascii_digit())
                || (p.len() > 1 && p.starts_with('0'))
            {
                bail!(
                    "`{text}` is not a semantic version: `{p}` is not a number without leading zeros"
                );
            }
            p.parse().with_context(|| format!("`{p}` is too large"))
        };
        if let Some(pre) = &pre
            && (pre.is_empty()
                || pre.split('.').any(|id| {
                    id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }))
        {
            bail!("`{text}` is not a semantic version: bad pre-release `{pre}`");
        }
        Ok(Version {
            major: number(parts[0])?,
            minor: number(parts[1])?,
            patch: number(parts[2])?,
            pre,
        })
    }

    fn cmp_precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

/// Returns the root manifest with the workspace and internal-crate versions set to `new`.
pub(crate) fn bump_manifest(manifest: &str, new: &str) -> Result<String> {
    let mut section = String::new();
    let mut bumped_package = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            section = trimmed.to_owned();
            out.push(line.to_owned());
            continue;
        }
        if section == "[workspace.package]"
            && trimmed.starts_with("version")
            && trimmed.contains('=')
        {
            out.push(format!("version = \"{new}\""));
            bumped_package = true;
        } else if section == "[workspace.dependencies]"
            && trimmed.starts_with("druid-k8s-")
            && trimmed.contains("path =")
        {
            out.push(replace_inline_version(line, new));
        } else {
            out.push(line.to_owned());
        }
    }
    if !bumped_package {
        bail!("Cargo.toml has no version in [workspace.package]");
    }
    let mut text = out.join("\n");
    if manifest.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Replaces `version = "…"` inside an inline table line.
fn replace_inline_version(line: &str, new: &str) -> String {
    let Some(start) = line.find("version = \"") else {
        return line.to_owned();
    };
    let value_start = start + "version = \"".len();
    let Some(len) = line[value_start..].find('"') else {
        return line.to_owned();
    };
    format!(
        "{}{new}{}",
        &line[..value_start],
        &line[value_start + len..]
    )
}

/// Moves the entries under `## [Unreleased]` into a new `## [version] - date` section.
pub(crate) fn cut_changelog(changelog: &str, version: &str, date: &str) -> Result<String> {
    let heading = "## [Unreleased]";
    let Some(pos) = changelog.find(heading) else {
        bail!("CHANGELOG.md has no `{heading}` section to release");
    };
    if changelog.contains(&format!("## [{version}]")) {
        bail!("CHANGELOG.md already has a section for {version}");
    }
    let after = pos + heading.len();
    let rest = &changelog[after..];
    let body_len = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    let body = rest[..body_len].trim();
    if body.is_empty() {
        bail!("the Unreleased section of CHANGELOG.md is empty: nothing to release");
    }
    Ok(format!(
        "{}{heading}\n\n## [{version}] - {date}\n\n{body}\n\n{}",
        &changelog[..pos],
        rest[body_len..].trim_start_matches('\n')
    )
    .trim_end()
    .to_owned()
        + "\n")
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Runs the release bump in `root`.
pub(crate) fn run(root: &Path, version: &str) -> Result<()> {
    let new = Version::parse(version)?;
    let status = Command::new("git")
        .current_dir(root)
        .args(["status", "--porcelain"])
        .output()
        .context("running git status")?;
    if !status.status.success() {
        bail!("git status failed: is this a git checkout?");
    }
    if !status.stdout.is_empty() {
        bail!(
            "the work tree is dirty; commit or stash first:\n{}",
            String::from_utf8_lossy(&status.stdout)
        );
    }
    let manifest_path = root.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let current = Version::parse(&crate::dist::workspace_version(&manifest)?)?;
    if new.cmp_precedence(&current) != Ordering::Greater {
        bail!("{version} is not greater than the current version");
    }
    let changelog_path = root.join("CHANGELOG.md");
    let changelog = cut_changelog(
        &std::fs::read_to_string(&changelog_path)?,
        version,
        &today(),
    )?;
    std::fs::write(&manifest_path, bump_manifest(&manifest, version)?)?;
    std::fs::write(&changelog_path, changelog)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let lock = Command::new(cargo)
        .current_dir(root)
        .args(["update", "--workspace", "--offline"])
        .status()
        .context("running cargo update --workspace --offline")?;
    if !lock.success() {
        bail!("refreshing Cargo.lock failed");
    }
    println!("bumped to {version}; review `git diff`, then commit and tag v{version}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_is_strict() {
        assert!(Version::parse("1.2.3").is_ok());
        assert!(Version::parse("1.2.3-rc.1+build.5").is_ok());
        for bad in [
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.x.3",
            "",
            "v1.2.3",
            "1.2.3-",
            "1.2.3-a..b",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn precedence_orders_pre_releases_first() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(
            v("1.0.0").cmp_precedence(&v("1.0.0-rc.1")),
            Ordering::Greater
        );
        assert_eq!(v("0.2.0").cmp_precedence(&v("0.10.0")), Ordering::Less);
        assert_eq!(v("1.0.0+a").cmp_precedence(&v("1.0.0")), Ordering::Equal);
    }

    #[test]
    fn bumps_workspace_and_internal_versions_only() {
        let manifest = "[workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\ndruid-k8s-model = { path = \"crates/druid-k8s-model\", version = \"0.1.0\" }\nserde = { version = \"1.0\", features = [\"derive\"] }\n";
        let bumped = bump_manifest(manifest, "0.2.0").unwrap();
        assert_eq!(
            bumped,
            "[workspace.package]\nversion = \"0.2.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\ndruid-k8s-model = { path = \"crates/druid-k8s-model\", version = \"0.2.0\" }\nserde = { version = \"1.0\", features = [\"derive\"] }\n"
        );
    }

    #[test]
    fn cuts_the_unreleased_section() {
        let log = "# Changelog\n\n## [Unreleased]\n\n### Added\n- a thing\n\n## [0.1.0] - 2026-01-01\n\n- first\n";
        let cut = cut_changelog(log, "0.2.0", "2026-11-23").unwrap();
        assert_eq!(
            cut,
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-23\n\n### Added\n- a thing\n\n## [0.1.0] - 2026-01-01\n\n- first\n"
        );
        assert!(
            cut_changelog(&cut, "0.2.0", "x").is_err(),
            "a version is released once"
        );
        assert!(cut_changelog("# Changelog\n\n## [Unreleased]\n\n", "1.0.0", "x").is_err());
    }

    #[test]
    fn today_is_a_date() {
        let d = today();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }
}
