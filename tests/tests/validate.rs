//! `druid-k8s validate` end to end: the examples (among them the seeds' runtime properties)
//! pass and print the effective configuration; broken files fail with exit code 1 and one line
//! per problem naming the key; the environment overrides the file (Druid's image convention).

use std::path::Path;
use std::process::{Command, Output};

use druid_k8s_tests::{druid_k8s_bin, workspace_root};

const BASE: &str = "druid.indexer.runner.type=k8s\n\
    druid.indexer.runner.namespace=druid\n\
    druid.indexer.task.encapsulatedTask=true\n";

/// Runs `druid-k8s validate --config <file>` with only the given `druid_*` variables set.
fn validate(file: &Path, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut cmd = Command::new(druid_k8s_bin());
    cmd.arg("validate")
        .arg("--config")
        .arg(file)
        .args(extra)
        .current_dir(workspace_root());
    for (k, _) in std::env::vars() {
        if k.starts_with("druid_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("druid-k8s runs")
}

/// Writes `text` to a temporary properties file and validates it.
fn check(text: &str, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("runtime.properties");
    std::fs::write(&file, text).expect("write properties");
    validate(&file, env, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts failure with exit code 1 and returns the error lines.
fn errors(out: &Output) -> Vec<String> {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit code 1; stdout:\n{}",
        stdout(out)
    );
    assert!(stdout(out).is_empty(), "no effective config on failure");
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect()
}

fn assert_error_names(out: &Output, key: &str, needle: &str) {
    let errs = errors(out);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("error: {key}: ")) && e.contains(needle)),
        "no error for {key} containing {needle:?}:\n{}",
        stderr(out)
    );
}

#[test]
fn seed_and_example_configs_validate() {
    for name in [
        "seed-overlord-single.properties",
        "seed-overlord-multi.properties",
        "seed-custom-template.properties",
        "seed-k8s-and-worker.properties",
        "runtime.properties",
    ] {
        let out = validate(&workspace_root().join("examples").join(name), &[], &[]);
        assert!(out.status.success(), "{name}:\n{}", stderr(&out));
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        assert_eq!(lines, sorted, "{name}: lines are sorted");
        assert!(
            lines.iter().all(|l| l.contains('=')),
            "{name}: key=value lines"
        );
        // defaults are included
        assert!(
            lines.contains(&"druid.indexer.runner.kubexitImage=karlkfi/kubexit:v0.3.2"),
            "{name}:\n{text}"
        );
    }
}

#[test]
fn effective_config_masks_secrets_and_shows_defaults() {
    let out = validate(
        &workspace_root().join("examples/runtime.properties"),
        &[],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("druid.metadata.storage.connector.password=<masked>\n"));
    assert!(text.contains("druid.s3.secretKey=<masked>\n"));
    assert!(!text.contains("example-password") && !text.contains("example-secret"));
    assert!(text.contains("druid.indexer.runner.capacity=40\n"));
    assert!(text.contains("druid.indexer.runner.taskJoinTimeout=PT1M\n"));
}

#[test]
fn the_acceptance_failures_name_their_key() {
    assert_error_names(
        &check(
            &format!("{BASE}druid.indexer.runner.maxTaskDuration=P1M\n"),
            &[],
        ),
        "druid.indexer.runner.maxTaskDuration",
        "months",
    );
    assert_error_names(
        &check(&format!("{BASE}druid.indexer.runner.capacity=0\n"), &[]),
        "druid.indexer.runner.capacity",
        "1 to 2147483647",
    );
    assert_error_names(
        &check(&format!("{BASE}druid.indexer.runner.labels={{bad\n"), &[]),
        "druid.indexer.runner.labels",
        "JSON object",
    );
    assert_error_names(
        &check(
            &format!("{BASE}druid.indexer.runner.k8s.adapter.type=foo\n"),
            &[],
        ),
        "druid.indexer.runner.k8s.adapter.type",
        "\"foo\" is not a pod adapter",
    );
}

