//! `druid-k8s render` end to end: the seed's PodTemplate, the examples, `--explain`, JSON
//! output, the storage note, and bad input (exit 1 with a message naming the field).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use druid_k8s_tests::{druid_k8s_bin, workspace_root};
use k8s_openapi::api::batch::v1::Job;

/// Runs `druid-k8s render` with an empty environment (no stray `druid_*` variables) plus `env`.
fn render_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(druid_k8s_bin())
        .arg("render")
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(workspace_root())
        .output()
        .expect("druid-k8s runs")
}

fn render(args: &[&str]) -> Output {
    render_with_env(args, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "render failed ({:?}):\n{}",
        out.status,
        stderr(&out)
    );
    out
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}", stdout(out));
    stderr(out)
}

fn job_from_json(out: &Output) -> Job {
    serde_json::from_slice(&out.stdout).expect("-o json prints a Job")
}

fn env<'a>(job: &'a Job, name: &str) -> Option<&'a k8s_openapi::api::core::v1::EnvVar> {
    let spec = job.spec.as_ref()?.template.spec.as_ref()?;
    spec.containers[0]
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
}

/// Removes the indentation common to all non-blank lines (code blocks inside list items).
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// Every PodTemplate example of the seed documents (Druid's docs), with the image version
/// placeholder replaced. Empty when the seeds are not next to the repository.
fn seed_pod_templates() -> Vec<(String, String)> {
    let seeds = workspace_root().join("../shared/seeds");
    let Ok(dir) = std::fs::read_dir(&seeds) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("seed is text");
        for (i, block) in text.split("```").enumerate() {
            let body = dedent(block.strip_prefix("yaml").unwrap_or(block));
            let body = body.trim_start_matches('\n');
            if i % 2 == 1 && body.starts_with("apiVersion: \"v1\"\nkind: \"PodTemplate\"") {
                let name = format!(
                    "{}#{i}",
                    file.file_name().unwrap_or_default().to_string_lossy()
                );
                found.push((name, body.replace("{{DRUIDVERSION}}", "33.0.0")));
            }
        }
    }
    found
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file is writable");
    path
}

fn template_properties(dir: &Path, base: &Path) -> PathBuf {
    write(
        dir,
        "runtime.properties",
        &format!(
            "druid.indexer.runner.type=k8s\n\
             druid.indexer.runner.namespace=druid\n\
             druid.indexer.task.baseTaskDir=/druid/data\n\
             druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
             druid.indexer.runner.k8s.podTemplate.base={}\n",
            base.display()
        ),
    )
}

#[test]
fn seed_pod_template_renders() {
    let mut templates = seed_pod_templates();
    if workspace_root().join("../shared/seeds").is_dir() {
        // Both seed documents carry an example PodTemplate.
        assert_eq!(templates.len(), 2, "seed templates found: {templates:?}");
    }
    let committed = std::fs::read_to_string(workspace_root().join("examples/templates/base.yaml"))
        .expect("examples/templates/base.yaml exists");
    if let Some((_, first)) = templates.iter().find(|(n, _)| n.starts_with("001")) {
        // The committed example is the seed's template (plus a comment header).
        let body: String = committed
            .lines()
            .skip_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            body.trim_end(),
            first.trim_end(),
            "examples/templates/base.yaml drifted from the seed"
        );
    }
    templates.push(("examples/templates/base.yaml".to_owned(), committed));

    for (name, yaml) in templates {
        let dir = tempfile::tempdir().unwrap();
        let base = write(dir.path(), "pod-template.yaml", &yaml);
        let props = template_properties(dir.path(), &base);
        let out = ok(render(&[
            "--config",
            props.to_str().unwrap(),
            "--task",
            "examples/tasks/noop.json",
            "-o",
            "json",
        ]));
        let job = job_from_json(&out);
        let name_value = job.metadata.name.clone().unwrap_or_default();
        assert!(
            name_value.starts_with("noop20240501t100000000z-"),
            "{name}: {name_value}"
        );
        assert_eq!(
            name_value.len(),
            "noop20240501t100000000z-".len() + 32,
            "{name}: {name_value}"
        );
        let pod = &job.spec.as_ref().unwrap().template;
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.containers[0].name, "main", "{name}");
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"), "{name}");
        assert_eq!(
            env(&job, "TASK_ID").and_then(|e| e.value.as_deref()),
            Some("noop_2024-05-01T10:00:00.000Z"),
            "{name}"
        );
        assert_eq!(
            env(&job, "CUSTOM_ENV_VARIABLE").and_then(|e| e.value.as_deref()),
            Some("hello"),
            "{name}: the template's own env is kept"
        );
        let annotations = pod.metadata.as_ref().unwrap().annotations.as_ref().unwrap();
        assert!(annotations["task"].starts_with("H4sI"), "{name}");
        assert_eq!(annotations["task.jobTemplate"], "base", "{name}");
        let labels = job.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["druid.task.type"], "noop", "{name}");
        assert_eq!(labels["druid.k8s.peons"], "true", "{name}");
    }
}

