use super::*;

const MINIMAL: &str = "druid.indexer.runner.type=k8s\n\
    druid.indexer.runner.namespace=druid\n\
    druid.indexer.task.encapsulatedTask=true\n";

/// Parses `MINIMAL` plus `extra` properties; returns the config or the error lines.
fn check(extra: &str) -> Result<RunnerConfig, Vec<String>> {
    let raw = RawConfig::from_properties(&format!("{MINIMAL}{extra}")).expect("properties parse");
    RunnerConfig::from_raw(&raw).map_err(|e| e.errors().iter().map(ToString::to_string).collect())
}

fn errors(extra: &str) -> Vec<String> {
    match check(extra) {
        Ok(c) => panic!("expected errors for {extra:?}, got {c:?}"),
        Err(e) => e,
    }
}

fn assert_one_error(extra: &str, key: &str, needle: &str) {
    let errs = errors(extra);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("{key}: ")) && e.contains(needle)),
        "no error for {key} containing {needle:?} in {errs:#?}"
    );
}

#[test]
fn defaults_match_druid() {
    let c = check("").unwrap();
    assert_eq!(c.runner_type, RunnerType::K8s);
    assert_eq!(c.adapter_type, AdapterType::OverlordSingleContainer);
    assert_eq!(c.capacity, 2_147_483_647);
    assert_eq!(c.max_task_duration, Duration::from_secs(4 * 3600));
    assert_eq!(c.task_cleanup_delay, Duration::from_secs(172_800));
    assert_eq!(c.task_cleanup_interval, Duration::from_secs(600));
    assert_eq!(c.task_join_timeout, Duration::from_secs(60));
    assert_eq!(c.k8s_job_launch_timeout, Duration::from_secs(3600));
    assert_eq!(c.log_save_timeout, Duration::from_secs(300));
    assert_eq!(
        c.k8s_shared_informer_resync_period,
        Duration::from_secs(300)
    );
    assert_eq!(c.kubexit_image, "karlkfi/kubexit:v0.3.2");
    assert_eq!(c.sidecar_mode, SidecarMode::Kubexit);
    assert_eq!(c.base_task_dir, PathBuf::from("/tmp/persistent/task"));
    assert_eq!(
        c.task_logs,
        TaskLogsConfig::File {
            directory: PathBuf::from("log")
        }
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let mut defaults = RunnerConfig::for_namespace("druid");
    defaults.properties = c.properties.clone();
    assert_eq!(c, defaults);
}

#[test]
fn the_four_acceptance_failures_name_their_key() {
    assert_one_error(
        "druid.indexer.runner.maxTaskDuration=P1M\n",
        "druid.indexer.runner.maxTaskDuration",
        "months",
    );
    assert_one_error(
        "druid.indexer.runner.capacity=0\n",
        "druid.indexer.runner.capacity",
        "1 to 2147483647",
    );
    assert_one_error(
        "druid.indexer.runner.labels={bad\n",
        "druid.indexer.runner.labels",
        "JSON object",
    );
    assert_one_error(
        "druid.indexer.runner.k8s.adapter.type=foo\n",
        "druid.indexer.runner.k8s.adapter.type",
        "customTemplateAdapter",
    );
}

#[test]
fn all_errors_are_collected() {
    let errs = errors(
        "druid.indexer.runner.maxTaskDuration=P1M\n\
         druid.indexer.runner.capacity=0\n\
         druid.indexer.runner.labels={bad\n\
         druid.indexer.runner.k8s.adapter.type=foo\n\
         druid.indexer.runner.debugJobs=yes\n\
         druid.indexer.runner.namespac=x\n",
    );
    assert_eq!(errs.len(), 6, "{errs:#?}");
    let mut sorted = errs.clone();
    sorted.sort();
    assert_eq!(errs, sorted, "errors are in key order");
}

#[test]
fn runner_type_rules() {
    let raw = RawConfig::new().with("druid.indexer.runner.namespace", "a");
    let e = RunnerConfig::from_raw(&raw).unwrap_err();
    assert!(e.mentions("druid.indexer.runner.type"), "{e}");
    let raw = raw.with("druid.indexer.runner.type", "multik8s");
    let e = RunnerConfig::from_raw(&raw).unwrap_err().to_string();
    assert!(e.contains("not supported yet"), "{e}");
    let raw = RawConfig::new()
        .with("druid.indexer.runner.namespace", "a")
        .with("druid.indexer.runner.type", "httpRemote");
    let e = RunnerConfig::from_raw(&raw).unwrap_err().to_string();
    assert!(e.contains("`k8s` or `k8sAndWorker`"), "{e}");
}

#[test]
fn namespace_is_required_and_checked() {
    let raw = RawConfig::new().with("druid.indexer.runner.type", "k8s");
    let e = RunnerConfig::from_raw(&raw).unwrap_err().to_string();
    assert!(
        e.starts_with("druid.indexer.runner.namespace: required"),
        "{e}"
    );
    assert_one_error(
        "druid.indexer.runner.namespace=Not_Valid\n",
        "druid.indexer.runner.namespace",
        "DNS-1123",
    );
}

#[test]
fn adapter_and_sidecar_support() {
    let c = check("druid.indexer.runner.sidecarSupport=true\n").unwrap();
    assert_eq!(c.adapter_type, AdapterType::OverlordMultiContainer);
    let c = check(
        "druid.indexer.runner.sidecarSupport=true\n\
         druid.indexer.runner.k8s.adapter.type=overlordMultiContainer\n",
    )
    .unwrap();
    assert_eq!(c.adapter_type, AdapterType::OverlordMultiContainer);
    assert_one_error(
        "druid.indexer.runner.sidecarSupport=true\n\
         druid.indexer.runner.k8s.adapter.type=overlordSingleContainer\n",
        "druid.indexer.runner.sidecarSupport",
        "overlordMultiContainer",
    );
    let c = check("druid.indexer.runner.k8s.sidecarMode=native\ndruid.indexer.runner.k8s.adapter.type=overlordMultiContainer\n").unwrap();
    assert_eq!(c.sidecar_mode, SidecarMode::Native);
    assert_one_error(
        "druid.indexer.runner.k8s.sidecarMode=istio\n",
        "druid.indexer.runner.k8s.sidecarMode",
        "`kubexit` or `native`",
    );
}

#[test]
fn custom_template_adapter_needs_base() {
    assert_one_error(
        "druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.index_kafka=/k.yaml\n",
        "druid.indexer.runner.k8s.podTemplate.base",
        "Pod template task adapter requires a base pod template to be specified under druid.indexer.runner.k8s.podTemplate.base",
    );
    let c = check(
        "druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/base.yaml\n\
         druid.indexer.runner.k8s.podTemplate.index_kafka=/k.yaml\n",
    )
    .unwrap();
    assert_eq!(
        c.pod_templates.keys().collect::<Vec<_>>(),
        vec!["base", "index_kafka"]
    );
    assert_eq!(c.pod_templates["base"], PathBuf::from("/base.yaml"));
}

#[test]
fn template_key_is_the_last_segment_and_unique() {
    let c = check(
        "druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/base.yaml\n\
         druid.indexer.runner.k8s.podTemplate.team.a.big=/big.yaml\n",
    )
    .unwrap();
    assert_eq!(c.pod_templates["big"], PathBuf::from("/big.yaml"));
    assert_one_error(
        "druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/base.yaml\n\
         druid.indexer.runner.k8s.podTemplate.x.base=/other.yaml\n",
        "druid.indexer.runner.k8s.podTemplate.x.base",
        "also set by druid.indexer.runner.k8s.podTemplate.base",
    );
}

#[test]
fn templates_with_other_adapters_are_a_warning() {
    let c = check("druid.indexer.runner.k8s.podTemplate.base=/base.yaml\n").unwrap();
    assert_eq!(c.warnings.len(), 1);
    assert_eq!(
        c.warnings[0].key,
        "druid.indexer.runner.k8s.podTemplate.base"
    );
}

#[test]
fn json_values() {
    let c = check(
        "druid.indexer.runner.labels={\"team\":\"ingest\",\"n\":3}\n\
         druid.indexer.runner.annotations={\"example.com/owner\":\"me and you\"}\n\
         druid.indexer.runner.javaOptsArray=[\"-Xmx2g\",\"-Dfoo=bar baz\"]\n\
         druid.indexer.runner.peonMonitors={}\n",
    )
    .unwrap();
    assert_eq!(c.labels["n"], "3");
    assert_eq!(c.annotations["example.com/owner"], "me and you");
    assert_eq!(c.java_opts_array, vec!["-Xmx2g", "-Dfoo=bar baz"]);
    assert!(c.peon_monitors.is_empty());
    assert_one_error(
        "druid.indexer.runner.javaOptsArray=-Xmx1g\n",
        "druid.indexer.runner.javaOptsArray",
        "JSON array",
    );
    assert_one_error(
        "druid.indexer.runner.peonMonitors=[1]\n",
        "druid.indexer.runner.peonMonitors",
        "number 1",
    );
    assert_one_error(
        "druid.indexer.runner.labels={\"a\":{\"b\":1}}\n",
        "druid.indexer.runner.labels",
        "entry \"a\"",
    );
    assert_one_error(
        "druid.indexer.runner.labels={\"a\":\"has space\"}\n",
        "druid.indexer.runner.labels",
        "label value",
    );
    assert_one_error(
        "druid.indexer.runner.labels=[\"a\"]\n",
        "druid.indexer.runner.labels",
        "found an array",
    );
}

#[test]
fn numbers_and_booleans() {
    assert_one_error(
        "druid.indexer.runner.capacity=many\n",
        "druid.indexer.runner.capacity",
        "\"many\"",
    );
    assert_one_error(
        "druid.indexer.runner.capacity=2147483648\n",
        "druid.indexer.runner.capacity",
        "out of range",
    );
    assert_one_error(
        "druid.indexer.runner.graceTerminationPeriodSeconds=PT30S\n",
        "druid.indexer.runner.graceTerminationPeriodSeconds",
        "not a period",
    );
    assert_one_error(
        "druid.indexer.runner.debugJobs=1\n",
        "druid.indexer.runner.debugJobs",
        "true or false",
    );
    let c = check(
        "druid.indexer.runner.capacity=1\n\
         druid.indexer.runner.debugJobs=TRUE\n\
         druid.indexer.runner.graceTerminationPeriodSeconds=45\n\
         druid.indexer.runner.cpuCoreInMicro=-5\n",
    )
    .unwrap();
    assert_eq!(c.capacity, 1);
    assert!(c.debug_jobs);
    assert_eq!(c.grace_termination_period_seconds, Some(45));
    assert_eq!(c.cpu_core_in_micro, -5);
}

#[test]
fn periods_are_checked_per_key() {
    for key in [
        "maxTaskDuration",
        "taskCleanupDelay",
        "taskCleanupInterval",
        "taskJoinTimeout",
        "k8sjobLaunchTimeout",
        "logSaveTimeout",
        "k8sSharedInformerResyncPeriod",
    ] {
        assert_one_error(
            &format!("druid.indexer.runner.{key}=P1Y\n"),
            &format!("druid.indexer.runner.{key}"),
            "months or years",
        );
        assert_one_error(
            &format!("druid.indexer.runner.{key}=10 minutes\n"),
            &format!("druid.indexer.runner.{key}"),
            "ISO-8601",
        );
    }
    assert_one_error(
        "druid.indexer.runner.taskCleanupInterval=PT0S\n",
        "druid.indexer.runner.taskCleanupInterval",
        "longer than zero",
    );
    let c = check("druid.indexer.runner.k8sjobLaunchTimeout=PT90m\n").unwrap();
    assert_eq!(c.k8s_job_launch_timeout, Duration::from_secs(5400));
}

#[test]
fn unknown_runner_keys_get_a_suggestion() {
    assert_one_error(
        "druid.indexer.runner.k8sJobLaunchTimeout=PT1H\n",
        "druid.indexer.runner.k8sJobLaunchTimeout",
        "did you mean druid.indexer.runner.k8sjobLaunchTimeout?",
    );
    assert_one_error(
        "druid.indexer.runner.javaOpts=-Xmx1g\n",
        "druid.indexer.runner.javaOpts",
        "javaOptsArray",
    );
    // keys of the worker runners and other Druid prefixes are not flagged
    check(
        "druid.indexer.runner.taskAssignmentTimeout=PT10M\n\
         druid.indexer.queue.maxSize=10\n\
         druid.processing.intermediaryData.storage.type=deepstore\n",
    )
    .unwrap();
}

#[test]
fn k8s_and_worker() {
    let base = "druid.indexer.runner.type=k8sAndWorker\ndruid.indexer.runner.namespace=druid\n";
    let parse = |extra: &str| {
        RunnerConfig::from_raw(&RawConfig::from_properties(&format!("{base}{extra}")).unwrap())
    };
    let c = parse("").unwrap();
    let kw = c.k8s_and_worker.unwrap();
    assert_eq!(kw.runner_strategy, RunnerStrategy::K8s);
    assert_eq!(kw.worker_type, WorkerType::HttpRemote);
    let c = parse(
        "druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=worker\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={\"index_kafka\":\"k8s\"}\n",
    )
    .unwrap();
    let strategy = c.k8s_and_worker.unwrap().runner_strategy;
    assert_eq!(strategy.runner_for("index_kafka"), RunnerKind::K8s);
    assert_eq!(strategy.runner_for("index"), RunnerKind::Worker);

    let e =
        parse("druid.indexer.runner.k8sAndWorker.runnerStrategy.workerType=remote\n").unwrap_err();
    assert!(e.to_string().contains("use `httpRemote`"), "{e}");
    let e = parse(
        "druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={\"index\":\"mm\"}\n",
    )
    .unwrap_err();
    assert!(
        e.mentions("druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides"),
        "{e}"
    );
    assert!(
        e.mentions("druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default"),
        "{e}"
    );
    let e = parse("druid.indexer.runner.k8sAndWorker.runnerStrategy.type=random\n").unwrap_err();
    assert!(e.mentions("druid.indexer.runner.k8sAndWorker.runnerStrategy.type"));
    // Druid's Kubernetes node discovery of workers
    assert_eq!(parse("").unwrap().k8s_and_worker.unwrap().discovery, None);
    let c =
        parse("druid.discovery.type=k8s\ndruid.discovery.k8s.clusterIdentifier=prod\n").unwrap();
    assert_eq!(
        c.k8s_and_worker.unwrap().discovery,
        Some(K8sDiscoveryConfig {
            cluster_identifier: "prod".into(),
            namespace: "druid".into()
        })
    );
    let e = parse("druid.discovery.type=k8s\n").unwrap_err();
    assert!(e.mentions("druid.discovery.k8s.clusterIdentifier"), "{e}");
    assert_eq!(
        parse("druid.discovery.type=curator\n")
            .unwrap()
            .k8s_and_worker
            .unwrap()
            .discovery,
        None
    );
    // with plain k8s the strategy keys are ignored with a warning
    let c = check("druid.indexer.runner.k8sAndWorker.runnerStrategy.type=worker\n").unwrap();
    assert!(c.k8s_and_worker.is_none());
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn task_logs() {
    let c = check(
        "druid.indexer.logs.type=s3\n\
         druid.indexer.logs.s3Bucket=logs\n\
         druid.indexer.logs.s3Prefix=druid/task-logs\n\
         druid.s3.accessKey=AKIA\n\
         druid.s3.secretKey=shh\n",
    )
    .unwrap();
    match &c.task_logs {
        TaskLogsConfig::S3 {
            bucket,
            prefix,
            secret_key,
            ..
        } => {
            assert_eq!(
                (bucket.as_str(), prefix.as_str()),
                ("logs", "druid/task-logs")
            );
            assert_eq!(secret_key.as_ref().unwrap().expose(), "shh");
        }
        other => panic!("{other:?}"),
    }
    let debug = format!("{c:?}");
    assert!(!debug.contains("shh") && !debug.contains("AKIA"), "{debug}");
    let errs = errors("druid.indexer.logs.type=s3\n");
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_one_error(
        "druid.indexer.logs.type=hdfs\n",
        "druid.indexer.logs.type",
        "`file` or `s3`",
    );
    let c =
        check("druid.indexer.logs.type=file\ndruid.indexer.logs.directory=/druid/logs\n").unwrap();
    assert_eq!(
        c.task_logs,
        TaskLogsConfig::File {
            directory: "/druid/logs".into()
        }
    );
}

#[test]
fn task_dirs_and_tls() {
    let c = check("druid.indexer.task.baseDir=/data\ndruid.enableTlsPort=true\n").unwrap();
    assert_eq!(c.base_task_dir, PathBuf::from("/data/persistent/task"));
    assert_eq!(c.task_dir("t1"), PathBuf::from("/data/persistent/task/t1"));
    assert!(c.enable_tls_port);
    let c = check("druid.indexer.task.baseTaskDir=/druid/data\n").unwrap();
    assert_eq!(c.base_task_dir, PathBuf::from("/druid/data"));
}

#[test]
fn encapsulated_task_warning() {
    let raw = RawConfig::new()
        .with("druid.indexer.runner.type", "k8s")
        .with("druid.indexer.runner.namespace", "a");
    let c = RunnerConfig::from_raw(&raw).unwrap();
    assert!(!c.encapsulated_task);
    assert_eq!(c.warnings[0].key, "druid.indexer.task.encapsulatedTask");
}

#[test]
fn effective_properties_mask_secrets_and_include_defaults() {
    let c = check(
        "druid.metadata.storage.connector.password=hunter2\n\
         druid.indexer.runner.capacity=7\n",
    )
    .unwrap();
    let eff = c.effective_properties();
    assert_eq!(eff["druid.metadata.storage.connector.password"], MASK);
    assert_eq!(eff["druid.indexer.runner.capacity"], "7");
    assert_eq!(eff["druid.indexer.runner.maxTaskDuration"], "PT4H");
    assert_eq!(eff["druid.indexer.runner.taskCleanupDelay"], "P2D");
    assert_eq!(
        eff["druid.indexer.runner.k8s.adapter.type"],
        "overlordSingleContainer"
    );
    assert!(!eff.values().any(|v| v.contains("hunter2")));
}

#[test]
fn label_key_rules() {
    for ok in ["a", "app.kubernetes.io/name", "example.com/A_b-c.d", "x1"] {
        assert!(is_valid_label_key(ok), "{ok}");
    }
    for bad in [
        "",
        "-a",
        "a-",
        "Example.com/x",
        "a/b/c",
        "/x",
        &"a".repeat(64),
    ] {
        assert!(!is_valid_label_key(bad), "{bad}");
    }
    assert!(is_valid_label_value(""));
    assert!(!is_valid_label_value("a b"));
}

#[test]
fn overlord_namespace_must_be_a_label_value() {
    assert_one_error(
        "druid.indexer.runner.overlordNamespace=druid overlord\n",
        "druid.indexer.runner.overlordNamespace",
        "druid.overlord.namespace label",
    );
    let c = check("druid.indexer.runner.overlordNamespace=druid-overlord\n").unwrap();
    assert_eq!(c.overlord_namespace_label_value(), "druid-overlord");
    assert_eq!(check("").unwrap().overlord_namespace_label_value(), "druid");
}

#[test]
fn s3_endpoint_gets_a_scheme() {
    let endpoint = |extra: &str| {
        match check(&format!(
        "druid.indexer.logs.type=s3\ndruid.indexer.logs.s3Bucket=b\ndruid.indexer.logs.s3Prefix=p\n{extra}"
    ))
    .unwrap()
    .task_logs
    {
        TaskLogsConfig::S3 { endpoint_url, .. } => endpoint_url,
        other => panic!("{other:?}"),
    }
    };
    assert_eq!(endpoint(""), None);
    assert_eq!(
        endpoint("druid.s3.endpoint.url=minio:9000\ndruid.s3.protocol=http\n").as_deref(),
        Some("http://minio:9000")
    );
    assert_eq!(
        endpoint("druid.s3.endpoint.url=s3.example.com\n").as_deref(),
        Some("https://s3.example.com")
    );
    assert_eq!(
        endpoint("druid.s3.endpoint.url=http://127.0.0.1:9000\n").as_deref(),
        Some("http://127.0.0.1:9000")
    );
    assert_one_error(
        "druid.indexer.logs.type=s3\ndruid.indexer.logs.s3Bucket=b\ndruid.indexer.logs.s3Prefix=p\ndruid.s3.protocol=ftp\n",
        "druid.s3.protocol",
        "`http` or `https`",
    );
}

/// The seed's k8sAndWorker property table parses and its defaults hold.
#[test]
fn seed_k8s_and_worker_property_table_parses_and_its_defaults_hold() {
    let parse = |text: &str| RunnerConfig::from_raw(&RawConfig::from_properties(text).unwrap());
    // `druid.indexer.runner.type: k8sAndWorker` alone: strategy `k8s`, worker type `httpRemote`,
    // and the worker-runner defaults.
    let c = parse("druid.indexer.runner.type=k8sAndWorker\ndruid.indexer.runner.namespace=druid\n")
        .unwrap();
    assert_eq!(c.runner_type, RunnerType::K8sAndWorker);
    let kw = c.k8s_and_worker.clone().unwrap();
    assert_eq!(kw.runner_strategy, RunnerStrategy::K8s);
    assert_eq!(
        kw.runner_strategy.runner_for("index_kafka"),
        RunnerKind::K8s
    );
    assert_eq!(kw.worker_type, WorkerType::HttpRemote);
    assert!(kw.workers.is_empty());
    assert_eq!(kw.worker_capacity, 1);
    assert_eq!(kw.min_worker_version, "0");
    assert_eq!(
        kw.task_assignment_timeout,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(kw.task_cleanup_timeout, std::time::Duration::from_secs(900));
    assert_eq!(kw.sync_request_timeout, std::time::Duration::from_secs(180));
    assert_eq!(
        kw.server_unstability_timeout,
        std::time::Duration::from_secs(60)
    );
    let eff = c.effective_properties();
    assert_eq!(
        eff.get("druid.indexer.runner.k8sAndWorker.runnerStrategy.type")
            .map(String::as_str),
        Some("k8s")
    );
    assert_eq!(
        eff.get("druid.indexer.runner.k8sAndWorker.runnerStrategy.workerType")
            .map(String::as_str),
        Some("httpRemote")
    );

    // every row of the table, with the seed's example values
    let c = parse(
        "druid.indexer.runner.type=k8sAndWorker\n\
         druid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.workerType=httpRemote\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=k8s\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={\"index_kafka\": \"worker\"}\n\
         druid.indexer.runner.k8sAndWorker.workers=mm1:8091, https://mm2.example:8291\n\
         druid.indexer.runner.k8sAndWorker.workerCapacity=3\n\
         druid.indexer.runner.minWorkerVersion=2\n\
         druid.indexer.runner.taskCleanupTimeout=PT30S\n",
    )
    .unwrap();
    let kw = c.k8s_and_worker.unwrap();
    assert_eq!(kw.runner_strategy.type_name(), "taskType");
    assert_eq!(
        kw.runner_strategy.runner_for("index_kafka"),
        RunnerKind::Worker
    );
    assert_eq!(
        kw.runner_strategy.runner_for("index_parallel"),
        RunnerKind::K8s
    );
    assert_eq!(kw.workers, ["mm1:8091", "https://mm2.example:8291"]);
    assert_eq!(kw.worker_capacity, 3);
    assert_eq!(kw.min_worker_version, "2");
    assert_eq!(kw.task_cleanup_timeout, std::time::Duration::from_secs(30));

    // `taskType.overrides` defaults to `{}`: everything goes to the default
    let c = parse(
        "druid.indexer.runner.type=k8sAndWorker\ndruid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=worker\n",
    )
    .unwrap();
    let strategy = c.k8s_and_worker.unwrap().runner_strategy;
    assert_eq!(strategy.runner_for("index_kafka"), RunnerKind::Worker);
    assert_eq!(strategy.runner_for("compact"), RunnerKind::Worker);
    // `worker` strategy
    let c = parse(
        "druid.indexer.runner.type=k8sAndWorker\ndruid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=worker\n",
    )
    .unwrap();
    assert_eq!(
        c.k8s_and_worker
            .unwrap()
            .runner_strategy
            .runner_for("index"),
        RunnerKind::Worker
    );

    // a malformed worker list names the key
    let e = parse(
        "druid.indexer.runner.type=k8sAndWorker\ndruid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8sAndWorker.workers=mm1\n",
    )
    .unwrap_err();
    assert!(
        e.mentions("druid.indexer.runner.k8sAndWorker.workers"),
        "{e}"
    );
}
