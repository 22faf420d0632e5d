//! Validation (422 causes with kube-apiserver's wording) and defaulting of objects on create.

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::kinds::{JOB, KINDS, NAMESPACE, POD};
use crate::quantity;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Total size limit of `metadata.annotations` (keys + values), as upstream.
pub(crate) const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

fn is_label_like(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Error message when `s` is not a DNS-1123 subdomain.
pub(crate) fn dns1123_subdomain_error(s: &str) -> Option<String> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters".to_owned());
    }
    if s.split('.').all(is_label_like) {
        None
    } else {
        Some(SUBDOMAIN_MSG.to_owned())
    }
}

/// Error message when `s` is not a DNS-1123 label.
pub(crate) fn dns1123_label_error(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    if is_label_like(s) {
        None
    } else {
        Some(LABEL_MSG.to_owned())
    }
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Error message when `k` is not a valid label or annotation key.
pub(crate) fn label_key_error(k: &str) -> Option<String> {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix part must be non-empty".to_owned());
        }
        if let Some(e) = dns1123_subdomain_error(p) {
            return Some(format!("prefix part {e}"));
        }
    }
    if name.is_empty() {
        return Some("name part must be non-empty".to_owned());
    }
    if name.len() > 63 {
        return Some("name part must be no more than 63 characters".to_owned());
    }
    if !is_qualified_name_part(name) {
        return Some(QUALIFIED_NAME_MSG.to_owned());
    }
    None
}

/// Error message when `v` is not a valid label value.
pub(crate) fn label_value_error(v: &str) -> Option<String> {
    if v.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    if v.is_empty() || is_qualified_name_part(v) {
        None
    } else {
        Some(LABEL_VALUE_MSG.to_owned())
    }
}

fn validate_labels(labels: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(labels) = labels else { return };
    let Some(map) = labels.as_object() else {
        causes.push(Cause::invalid(
            field,
            &labels.to_string(),
            "must be a map of strings",
        ));
        return;
    };
    for (k, v) in map {
        if let Some(e) = label_key_error(k) {
            causes.push(Cause::invalid(field, k, &e));
        }
        match v.as_str() {
            Some(s) => {
                if let Some(e) = label_value_error(s) {
                    causes.push(Cause::invalid(field, s, &e));
                }
            }
            None => causes.push(Cause::invalid(field, &v.to_string(), "must be a string")),
        }
    }
}

fn validate_annotations(ann: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(map) = ann.and_then(Value::as_object) else {
        return;
    };
    let mut total = 0;
    for (k, v) in map {
        if let Some(e) = label_key_error(k) {
            causes.push(Cause::invalid(field, k, &e));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > MAX_ANNOTATIONS_BYTES {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            message: format!("Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes"),
            field: field.to_owned(),
        });
    }
}