#[test]
fn yaml_output_with_explanation() {
    let out = ok(render(&[
        "--config",
        "examples/render-templates.properties",
        "--task",
        "examples/tasks/index_kafka.json",
        "--execution-config",
        "examples/render-execution-config.json",
        "--explain",
    ]));
    let text = stdout(&out);
    assert!(
        text.starts_with("# adapter: customTemplateAdapter\n"),
        "{text}"
    );
    assert!(text.contains("# template: highMem\n"), "{text}");
    assert!(
        text.contains("selector #0 (selectionKey `highMem`) matched"),
        "{text}"
    );
    assert!(text.contains("# payload: inline"), "{text}");
    assert!(text.contains("apiVersion: batch/v1"), "{text}");
    assert!(text.contains("image: apache/druid:33.0.0"), "{text}");
    assert!(text.contains("task.jobTemplate: highMem"), "{text}");
}

#[test]
fn explain_says_why_no_selector_matched() {
    let out = ok(render(&[
        "--config",
        "examples/render-templates.properties",
        "--task",
        "examples/tasks/index_parallel.json",
        "--execution-config",
        "examples/render-execution-config.json",
        "--explain",
    ]));
    let text = stdout(&out);
    assert!(text.contains("# template: base\n"), "{text}");
    assert!(
        text.contains("highMem"),
        "the explanation names the selector that failed:\n{text}"
    );
}

#[test]
fn overlord_pod_with_kubexit_sidecar() {
    let out = ok(render(&[
        "--config",
        "examples/render-overlord.properties",
        "--task",
        "examples/tasks/index_kafka.json",
        "--overlord-pod",
        "examples/overlord-pod.yaml",
        "-o",
        "json",
    ]));
    let job = job_from_json(&out);
    let spec = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["main", "istio-proxy"]);
    assert_eq!(spec.node_name, None);
    assert_eq!(spec.init_containers.as_ref().unwrap()[0].name, "kubexit");
    let main = &spec.containers[0];
    assert!(main.readiness_probe.is_none() && main.liveness_probe.is_none());
    // javaOptsArray then the task context: the context's -Xmx3g / MaxDirectMemorySize=2g win.
    let limits = main.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(limits["memory"].0, "6000000000");
    assert_eq!(limits["cpu"].0, "1500m");
    assert_eq!(limits["ephemeral-storage"].0, "20Gi");
    assert!(main.args.as_ref().unwrap()[0].starts_with("/kubexit/kubexit /bin/sh -c \"/peon.sh"));
    let side = &spec.containers[1];
    assert!(side.args.as_ref().unwrap()[0].ends_with("\" || true"));
    assert_eq!(
        env(&job, "druid_monitoring_monitors").and_then(|e| e.value.as_deref()),
        Some(r#"["org.apache.druid.java.util.metrics.JvmMonitor"]"#)
    );
}

#[test]
fn explain_shows_how_the_pod_was_sized() {
    let out = ok(render(&[
        "--config",
        "examples/render-overlord.properties",
        "--task",
        "examples/tasks/index_kafka.json",
        "--overlord-pod",
        "examples/overlord-pod.yaml",
        "--explain",
    ]));
    let text = stdout(&out);
    assert!(
        text.starts_with("# adapter: overlordMultiContainer\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# memory: 6000000000 bytes = (heap 3000000000 [-Xmx3g] + direct 2000000000 [-XX:MaxDirectMemorySize=2g]) x 1.2\n"
        ),
        "{text}"
    );
    assert!(text.contains("# cpu: 1500m"), "{text}");
    assert!(text.contains("# sidecars: kubexit\n"), "{text}");
}

