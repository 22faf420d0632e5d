//! Server-side printing (`meta.k8s.io/v1` `Table`), which `kubectl get` asks for.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::kinds::{EVENT, JOB, KINDS, NAMESPACE, NODE, POD};
use crate::util;

fn age(obj: &Value) -> String {
    let Some(ts) = obj
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(util::parse_ts)
    else {
        return "<unknown>".to_owned();
    };
    human(jiff::Timestamp::now().as_second() - ts.as_second())
}

fn human(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        format!("{s}s")
    } else if s < 600 {
        format!("{}m{}s", s / 60, s % 60)
    } else if s < 3 * 3600 {
        format!("{}m", s / 60)
    } else if s < 48 * 3600 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86400)
    }
}

fn col(name: &str, type_: &str, priority: i32) -> Value {
    let mut c = json!({"name": name, "type": type_, "format": "", "description": name, "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn pod_cells(p: &Value) -> Vec<Value> {
    let statuses: Vec<Value> = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let total = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let mut status = s(p, "/status/phase").to_owned();
    for c in &statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            status = r.to_owned();
        } else if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
            && status == "Running"
        {
            status = r.to_owned();
        }
    }
    if p.pointer("/metadata/deletionTimestamp").is_some()
        && !matches!(status.as_str(), "Succeeded" | "Failed")
    {
        status = "Terminating".to_owned();
    }
    if status == "Succeeded" {
        status = "Completed".to_owned();
    } else if status == "Failed" {
        status = statuses
            .iter()
            .find_map(|c| {
                c.pointer("/state/terminated/reason")
                    .and_then(Value::as_str)
            })
            .unwrap_or("Error")
            .to_owned();
    }
    let restarts: i64 = statuses
        .iter()
        .filter_map(|c| c["restartCount"].as_i64())
        .sum();
    vec![
        json!(s(p, "/metadata/name")),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(p)),
        json!(if s(p, "/status/podIP").is_empty() {
            "<none>"
        } else {
            s(p, "/status/podIP")
        }),
        json!(if s(p, "/spec/nodeName").is_empty() {
            "<none>"
        } else {
            s(p, "/spec/nodeName")
        }),
    ]
}

fn job_cells(j: &Value) -> Vec<Value> {
    let cond = |t: &str| {
        j.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    let status = if cond("Complete") {
        "Complete"
    } else if cond("Failed") {
        "Failed"
    } else if cond("Suspended") {
        "Suspended"
    } else if cond("FailureTarget") {
        "FailureTarget"
    } else if cond("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    let succeeded = j
        .pointer("/status/succeeded")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let completions = j
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .map_or_else(
            || {
                format!(
                    "{succeeded}/1 of {}",
                    j.pointer("/spec/parallelism")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                )
            },
            |c| format!("{succeeded}/{c}"),
        );
    let start = j
        .pointer("/status/startTime")
        .and_then(Value::as_str)
        .and_then(util::parse_ts);
    let end = j
        .pointer("/status/completionTime")
        .and_then(Value::as_str)
        .and_then(util::parse_ts)
        .unwrap_or_else(jiff::Timestamp::now);
    let duration = start.map_or(String::new(), |st| human(end.as_second() - st.as_second()));
    vec![
        json!(s(j, "/metadata/name")),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age(j)),
    ]
}

type CellsFn = fn(&Value) -> Vec<Value>;

/// A `Table` of objects of `kind`.
pub(crate) fn table(kind: usize, items: &[Arc<Value>], rv: u64, cont: Option<String>) -> Value {
    let (columns, cells): (Vec<Value>, CellsFn) = match kind {
        POD => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                col("Age", "string", 0),
                col("IP", "string", 1),
                col("Node", "string", 1),
            ],
            pod_cells,
        ),
        JOB => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Completions", "string", 0),
                col("Duration", "string", 0),
                col("Age", "string", 0),
            ],
            job_cells,
        ),
        NODE => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
            ],
            |n| {
                vec![
                    json!(s(n, "/metadata/name")),
                    json!("Ready"),
                    json!("<none>"),
                    json!(age(n)),
                    json!(s(n, "/status/nodeInfo/kubeletVersion")),
                ]
            },
        ),
        NAMESPACE => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Age", "string", 0),
            ],
            |n| {
                vec![
                    json!(s(n, "/metadata/name")),
                    json!(s(n, "/status/phase")),
                    json!(age(n)),
                ]
            },
        ),
        EVENT => (
            vec![
                col("Last Seen", "string", 0),
                col("Type", "string", 0),
                col("Reason", "string", 0),
                col("Object", "string", 0),
                col("Message", "string", 0),
                col("Name", "string", 1),
            ],
            |e| {
                let last = e
                    .get("lastTimestamp")
                    .and_then(Value::as_str)
                    .and_then(util::parse_ts)
                    .map_or(String::new(), |t| {
                        human(jiff::Timestamp::now().as_second() - t.as_second())
                    });
                vec![
                    json!(last),
                    json!(s(e, "/type")),
                    json!(s(e, "/reason")),
                    json!(format!(
                        "{}/{}",
                        s(e, "/involvedObject/kind").to_lowercase(),
                        s(e, "/involvedObject/name")
                    )),
                    json!(s(e, "/message")),
                    json!(s(e, "/metadata/name")),
                ]
            },
        ),
        _ => (
            vec![col("Name", "string", 0), col("Age", "string", 0)],
            |o| vec![json!(s(o, "/metadata/name")), json!(age(o))],
        ),
    };
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            json!({
                "cells": cells(o),
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                }
            })
        })
        .collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let _ = KINDS[kind].kind;
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_ages() {
        assert_eq!(human(5), "5s");
        assert_eq!(human(130), "2m10s");
        assert_eq!(human(3600), "60m");
        assert_eq!(human(5 * 3600), "5h");
        assert_eq!(human(3 * 86400), "3d");
    }

    #[test]
    fn job_table_row() {
        let j = Arc::new(
            json!({"metadata": {"name": "j"}, "spec": {"completions": 1},
            "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}}),
        );
        let t = table(JOB, &[j], 5, None);
        assert_eq!(t["rows"][0]["cells"][1], "Complete");
        assert_eq!(t["rows"][0]["cells"][2], "1/1");
    }
}
