//! `druid-k8s demo --exit-when-done`: README's first command runs to completion on its own
//! (in-process simulator, SQLite, file task logs) and every sample task ends as intended.

use std::process::Command;

#[test]
fn demo_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(druid_k8s_tests::druid_k8s_bin())
        .args([
            "demo",
            "--exit-when-done",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("demo"))
        .output()
        .expect("druid-k8s demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("NOT AS EXPECTED"), "{stdout}");
    for needle in [
        "succeeds  SUCCESS",
        "fails     FAILED",
        "selected  SUCCESS    template=highmem",
        "large     SUCCESS",
        "payload: taskLogStorage",
        "Read task payload from task-log storage",
        "error=\"Cannot parse input row",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // its store is a real SQLite file the server can reopen
    assert!(dir.path().join("demo/druid-k8s.db").exists());
}
