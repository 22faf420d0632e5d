//! Metadata store: task records, the dynamic config and its audit history.
//!
//! One [`Store`] talks to SQLite (the default, a file under the data directory) or PostgreSQL
//! (`druid.metadata.storage.type=postgresql`) through sqlx's `Any` driver with runtime queries, so
//! the same SQL text serves both. Tables are created on connect; their names start with a
//! configurable base (default `druid_k8s`) so that several servers or tests can share one
//! database without touching each other, and so that a Druid metadata database's own `druid_*`
//! tables are never read or written.
//!
//! Timestamps are kept twice: as epoch milliseconds (for range queries and ordering) and as the
//! ISO-8601 text Druid prints (`2024-06-13T20:59:51.622Z`).

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Row};

use crate::error::ServerError;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite (a local file, or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A task as recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// Task id.
    pub id: String,
    /// Task type (`index_parallel`, `noop`, ...).
    pub task_type: String,
    /// Data source, when the task names one.
    pub datasource: Option<String>,
    /// Group id (defaults to the id).
    pub group_id: String,
    /// The task JSON as submitted (after the id was filled in).
    pub payload: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
    /// `RUNNING`, `SUCCESS` or `FAILED`.
    pub status_code: String,
    /// Duration in ms (`-1` while running or when unknown).
    pub duration: i64,
    /// Error message of a failed task.
    pub error_msg: Option<String>,
    /// Last known location as Druid's `TaskLocation` JSON.
    pub location: String,
    /// Last update, epoch milliseconds.
    pub updated_ms: i64,
}

impl TaskRecord {
    /// Whether the task has not reached a final state.
    pub fn is_active(&self) -> bool {
        self.status_code == "RUNNING"
    }
}

/// What a task update writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// `RUNNING`, `SUCCESS` or `FAILED`.
    pub status_code: String,
    /// Duration in ms, `-1` when unknown.
    pub duration: i64,
    /// Error message of a failed task.
    pub error_msg: Option<String>,
    /// Location JSON (`TaskLocation`).
    pub location: String,
}

/// Who changed a config, as Druid's `AuditInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditInfo {
    /// Header `X-Druid-Author` (empty when absent).
    pub author: String,
    /// Authenticated identity, when authentication is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Header `X-Druid-Comment` (empty when absent).
    pub comment: String,
    /// Remote IP of the request.
    pub ip: String,
}

/// One audit entry, serialised as Druid's `AuditEntry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Config key (`k8s.taskrunner.config`).
    pub key: String,
    /// Entry type (same as the key for config audits).
    #[serde(rename = "type")]
    pub entry_type: String,
    /// Author, comment, ip.
    pub audit_info: AuditInfo,
    /// The serialised config that was stored.
    pub payload: String,
    /// When it was stored (ISO-8601, UTC, milliseconds).
    pub audit_time: String,
}

/// Outcome of a conditional config write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// Written; the new ETag.
    Ok {
        /// ETag of the stored bytes.
        etag: String,
    },
    /// `If-Match` did not match the stored value.
    PreconditionFailed {
        /// ETag of the stored value (None when nothing is stored).
        current: Option<String>,
    },
}

/// Filter for [`Store::list_tasks`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only active (`Some(true)`) or only complete (`Some(false)`) tasks.
    pub active: Option<bool>,
    /// Only this data source.
    pub datasource: Option<String>,
    /// Only this task type.
    pub task_type: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<i64>,
    /// Only tasks created at or after this time (epoch ms).
    pub created_after_ms: Option<i64>,
    /// Only tasks created before this time (epoch ms).
    pub created_before_ms: Option<i64>,
}

/// The metadata store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    kind: StoreKind,
    tasks: String,
    config: String,
    audit: String,
}

/// Druid's ETag for stored config bytes: SHA-256 truncated to 16 bytes, base64url without
/// padding, in double quotes.
pub fn etag_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
    format!("\"{encoded}\"")
}

