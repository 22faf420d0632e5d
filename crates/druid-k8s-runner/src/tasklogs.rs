//! Task-log storage: where peons push `status.json` and reports, where the runner archives task
//! logs and uploads large task payloads (`task.json`).
//!
//! Two layouts, the same as Druid's:
//! * [`FileTaskLogs`] (`druid.indexer.logs.type=file`): `<directory>/<taskId>.log`,
//!   `<taskId>.report.json`, `<taskId>.status.json`, `<taskId>.task.json`;
//! * [`ObjectStoreTaskLogs`] (`druid.indexer.logs.type=s3`, and any S3-compatible store):
//!   `<prefix>/<taskId>/log`, `report.json`, `status.json`, `task.json`.
//!
//! The storage kind is chosen from configuration at run time, so the runner holds an
//! `Arc<dyn TaskLogs>`; methods return boxed futures to keep the trait object-safe.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::error::RunnerError;

/// A boxed, `Send` future (keeps [`TaskLogs`] usable as a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One kind of per-task object in task-log storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Artifact {
    /// The task log (written by the runner after the task ends).
    Log,
    /// The task reports (`report.json`, pushed by the peon).
    Report,
    /// The final task status (`status.json`, pushed by the peon).
    Status,
    /// The task payload (`task.json`, uploaded by the runner when it is too large for the pod).
    TaskPayload,
}

impl Artifact {
    /// The object name Druid uses for this artifact (`log`, `report.json`, `status.json`,
    /// `task.json`).
    pub fn file_name(self) -> &'static str {
        match self {
            Artifact::Log => "log",
            Artifact::Report => "report.json",
            Artifact::Status => "status.json",
            Artifact::TaskPayload => "task.json",
        }
    }
}

/// Task-log storage, as Druid's `TaskLogs`.
pub trait TaskLogs: Send + Sync + fmt::Debug {
    /// A short name of the backend (`file`, `s3`), for messages.
    fn backend(&self) -> &'static str;

    /// Where `artifact` of `task_id` lives (a path or a URL-ish key), for messages.
    fn location(&self, task_id: &str, artifact: Artifact) -> String;

    /// Stores `data` as `artifact` of `task_id`, replacing any previous object.
    fn put<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), RunnerError>>;

    /// Stores the content of a local file as `artifact` of `task_id`.
    fn put_file<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        file: &'a Path,
    ) -> BoxFuture<'a, Result<(), RunnerError>>;

    /// Reads `artifact` of `task_id`; `Ok(None)` when it does not exist.
    fn get<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
    ) -> BoxFuture<'a, Result<Option<Bytes>, RunnerError>>;
}

/// Task ids become file and object names: refuse the few that would escape the layout.
fn check_task_id(backend: &'static str, task_id: &str) -> Result<(), RunnerError> {
    let bad = task_id.is_empty()
        || task_id == "."
        || task_id == ".."
        || task_id.contains(['/', '\\', '\0']);
    if bad {
        return Err(RunnerError::Storage {
            backend,
            path: task_id.to_string(),
            message: "a task id must be non-empty and must not contain '/', '\\' or NUL, nor be '.' or '..'".into(),
        });
    }
    Ok(())
}

/// `druid.indexer.logs.type=file`: one directory, files named `<taskId>.<artifact>`.
#[derive(Debug, Clone)]
pub struct FileTaskLogs {
    directory: PathBuf,
}