#[test]
fn every_error_is_reported_one_per_line() {
    let out = check(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.maxTaskDuration=P1M\n\
         druid.indexer.runner.capacity=0\n\
         druid.indexer.runner.labels={bad\n\
         druid.indexer.runner.k8s.adapter.type=foo\n\
         druid.indexer.runner.k8sJobLaunchTimeout=PT1H\n",
        &[],
    );
    let errs = errors(&out);
    assert_eq!(errs.len(), 6, "{}", stderr(&out));
    for key in [
        "druid.indexer.runner.capacity",
        "druid.indexer.runner.k8s.adapter.type",
        "druid.indexer.runner.k8sJobLaunchTimeout",
        "druid.indexer.runner.labels",
        "druid.indexer.runner.maxTaskDuration",
        "druid.indexer.runner.namespace",
    ] {
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&format!("error: {key}: "))),
            "{key} missing from:\n{}",
            stderr(&out)
        );
    }
    assert!(
        errs.iter()
            .any(|e| e.contains("did you mean druid.indexer.runner.k8sjobLaunchTimeout?")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn environment_overrides_the_file_in_druid_convention() {
    let out = check(
        &format!("{BASE}druid.indexer.runner.capacity=5\n"),
        &[
            ("druid_indexer_runner_capacity", "9"),
            (
                "druid_indexer_runner_k8s_adapter_type",
                "customTemplateAdapter",
            ),
            ("druid_indexer_runner_k8s_podTemplate_base", "/t/base.yaml"),
            (
                "druid_indexer_runner_k8s_podTemplate_index__kafka",
                "/t/kafka.yaml",
            ),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("druid.indexer.runner.capacity=9\n"), "{text}");
    assert!(
        text.contains("druid.indexer.runner.k8s.podTemplate.index_kafka=/t/kafka.yaml\n"),
        "{text}"
    );
    // a bad value from the environment is reported under its property name
    let out = check(BASE, &[("druid_indexer_runner_capacity", "0")]);
    assert_error_names(&out, "druid.indexer.runner.capacity", "out of range");
    // --ignore-env checks the file alone
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.properties");
    std::fs::write(&file, BASE).unwrap();
    let out = validate(
        &file,
        &[("druid_indexer_runner_capacity", "0")],
        &["--ignore-env"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn dynamic_config_is_checked_too() {
    let root = workspace_root().join("examples");
    let out = validate(
        &root.join("seed-custom-template.properties"),
        &[],
        &[
            "--dynamic-config",
            root.join("dynamic-config-selector.json").to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("k8s.taskrunner.config={\"type\":\"default\""));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("dyn.json");
    std::fs::write(&bad, r#"{"podTemplateSelectStrategy":{"type":"selectorBased","selectors":[{"selectionKey":"a","datasource":["w"]}]}}"#).unwrap();
    let out = validate(
        &root.join("seed-custom-template.properties"),
        &[],
        &["--dynamic-config", bad.to_str().unwrap()],
    );
    assert_error_names(
        &out,
        "k8s.taskrunner.config",
        "`podTemplateSelectStrategy.selectors[0].datasource`: unknown field",
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let out = validate(Path::new("/nonexistent/runtime.properties"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read /nonexistent/runtime.properties"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_templates_loads_every_template_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("base.yaml");
    std::fs::write(
        &good,
        "apiVersion: v1\nkind: PodTemplate\ntemplate:\n  spec:\n    restartPolicy: Never\n    containers:\n    - name: main\n      image: apache/druid:33.0.0\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "template: [unclosed\n").unwrap();
    let props = format!(
        "{BASE}druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base={}\n\
         druid.indexer.runner.k8s.podTemplate.bad={}\n",
        good.display(),
        bad.display()
    );
    let file = dir.path().join("runtime.properties");
    std::fs::write(&file, props).unwrap();
    // without the flag only the properties are checked
    assert!(validate(&file, &[], &[]).status.success());
    let out = validate(&file, &[], &["--check-templates"]);
    let errs = errors(&out);
    assert_eq!(errs.len(), 1, "{}", stderr(&out));
    assert!(
        errs[0].starts_with(
            "error: druid.indexer.runner.k8s.podTemplate.bad: Failed to load pod template file"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn server_settings_from_the_same_file_are_checked() {
    assert_error_names(
        &check(&format!("{BASE}druid.plaintextPort=http\n"), &[]),
        "druid.plaintextPort",
        "port",
    );
}
