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
            (field("", "kind"), field("  ", "namespace"), field("  ", "name"))
        })
        .collect()
}

#[test]
fn base_renders_every_object_in_the_druid_namespace() {
    let yaml = kustomize("deploy/base");
    let objs = objects(&yaml);
    for kind in ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Deployment", "Service"] {
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
    assert!(!pods_rule.contains("create") && !pods_rule.contains("delete"), "{pods_rule}");
}

#[test]
fn overlay_puts_tasks_in_their_own_namespace() {
    let yaml = kustomize("deploy/overlays/separate-task-namespace");
    let objs = objects(&yaml);
    assert!(objs.iter().any(|(k, _, n)| k == "Namespace" && n == "druid-tasks"));
    assert!(objs.iter().any(|(k, ns, _)| k == "Role" && ns == "druid-tasks"));
    assert!(yaml.contains("druid.indexer.runner.namespace=druid-tasks"));
    assert!(yaml.contains("druid.indexer.runner.overlordNamespace=druid"));
}
