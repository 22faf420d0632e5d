//! Invariants of names, labels, the payload codec and memory sizing, for arbitrary inputs.

use druid_k8s_adapters::payload::{self, MAX_INLINE_PAYLOAD_CHARS};
use druid_k8s_adapters::sizing::container_memory_bytes;
use druid_k8s_adapters::{
    InMemoryTemplateSource, JobPayload, RenderRequest, generic_label, job_name, render,
    task_from_job, task_id_from_job, task_id_label,
};
use druid_k8s_model::Task;
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use proptest::prelude::*;

/// DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Label value: empty, or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return true;
    }
    b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Decimal (k, m, g) and binary (KiB, MiB, GiB) units with their multipliers; mixed case.
fn unit() -> impl Strategy<Value = (String, u64)> {
    prop_oneof![
        Just((String::new(), 1)),
        Just(("k".to_owned(), 1_000)),
        Just(("K".to_owned(), 1_000)),
        Just(("m".to_owned(), 1_000_000)),
        Just(("M".to_owned(), 1_000_000)),
        Just(("g".to_owned(), 1_000_000_000)),
        Just(("G".to_owned(), 1_000_000_000)),
        Just(("KiB".to_owned(), 1 << 10)),
        Just(("kib".to_owned(), 1 << 10)),
        Just(("MiB".to_owned(), 1 << 20)),
        Just(("Mi".to_owned(), 1 << 20)),
        Just(("GiB".to_owned(), 1 << 30)),
    ]
}

/// A size option value: a number and a unit, with its byte count.
fn size() -> impl Strategy<Value = (String, u64)> {
    (0u64..100_000, unit()).prop_map(|(n, (u, mult))| (format!("{n}{u}"), n * mult))
}

fn expected_memory(heap: u64, direct: u64) -> u64 {
    ((heap + direct) as f64 * 1.2) as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn job_names_are_dns_labels(id in "\\PC{0,200}", prefix in prop_oneof![Just(String::new()), "\\PC{0,40}"]) {
        let name = job_name(&prefix, &id);
        prop_assert!(is_dns1123_label(&name), "{name:?} from prefix {prefix:?} id {id:?}");
    }

    #[test]
    fn label_values_are_valid(value in "\\PC{0,200}") {
        let a = task_id_label(&value);
        let b = generic_label(&value);
        prop_assert!(is_label_value(&a), "{a:?}");
        prop_assert!(is_label_value(&b), "{b:?}");
        // Sanitising is idempotent.
        prop_assert_eq!(task_id_label(&a), a);
        prop_assert_eq!(generic_label(&b), b);
    }

    #[test]
    fn distinct_ids_give_distinct_names(a in "\\PC{0,80}", b in "\\PC{0,80}", prefix in prop_oneof![Just(String::new()), "[a-z]{1,10}"]) {
        prop_assume!(a != b);
        prop_assert_ne!(job_name(&prefix, &a), job_name(&prefix, &b));
    }

    #[test]
    fn near_identical_long_ids_give_distinct_names(head in "[a-z0-9_]{40,60}", x in "[a-z]{1,5}", y in "[a-z]{1,5}") {
        // Same 30-character head: only the hash tells them apart (upstream #14620).
        prop_assume!(x != y);
        let (a, b) = (format!("{head}{x}"), format!("{head}{y}"));
        prop_assert_ne!(job_name("", &a), job_name("", &b));
    }

    #[test]
    fn codec_round_trips(text in "\\PC{0,2000}") {
        let encoded = payload::encode(text.as_bytes());
        prop_assert!(encoded.starts_with("H4sI"));
        prop_assert!(encoded.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')));
        prop_assert_eq!(payload::decode(&encoded).unwrap(), text);
        prop_assert_eq!(payload::fits_inline(encoded.len()), encoded.len() <= MAX_INLINE_PAYLOAD_CHARS);
    }

    #[test]
    fn memory_formula((xmx, heap) in size(), (dbb, direct) in size()) {
        let opts = vec![format!("-Xmx{xmx}"), format!("-XX:MaxDirectMemorySize={dbb}")];
        prop_assert_eq!(container_memory_bytes(&opts).unwrap(), expected_memory(heap, direct));
        // Without MaxDirectMemorySize, direct memory defaults to the heap.
        prop_assert_eq!(container_memory_bytes(&opts[..1]).unwrap(), expected_memory(heap, heap));
    }

    #[test]
    fn last_token_wins(sizes in prop::collection::vec(size(), 1..6), dbbs in prop::collection::vec(size(), 0..4), noise in prop::collection::vec("-D[a-z]{1,8}=[a-z0-9]{0,8}", 0..4)) {
        let mut opts: Vec<String> = Vec::new();
        for (i, (xmx, _)) in sizes.iter().enumerate() {
            opts.push(format!("-Xmx{xmx}"));
            if let Some((dbb, _)) = dbbs.get(i) {
                opts.push(format!("-XX:MaxDirectMemorySize={dbb}"));
            }
            opts.extend(noise.iter().cloned());
        }
        let heap = sizes.last().map(|s| s.1).unwrap_or_default();
        let direct = dbbs[..dbbs.len().min(sizes.len())].last().map_or(heap, |d| d.1);
        prop_assert_eq!(container_memory_bytes(&opts).unwrap(), expected_memory(heap, direct));
    }
}

fn template_config() -> RunnerConfig {
    let raw = RawConfig::from_properties(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=ns\n\
         druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base=/unused\n",
    )
    .unwrap();
    RunnerConfig::from_raw(&raw).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Through the public API: any task id, type and datasource give a Job whose name and every
    /// label value are valid, and restore reads back the same task.
    #[test]
    fn rendered_jobs_are_valid_and_restorable(
        id in "\\PC{1,120}",
        task_type in "[a-z_]{1,20}",
        data_source in "\\PC{0,100}",
        group in prop::option::of("\\PC{1,80}"),
    ) {
        let config = template_config();
        let mut templates = InMemoryTemplateSource::new();
        templates
            .insert_yaml("base", "template:\n  spec:\n    containers:\n    - {name: main, image: x}\n")
            .unwrap();
        let mut value = serde_json::json!({"type": task_type, "id": id, "dataSource": data_source});
        if let Some(group) = &group {
            value["groupId"] = group.clone().into();
        }
        let task = Task::from_value(value).unwrap();
        let rendered = render(&RenderRequest::new(&config, &task).with_templates(&templates)).unwrap();
        let job = rendered.job;
        let name = job.metadata.name.clone().unwrap();
        prop_assert!(is_dns1123_label(&name), "{name:?}");
        let pod_labels = job.spec.as_ref().unwrap().template.metadata.as_ref().unwrap().labels.clone().unwrap();
        for (key, value) in job.metadata.labels.iter().flatten().chain(pod_labels.iter()) {
            prop_assert!(is_label_value(value), "{key}={value:?}");
        }
        prop_assert_eq!(task_id_from_job(&job).unwrap(), id);
        prop_assert_eq!(task_from_job(&job).unwrap(), JobPayload::Inline(task));
    }
}

#[test]
fn check_the_checkers() {
    // The validity predicates above must be able to fail.
    assert!(!is_dns1123_label("-a"));
    assert!(!is_dns1123_label("A"));
    assert!(!is_dns1123_label(&"a".repeat(64)));
    assert!(is_dns1123_label("a-1"));
    assert!(!is_label_value("_a"));
    assert!(!is_label_value("a b"));
    assert!(is_label_value("A_b.c-d"));
}