impl FileTaskLogs {
    /// Storage under `directory` (created on first write).
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        FileTaskLogs {
            directory: directory.into(),
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    fn path(&self, task_id: &str, artifact: Artifact) -> PathBuf {
        self.directory
            .join(format!("{task_id}.{}", artifact.file_name()))
    }

    async fn write_atomic(
        &self,
        target: PathBuf,
        data: WriteSource<'_>,
    ) -> Result<(), RunnerError> {
        tokio::fs::create_dir_all(&self.directory)
            .await
            .map_err(|e| RunnerError::io(&self.directory, e))?;
        let tmp = target.with_extension(format!("tmp-{}", rand::random::<u64>()));
        let res = match data {
            WriteSource::Bytes(b) => tokio::fs::write(&tmp, &b).await.map(|_| ()),
            WriteSource::File(src) => tokio::fs::copy(src, &tmp).await.map(|_| ()),
        };
        if let Err(e) = res {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(RunnerError::io(&tmp, e));
        }
        tokio::fs::rename(&tmp, &target)
            .await
            .map_err(|e| RunnerError::io(&target, e))
    }
}

enum WriteSource<'a> {
    Bytes(Bytes),
    File(&'a Path),
}

impl TaskLogs for FileTaskLogs {
    fn backend(&self) -> &'static str {
        "file"
    }

    fn location(&self, task_id: &str, artifact: Artifact) -> String {
        self.path(task_id, artifact).display().to_string()
    }

    fn put<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), RunnerError>> {
        Box::pin(async move {
            check_task_id("file", task_id)?;
            self.write_atomic(self.path(task_id, artifact), WriteSource::Bytes(data))
                .await
        })
    }

    fn put_file<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        file: &'a Path,
    ) -> BoxFuture<'a, Result<(), RunnerError>> {
        Box::pin(async move {
            check_task_id("file", task_id)?;
            self.write_atomic(self.path(task_id, artifact), WriteSource::File(file))
                .await
        })
    }

    fn get<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
    ) -> BoxFuture<'a, Result<Option<Bytes>, RunnerError>> {
        Box::pin(async move {
            check_task_id("file", task_id)?;
            let path = self.path(task_id, artifact);
            match tokio::fs::read(&path).await {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(RunnerError::io(path, e)),
            }
        })
    }
}

/// Settings of S3 (or S3-compatible) task-log storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    /// `druid.indexer.logs.s3Bucket`.
    pub bucket: String,
    /// `druid.indexer.logs.s3Prefix` (may be empty).
    pub prefix: String,
    /// Region; when `None` the usual AWS environment variables / defaults apply.
    pub region: Option<String>,
    /// Endpoint URL of an S3-compatible store (MinIO, Ceph, ...); `None` for AWS.
    pub endpoint: Option<String>,
    /// Use path-style requests (`<endpoint>/<bucket>/<key>`) instead of virtual-hosted style.
    pub path_style: bool,
    /// Allow plain `http://` endpoints.
    pub allow_http: bool,
    /// Static credentials; when `None` credentials come from the environment / instance profile.
    pub access_key_id: Option<String>,
    /// Secret of `access_key_id` (never logged).
    pub secret_access_key: Option<String>,
}

/// Object-store task logs in Druid's S3 layout: `<prefix>/<taskId>/<artifact>`.
///
/// [`ObjectStoreTaskLogs::s3`] builds it on Amazon S3 or an S3-compatible store; any other
/// [`ObjectStore`] (a local directory standing in for a bucket, in memory) works with
/// [`ObjectStoreTaskLogs::new`].
#[derive(Clone)]
pub struct ObjectStoreTaskLogs {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

impl fmt::Debug for ObjectStoreTaskLogs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreTaskLogs")
            .field("store", &self.store.to_string())
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl ObjectStoreTaskLogs {
    /// Task logs on an arbitrary object store; `bucket` is only used in messages.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        ObjectStoreTaskLogs {
            store,
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_string(),
        }
    }

    /// Task logs on S3 or an S3-compatible store.
    pub fn s3(settings: &S3Settings) -> Result<Self, RunnerError> {
        if settings.bucket.trim().is_empty() {
            return Err(RunnerError::Config {
                key: "druid.indexer.logs.s3Bucket",
                message: "a bucket name is required for S3 task logs".into(),
            });
        }
        // reqwest is built without a bundled crypto provider; use ring (as kube does).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_allow_http(settings.allow_http);
        if let Some(r) = &settings.region {
            b = b.with_region(r);
        }
        if let Some(e) = &settings.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &settings.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let store = b.build().map_err(|e| RunnerError::Storage {
            backend: "s3",
            path: format!("s3://{}", settings.bucket),
            message: e.to_string(),
        })?;
        Ok(Self::new(
            Arc::new(store),
            settings.bucket.clone(),
            settings.prefix.clone(),
        ))
    }

    fn key(&self, task_id: &str, artifact: Artifact) -> Result<ObjectPath, RunnerError> {
        check_task_id("s3", task_id)?;
        let raw = if self.prefix.is_empty() {
            format!("{task_id}/{}", artifact.file_name())
        } else {
            format!("{}/{task_id}/{}", self.prefix, artifact.file_name())
        };
        ObjectPath::parse(&raw).map_err(|e| RunnerError::Storage {
            backend: "s3",
            path: raw.clone(),
            message: e.to_string(),
        })
    }

    fn err(&self, key: &ObjectPath, e: impl fmt::Display) -> RunnerError {
        RunnerError::Storage {
            backend: "s3",
            path: format!("s3://{}/{key}", self.bucket),
            message: e.to_string(),
        }
    }
}

