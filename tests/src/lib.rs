//! Shared helpers for the workspace end-to-end tests in `tests/tests/`.
//!
//! The end-to-end tests drive the real `druid-k8s` binary. Cargo only exposes
//! `CARGO_BIN_EXE_*` to tests of the package that owns the binary, so [`druid_k8s_bin`] builds the
//! binary once per test process (a no-op when it is already fresh) and returns its path.
//!
//! ```no_run
//! let bin = druid_k8s_tests::druid_k8s_bin();
//! let out = std::process::Command::new(bin).arg("--help").output().unwrap();
//! assert!(out.status.success());
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
}

/// Builds the `druid-k8s` binary (debug profile) once and returns its path.
///
/// Panics with cargo's output when the build fails, so the test that needed it fails with the
/// reason.
pub fn druid_k8s_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let out = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--quiet",
                "--package",
                "druid-k8s-server",
                "--bin",
                "druid-k8s",
                "--message-format=json",
            ])
            .output()
            .expect("cargo can be started");
        assert!(
            out.status.success(),
            "building druid-k8s failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["reason"] == "compiler-artifact")
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the druid-k8s executable")
    })
}
