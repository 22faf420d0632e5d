//! The server's own settings, read from the same `runtime.properties` as the runner's.
//!
//! | Property | Default | Meaning |
//! |---|---|---|
//! | `druid.plaintextPort` | `8090` | Port to listen on (all interfaces) unless `--listen` is given. |
//! | `druid.k8s.server.dataDir` | `./.data` | Directory of the SQLite database (and the demo's files). |
//! | `druid.metadata.storage.type` | `derby` → SQLite | `postgresql` uses PostgreSQL; `derby`, `sqlite` use SQLite. |
//! | `druid.metadata.storage.connector.connectURI` | – | `jdbc:postgresql://host:port/db?…` (or `postgres://…`). |
//! | `druid.metadata.storage.connector.user` / `.password` | – | Credentials (the password is never logged). |
//! | `druid.k8s.server.metadata.tablePrefix` | `druid_k8s` | Tables are `<prefix>_tasks`, `_config`, `_audit`. |
//! | `druid.audit.manager.auditHistoryMillis` | `604800000` (1 week) | Default history window. |
//! | `druid.k8s.server.auth.usersFile` | – | Users/roles file; when set, HTTP Basic authentication is on. |
//! | `druid.k8s.server.tls.certPath` / `.keyPath` | – | PEM certificate chain and key: serve HTTPS (rustls). |
//! | `druid.k8s.server.maxRequestBytes` | `10485760` | Largest accepted request body. |

use std::net::SocketAddr;
use std::path::PathBuf;

use druid_k8s_model::RawConfig;

use crate::error::ServerError;

/// Where the metadata lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// SQLite file `druid-k8s.db` in this directory.
    SqliteDir(PathBuf),
    /// A sqlx database URL (PostgreSQL), credentials included.
    Url(String),
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreSettings::SqliteDir(p) => f.debug_tuple("SqliteDir").field(p).finish(),
            StoreSettings::Url(u) => f.debug_tuple("Url").field(&mask_url(u)).finish(),
        }
    }
}

/// The validated server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Metadata store.
    pub store: StoreSettings,
    /// Table-name prefix.
    pub table_prefix: String,
    /// Default history window in ms.
    pub audit_history_millis: i64,
    /// Users file (auth on when set).
    pub users_file: Option<PathBuf>,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Largest request body in bytes.
    pub max_request_bytes: usize,
    /// Client-side limit of Kubernetes API requests per second (`0` = none); `None` keeps the
    /// runner's default (50/s).
    pub kube_qps: Option<u32>,
    /// Burst of that limit; `None` keeps the runner's default (100).
    pub kube_burst: Option<u32>,
}

/// Replaces the password of a URL with `***` for display.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

fn invalid(key: &str, message: impl Into<String>) -> ServerError {
    ServerError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Translates Druid's JDBC URI (`jdbc:postgresql://host:port/db?k=v`) plus user and password into
/// a sqlx URL (`postgres://user:password@host:port/db?k=v`). Plain `postgres://` URLs pass
/// through (user and password are filled in when the URL has none).
pub fn postgres_url(
    connect_uri: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<String, ServerError> {
    const KEY: &str = "druid.metadata.storage.connector.connectURI";
    let rest = connect_uri
        .strip_prefix("jdbc:postgresql:")
        .or_else(|| connect_uri.strip_prefix("postgresql:"))
        .or_else(|| connect_uri.strip_prefix("postgres:"))
        .ok_or_else(|| {
            invalid(
                KEY,
                format!(
                    "[{connect_uri}] is not a PostgreSQL URI; expected jdbc:postgresql://host:port/database"
                ),
            )
        })?;
    if !rest.starts_with("//") {
        return Err(invalid(
            KEY,
            format!("[{connect_uri}] has no host; expected jdbc:postgresql://host:port/database"),
        ));
    }
    let mut url = url::Url::parse(&format!("postgres:{rest}"))
        .map_err(|e| invalid(KEY, format!("[{connect_uri}] is not a valid URI: {e}")))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(KEY, format!("[{connect_uri}] has no host")));
    }
    if url.username().is_empty()
        && let Some(user) = user
    {
        url.set_username(user).map_err(|()| {
            invalid(
                "druid.metadata.storage.connector.user",
                "cannot be used in a URL",
            )
        })?;
    }
    if url.password().is_none()
        && let Some(password) = password
    {
        url.set_password(Some(password)).map_err(|()| {
            invalid(
                "druid.metadata.storage.connector.password",
                "cannot be used in a URL",
            )
        })?;
    }
    Ok(url.to_string())
}

