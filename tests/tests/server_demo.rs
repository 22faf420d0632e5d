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

/// `druid-k8s demo --mixed --exit-when-done`: migration mode with simulated MiddleManagers —
/// `index_kafka` tasks run on a worker, the others as Kubernetes Jobs, each with its status.
#[test]
fn mixed_demo_routes_index_kafka_to_simulated_workers() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(druid_k8s_tests::druid_k8s_bin())
        .args([
            "demo",
            "--mixed",
            "--workers",
            "2",
            "--exit-when-done",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path().join("demo"))
        .output()
        .expect("druid-k8s demo --mixed runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} demo --mixed failed:\n{stdout}\n{stderr}",
        druid_k8s_tests::druid_k8s_bin().display()
    );
    assert!(!stdout.contains("NOT AS EXPECTED"), "{stdout}");
    let workers: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("simulated worker:"))
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|u| u.strip_prefix("http://"))
        .collect();
    assert_eq!(workers.len(), 2, "{stdout}");
    let final_line = |name: &str| {
        stdout
            .split("Final statuses")
            .nth(1)
            .and_then(|f| {
                f.lines()
                    .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            })
            .unwrap_or_else(|| panic!("no final line for {name} in:\n{stdout}"))
            .to_owned()
    };
    for (name, code) in [
        ("kafka-1", "SUCCESS"),
        ("kafka-2", "SUCCESS"),
        ("kafka-bad", "FAILED"),
    ] {
        let l = final_line(name);
        assert!(l.contains(code), "{l}");
        let on = l
            .split("ran on worker ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{name} did not run on a worker: {l}"));
        assert!(workers.contains(&on), "{on} is not one of {workers:?}");
    }
    assert!(
        final_line("kafka-bad").contains("error=\"Simulated: offset out of range"),
        "{stdout}"
    );
    for (name, code) in [("succeeds", "SUCCESS"), ("fails", "FAILED")] {
        let l = final_line(name);
        assert!(l.contains(code) && l.contains("ran on k8s (pod "), "{l}");
    }
    // the worker tasks' logs were pushed to task-log storage by their worker
    assert!(
        stdout.contains("Read task payload from the assignTask request"),
        "{stdout}"
    );
    let props = std::fs::read_to_string(dir.path().join("demo/runtime.properties")).unwrap();
    assert!(
        props.contains("druid.indexer.runner.type=k8sAndWorker"),
        "{props}"
    );
}
