//! Errors: [`SimError`] for the crate's public API, and API errors answered as `metav1.Status`.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::kinds::Kind;

/// Errors of the simulator's public API (starting it, writing its kubeconfig).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig file could not be written.
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The path asked for.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is invalid; the message names the setting and what was expected.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

/// One `details.causes[]` entry of a 422 answer.
#[derive(Debug, Clone)]
pub(crate) struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, `FieldValueTooLong`...
    pub reason: &'static str,
    /// Human message, without the field prefix.
    pub message: String,
    /// The field path (`metadata.name`).
    pub field: String,
}

impl Cause {
    pub fn invalid(field: impl Into<String>, value: &str, msg: &str) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {msg}", json!(value)),
            field: field.into(),
        }
    }

    pub fn required(field: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueRequired",
            message: "Required value".to_owned(),
            field: field.into(),
        }
    }

    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| json!(s).to_string()).collect();
        Cause {
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {}",
                json!(value),
                list.join(", ")
            ),
            field: field.into(),
        }
    }

    pub fn forbidden(field: impl Into<String>, msg: &str) -> Self {
        Cause {
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {msg}"),
            field: field.into(),
        }
    }
}

/// An error answered to an API client as a `Status` object.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Box<Value>>,
    pub retry_after: Option<u64>,
}

fn details(kind: &Kind, name: &str, kind_field: &str) -> Value {
    let mut d = json!({"name": name});
    if !kind.group.is_empty() {
        d["group"] = json!(kind.group);
    }
    d["kind"] = json!(kind_field);
    d
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn not_found(kind: &Kind, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", kind.group_resource()),
        );
        e.details = Some(Box::new(details(kind, name, kind.plural)));
        e
    }

    pub fn namespace_not_found(ns: &str) -> Self {
        let mut e = Self::new(404, "NotFound", format!("namespaces \"{ns}\" not found"));
        e.details = Some(Box::new(json!({"name": ns, "kind": "namespaces"})));
        e
    }

    pub fn already_exists(kind: &Kind, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.group_resource()),
        );
        e.details = Some(Box::new(details(kind, name, kind.plural)));
        e
    }

    pub fn conflict(kind: &Kind, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                kind.group_resource()
            ),
        );
        e.details = Some(Box::new(details(kind, name, kind.plural)));
        e
    }

    pub fn modified(kind: &Kind, name: &str) -> Self {
        Self::conflict(
            kind,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(kind: &Kind, name: &str, causes: Vec<Cause>) -> Self {
        let joined: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let list = if joined.len() == 1 {
            joined.join("")
        } else {
            format!("[{}]", joined.join(", "))
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {list}", kind.group_kind()),
        );
        let mut d = details(kind, name, kind.kind);
        d["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        e.details = Some(Box::new(d));
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"
            ),
        )
    }

    pub fn too_large() -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
        )
    }

    /// An injected fault with the given code.
    pub fn injected(code: u16, retry_after: u64) -> Self {
        let (reason, msg) = match code {
            429 => (
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later (injected by druid-k8s-sim)",
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request (injected by druid-k8s-sim)",
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted (injected by druid-k8s-sim)",
            ),
            _ => (
                "InternalError",
                "an error on the server has prevented the request from succeeding (injected by druid-k8s-sim)",
            ),
        };
        let mut e = Self::new(code, reason, msg);
        if code == 429 || code == 503 {
            e.retry_after = Some(retry_after);
            e.details = Some(Box::new(json!({"retryAfterSeconds": retry_after})));
        }
        e
    }

    /// The `metav1.Status` object.
    pub fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            s["details"] = (**d).clone();
        }
        s["code"] = json!(self.code);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{JOB, KINDS, POD};

    #[test]
    fn shapes_match_the_reference() {
        let e = ApiError::already_exists(&KINDS[JOB], "x");
        assert_eq!(
            e.status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"jobs.batch \"x\" already exists","reason":"AlreadyExists",
                "details":{"name":"x","group":"batch","kind":"jobs"},"code":409})
        );
        let e = ApiError::not_found(&KINDS[POD], "p");
        assert_eq!(e.status()["message"], "pods \"p\" not found");
        assert!(e.status()["details"].get("group").is_none());
        let e = ApiError::invalid(
            &KINDS[JOB],
            "Bad_Name",
            vec![Cause::invalid("metadata.name", "Bad_Name", "bad")],
        );
        let s = e.status();
        assert_eq!(
            s["message"],
            "Job.batch \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": bad"
        );
        assert_eq!(s["details"]["kind"], "Job");
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
        assert_eq!(s["code"], 422);
    }
}
