//! Errors: [`ServerError`] for the library, [`ApiError`] for HTTP answers in Druid's JSON shapes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can go wrong in the server library.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A configuration value is invalid.
    #[error("invalid value for [{key}]: {message}")]
    Invalid {
        /// The property (or flag) name.
        key: String,
        /// What was expected.
        message: String,
    },
    /// A metadata-store operation failed.
    #[error("metadata store: {what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// The database error.
        #[source]
        source: sqlx::Error,
    },
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A concurrent change kept winning.
    #[error("{0}")]
    Conflict(String),
    /// The users file is invalid.
    #[error("users file {path}: {message}")]
    Users {
        /// The file.
        path: String,
        /// What is wrong, naming the entry.
        message: String,
    },
    /// Hashing a password failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The task runner reported an error.
    #[error("task runner: {0}")]
    Runner(String),
    /// Kubernetes client setup or call failed.
    #[error("kubernetes: {0}")]
    Kube(String),
}

/// Druid's error categories (`DruidException.Category`) with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// 400.
    InvalidInput,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 412 (used for `If-Match` mismatches).
    PreconditionFailed,
    /// 503.
    Unavailable,
    /// 500.
    Defensive,
}

impl Category {
    fn status(self) -> StatusCode {
        match self {
            Category::InvalidInput => StatusCode::BAD_REQUEST,
            Category::Unauthorized => StatusCode::UNAUTHORIZED,
            Category::Forbidden => StatusCode::FORBIDDEN,
            Category::NotFound => StatusCode::NOT_FOUND,
            Category::Conflict => StatusCode::CONFLICT,
            Category::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Category::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Category::Defensive => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Category::InvalidInput => "INVALID_INPUT",
            Category::Unauthorized => "UNAUTHORIZED",
            Category::Forbidden => "FORBIDDEN",
            Category::NotFound => "NOT_FOUND",
            Category::Conflict => "CONFLICT",
            Category::PreconditionFailed => "CONFLICT",
            Category::Unavailable => "RUNTIME_FAILURE",
            Category::Defensive => "DEFENSIVE",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Category::InvalidInput => "invalidInput",
            Category::Unauthorized => "unauthorized",
            Category::Forbidden => "forbidden",
            Category::NotFound => "notFound",
            Category::Conflict => "conflict",
            Category::PreconditionFailed => "preconditionFailed",
            Category::Unavailable => "unavailable",
            Category::Defensive => "general",
        }
    }

    fn persona(self) -> &'static str {
        match self {
            Category::Defensive | Category::Unavailable => "OPERATOR",
            _ => "USER",
        }
    }
}

/// An HTTP error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Newer Druid endpoints: the `DruidException` JSON
    /// (`{"error":"druidException","errorCode":..,"persona":..,"category":..,"errorMessage":..,"context":{}}`).
    Druid {
        /// Category (decides the status).
        category: Category,
        /// Human message naming the field and what was expected.
        message: String,
    },
    /// Older endpoints (history, task submit): `{"error": msg}` with the given status.
    Plain {
        /// HTTP status.
        status: StatusCode,
        /// Message.
        message: String,
    },
    /// Plain-text body with a status (Druid's log / reports / tasks-state answers).
    Text {
        /// HTTP status.
        status: StatusCode,
        /// Body.
        body: String,
    },
}

impl ApiError {
    /// 400 in the DruidException shape.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Druid {
            category: Category::InvalidInput,
            message: message.into(),
        }
    }

    /// 404 in the DruidException shape.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::Druid {
            category: Category::NotFound,
            message: message.into(),
        }
    }

    /// 500 in the DruidException shape; the details are logged, not returned.
    pub fn internal(err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "request failed");
        ApiError::Druid {
            category: Category::Defensive,
            message: "internal error; see the server log".into(),
        }
    }

    /// `{"error": msg}` with status 400.
    pub fn plain_bad_request(message: impl Into<String>) -> Self {
        ApiError::Plain {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Druid { category, .. } => category.status(),
            ApiError::Plain { status, .. } | ApiError::Text { status, .. } => *status,
        }
    }
}

impl From<ServerError> for ApiError {
    fn from(err: ServerError) -> Self {
        match err {
            ServerError::Conflict(message) => ApiError::Druid {
                category: Category::Conflict,
                message,
            },
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::Druid { category, message } => (
                status,
                axum::Json(json!({
                    "error": "druidException",
                    "errorCode": category.code(),
                    "persona": category.persona(),
                    "category": category.name(),
                    "errorMessage": message,
                    "context": {},
                })),
            )
                .into_response(),
            ApiError::Plain { message, .. } => {
                (status, axum::Json(json!({ "error": message }))).into_response()
            }
            ApiError::Text { body, .. } => (
                status,
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; charset=utf-8",
                )],
                body,
            )
                .into_response(),
        }
    }
}