impl ServerSettings {
    /// Reads the settings; `listen` (the `--listen` flag) overrides `druid.plaintextPort`.
    pub fn from_raw(raw: &RawConfig, listen: Option<SocketAddr>) -> Result<Self, ServerError> {
        let port = match raw.get("druid.plaintextPort") {
            None => 8090,
            Some(v) => v.parse::<u16>().map_err(|_| {
                invalid(
                    "druid.plaintextPort",
                    format!("[{v}] is not a port number (0-65535)"),
                )
            })?,
        };
        let listen = listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], port)));
        let data_dir = PathBuf::from(raw.get("druid.k8s.server.dataDir").unwrap_or("./.data"));
        let store = match raw.get("druid.metadata.storage.type").unwrap_or("derby") {
            "derby" | "sqlite" => StoreSettings::SqliteDir(data_dir.clone()),
            "postgresql" => {
                let uri = raw
                    .get("druid.metadata.storage.connector.connectURI")
                    .ok_or_else(|| {
                        invalid(
                            "druid.metadata.storage.connector.connectURI",
                            "is required when druid.metadata.storage.type=postgresql",
                        )
                    })?;
                StoreSettings::Url(postgres_url(
                    uri,
                    raw.get("druid.metadata.storage.connector.user"),
                    raw.get("druid.metadata.storage.connector.password"),
                )?)
            }
            other => {
                return Err(invalid(
                    "druid.metadata.storage.type",
                    format!(
                        "[{other}] is not supported; expected postgresql, sqlite or derby (SQLite)"
                    ),
                ));
            }
        };
        let table_prefix = raw
            .get("druid.k8s.server.metadata.tablePrefix")
            .unwrap_or("druid_k8s")
            .to_owned();
        let audit_history_millis = match raw.get("druid.audit.manager.auditHistoryMillis") {
            None => 7 * 24 * 3600 * 1000,
            Some(v) => v.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    "druid.audit.manager.auditHistoryMillis",
                    format!("[{v}] is not a positive number of milliseconds"),
                )
            })?,
        };
        let users_file = raw
            .get("druid.k8s.server.auth.usersFile")
            .map(PathBuf::from);
        let tls = match (
            raw.get("druid.k8s.server.tls.certPath"),
            raw.get("druid.k8s.server.tls.keyPath"),
        ) {
            (None, None) => None,
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            (Some(_), None) => {
                return Err(invalid(
                    "druid.k8s.server.tls.keyPath",
                    "is required when druid.k8s.server.tls.certPath is set",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "druid.k8s.server.tls.certPath",
                    "is required when druid.k8s.server.tls.keyPath is set",
                ));
            }
        };
        let max_request_bytes = match raw.get("druid.k8s.server.maxRequestBytes") {
            None => 10 * 1024 * 1024,
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    "druid.k8s.server.maxRequestBytes",
                    format!("[{v}] is not a positive number of bytes"),
                )
            })?,
        };
        let count = |key: &str, min: u32| -> Result<Option<u32>, ServerError> {
            match raw.get(key) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= min)
                    .map(Some)
                    .ok_or_else(|| {
                        invalid(
                            key,
                            format!("[{v}] is not a whole number of at least {min}"),
                        )
                    }),
            }
        };
        let kube_qps = count("druid.k8s.server.kubeClient.qps", 0)?;
        let kube_burst = count("druid.k8s.server.kubeClient.burst", 1)?;
        Ok(ServerSettings {
            listen,
            data_dir,
            store,
            table_prefix,
            audit_history_millis,
            users_file,
            tls,
            max_request_bytes,
            kube_qps,
            kube_burst,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(props: &str) -> Result<ServerSettings, String> {
        let raw = RawConfig::from_properties(props).map_err(|e| e.to_string())?;
        ServerSettings::from_raw(&raw, None).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let s = check("").unwrap();
        assert_eq!(s.listen, "0.0.0.0:8090".parse().unwrap());
        assert_eq!(s.store, StoreSettings::SqliteDir("./.data".into()));
        assert_eq!(s.table_prefix, "druid_k8s");
        assert_eq!(s.audit_history_millis, 604_800_000);
        assert_eq!(s.users_file, None);
        assert_eq!(s.tls, None);
    }

    #[test]
    fn port_data_dir_and_listen_flag() {
        let s = check("druid.plaintextPort=8888\ndruid.k8s.server.dataDir=/var/lib/dk").unwrap();
        assert_eq!(s.listen.port(), 8888);
        assert_eq!(s.store, StoreSettings::SqliteDir("/var/lib/dk".into()));
        let raw = RawConfig::from_properties("druid.plaintextPort=8888").unwrap();
        let s = ServerSettings::from_raw(&raw, Some("127.0.0.1:1234".parse().unwrap())).unwrap();
        assert_eq!(s.listen, "127.0.0.1:1234".parse().unwrap());
        let err = check("druid.plaintextPort=http").unwrap_err();
        assert!(
            err.contains("druid.plaintextPort") && err.contains("[http]"),
            "{err}"
        );
    }

    #[test]
    fn postgres_from_druid_keys() {
        let s = check(
            "druid.metadata.storage.type=postgresql\n\
             druid.metadata.storage.connector.connectURI=jdbc:postgresql://db.example:5433/druid?sslmode=disable\n\
             druid.metadata.storage.connector.user=druid\n\
             druid.metadata.storage.connector.password=s3cr@t/pw\n",
        )
        .unwrap();
        let StoreSettings::Url(url) = &s.store else {
            panic!("expected a URL: {:?}", s.store)
        };
        assert_eq!(
            url,
            "postgres://druid:s3cr%40t%2Fpw@db.example:5433/druid?sslmode=disable"
        );
        let shown = format!("{:?}", s.store);
        assert!(
            !shown.contains("s3cr"),
            "password must not be shown: {shown}"
        );
        let err = check("druid.metadata.storage.type=postgresql").unwrap_err();
        assert!(err.contains("connectURI"), "{err}");
        let err = check(
            "druid.metadata.storage.type=postgresql\n\
             druid.metadata.storage.connector.connectURI=jdbc:mysql://h/db",
        )
        .unwrap_err();
        assert!(err.contains("not a PostgreSQL URI"), "{err}");
        let err = check("druid.metadata.storage.type=mysql").unwrap_err();
        assert!(
            err.contains("druid.metadata.storage.type") && err.contains("mysql"),
            "{err}"
        );
    }

    #[test]
    fn postgres_url_forms() {
        assert_eq!(
            postgres_url("postgres://u:p@h/db", Some("x"), Some("y")).unwrap(),
            "postgres://u:p@h/db"
        );
        assert_eq!(
            postgres_url("jdbc:postgresql://h/db", None, None).unwrap(),
            "postgres://h/db"
        );
        assert!(postgres_url("jdbc:postgresql:db", None, None).is_err());
    }

    #[test]
    fn tls_needs_both_files_and_auth_file() {
        let err = check("druid.k8s.server.tls.certPath=/c.pem").unwrap_err();
        assert!(err.contains("keyPath"), "{err}");
        let s = check(
            "druid.k8s.server.tls.certPath=/c.pem\ndruid.k8s.server.tls.keyPath=/k.pem\n\
             druid.k8s.server.auth.usersFile=/u.yaml",
        )
        .unwrap();
        assert_eq!(s.tls, Some(("/c.pem".into(), "/k.pem".into())));
        assert_eq!(s.users_file, Some("/u.yaml".into()));
        let err = check("druid.audit.manager.auditHistoryMillis=0").unwrap_err();
        assert!(err.contains("auditHistoryMillis"), "{err}");
    }

    #[test]
    fn kube_client_rate_limit() {
        let s = check("").unwrap();
        assert_eq!((s.kube_qps, s.kube_burst), (None, None));
        let s = check("druid.k8s.server.kubeClient.qps=0\ndruid.k8s.server.kubeClient.burst=500")
            .unwrap();
        assert_eq!((s.kube_qps, s.kube_burst), (Some(0), Some(500)));
        let err = check("druid.k8s.server.kubeClient.qps=fast").unwrap_err();
        assert!(
            err.contains("druid.k8s.server.kubeClient.qps") && err.contains("[fast]"),
            "{err}"
        );
        let err = check("druid.k8s.server.kubeClient.burst=0").unwrap_err();
        assert!(
            err.contains("druid.k8s.server.kubeClient.burst") && err.contains("at least 1"),
            "{err}"
        );
    }
}
