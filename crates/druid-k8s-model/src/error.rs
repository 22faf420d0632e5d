//! The crate's error type.

use std::fmt;

/// Every error this crate returns.
///
/// Each variant names the offending field or key and what was expected, so it can be shown to an
/// operator as-is.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Text that should be JSON is not.
    #[error("{what} is not valid JSON: {source}")]
    Json {
        /// What was being parsed, e.g. "task JSON".
        what: &'static str,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
    /// A task JSON document lacks a required field.
    #[error("task JSON is missing the required field `{field}` (expected a non-empty string)")]
    MissingTaskField {
        /// The JSON field name, e.g. `id` or `type`.
        field: &'static str,
    },
    /// A task JSON field has the wrong shape.
    #[error("task JSON field `{field}`: expected {expected}, found {found}")]
    InvalidTaskField {
        /// The JSON field name (dotted for nested fields, e.g. `context.tags`).
        field: String,
        /// What was expected.
        expected: &'static str,
        /// A short description of what was found.
        found: String,
    },
    /// A task status JSON document (`status.json`) is malformed.
    #[error("task status JSON: {message}")]
    InvalidStatus {
        /// What is wrong, naming the field.
        message: String,
    },
    /// A Java `.properties` text could not be read.
    #[error("properties file: {message}")]
    Properties {
        /// The reader's message, with its line number.
        message: String,
    },
    /// The runtime properties failed validation (every problem is listed).
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// A dynamic config document failed validation (every problem is listed).
    #[error("invalid dynamic config: {}", join_field_errors(.0))]
    DynamicConfig(Vec<FieldError>),
}

/// One problem in a JSON document, located by a dotted path such as
/// `podTemplateSelectStrategy.selectors[1].type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field (`` for the document itself).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

fn join_field_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// One problem with one runtime property.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigError {
    /// The full property name, e.g. `druid.indexer.runner.capacity`.
    pub key: String,
    /// What is wrong and the expected form.
    pub message: String,
}

impl ConfigError {
    /// Creates an error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found while validating runtime properties (never empty when returned as an
/// error). `Display` prints one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The individual problems, in key order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// Number of problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some problem concerns `key`.
    pub fn mentions(&self, key: &str) -> bool {
        self.0.iter().any(|e| e.key == key)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A short description of a JSON value's kind, for error messages.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            let short: String = s.chars().take(40).collect();
            format!("string \"{short}…\"")
        }
        Value::String(s) => format!("string \"{s}\""),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
