//! The installed `kubectl` against the simulator, through the kubeconfig it writes: both the
//! in-process simulator and the standalone `druid-k8s sim` command.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use druid_k8s_sim::{Sim, SimConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: hello
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app: hello
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox:1.36
        command: ["sh", "-c", "echo hello world; echo bye"]
"#;

/// Runs kubectl with `kubeconfig`, returning (success, stdout, stderr).
async fn kubectl(home: &Path, kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .output()
        .await
        .expect("kubectl runs (is it installed?)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Like [`kubectl`], but the command must succeed; returns stdout.
async fn ok(home: &Path, kubeconfig: &Path, args: &[&str]) -> String {
    let (success, out, err) = kubectl(home, kubeconfig, args).await;
    assert!(success, "kubectl {args:?} failed:\n{out}\n{err}");
    out
}

async fn eventually_ok(
    home: &Path,
    kc: &Path,
    args: &[&str],
    want: impl Fn(&str) -> bool,
) -> String {
    for _ in 0..100 {
        let (success, out, _) = kubectl(home, kc, args).await;
        if success && want(&out) {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("kubectl {args:?} never gave the expected output");
}

#[tokio::test]
async fn kubectl_manages_jobs_pods_and_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(SimConfig::default()).await.expect("sim");
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, sim.kubeconfig_yaml_for_namespace("druid")).expect("kubeconfig");
    let job = dir.path().join("job.yaml");
    std::fs::write(&job, JOB).expect("job.yaml");
    let home = dir.path();
    let job_s = job.to_str().expect("utf-8 path");

    let out = ok(home, &kc, &["apply", "-f", job_s]).await;
    assert_eq!(out.trim(), "job.batch/hello created");
    let out = ok(home, &kc, &["get", "jobs", "-o", "name"]).await;
    assert_eq!(out.trim(), "job.batch/hello");
    ok(
        home,
        &kc,
        &[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=20s",
        ],
    )
    .await;
    let out = ok(home, &kc, &["get", "jobs"]).await;
    assert!(out.contains("Complete") && out.contains("1/1"), "{out}");
    let pods = ok(
        home,
        &kc,
        &["get", "pods", "-l", "job-name=hello", "-o", "name"],
    )
    .await;
    let pods: Vec<&str> = pods.lines().collect();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert!(pods[0].starts_with("pod/hello-"), "{pods:?}");
    let out = ok(home, &kc, &["get", "pods", "-l", "app=hello"]).await;
    assert!(out.contains("Completed"), "{out}");
    let logs = ok(home, &kc, &["logs", "job/hello"]).await;
    assert_eq!(logs, "hello world\nbye\n");
    let logs = ok(home, &kc, &["logs", pods[0], "--tail=1"]).await;
    assert_eq!(logs, "bye\n");

    let out = ok(home, &kc, &["apply", "-f", job_s]).await;
    assert_eq!(out.trim(), "job.batch/hello unchanged");
    let (success, _, err) = kubectl(home, &kc, &["create", "-f", job_s]).await;
    assert!(!success);
    assert!(err.contains("AlreadyExists"), "{err}");

    let dry = dir.path().join("dry.yaml");
    std::fs::write(&dry, JOB.replace("name: hello", "name: dry")).expect("dry.yaml");
    let out = ok(
        home,
        &kc,
        &[
            "create",
            "--dry-run=server",
            "-f",
            dry.to_str().expect("path"),
        ],
    )
    .await;
    assert_eq!(out.trim(), "job.batch/dry created (server dry run)");
    let (success, _, err) = kubectl(home, &kc, &["get", "job", "dry"]).await;
    assert!(!success && err.contains("NotFound"), "{err}");

    let out = ok(home, &kc, &["delete", "job", "hello"]).await;
    assert_eq!(out.trim(), "job.batch \"hello\" deleted");
    // kubectl deletes in the background: the pod goes too.
    eventually_ok(home, &kc, &["get", "pods", "-o", "name"], |o| {
        o.trim().is_empty()
    })
    .await;
    let out = ok(home, &kc, &["get", "events", "-o", "name"]).await;
    assert!(out.lines().any(|l| l.starts_with("event/hello.")), "{out}");
    sim.shutdown().await;
}

#[tokio::test]
async fn standalone_sim_writes_a_kubeconfig_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kc = dir.path().join("kubeconfig");
    let mut child = Command::new(druid_k8s_tests::druid_k8s_bin())
        .args([
            "sim",
            "--port",
            "0",
            "--nodes",
            "2",
            "--node-cpu",
            "4",
            "--kubeconfig",
        ])
        .arg(&kc)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("druid-k8s sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the URL is printed")
        .expect("read")
        .expect("a line");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let text = std::fs::read_to_string(&kc).expect("kubeconfig written");
    assert!(text.contains(&url), "{text}");
    let home = dir.path();
    let out = ok(home, &kc, &["get", "nodes", "-o", "name"]).await;
    assert_eq!(out, "node/sim-node-0\nnode/sim-node-1\n");
    let out = ok(
        home,
        &kc,
        &[
            "get",
            "node",
            "sim-node-1",
            "-o",
            "jsonpath={.status.allocatable.cpu}",
        ],
    )
    .await;
    assert_eq!(out, "4");
    let pid = child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
}
