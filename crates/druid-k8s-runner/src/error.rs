//! The runner's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunnerError {
    /// A Kubernetes API call failed (after retries where they apply).
    #[error("Kubernetes API call {verb} {what} failed: {source}")]
    Kube {
        /// The API verb (`create`, `delete`, `list`, `logs`, ...).
        verb: &'static str,
        /// The object the call was about.
        what: String,
        /// The client error.
        #[source]
        source: Box<kube::Error>,
    },
    /// Task-log storage failed.
    #[error("task-log storage ({backend}) failed for {path}: {message}")]
    Storage {
        /// `file` or `s3`.
        backend: &'static str,
        /// The file or object path.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A local file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A pod template file could not be read or parsed.
    #[error("pod template [{key}] from {path}: {message}")]
    Template {
        /// The template key.
        key: String,
        /// The file path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Rendering the Job for a task failed.
    #[error("cannot render the Job for task [{task_id}]: {message}")]
    Render {
        /// The task id.
        task_id: String,
        /// The adapter's error text.
        message: String,
    },
    /// A Job found in Kubernetes could not be turned back into a task.
    #[error("cannot restore the task of Job [{job}]: {message}")]
    Restore {
        /// The Job name.
        job: String,
        /// What went wrong.
        message: String,
    },
    /// The runner was configured wrongly.
    #[error("invalid runner setting {key}: {message}")]
    Config {
        /// The setting's name.
        key: &'static str,
        /// What was expected.
        message: String,
    },
    /// The runner has been stopped.
    #[error("the task runner is stopped")]
    Stopped,
    /// The task is not known to the runner.
    #[error("task [{0}] is not known to the runner")]
    UnknownTask(String),
    /// A worker (MiddleManager/Indexer) HTTP endpoint failed (`k8sAndWorker` mode).
    #[error("worker request to {url} failed: {message}")]
    Worker {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A peon HTTP endpoint failed.
    #[error("peon request to {url} failed: {message}")]
    Peon {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl RunnerError {
    pub(crate) fn kube(verb: &'static str, what: impl Into<String>, source: kube::Error) -> Self {
        RunnerError::Kube {
            verb,
            what: what.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RunnerError::Io {
            path: path.into(),
            source,
        }
    }
}