impl TaskLogs for ObjectStoreTaskLogs {
    fn backend(&self) -> &'static str {
        "s3"
    }

    fn location(&self, task_id: &str, artifact: Artifact) -> String {
        match self.key(task_id, artifact) {
            Ok(k) => format!("s3://{}/{k}", self.bucket),
            Err(_) => format!("s3://{}/<invalid task id {task_id:?}>", self.bucket),
        }
    }

    fn put<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        data: Bytes,
    ) -> BoxFuture<'a, Result<(), RunnerError>> {
        Box::pin(async move {
            let key = self.key(task_id, artifact)?;
            self.store
                .put_opts(&key, data.into(), object_store::PutOptions::default())
                .await
                .map(|_| ())
                .map_err(|e| self.err(&key, e))
        })
    }

    fn put_file<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
        file: &'a Path,
    ) -> BoxFuture<'a, Result<(), RunnerError>> {
        Box::pin(async move {
            let data = tokio::fs::read(file)
                .await
                .map_err(|e| RunnerError::io(file, e))?;
            self.put(task_id, artifact, Bytes::from(data)).await
        })
    }

    fn get<'a>(
        &'a self,
        task_id: &'a str,
        artifact: Artifact,
    ) -> BoxFuture<'a, Result<Option<Bytes>, RunnerError>> {
        Box::pin(async move {
            let key = self.key(task_id, artifact)?;
            match self
                .store
                .get_opts(&key, object_store::GetOptions::default())
                .await
            {
                Ok(r) => r.bytes().await.map(Some).map_err(|e| self.err(&key, e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(&key, e)),
            }
        })
    }
}

