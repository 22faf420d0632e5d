//! The deployment manifests in `deploy/` render with kustomize and say what they should.

use std::process::Command;

use druid_k8s_tests::workspace_root;

/// Renders a kustomization with the installed kubectl and returns the YAML.
fn kustomize(dir: &str) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(workspace_root().join(dir))
        .output()
        .expect("kubectl is installed (the test machines have it)");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kustomize prints UTF-8")
}

/// `(kind, namespace, name)` of every document.
fn objects(yaml: &str) -> Vec<(String, String, String)> {
    yaml.split("\n---\n")
        .map(|doc| {
            let field = |indent: &str, key: &str| {
                doc.lines()
                    .find_map(|l| l.strip_prefix(&format!("{indent}{key}: ")))
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                field("", "kind"),
                field("  ", "namespace"),
                field("  ", "name"),
            )
        })
        .collect()
}

#[test]
fn base_renders_every_object_in_the_druid_namespace() {
    let yaml = kustomize("deploy/base");
    let objs = objects(&yaml);
    for kind in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    ] {
        assert!(
            objs.iter().any(|(k, ns, _)| k == kind && ns == "druid"),
            "no {kind} in namespace druid: {objs:?}"
        );
    }
    // The probes point at the health endpoint, the config carries runtime.properties.
    assert!(yaml.contains("path: /status/health"));
    assert!(yaml.contains("druid.indexer.runner.namespace=druid\n"));
}

#[test]
fn role_grants_only_what_the_runner_uses() {
    let yaml = kustomize("deploy/base");
    let role = yaml
        .split("\n---\n")
        .find(|doc| doc.contains("kind: Role\n"))
        .expect("a Role");
    // Pods are created by the Job controller and removed with their Job: no create/delete.
    let pods_rule = role
        .split("- apiGroups:")
        .find(|rule| rule.contains("  - pods\n"))
        .expect("a rule for pods");
    assert!(
        !pods_rule.contains("create") && !pods_rule.contains("delete"),
        "{pods_rule}"
    );
}

#[test]
fn overlay_puts_tasks_in_their_own_namespace() {
    let yaml = kustomize("deploy/overlays/separate-task-namespace");
    let objs = objects(&yaml);
    assert!(
        objs.iter()
            .any(|(k, _, n)| k == "Namespace" && n == "druid-tasks")
    );
    assert!(
        objs.iter()
            .any(|(k, ns, _)| k == "Role" && ns == "druid-tasks")
    );
    assert!(yaml.contains("druid.indexer.runner.namespace=druid-tasks"));
    assert!(yaml.contains("druid.indexer.runner.overlordNamespace=druid"));
}

/// Every object kustomize renders is accepted by `kubectl apply --dry-run=server` against the
/// simulator, which validates it the way an API server does (names, labels, kinds it serves).
async fn apply_dry_run(dir: &str, extra_namespaces: &[&str]) {
    use druid_k8s_sim::{Sim, SimConfig};
    let mut config = SimConfig::default();
    for ns in extra_namespaces {
        config = config.namespace(*ns);
    }
    let sim = Sim::start(config).await.expect("simulator starts");
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let rendered = home.path().join("rendered.yaml");
    std::fs::write(&rendered, kustomize(dir)).unwrap();

    let out = tokio::process::Command::new("kubectl")
        .args(["apply", "--dry-run=server", "-o", "name", "-f"])
        .arg(&rendered)
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", home.path())
        .output()
        .await
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl apply --dry-run=server of {dir} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let applied = stdout.lines().count();
    let documents = objects(&kustomize(dir)).len();
    assert_eq!(applied, documents, "every object is accepted:\n{stdout}");
    // A dry run stores nothing.
    let get = tokio::process::Command::new("kubectl")
        .args(["get", "deployment", "druid-k8s", "-n", "druid"])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", home.path())
        .output()
        .await
        .expect("kubectl runs");
    assert!(!get.status.success(), "the dry run created the Deployment");
    assert!(String::from_utf8_lossy(&get.stderr).contains("NotFound"));
    sim.shutdown().await;
}

#[tokio::test]
async fn base_is_accepted_by_a_server_side_dry_run() {
    apply_dry_run("deploy/base", &[]).await;
}

#[tokio::test]
async fn overlay_is_accepted_by_a_server_side_dry_run() {
    // As on a real API server, objects of a namespace created by the same dry run cannot be
    // checked, so the task namespace exists beforehand.
    apply_dry_run("deploy/overlays/separate-task-namespace", &["druid-tasks"]).await;
}
