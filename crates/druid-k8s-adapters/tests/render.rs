//! Golden snapshots of rendered Jobs, one per fixture in `tests/fixtures/*.yaml` (mirroring
//! Druid's own fixtures, spec §10). The payload (`TASK_JSON` env / `task` annotation) is
//! replaced by its decoded JSON, since gzip bytes are not part of the contract.
//!
//! A fixture is YAML with `properties` (runtime.properties text), `task` (task JSON),
//! `overlordPod` (a Pod) or `templates` (key → PodTemplate), optional `executionConfig`
//! (dynamic config) and `padContext` (that many incompressible characters added to the task
//! context, to push the payload to task-log storage).

use std::collections::BTreeMap;
use std::io::Read as _;

use base64::Engine as _;
use druid_k8s_adapters::{InMemoryTemplateSource, PayloadPlacement, RenderRequest, render};
use druid_k8s_model::config::{RawConfig, RunnerConfig};
use druid_k8s_model::{DynamicConfig, Task};
use insta::internals::Content;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodTemplate};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    properties: String,
    task: serde_json::Value,
    overlord_pod: Option<Pod>,
    #[serde(default)]
    templates: BTreeMap<String, PodTemplate>,
    execution_config: Option<serde_json::Value>,
    #[serde(default)]
    pad_context: usize,
}

#[derive(Serialize)]
struct Rendered {
    adapter: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selection: Option<String>,
    payload: String,
    job: Job,
}

#[derive(Serialize)]
struct Failed {
    error: String,
}

/// Deterministic, incompressible filler (xorshift over the base64 alphabet).
fn filler(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 64) as usize])
        })
        .collect()
}

/// Decodes a payload independently of the crate's own decoder.
fn decode_payload(encoded: &str) -> serde_json::Value {
    let gz = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("payload is base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut json)
        .expect("payload is gzip of UTF-8");
    serde_json::from_str(&json).expect("payload is JSON")
}

fn json_to_content(value: &serde_json::Value) -> Content {
    match value {
        serde_json::Value::Null => Content::None,
        serde_json::Value::Bool(b) => Content::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Content::I64)
            .or_else(|| n.as_u64().map(Content::U64))
            .unwrap_or_else(|| Content::F64(n.as_f64().unwrap_or_default())),
        serde_json::Value::String(s) => Content::String(s.clone()),
        serde_json::Value::Array(items) => {
            Content::Seq(items.iter().map(json_to_content).collect())
        }
        serde_json::Value::Object(map) => Content::Map(
            map.iter()
                .map(|(k, v)| (Content::String(k.clone()), json_to_content(v)))
                .collect(),
        ),
    }
}

fn decoded_content(content: &Content) -> Content {
    let encoded = content.as_str().expect("payload is a string");
    let mut map = vec![(
        Content::String("decoded".to_owned()),
        json_to_content(&decode_payload(encoded)),
    )];
    map.push((
        Content::String("encodedPrefix".to_owned()),
        Content::String(encoded.chars().take(13).collect()),
    ));
    Content::Map(map)
}

/// Replaces the literal value of a `TASK_JSON` env var by its decoded JSON.
fn redact_env(content: Content) -> Content {
    match content {
        Content::Struct(name, mut fields) => {
            let is_task_json = fields
                .iter()
                .any(|(k, v)| *k == "name" && v.as_str() == Some("TASK_JSON"));
            if is_task_json {
                for (k, v) in &mut fields {
                    if *k == "value" {
                        *v = decoded_content(v);
                    }
                }
            }
            Content::Struct(name, fields)
        }
        other => other,
    }
}

fn check(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let fixture: Fixture = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is malformed: {e}", path.display()));
    let raw = RawConfig::from_properties(&fixture.properties).expect("properties parse");
    let config = RunnerConfig::from_raw(&raw).expect("fixture config is valid");
    let mut task_value = fixture.task;
    if fixture.pad_context > 0 {
        task_value["context"]["padding"] = filler(fixture.pad_context).into();
    }
    let task = Task::from_value(task_value.clone()).expect("fixture task is valid");
    let mut templates = InMemoryTemplateSource::new();
    for (key, template) in fixture.templates {
        templates.insert(key, template);
    }
    let dynamic = fixture
        .execution_config
        .map(|v| DynamicConfig::from_json(&v.to_string()).expect("execution config is valid"));
    let strategy = DynamicConfig::effective_strategy(dynamic.as_ref());

    let mut request = RenderRequest::new(&config, &task)
        .with_templates(&templates)
        .with_strategy(&strategy);
    if let Some(pod) = &fixture.overlord_pod {
        request = request.with_overlord_pod(pod);
    }

    let rendered = match render(&request) {
        Ok(rendered) => rendered,
        Err(e) => {
            insta::assert_yaml_snapshot!(Failed {
                error: e.to_string()
            });
            return;
        }
    };

    // Payload checks that do not depend on the snapshot: inline payloads decode to the task.
    let job_value = serde_json::to_value(&rendered.job).expect("Job serialises");
    let pod_template = &job_value["spec"]["template"];
    let annotation = pod_template["metadata"]["annotations"]["task"].as_str();
    let env_value = pod_template["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "TASK_JSON")
        .and_then(|e| e["value"].as_str());
    let payload = match &rendered.payload {
        PayloadPlacement::Inline { encoded_chars } => {
            let encoded = annotation
                .or(env_value)
                .expect("inline payload is in the Job");
            assert_eq!(encoded.len(), *encoded_chars);
            assert_eq!(decode_payload(encoded), task_value);
            format!("inline ({encoded_chars} characters)")
        }
        PayloadPlacement::Storage {
            task_json,
            encoded_chars,
        } => {
            assert!(
                annotation.is_none() && env_value.is_none(),
                "no payload in the Job"
            );
            assert!(*encoded_chars > druid_k8s_adapters::payload::MAX_INLINE_PAYLOAD_CHARS);
            let stored: serde_json::Value = serde_json::from_str(task_json).unwrap();
            assert_eq!(stored, task_value);
            format!(
                "storage (task.json, {} bytes; {encoded_chars} encoded characters)",
                task_json.len()
            )
        }
    };

    let snapshot = Rendered {
        adapter: rendered.adapter.to_string(),
        template: rendered.selection.as_ref().map(|s| s.key.clone()),
        selection: rendered.selection.as_ref().map(ToString::to_string),
        payload,
        job: rendered.job,
    };
    insta::assert_yaml_snapshot!(snapshot, {
        ".job.spec.template.metadata.annotations.task" => insta::dynamic_redaction(|v, _| decoded_content(&v)),
        ".job.spec.template.spec.containers[].env[]" => insta::dynamic_redaction(|v, _| redact_env(v)),
    });
}

#[test]
fn fixtures() {
    insta::glob!("fixtures/*.yaml", check);
}