/// Task-log storage from Druid's `druid.indexer.logs.*` settings (as parsed by the model).
/// An `http://` S3 endpoint allows plain HTTP (S3-compatible stores such as MinIO).
pub fn task_logs_from_config(
    config: &druid_k8s_model::config::TaskLogsConfig,
) -> Result<Arc<dyn TaskLogs>, RunnerError> {
    use druid_k8s_model::config::TaskLogsConfig;
    match config {
        TaskLogsConfig::File { directory } => Ok(Arc::new(FileTaskLogs::new(directory.clone()))),
        TaskLogsConfig::S3 {
            bucket,
            prefix,
            endpoint_url,
            signing_region,
            path_style_access,
            access_key,
            secret_key,
            ..
        } => Ok(Arc::new(ObjectStoreTaskLogs::s3(&S3Settings {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            region: signing_region.clone(),
            endpoint: endpoint_url.clone(),
            path_style: *path_style_access,
            allow_http: endpoint_url
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
            access_key_id: access_key.as_ref().map(|k| k.expose().to_string()),
            secret_access_key: secret_key.as_ref().map(|k| k.expose().to_string()),
        })?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check_roundtrip(logs: &dyn TaskLogs) {
        assert_eq!(logs.get("t1", Artifact::Status).await.unwrap(), None);
        logs.put("t1", Artifact::Status, Bytes::from_static(b"{\"a\":1}"))
            .await
            .unwrap();
        assert_eq!(
            logs.get("t1", Artifact::Status).await.unwrap().as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        // other artifacts and tasks are independent
        assert_eq!(logs.get("t1", Artifact::Report).await.unwrap(), None);
        assert_eq!(logs.get("t2", Artifact::Status).await.unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.log");
        std::fs::write(&f, "line 1\nline 2\n").unwrap();
        logs.put_file("t1", Artifact::Log, &f).await.unwrap();
        assert_eq!(
            logs.get("t1", Artifact::Log).await.unwrap().as_deref(),
            Some(&b"line 1\nline 2\n"[..])
        );
        for bad in ["", "..", "a/b", "a\\b"] {
            assert!(
                logs.put(bad, Artifact::Log, Bytes::new()).await.is_err(),
                "{bad:?}"
            );
        }
    }

    #[tokio::test]
    async fn file_layout_is_druids() {
        let dir = tempfile::tempdir().unwrap();
        let logs = FileTaskLogs::new(dir.path().join("logs"));
        check_roundtrip(&logs).await;
        let d = dir.path().join("logs");
        assert!(d.join("t1.status.json").is_file());
        assert!(d.join("t1.log").is_file());
        logs.put("t9", Artifact::TaskPayload, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        logs.put("t9", Artifact::Report, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert!(d.join("t9.task.json").is_file());
        assert!(d.join("t9.report.json").is_file());
        let mut names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["t1.log", "t1.status.json", "t9.report.json", "t9.task.json"]
        );
    }

    #[tokio::test]
    async fn s3_layout_is_druids() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        std::fs::create_dir_all(&bucket).unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(&bucket).unwrap();
        let logs = ObjectStoreTaskLogs::new(Arc::new(store), "bucket", "/druid/tasklogs/");
        check_roundtrip(&logs).await;
        assert!(bucket.join("druid/tasklogs/t1/status.json").is_file());
        assert!(bucket.join("druid/tasklogs/t1/log").is_file());
        assert_eq!(
            logs.location("t1", Artifact::TaskPayload),
            "s3://bucket/druid/tasklogs/t1/task.json"
        );
        let no_prefix =
            ObjectStoreTaskLogs::new(Arc::new(object_store::memory::InMemory::new()), "b", "");
        assert_eq!(
            no_prefix.location("x", Artifact::Report),
            "s3://b/x/report.json"
        );
    }

    #[tokio::test]
    async fn from_druid_settings() {
        use druid_k8s_model::config::{Secret, TaskLogsConfig};
        let dir = tempfile::tempdir().unwrap();
        let f = task_logs_from_config(&TaskLogsConfig::File {
            directory: dir.path().to_path_buf(),
        })
        .unwrap();
        assert_eq!(f.backend(), "file");
        assert!(f.location("t", Artifact::Status).ends_with("t.status.json"));
        let s3 = task_logs_from_config(&TaskLogsConfig::S3 {
            bucket: "b".into(),
            prefix: "p/q".into(),
            disable_acl: false,
            endpoint_url: Some("http://127.0.0.1:9000".into()),
            signing_region: Some("us-east-1".into()),
            path_style_access: true,
            access_key: Some(Secret::new("AK")),
            secret_key: Some(Secret::new("SK")),
        })
        .unwrap();
        assert_eq!(s3.backend(), "s3");
        assert_eq!(s3.location("t", Artifact::Log), "s3://b/p/q/t/log");
        assert!(
            !format!("{s3:?}").contains("SK"),
            "no secret in Debug: {s3:?}"
        );
    }

    #[test]
    fn s3_needs_a_bucket() {
        let err = ObjectStoreTaskLogs::s3(&S3Settings::default()).unwrap_err();
        assert!(err.to_string().contains("s3Bucket"), "{err}");
    }
}
