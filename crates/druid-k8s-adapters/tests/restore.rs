//! Reading tasks back from Jobs (restore), for Jobs rendered here and by Druid's Java runner,
//! and the inline/storage threshold with no gap at exactly 130048 characters.

use druid_k8s_adapters::payload::MAX_INLINE_PAYLOAD_CHARS;
use druid_k8s_adapters::{
    AdapterError, InMemoryTemplateSource, JobPayload, PayloadPlacement, RenderRequest, render,
    task_from_job, task_id_from_job,
};
use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;

fn config(adapter: &str) -> RunnerConfig {
    let raw = RawConfig::from_properties(&format!(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=ns\n\
         druid.indexer.runner.k8s.adapter.type={adapter}\n\
         druid.indexer.runner.k8s.podTemplate.base=/unused\n"
    ))
    .unwrap();
    RunnerConfig::from_raw(&raw).unwrap()
}

fn pod() -> Pod {
    serde_saphyr::from_str(
        "metadata: {name: overlord}\nspec:\n  containers:\n  - {name: druid, image: one}\n  - {name: side, image: two, command: [run]}\n",
    )
    .unwrap()
}

fn templates() -> InMemoryTemplateSource {
    let mut t = InMemoryTemplateSource::new();
    t.insert_yaml(
        "base",
        "template:\n  spec:\n    containers:\n    - {name: main, image: one}\n",
    )
    .unwrap();
    t
}

fn task_with_padding(len: usize) -> Task {
    // Incompressible filler (xorshift over 64 symbols) so the payload size tracks `len`.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let padding: String = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [(state % 64) as usize],
            )
        })
        .collect();
    Task::from_value(serde_json::json!({
        "type": "noop", "id": "pad-task", "dataSource": "wiki", "context": {"padding": padding}
    }))
    .unwrap()
}

fn render_with(adapter: &str, task: &Task) -> druid_k8s_adapters::RenderedJob {
    let config = config(adapter);
    let pod = pod();
    let templates = templates();
    let request = RenderRequest::new(&config, task)
        .with_overlord_pod(&pod)
        .with_templates(&templates);
    render(&request).unwrap()
}

const ADAPTERS: [&str; 3] = [
    "overlordSingleContainer",
    "overlordMultiContainer",
    "customTemplateAdapter",
];

#[test]
fn inline_payload_round_trips_for_every_adapter() {
    let task = Task::from_json(
        r#"{"type":"index_kafka","id":"kafka_1","dataSource":"wiki","context":{"tags":{"a":"b"}}}"#,
    )
    .unwrap();
    for adapter in ADAPTERS {
        let job = render_with(adapter, &task).job;
        assert_eq!(task_id_from_job(&job).unwrap(), "kafka_1", "{adapter}");
        match task_from_job(&job).unwrap() {
            JobPayload::Inline(back) => assert_eq!(back, task, "{adapter}"),
            other => panic!("{adapter}: expected an inline payload, got {other:?}"),
        }
    }
}

#[test]
fn large_payload_is_in_storage_for_every_adapter() {
    let task = task_with_padding(200_000);
    for adapter in ADAPTERS {
        let rendered = render_with(adapter, &task);
        assert!(
            matches!(rendered.payload, PayloadPlacement::Storage { .. }),
            "{adapter}"
        );
        assert_eq!(
            task_from_job(&rendered.job).unwrap(),
            JobPayload::InStorage {
                task_id: "pad-task".to_owned()
            },
            "{adapter}"
        );
    }
}

/// Finds a padding whose encoded payload is exactly `target` characters long.
fn padding_for_encoded_len(target: usize) -> Task {
    let encoded_len = |n| {
        druid_k8s_adapters::payload::encode(task_with_padding(n).to_json_string().as_bytes()).len()
    };
    let (mut lo, mut hi) = (0usize, 400_000usize);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if encoded_len(mid) < target {
            lo = mid + 1
        } else {
            hi = mid
        }
    }
    let n = (lo..lo + 32)
        .find(|n| encoded_len(*n) == target)
        .unwrap_or_else(|| panic!("no padding gives exactly {target} encoded characters"));
    task_with_padding(n)
}

