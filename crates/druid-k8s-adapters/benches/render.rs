//! Rendering cost per adapter for a ~10 KB task, against the floor of serialising the same Job
//! plus gzip+base64 of the payload alone (work any renderer must do).
//!
//! Run: `cargo bench -p druid-k8s-adapters --bench render -- --warm-up-time 2 --measurement-time 5`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use druid_k8s_adapters::{InMemoryTemplateSource, RenderRequest, payload, render};
use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use k8s_openapi::api::core::v1::Pod;

/// A realistic `index_parallel` task of about 10 KB (350 dimensions, 60 metrics).
fn task_10kb() -> Task {
    let dimensions: Vec<String> = (0..350).map(|i| format!("dimension_{i:03}")).collect();
    let metrics: Vec<serde_json::Value> = (0..60)
        .map(|i| serde_json::json!({"type": "longSum", "name": format!("metric_{i}"), "fieldName": format!("field_{i}")}))
        .collect();
    let value = serde_json::json!({
        "type": "index_parallel",
        "id": "index_parallel_wikipedia_kdlhjnfg_2024-05-01T10:00:00.000Z",
        "groupId": "index_parallel_wikipedia_kdlhjnfg_2024-05-01T10:00:00.000Z",
        "dataSource": "wikipedia",
        "context": {"forceTimeChunkLock": true, "druid.indexer.runner.javaOpts": "-Xmx2g -XX:MaxDirectMemorySize=3g"},
        "spec": {
            "dataSchema": {
                "dataSource": "wikipedia",
                "timestampSpec": {"column": "time", "format": "iso"},
                "dimensionsSpec": {"dimensions": dimensions},
                "metricsSpec": metrics,
                "granularitySpec": {"segmentGranularity": "day", "queryGranularity": "none", "rollup": false}
            },
            "ioConfig": {"type": "index_parallel", "inputSource": {"type": "s3", "prefixes": ["s3://bucket/wikipedia/2024/05/01/"]}, "inputFormat": {"type": "json"}},
            "tuningConfig": {"type": "index_parallel", "maxNumConcurrentSubTasks": 4, "partitionsSpec": {"type": "dynamic"}}
        }
    });
    Task::from_value(value).expect("the bench task is valid")
}

const OVERLORD_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: druid-overlord-0
spec:
  serviceAccountName: druid
  containers:
    - name: druid
      image: apache/druid:33.0.0
      command: ["/druid.sh", "overlord"]
      env:
        - {name: druid_service, value: druid/overlord}
        - {name: druid_indexer_logs_type, value: s3}
      resources:
        requests: {cpu: "1", memory: 2Gi, ephemeral-storage: 1Gi}
        limits: {cpu: "1", memory: 2Gi, ephemeral-storage: 10Gi}
      readinessProbe: {httpGet: {path: /status/health, port: 8090}}
      volumeMounts: [{name: conf, mountPath: /opt/druid/conf}]
    - name: log-shipper
      image: fluent/fluent-bit:3.0
      command: ["/fluent-bit/bin/fluent-bit", "-c", "/conf/fluent-bit.conf"]
  volumes:
    - name: conf
      configMap: {name: druid-conf}
"#;

const TEMPLATE: &str = r#"
apiVersion: v1
kind: PodTemplate
template:
  metadata:
    labels: {app.kubernetes.io/name: druid-peon}
  spec:
    restartPolicy: Never
    containers:
      - name: main
        image: apache/druid:33.0.0
        command: [sh, -c, "/peon.sh /druid/data 1"]
        env: [{name: CUSTOM_ENV_VARIABLE, value: hello}]
        resources:
          limits: {cpu: "1", memory: 2400M}
          requests: {cpu: "1", memory: 2400M}
        volumeMounts: [{name: data-volume, mountPath: /druid/data}]
    volumes: [{name: data-volume, emptyDir: {}}]
"#;

fn config(adapter: &str) -> RunnerConfig {
    let raw = RawConfig::from_properties(&format!(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.k8s.adapter.type={adapter}\n\
         druid.indexer.runner.k8s.podTemplate.base=/unused\n\
         druid.indexer.runner.javaOptsArray=[\"-Xmx1g\",\"-XX:MaxDirectMemorySize=1g\"]\n\
         druid.indexer.runner.labels={{\"team\":\"ingest\"}}\n"
    ))
    .expect("bench properties parse");
    RunnerConfig::from_raw(&raw).expect("bench config is valid")
}

fn bench(c: &mut Criterion) {
    let task = task_10kb();
    let task_json = task.to_json_string();
    let pod: Pod = serde_saphyr::from_str(OVERLORD_POD).expect("bench pod parses");
    let mut templates = InMemoryTemplateSource::new();
    templates
        .insert_yaml("base", TEMPLATE)
        .expect("bench template parses");

    let mut group = c.benchmark_group("render_10kb_task");
    group.throughput(criterion::Throughput::Bytes(task_json.len() as u64));
    for adapter in [
        "overlordSingleContainer",
        "overlordMultiContainer",
        "customTemplateAdapter",
    ] {
        let config = config(adapter);
        let request = RenderRequest::new(&config, &task)
            .with_overlord_pod(&pod)
            .with_templates(&templates);
        let job = render(&request).expect("bench render works").job;
        group.bench_function(format!("{adapter}/render+serialise"), |b| {
            b.iter(|| {
                let rendered = render(black_box(&request)).expect("render works");
                serde_json::to_vec(&rendered.job).expect("serialises")
            });
        });
        group.bench_function(format!("{adapter}/floor"), |b| {
            b.iter(|| {
                let bytes = serde_json::to_vec(black_box(&job)).expect("serialises");
                let encoded = payload::encode(black_box(task_json.as_bytes()));
                (bytes, encoded)
            });
        });
    }
    group.finish();

    // Where the overhead over the floor goes: the task JSON is serialised once per render.
    c.bench_function("task_to_json_string_10kb", |b| {
        b.iter(|| black_box(&task).to_json_string());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