/// Whether an `If-Match` header value admits the stored bytes (`*` needs a stored value; a
/// comma-separated list matches when any element does).
pub fn if_match_admits(header: &str, current: Option<&[u8]>) -> bool {
    let trimmed = header.trim();
    if trimmed == "*" {
        return current.is_some();
    }
    let Some(current) = current else {
        return false;
    };
    let etag = etag_of(current);
    trimmed.split(',').any(|candidate| {
        let candidate = candidate.trim();
        candidate == etag || candidate.strip_prefix("W/") == Some(etag.as_str())
    })
}

/// Formats epoch milliseconds as Druid prints a `DateTime` (`2024-06-13T20:59:51.622Z`).
pub fn format_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn valid_table_base(base: &str) -> bool {
    !base.is_empty()
        && base.len() <= 40
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && base.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
}

impl Store {
    /// Opens (creating when missing) the SQLite database `druid-k8s.db` in `data_dir`.
    pub async fn open_sqlite_dir(data_dir: &Path, table_base: &str) -> Result<Self, ServerError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ServerError::Io {
            what: format!("creating data directory {}", data_dir.display()),
            source,
        })?;
        let file = data_dir.join("druid-k8s.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        Self::connect(&url, table_base).await
    }

    /// Connects to `url` (`sqlite:...` or `postgres://...`) and creates the tables when missing.
    pub async fn connect(url: &str, table_base: &str) -> Result<Self, ServerError> {
        sqlx::any::install_default_drivers();
        if !valid_table_base(table_base) {
            return Err(ServerError::Invalid {
                key: "druid.metadata.storage.tables.base".into(),
                message: format!(
                    "[{table_base}] must start with a letter and contain only letters, digits and '_' (at most 40)"
                ),
            });
        }
        let kind = if url.starts_with("sqlite:") {
            StoreKind::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            StoreKind::Postgres
        } else {
            return Err(ServerError::Invalid {
                key: "druid.metadata.storage.connector.connectURI".into(),
                message: "expected a sqlite: or postgres:// URL".into(),
            });
        };
        let options = AnyConnectOptions::from_str(url).map_err(|e| ServerError::Store {
            what: "parsing the database URL".into(),
            source: e,
        })?;
        // SQLite allows one writer; a single connection also keeps `:memory:` databases whole.
        let max = if kind == StoreKind::Sqlite { 1 } else { 5 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| ServerError::Store {
                what: "connecting to the metadata store".into(),
                source: e,
            })?;
        let store = Store {
            pool,
            kind,
            tasks: format!("{table_base}_tasks"),
            config: format!("{table_base}_config"),
            audit: format!("{table_base}_audit"),
        };
        store.create_tables().await?;
        Ok(store)
    }

    /// Which database this is.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    async fn create_tables(&self) -> Result<(), ServerError> {
        let serial = match self.kind {
            StoreKind::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
            StoreKind::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        let statements = [
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id VARCHAR(255) PRIMARY KEY,
                    task_type VARCHAR(255) NOT NULL,
                    datasource VARCHAR(255),
                    group_id VARCHAR(255) NOT NULL,
                    payload TEXT NOT NULL,
                    created_ms BIGINT NOT NULL,
                    status_code VARCHAR(16) NOT NULL,
                    duration BIGINT NOT NULL,
                    error_msg TEXT,
                    location TEXT NOT NULL,
                    updated_ms BIGINT NOT NULL
                )",
                self.tasks
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {0}_active ON {0} (status_code, created_ms)",
                self.tasks
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    name VARCHAR(255) PRIMARY KEY,
                    payload TEXT NOT NULL
                )",
                self.config
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    id {serial},
                    audit_key VARCHAR(255) NOT NULL,
                    type VARCHAR(255) NOT NULL,
                    author TEXT NOT NULL,
                    identity TEXT,
                    comment TEXT NOT NULL,
                    ip TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_ms BIGINT NOT NULL
                )",
                self.audit
            ),
            format!(
                "CREATE INDEX IF NOT EXISTS {0}_key_time ON {0} (audit_key, type, created_ms)",
                self.audit
            ),
        ];
        for sql in statements {
            sqlx::query(&sql)
                .execute(&self.pool)
                .await
                .map_err(|e| store_err("creating tables", e))?;
        }
        Ok(())
    }

    // ---- tasks ----

    /// Inserts a new task record. Returns `false` (and writes nothing) when the id exists.
    pub async fn insert_task(&self, record: &TaskRecord) -> Result<bool, ServerError> {
        let sql = format!(
            "INSERT INTO {} (id, task_type, datasource, group_id, payload, created_ms, status_code,
                duration, error_msg, location, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO NOTHING",
            self.tasks
        );
        let done = sqlx::query(&sql)
            .bind(record.id.clone())
            .bind(record.task_type.clone())
            .bind(record.datasource.clone())
            .bind(record.group_id.clone())
            .bind(record.payload.clone())
            .bind(record.created_ms)
            .bind(record.status_code.clone())
            .bind(record.duration)
            .bind(record.error_msg.clone())
            .bind(record.location.clone())
            .bind(record.updated_ms)
            .execute(&self.pool)
            .await
            .map_err(|e| store_err("inserting a task", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// One task by id.
    pub async fn get_task(&self, id: &str) -> Result<Option<TaskRecord>, ServerError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM {} WHERE id = $1", self.tasks);
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_err("reading a task", e))?;
        row.map(|r| task_from_row(&r)).transpose()
    }

    /// Updates a task's status. A final status is never overwritten by another update (the first
    /// final status wins), so a late or repeated notification cannot flip a finished task.
    /// Returns whether the row changed.
    pub async fn update_status(
        &self,
        id: &str,
        update: &StatusUpdate,
    ) -> Result<bool, ServerError> {
        let sql = format!(
            "UPDATE {} SET status_code = $1, duration = $2, error_msg = $3, location = $4,
                updated_ms = $5
             WHERE id = $6 AND status_code = 'RUNNING'",
            self.tasks
        );
        let done = sqlx::query(&sql)
            .bind(update.status_code.clone())
            .bind(update.duration)
            .bind(update.error_msg.clone())
            .bind(update.location.clone())
            .bind(now_ms())
            .bind(id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| store_err("updating a task", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the location of an active task.
    pub async fn update_location(&self, id: &str, location: &str) -> Result<bool, ServerError> {
        let sql = format!(
            "UPDATE {} SET location = $1, updated_ms = $2 WHERE id = $3 AND status_code = 'RUNNING'",
            self.tasks
        );
        let done = sqlx::query(&sql)
            .bind(location.to_owned())
            .bind(now_ms())
            .bind(id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(|e| store_err("updating a task location", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Tasks matching `filter`, newest first.
    pub async fn list_tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, ServerError> {
        let mut sql = format!("SELECT {TASK_COLUMNS} FROM {} WHERE 1 = 1", self.tasks);
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        match filter.active {
            Some(true) => sql.push_str(" AND status_code = 'RUNNING'"),
            Some(false) => sql.push_str(" AND status_code <> 'RUNNING'"),
            None => {}
        }
        if filter.datasource.is_some() {
            sql.push_str(&format!(" AND datasource = {}", next()));
        }
        if filter.task_type.is_some() {
            sql.push_str(&format!(" AND task_type = {}", next()));
        }
        if filter.created_after_ms.is_some() {
            sql.push_str(&format!(" AND created_ms >= {}", next()));
        }
        if filter.created_before_ms.is_some() {
            sql.push_str(&format!(" AND created_ms < {}", next()));
        }
        sql.push_str(" ORDER BY created_ms DESC, id DESC");
        if filter.limit.is_some() {
            sql.push_str(&format!(" LIMIT {}", next()));
        }
        let mut query = sqlx::query(&sql);
        if let Some(ds) = &filter.datasource {
            query = query.bind(ds.clone());
        }
        if let Some(t) = &filter.task_type {
            query = query.bind(t.clone());
        }
        if let Some(v) = filter.created_after_ms {
            query = query.bind(v);
        }
        if let Some(v) = filter.created_before_ms {
            query = query.bind(v);
        }
        if let Some(v) = filter.limit {
            query = query.bind(v);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_err("listing tasks", e))?;
        rows.iter().map(task_from_row).collect()
    }

    // ---- dynamic config ----

    /// The stored bytes of config `key`.
    pub async fn get_config(&self, key: &str) -> Result<Option<String>, ServerError> {
        let sql = format!("SELECT payload FROM {} WHERE name = $1", self.config);
        let row = sqlx::query(&sql)
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| store_err("reading the config", e))?;
        row.map(|r| r.try_get::<String, _>(0))
            .transpose()
            .map_err(|e| store_err("reading the config", e))
    }

    /// Stores `payload` under `key` and appends an audit entry, in one transaction.
    ///
    /// `compute` gets the currently stored bytes and returns the bytes to store (this is where
    /// merge semantics live), or an error that aborts the write. With `if_match`, the write only
    /// happens when the stored bytes' ETag matches. The write is a compare-and-swap on the stored
    /// bytes, so two concurrent writers (even on two servers sharing PostgreSQL) cannot both
    /// succeed against the same stored value; the loser retries with the new value (or gets
    /// `PreconditionFailed` when it named an ETag).
    pub async fn set_config<E>(
        &self,
        key: &str,
        if_match: Option<&str>,
        audit: &AuditInfo,
        compute: impl Fn(Option<&str>) -> Result<String, E>,
    ) -> Result<Result<SetOutcome, E>, ServerError> {
        for _attempt in 0..20 {
            let current = self.get_config(key).await?;
            if let Some(header) = if_match
                && !if_match_admits(header, current.as_deref().map(str::as_bytes))
            {
                return Ok(Ok(SetOutcome::PreconditionFailed {
                    current: current.as_deref().map(|c| etag_of(c.as_bytes())),
                }));
            }
            let new_payload = match compute(current.as_deref()) {
                Ok(p) => p,
                Err(e) => return Ok(Err(e)),
            };
            let mut tx = self
                .pool
                .begin()
                .await
                .map_err(|e| store_err("starting a transaction", e))?;
            let swapped = match &current {
                Some(old) => {
                    let sql = format!(
                        "UPDATE {} SET payload = $1 WHERE name = $2 AND payload = $3",
                        self.config
                    );
                    sqlx::query(&sql)
                        .bind(new_payload.clone())
                        .bind(key.to_owned())
                        .bind(old.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| store_err("writing the config", e))?
                        .rows_affected()
                        == 1
                }
                None => {
                    let sql = format!(
                        "INSERT INTO {} (name, payload) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                        self.config
                    );
                    sqlx::query(&sql)
                        .bind(key.to_owned())
                        .bind(new_payload.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| store_err("writing the config", e))?
                        .rows_affected()
                        == 1
                }
            };
            if !swapped {
                tx.rollback()
                    .await
                    .map_err(|e| store_err("rolling back", e))?;
                continue;
            }
            let sql = format!(
                "INSERT INTO {} (audit_key, type, author, identity, comment, ip, payload, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                self.audit
            );
            sqlx::query(&sql)
                .bind(key.to_owned())
                .bind(key.to_owned())
                .bind(audit.author.clone())
                .bind(audit.identity.clone())
                .bind(audit.comment.clone())
                .bind(audit.ip.clone())
                .bind(new_payload.clone())
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(|e| store_err("writing the audit entry", e))?;
            tx.commit()
                .await
                .map_err(|e| store_err("committing the config", e))?;
            return Ok(Ok(SetOutcome::Ok {
                etag: etag_of(new_payload.as_bytes()),
            }));
        }
        Err(ServerError::Conflict(format!(
            "config [{key}] kept changing while it was being written; try again"
        )))
    }

    /// Audit entries of `key` created in `[start_ms, end_ms]`, oldest first (Druid's interval form).
    pub async fn audit_in_interval(
        &self,
        key: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM {} WHERE audit_key = $1 AND type = $2
               AND created_ms >= $3 AND created_ms <= $4 ORDER BY created_ms ASC, id ASC",
            self.audit
        );
        let rows = sqlx::query(&sql)
            .bind(key.to_owned())
            .bind(key.to_owned())
            .bind(start_ms)
            .bind(end_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_err("reading the audit history", e))?;
        rows.iter().map(audit_from_row).collect()
    }

    /// The last `count` audit entries of `key`, newest first (Druid's count form).
    pub async fn audit_last(&self, key: &str, count: i64) -> Result<Vec<AuditEntry>, ServerError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM {} WHERE audit_key = $1 AND type = $2
             ORDER BY created_ms DESC, id DESC LIMIT $3",
            self.audit
        );
        let rows = sqlx::query(&sql)
            .bind(key.to_owned())
            .bind(key.to_owned())
            .bind(count)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| store_err("reading the audit history", e))?;
        rows.iter().map(audit_from_row).collect()
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const TASK_COLUMNS: &str = "id, task_type, datasource, group_id, payload, created_ms, status_code, \
                            duration, error_msg, location, updated_ms";
const AUDIT_COLUMNS: &str = "audit_key, type, author, identity, comment, ip, payload, created_ms";

fn store_err(what: &str, source: sqlx::Error) -> ServerError {
    ServerError::Store {
        what: what.to_owned(),
        source,
    }
}

fn task_from_row(row: &sqlx::any::AnyRow) -> Result<TaskRecord, ServerError> {
    let get = |e| store_err("decoding a task row", e);
    Ok(TaskRecord {
        id: row.try_get(0).map_err(get)?,
        task_type: row.try_get(1).map_err(get)?,
        datasource: row.try_get(2).map_err(get)?,
        group_id: row.try_get(3).map_err(get)?,
        payload: row.try_get(4).map_err(get)?,
        created_ms: row.try_get(5).map_err(get)?,
        status_code: row.try_get(6).map_err(get)?,
        duration: row.try_get(7).map_err(get)?,
        error_msg: row.try_get(8).map_err(get)?,
        location: row.try_get(9).map_err(get)?,
        updated_ms: row.try_get(10).map_err(get)?,
    })
}

fn audit_from_row(row: &sqlx::any::AnyRow) -> Result<AuditEntry, ServerError> {
    let get = |e| store_err("decoding an audit row", e);
    let created_ms: i64 = row.try_get(7).map_err(get)?;
    Ok(AuditEntry {
        key: row.try_get(0).map_err(get)?,
        entry_type: row.try_get(1).map_err(get)?,
        audit_info: AuditInfo {
            author: row.try_get(2).map_err(get)?,
            identity: row.try_get(3).map_err(get)?,
            comment: row.try_get(4).map_err(get)?,
            ip: row.try_get(5).map_err(get)?,
        },
        payload: row.try_get(6).map_err(get)?,
        audit_time: format_ms(created_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` against SQLite, and against PostgreSQL when `DRUID_K8S_TEST_POSTGRES_URL` is set.
    /// Each run gets its own table base, so runs never see each other's rows.
    async fn each_store<F, Fut>(f: F)
    where
        F: Fn(Store) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Store::open_sqlite_dir(dir.path(), "t")
            .await
            .expect("sqlite");
        assert_eq!(sqlite.kind(), StoreKind::Sqlite);
        f(sqlite).await;
        if let Ok(url) = std::env::var("DRUID_K8S_TEST_POSTGRES_URL") {
            let base = format!("t{}", rand::random::<u32>());
            let pg = Store::connect(&url, &base).await.expect("postgres");
            assert_eq!(pg.kind(), StoreKind::Postgres);
            f(pg).await;
        }
    }

    fn record(id: &str, ds: &str, ty: &str, created_ms: i64) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            task_type: ty.into(),
            datasource: Some(ds.into()),
            group_id: id.into(),
            payload: format!("{{\"id\":\"{id}\",\"type\":\"{ty}\"}}"),
            created_ms,
            status_code: "RUNNING".into(),
            duration: -1,
            error_msg: None,
            location: r#"{"host":null,"port":-1,"tlsPort":-1}"#.into(),
            updated_ms: created_ms,
        }
    }

    #[tokio::test]
    async fn tasks_insert_get_update_list() {
        each_store(|store| async move {
            assert!(
                store
                    .insert_task(&record("a", "wiki", "index", 1000))
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .insert_task(&record("b", "wiki", "noop", 2000))
                    .await
                    .unwrap()
            );
            assert!(
                store
                    .insert_task(&record("c", "other", "index", 3000))
                    .await
                    .unwrap()
            );
            // duplicate id: rejected, original kept
            let mut dup = record("a", "x", "y", 9);
            dup.payload = "changed".into();
            assert!(!store.insert_task(&dup).await.unwrap());
            let a = store.get_task("a").await.unwrap().unwrap();
            assert_eq!(a, record("a", "wiki", "index", 1000));
            assert!(store.get_task("missing").await.unwrap().is_none());

            let done = StatusUpdate {
                status_code: "FAILED".into(),
                duration: 42,
                error_msg: Some("boom".into()),
                location: r#"{"host":"10.0.0.1","port":8100,"tlsPort":-1}"#.into(),
            };
            assert!(store.update_status("a", &done).await.unwrap());
            // a final status is not overwritten
            let again = StatusUpdate {
                status_code: "SUCCESS".into(),
                duration: 1,
                error_msg: None,
                location: "{}".into(),
            };
            assert!(!store.update_status("a", &again).await.unwrap());
            let a = store.get_task("a").await.unwrap().unwrap();
            assert_eq!(a.status_code, "FAILED");
            assert_eq!(a.error_msg.as_deref(), Some("boom"));
            assert_eq!(a.duration, 42);
            assert!(!a.is_active());

            let ids = |v: Vec<TaskRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
            let all = store.list_tasks(&TaskFilter::default()).await.unwrap();
            assert_eq!(ids(all), ["c", "b", "a"]);
            let active = TaskFilter {
                active: Some(true),
                ..Default::default()
            };
            assert_eq!(ids(store.list_tasks(&active).await.unwrap()), ["c", "b"]);
            let complete = TaskFilter {
                active: Some(false),
                ..Default::default()
            };
            assert_eq!(ids(store.list_tasks(&complete).await.unwrap()), ["a"]);
            let wiki_index = TaskFilter {
                datasource: Some("wiki".into()),
                task_type: Some("index".into()),
                ..Default::default()
            };
            assert_eq!(ids(store.list_tasks(&wiki_index).await.unwrap()), ["a"]);
            let limited = TaskFilter {
                limit: Some(2),
                ..Default::default()
            };
            assert_eq!(ids(store.list_tasks(&limited).await.unwrap()), ["c", "b"]);
            let window = TaskFilter {
                created_after_ms: Some(1500),
                created_before_ms: Some(3000),
                ..Default::default()
            };
            assert_eq!(ids(store.list_tasks(&window).await.unwrap()), ["b"]);
        })
        .await;
    }

    #[tokio::test]
    async fn config_set_get_etag_and_audit() {
        each_store(|store| async move {
            let key = "k8s.taskrunner.config";
            assert_eq!(store.get_config(key).await.unwrap(), None);
            let info = AuditInfo {
                author: "ann".into(),
                identity: None,
                comment: "first".into(),
                ip: "127.0.0.1".into(),
            };
            // If-Match on nothing stored fails, even with '*'
            let out = store
                .set_config(key, Some("*"), &info, |_| Ok::<_, ()>("x".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(out, SetOutcome::PreconditionFailed { current: None });

            let out = store
                .set_config(key, None, &info, |cur| {
                    assert_eq!(cur, None);
                    Ok::<_, ()>(r#"{"capacity":1}"#.into())
                })
                .await
                .unwrap()
                .unwrap();
            let etag1 = etag_of(br#"{"capacity":1}"#);
            assert_eq!(
                out,
                SetOutcome::Ok {
                    etag: etag1.clone()
                }
            );
            assert_eq!(
                store.get_config(key).await.unwrap().as_deref(),
                Some(r#"{"capacity":1}"#)
            );
            // stale ETag -> precondition failed, nothing written
            let stale = etag_of(b"something else");
            let out = store
                .set_config(key, Some(&stale), &info, |_| Ok::<_, ()>("nope".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                out,
                SetOutcome::PreconditionFailed {
                    current: Some(etag1.clone())
                }
            );
            // matching ETag (in a list) -> written; compute sees the stored value
            let info2 = AuditInfo {
                author: "bob".into(),
                identity: Some("admin".into()),
                comment: "second".into(),
                ip: "10.1.2.3".into(),
            };
            let header = format!("\"zzz\", {etag1}");
            let out = store
                .set_config(key, Some(&header), &info2, |cur| {
                    assert_eq!(cur, Some(r#"{"capacity":1}"#));
                    Ok::<_, ()>(r#"{"capacity":2}"#.into())
                })
                .await
                .unwrap()
                .unwrap();
            assert!(matches!(out, SetOutcome::Ok { .. }));
            // compute error aborts without writing
            let err = store
                .set_config(key, None, &info, |_| Err::<String, _>("bad"))
                .await
                .unwrap();
            assert_eq!(err, Err("bad"));
            assert_eq!(
                store.get_config(key).await.unwrap().as_deref(),
                Some(r#"{"capacity":2}"#)
            );

            let last = store.audit_last(key, 10).await.unwrap();
            assert_eq!(last.len(), 2);
            assert_eq!(last[0].payload, r#"{"capacity":2}"#);
            assert_eq!(last[0].audit_info, info2);
            assert_eq!(last[1].audit_info, info);
            assert_eq!(last[0].key, key);
            assert_eq!(last[0].entry_type, key);
            let one = store.audit_last(key, 1).await.unwrap();
            assert_eq!(one, last[..1].to_vec());
            let all = store.audit_in_interval(key, 0, i64::MAX).await.unwrap();
            assert_eq!(all.len(), 2);
            assert_eq!(
                all[0].payload, r#"{"capacity":1}"#,
                "interval form is oldest first"
            );
            let none = store.audit_in_interval(key, 0, 1000).await.unwrap();
            assert!(none.is_empty());
            let json = serde_json::to_value(&all[1]).unwrap();
            assert_eq!(json["auditInfo"]["identity"], "admin");
            assert!(json["auditTime"].as_str().unwrap().ends_with('Z'));
            let json0 = serde_json::to_value(&all[0]).unwrap();
            assert!(json0["auditInfo"].get("identity").is_none());
        })
        .await;
    }

    #[tokio::test]
    async fn concurrent_config_writers_never_lose_an_update() {
        each_store(|store| async move {
            let key = "counter";
            let info = AuditInfo::default();
            let mut handles = Vec::new();
            for _ in 0..8 {
                let store = store.clone();
                let info = info.clone();
                handles.push(tokio::spawn(async move {
                    store
                        .set_config(key, None, &info, |cur| {
                            let n: i64 = cur.map(|c| c.parse().unwrap_or(0)).unwrap_or(0);
                            Ok::<_, ()>((n + 1).to_string())
                        })
                        .await
                        .unwrap()
                        .unwrap()
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            assert_eq!(store.get_config(key).await.unwrap().as_deref(), Some("8"));
            assert_eq!(store.audit_last(key, 100).await.unwrap().len(), 8);
        })
        .await;
    }

    #[test]
    fn etag_matches_druid_format_and_if_match_rules() {
        let tag = etag_of(b"current-k8s-execution-config");
        assert!(tag.starts_with('"') && tag.ends_with('"'));
        assert_eq!(tag.len(), 2 + 22, "16 bytes base64url without padding");
        assert!(if_match_admits(&tag, Some(b"current-k8s-execution-config")));
        assert!(if_match_admits(
            &format!("W/{tag}"),
            Some(b"current-k8s-execution-config")
        ));
        assert!(!if_match_admits(&tag, Some(b"other")));
        assert!(!if_match_admits(&tag, None));
        assert!(if_match_admits("*", Some(b"x")));
        assert!(!if_match_admits("*", None));
    }

    #[test]
    fn times_print_like_druid() {
        assert_eq!(format_ms(1_718_312_391_622), "2024-06-13T20:59:51.622Z");
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
    }

    #[tokio::test]
    async fn bad_table_base_and_url_are_rejected() {
        let err = Store::connect("sqlite::memory:", "x; drop")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("druid.metadata.storage.tables.base"),
            "{err}"
        );
        let err = Store::connect("mysql://h/db", "druid_k8s")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connectURI"), "{err}");
    }
}