#[test]
fn no_gap_at_exactly_the_threshold() {
    let at_limit = padding_for_encoded_len(MAX_INLINE_PAYLOAD_CHARS);
    let above = padding_for_encoded_len(MAX_INLINE_PAYLOAD_CHARS + 4);
    for adapter in ADAPTERS {
        let rendered = render_with(adapter, &at_limit);
        assert_eq!(
            rendered.payload,
            PayloadPlacement::Inline {
                encoded_chars: MAX_INLINE_PAYLOAD_CHARS
            },
            "{adapter}"
        );
        assert!(
            matches!(task_from_job(&rendered.job).unwrap(), JobPayload::Inline(_)),
            "{adapter}"
        );
        let rendered = render_with(adapter, &above);
        assert!(
            matches!(rendered.payload, PayloadPlacement::Storage { encoded_chars, .. } if encoded_chars == MAX_INLINE_PAYLOAD_CHARS + 4),
            "{adapter}"
        );
        assert!(
            matches!(
                task_from_job(&rendered.job).unwrap(),
                JobPayload::InStorage { .. }
            ),
            "{adapter}"
        );
    }
}

/// The first part of Druid's `expectedSingleContainerOutput.yaml`: a Job made by the Java
/// runner, with its `TASK_JSON` produced by Java's GZIPOutputStream.
const JAVA_JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: id-3e70afe5cd823dfc7dd308eea616426b
spec:
  template:
    metadata:
      annotations:
        task.id: id
        tls.enabled: "false"
    spec:
      containers:
        - name: sidecar
          image: two
        - name: main
          image: one
          env:
            - name: TASK_DIR
              value: /tmp
            - name: TASK_JSON
              value: "H4sIAAAAAAAAAEVOOw7CMAy9i+cOBYmlK0KItWVhNI0BSyEOToKoqt4doxZYLPv9/EbIQyRoIIhEqICd7TYquKqUePidDjN2UrSfxYEM0xKOfDdgvalr86aW0A0z9L9bSsVnc512nZkurHSTZJJQvK+gl5DpZfwIUVmU8wDNarJ0Ssu/EfCJ7PHM3tj9p9i3ltKjWKDbYsR+sU5vP86oMNUAAAA="
"#;

#[test]
fn reads_jobs_made_by_druids_java_runner() {
    let job: Job = serde_saphyr::from_str(JAVA_JOB).unwrap();
    assert_eq!(task_id_from_job(&job).unwrap(), "id");
    match task_from_job(&job).unwrap() {
        JobPayload::Inline(task) => {
            assert_eq!(task.id(), "id");
            assert_eq!(task.task_type(), "noop");
        }
        other => panic!("expected inline, got {other:?}"),
    }
}

#[test]
fn jobs_without_annotations_are_rejected_with_the_job_name() {
    let job: Job = serde_saphyr::from_str(
        "metadata: {name: stray}\nspec:\n  template:\n    spec:\n      containers: [{name: main}]\n",
    )
    .unwrap();
    let err = task_id_from_job(&job).unwrap_err();
    assert!(matches!(err, AdapterError::NotAPeonJob { .. }));
    assert!(err.to_string().contains("stray"), "{err}");
    assert!(task_from_job(&job).is_err());

    let job: Job = serde_saphyr::from_str(
        "metadata: {name: other}\nspec:\n  template:\n    metadata: {annotations: {x: y}}\n    spec:\n      containers: [{name: main}]\n",
    )
    .unwrap();
    assert!(
        task_id_from_job(&job)
            .unwrap_err()
            .to_string()
            .contains("task.id")
    );
}

#[test]
fn corrupt_payload_is_an_error_not_a_panic() {
    let mut job = render_with(
        "customTemplateAdapter",
        &Task::from_json(r#"{"type":"noop","id":"x"}"#).unwrap(),
    )
    .job;
    let annotations = job
        .spec
        .as_mut()
        .and_then(|s| s.template.metadata.as_mut())
        .and_then(|m| m.annotations.as_mut())
        .unwrap();
    annotations.insert("task".to_owned(), "H4sI!!!".to_owned());
    assert!(matches!(task_from_job(&job), Err(AdapterError::Payload(_))));
}