#[test]
fn druid_env_vars_override_the_file_unless_ignored() {
    let args = [
        "--config",
        "examples/render-overlord.properties",
        "--task",
        "examples/tasks/noop.json",
        "--overlord-pod",
        "examples/overlord-pod.yaml",
        "-o",
        "json",
    ];
    let cpu = |out: &Output| {
        let job = job_from_json(out);
        let spec = job.spec.unwrap().template.spec.unwrap();
        spec.containers[0]
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap()["cpu"]
            .0
            .clone()
    };
    let env = [("druid_indexer_runner_cpuCoreInMicro", "750")];
    assert_eq!(cpu(&ok(render_with_env(&args, &env))), "750m");
    let mut ignoring = args.to_vec();
    ignoring.push("--ignore-env");
    assert_eq!(cpu(&ok(render_with_env(&ignoring, &env))), "1500m");
}

#[test]
fn large_payload_goes_to_storage_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Incompressible padding pushes the encoded payload above 130048 characters.
    let mut state: u64 = 7;
    let padding: String = (0..200_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
                    [(state >> 58) as usize],
            )
        })
        .collect();
    let task = serde_json::json!({"type": "noop", "id": "big", "context": {"padding": padding}});
    let task_path = write(dir.path(), "task.json", &task.to_string());
    let out = ok(render(&[
        "--config",
        "examples/render-templates.properties",
        "--task",
        task_path.to_str().unwrap(),
        "-o",
        "json",
    ]));
    assert!(
        stderr(&out).contains("task-log storage"),
        "{}",
        stderr(&out)
    );
    let job = job_from_json(&out);
    let annotations = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .annotations
        .as_ref()
        .unwrap();
    assert!(!annotations.contains_key("task"));
    assert!(env(&job, "TASK_JSON").is_none());
}

#[test]
fn bad_input_names_the_field() {
    let dir = tempfile::tempdir().unwrap();

    // A task without an id.
    let task = write(dir.path(), "task.json", r#"{"type": "noop"}"#);
    let err = failed(&render(&[
        "--config",
        "examples/render-templates.properties",
        "--task",
        task.to_str().unwrap(),
    ]));
    assert!(err.contains("id"), "{err}");

    // A bad property.
    let props = write(
        dir.path(),
        "bad.properties",
        "druid.indexer.runner.type=k8s\ndruid.indexer.runner.namespace=druid\ndruid.indexer.runner.cpuCoreInMicro=lots\n",
    );
    let err = failed(&render(&[
        "--config",
        props.to_str().unwrap(),
        "--task",
        "examples/tasks/noop.json",
    ]));
    assert!(err.contains("druid.indexer.runner.cpuCoreInMicro"), "{err}");

    // Overlord adapter without the overlord pod.
    let err = failed(&render(&[
        "--config",
        "examples/render-overlord.properties",
        "--task",
        "examples/tasks/noop.json",
    ]));
    assert!(err.contains("--overlord-pod"), "{err}");

    // An invalid -Xmx in the task context names the option.
    let task = write(
        dir.path(),
        "xmx.json",
        r#"{"type": "noop", "id": "x", "context": {"druid.indexer.runner.javaOpts": "-Xmx1.5g"}}"#,
    );
    let err = failed(&render(&[
        "--config",
        "examples/render-overlord.properties",
        "--task",
        task.to_str().unwrap(),
        "--overlord-pod",
        "examples/overlord-pod.yaml",
    ]));
    assert!(err.contains("-Xmx1.5g"), "{err}");

    // A broken template names the property and the path, with the parser's location.
    let base = write(
        dir.path(),
        "broken.yaml",
        "template:\n  spec:\n    containers: [\n",
    );
    let props = template_properties(dir.path(), &base);
    let err = failed(&render(&[
        "--config",
        props.to_str().unwrap(),
        "--task",
        "examples/tasks/noop.json",
    ]));
    assert!(
        err.contains("druid.indexer.runner.k8s.podTemplate.base"),
        "{err}"
    );
    assert!(err.contains("broken.yaml"), "{err}");

    // A missing template file.
    let props = template_properties(dir.path(), &dir.path().join("missing.yaml"));
    let err = failed(&render(&[
        "--config",
        props.to_str().unwrap(),
        "--task",
        "examples/tasks/noop.json",
    ]));
    assert!(err.contains("missing.yaml"), "{err}");

    // kubexit cannot wrap a sidecar without a command.
    let pod = write(
        dir.path(),
        "pod.yaml",
        "metadata: {name: o}\nspec:\n  containers:\n  - {name: druid-overlord, image: one}\n  - {name: envoy, image: envoy}\n",
    );
    let err = failed(&render(&[
        "--config",
        "examples/render-overlord.properties",
        "--task",
        "examples/tasks/noop.json",
        "--overlord-pod",
        pod.to_str().unwrap(),
    ]));
    assert!(err.contains("envoy"), "{err}");
}
