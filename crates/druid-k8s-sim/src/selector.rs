//! Label and field selectors, parsed as kube-apiserver parses them.

use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::{EVENT, POD};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    crate::validate::label_key_error(k).is_none()
}

fn valid_value(v: &str) -> bool {
    crate::validate::label_value_error(v).is_none()
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, ApiError> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{rest}', expected: '(' in selector {whole:?}"
            ))
        })?;
    let vals: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    for v in &vals {
        if !valid_value(v) {
            return Err(ApiError::bad_request(format!(
                "unable to parse requirement: values[0][{v}]: Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"
            )));
        }
    }
    Ok(vals)
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top_level(s) {
            let p = part.trim();
            if p.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: found '', expected: identifier in selector {s:?}"
                )));
            }
            let (key, op) = if let Some(k) = p.strip_prefix('!') {
                (k.trim().to_owned(), Op::NotExists)
            } else if let Some((k, v)) = p.split_once("!=") {
                (k.trim().to_owned(), Op::NotEq(v.trim().to_owned()))
            } else if let Some((k, v)) = p.split_once("==") {
                (k.trim().to_owned(), Op::Eq(v.trim().to_owned()))
            } else if let Some((k, v)) = p.split_once('=') {
                (k.trim().to_owned(), Op::Eq(v.trim().to_owned()))
            } else if let Some(idx) = p.find(" notin ").or_else(|| p.find(" notin(")) {
                (
                    p[..idx].trim().to_owned(),
                    Op::NotIn(parse_set(&p[idx + 6..], s)?),
                )
            } else if let Some(idx) = p.find(" in ").or_else(|| p.find(" in(")) {
                (
                    p[..idx].trim().to_owned(),
                    Op::In(parse_set(&p[idx + 3..], s)?),
                )
            } else if p.contains('>') || p.contains('<') {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: operator '>'/'<' is not supported by druid-k8s-sim in selector {s:?}"
                )));
            } else {
                (p.to_owned(), Op::Exists)
            };
            if !valid_key(&key) {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: key: Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                )));
            }
            if let Op::Eq(v) | Op::NotEq(v) = &op
                && !valid_value(v)
            {
                return Err(ApiError::bad_request(format!(
                    "unable to parse requirement: values[0][{key}]: Invalid value: {v:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
                )));
            }
            reqs.push((key, op));
        }
        Ok(LabelSelector { reqs })
    }

    /// Whether an object's labels satisfy the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|(k, op)| match op {
            Op::Eq(v) => get(k) == Some(v.as_str()),
            Op::NotEq(v) => get(k) != Some(v.as_str()),
            Op::In(vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Op::NotIn(vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Op::Exists => get(k).is_some(),
            Op::NotExists => get(k).is_none(),
        })
    }
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

pub(crate) fn supported_fields(kind: usize) -> &'static [&'static str] {
    match kind {
        POD => &[
            "metadata.name",
            "metadata.namespace",
            "status.phase",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        EVENT => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

fn field_value(obj: &Value, field: &str) -> String {
    if field == "source" {
        return obj
            .pointer("/source/component")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
    }
    let ptr = format!("/{}", field.replace('.', "/"));
    match obj.pointer(&ptr) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

impl FieldSelector {
    /// Parses a field selector for the given kind; unsupported fields are a 400, as upstream.
    pub fn parse(s: &str, kind: usize) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (f, neg, v) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                )));
            };
            let f = f.trim();
            if !supported_fields(kind).contains(&f) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
            reqs.push((f.to_owned(), neg, v.trim().to_owned()));
        }
        Ok(FieldSelector { reqs })
    }

    /// Whether an object satisfies the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs
            .iter()
            .all(|(f, neg, v)| (field_value(obj, f) == *v) != *neg)
    }
}

/// Both selectors of a request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj() -> Value {
        json!({"metadata": {"name": "p1", "namespace": "druid",
            "labels": {"job-name": "j1", "druid.k8s.peons": "true", "tier": "a"}},
            "status": {"phase": "Running"}})
    }

    fn check(sel: &str, expect: bool) {
        let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e:?}"));
        assert_eq!(s.matches(&obj()), expect, "selector {sel}");
    }

    #[test]
    fn label_selector_operators() {
        check("", true);
        check("job-name=j1", true);
        check("job-name==j1", true);
        check("job-name=j2", false);
        check("job-name!=j2", true);
        check("job-name!=j1", false);
        check("missing!=x", true);
        check("tier in (a,b)", true);
        check("tier in (b, c)", false);
        check("tier notin (b,c)", true);
        check("missing notin (b)", true);
        check("tier notin (a)", false);
        check("druid.k8s.peons", true);
        check("!druid.k8s.peons", false);
        check("!missing", true);
        check("druid.k8s.peons,job-name=j1,tier in (a)", true);
        check("druid.k8s.peons,job-name=j1,tier in (z)", false);
    }

    #[test]
    fn bad_label_selectors_are_400() {
        for bad in ["a=b,", "tier in a", "bad key=x", "a=b c"] {
            let e = LabelSelector::parse(bad).expect_err(bad);
            assert_eq!(e.code, 400, "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let f = FieldSelector::parse("metadata.name=p1,status.phase!=Pending", POD).unwrap();
        assert!(f.matches(&obj()));
        let f = FieldSelector::parse("status.phase=Pending", POD).unwrap();
        assert!(!f.matches(&obj()));
        let f = FieldSelector::parse("metadata.namespace==druid", POD).unwrap();
        assert!(f.matches(&obj()));
        let e = FieldSelector::parse("status.phase=Running", crate::kinds::JOB).unwrap_err();
        assert_eq!(e.message, "field label not supported: status.phase");
    }
}