fn validate_pod_spec(spec: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = spec else {
        causes.push(Cause::required(field));
        return;
    };
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::required(format!("{field}.containers"))),
        Some(cs) if cs.is_empty() => causes.push(Cause::required(format!("{field}.containers"))),
        Some(_) => {}
    }
    let mut names = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let f = format!("{field}.{list}[{i}]");
            match c.get("name").and_then(Value::as_str) {
                None | Some("") => causes.push(Cause::required(format!("{f}.name"))),
                Some(n) => {
                    if let Some(e) = dns1123_label_error(n) {
                        causes.push(Cause::invalid(format!("{f}.name"), n, &e));
                    }
                    if names.contains(&n) {
                        causes.push(Cause {
                            reason: "FieldValueDuplicate",
                            message: format!("Duplicate value: {}", json!(n)),
                            field: format!("{f}.name"),
                        });
                    }
                    names.push(n);
                }
            }
            if c.get("image")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::required(format!("{f}.image")));
            }
            for (kind, section) in [("limits", "limits"), ("requests", "requests")] {
                if let Some(m) = c
                    .pointer(&format!("/resources/{section}"))
                    .and_then(Value::as_object)
                {
                    for (res, q) in m {
                        let s = q
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| q.to_string());
                        if quantity::parse(&s).is_none() {
                            causes.push(Cause::invalid(
                                format!("{f}.resources.{kind}[{res}]"),
                                &s,
                                "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$",
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// Validates an object about to be stored; returns the 422 causes (empty when valid).
pub(crate) fn validate(kind: usize, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        causes.push(Cause::required("metadata.name"));
    } else {
        let err = if kind == NAMESPACE {
            dns1123_label_error(name)
        } else if kind == JOB && name.len() > 63 && dns1123_subdomain_error(name).is_none() {
            Some("must be no more than 63 characters".to_owned())
        } else {
            dns1123_subdomain_error(name)
        };
        if let Some(e) = err {
            causes.push(Cause::invalid("metadata.name", name, &e));
        }
    }
    validate_labels(
        meta.and_then(|m| m.get("labels")),
        "metadata.labels",
        &mut causes,
    );
    validate_annotations(
        meta.and_then(|m| m.get("annotations")),
        "metadata.annotations",
        &mut causes,
    );
    match kind {
        POD => validate_pod_spec(obj.get("spec"), "spec", &mut causes),
        JOB => {
            let tmpl = obj.pointer("/spec/template");
            validate_labels(
                tmpl.and_then(|t| t.pointer("/metadata/labels")),
                "spec.template.metadata.labels",
                &mut causes,
            );
            validate_annotations(
                tmpl.and_then(|t| t.pointer("/metadata/annotations")),
                "spec.template.metadata.annotations",
                &mut causes,
            );
            validate_pod_spec(
                tmpl.and_then(|t| t.get("spec")),
                "spec.template.spec",
                &mut causes,
            );
            let rp = obj
                .pointer("/spec/template/spec/restartPolicy")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if rp != "Never" && rp != "OnFailure" {
                causes.push(Cause::not_supported(
                    "spec.template.spec.restartPolicy",
                    rp,
                    &["OnFailure", "Never"],
                ));
            }
            for f in [
                "backoffLimit",
                "activeDeadlineSeconds",
                "ttlSecondsAfterFinished",
                "parallelism",
                "completions",
            ] {
                if let Some(v) = obj.pointer(&format!("/spec/{f}")) {
                    let ok = v.as_i64().is_some_and(|n| n >= 0) || v.is_null();
                    let positive = f != "activeDeadlineSeconds"
                        || v.as_i64().is_some_and(|n| n > 0)
                        || v.is_null();
                    if !ok || !positive {
                        causes.push(Cause::invalid(
                            format!("spec.{f}"),
                            &v.to_string(),
                            if f == "activeDeadlineSeconds" {
                                "must be greater than 0"
                            } else {
                                "must be greater than or equal to 0"
                            },
                        ));
                    }
                }
            }
        }
        _ => {}
    }
    causes
}

fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    match v.get_mut(key) {
        Some(Value::Object(m)) => m,
        _ => unreachable!("just set to an object"),
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_owned(), value);
    }
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    let image = m.get("image").and_then(Value::as_str).unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or_default();
    let latest = !last.contains(':') && !image.contains('@') || last.ends_with(":latest");
    set_default(
        m,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    if let Some(res) = m.get_mut("resources").and_then(Value::as_object_mut) {
        for section in ["limits", "requests"] {
            if let Some(sec) = res.get_mut(section).and_then(Value::as_object_mut) {
                for q in sec.values_mut() {
                    if let Some(s) = q.as_str() {
                        *q = json!(quantity::canonical(s));
                    }
                }
            }
        }
        // Requests default to limits.
        if let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() {
            let req = res.entry("requests").or_insert_with(|| json!({}));
            if let Some(req) = req.as_object_mut() {
                for (k, v) in limits {
                    req.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// Defaults of a pod spec (used for pods and for templates).
pub(crate) fn default_pod_spec(spec: &mut Value, is_pod: bool) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set_default(m, "restartPolicy", json!("Always"));
    set_default(m, "terminationGracePeriodSeconds", json!(30));
    set_default(m, "dnsPolicy", json!("ClusterFirst"));
    set_default(m, "securityContext", json!({}));
    set_default(m, "schedulerName", json!("default-scheduler"));
    if is_pod {
        set_default(m, "serviceAccountName", json!("default"));
        let sa = m
            .get("serviceAccountName")
            .cloned()
            .unwrap_or(json!("default"));
        set_default(m, "serviceAccount", sa);
        set_default(m, "enableServiceLinks", json!(true));
        set_default(m, "preemptionPolicy", json!("PreemptLowerPriority"));
        set_default(m, "priority", json!(0));
        set_default(
            m,
            "tolerations",
            json!([
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
            ]),
        );
    }
    for list in ["initContainers", "containers"] {
        if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
}

/// The QoS class of a pod spec.
pub(crate) fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for list in ["initContainers", "containers"] {
        for c in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let req = c.pointer("/resources/requests").and_then(Value::as_object);
            let lim = c.pointer("/resources/limits").and_then(Value::as_object);
            if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
                any = true;
            }
            for r in ["cpu", "memory"] {
                let l = lim.and_then(|l| l.get(r));
                let q = req.and_then(|q| q.get(r));
                if l.is_none() || l != q {
                    guaranteed = false;
                }
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Applies the API server's defaults for a new object of `kind` with the given uid.
pub(crate) fn apply_defaults(kind: usize, obj: &mut Value, uid: &str) {
    match kind {
        JOB => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let spec = obj_mut(obj, "spec");
            let has_par = spec.get("parallelism").is_some_and(|v| !v.is_null());
            let has_comp = spec.get("completions").is_some_and(|v| !v.is_null());
            if !has_par && !has_comp {
                spec.insert("completions".into(), json!(1));
            }
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
            let manual = spec
                .get("manualSelector")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !manual {
                spec.insert("manualSelector".into(), json!(false));
                spec.insert(
                    "selector".into(),
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                );
            }
            let tmpl = spec.entry("template").or_insert_with(|| json!({}));
            if !manual {
                let meta = obj_mut(tmpl, "metadata");
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
                    l.insert("batch.kubernetes.io/job-name".into(), json!(name));
                    l.insert("controller-uid".into(), json!(uid));
                    l.insert("job-name".into(), json!(name));
                    let mut sorted: Vec<(String, Value)> = std::mem::take(l).into_iter().collect();
                    sorted.sort_by(|a, b| a.0.cmp(&b.0));
                    l.extend(sorted);
                }
            }
            if let Some(ps) = tmpl.get_mut("spec") {
                default_pod_spec(ps, false);
            }
            if obj.get("status").is_none_or(Value::is_null) {
                obj["status"] = json!({});
            }
        }
        POD => {
            if let Some(ps) = obj.get_mut("spec") {
                default_pod_spec(ps, true);
            }
            let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
            obj["status"] = json!({"phase": "Pending", "qosClass": qos});
        }
        NAMESPACE => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let meta = obj_mut(obj, "metadata");
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        _ => {
            let k = &KINDS[kind];
            if k.has_status() && obj.get("status").is_none() {
                obj["status"] = json!({});
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain_error("reftask1-0123").is_none());
        assert!(dns1123_subdomain_error("a.b-c").is_none());
        assert!(dns1123_subdomain_error("Bad_Name").is_some());
        assert!(dns1123_subdomain_error("-a").is_some());
        assert!(dns1123_subdomain_error(&"a".repeat(254)).is_some());
        assert!(dns1123_label_error("a.b").is_some());
        assert!(label_value_error("").is_none());
        assert!(label_value_error("Ab_c.d-1").is_none());
        assert!(label_value_error("a b").is_some());
        assert!(label_value_error(&"a".repeat(64)).is_some());
        assert!(label_key_error("druid.k8s.peons").is_none());
        assert!(label_key_error("batch.kubernetes.io/job-name").is_none());
        assert!(label_key_error("Bad_Prefix/x").is_some());
    }

    #[test]
    fn job_defaults_match_the_reference() {
        let mut job = json!({"metadata": {"name": "j"}, "spec": {"backoffLimit": 0,
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "apache/druid:33.0.0",
                "resources": {"limits": {"cpu": "1", "memory": "2400000000"}}}]}}}});
        apply_defaults(JOB, &mut job, "u1");
        let spec = &job["spec"];
        assert_eq!(spec["completions"], 1);
        assert_eq!(spec["parallelism"], 1);
        assert_eq!(spec["backoffLimit"], 0);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
        assert_eq!(
            spec["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
            "u1"
        );
        let labels = &spec["template"]["metadata"]["labels"];
        assert_eq!(labels["job-name"], "j");
        assert_eq!(labels["controller-uid"], "u1");
        assert_eq!(labels["a"], "b");
        let c = &spec["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["memory"], "2400M");
        assert_eq!(c["resources"]["requests"]["memory"], "2400M");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(
            spec["template"]["spec"]["terminationGracePeriodSeconds"],
            30
        );
    }

    #[test]
    fn invalid_job() {
        let job = json!({"metadata": {"name": "Bad_Name", "labels": {"x": "bad value"}},
            "spec": {"template": {"spec": {"containers": [{"name": "main"}]}}}});
        let causes = validate(JOB, &job);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "metadata.labels",
                "spec.template.spec.containers[0].image",
                "spec.template.spec.restartPolicy"
            ]
        );
    }

    #[test]
    fn annotation_size_limit() {
        let big = "x".repeat(MAX_ANNOTATIONS_BYTES);
        let obj = json!({"metadata": {"name": "a", "annotations": {"task": big}}});
        let causes = validate(crate::kinds::CONFIGMAP, &obj);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.annotations");
    }
}
