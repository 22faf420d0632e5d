//! HTTP Basic authentication and Druid-style authorization.
//!
//! Users and roles come from a YAML (or JSON) file named by `druid.k8s.server.auth.usersFile`:
//!
//! ```yaml
//! users:
//!   admin:
//!     password: "$argon2id$v=19$m=19456,t=2,p=1$…"   # from `druid-k8s hash-password`
//!     roles: [admin]
//!   viewer:
//!     password: "$argon2id$…"
//!     roles: [readonly]
//! roles:
//!   admin:
//!     - {resource: {type: CONFIG, name: ".*"}, action: READ}
//!     - {resource: {type: CONFIG, name: ".*"}, action: WRITE}
//!     - {resource: {type: STATE, name: ".*"}, action: READ}
//!     - {resource: {type: STATE, name: ".*"}, action: WRITE}
//!   readonly:
//!     - {resource: {type: STATE, name: ".*"}, action: READ}
//! ```
//!
//! As in Druid's resource model, a permission is a resource type, a regular expression over the
//! resource name (matched against the whole name) and an action; READ and WRITE are granted
//! separately. The resources are `CONFIG` (name `CONFIG`: the dynamic config and its history) and
//! `STATE` (name `STATE`: tasks, logs, reports, runner state). Passwords are only stored as
//! argon2 PHC strings; a plaintext password in the file is rejected at start-up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Deserialize;

use crate::error::ServerError;

/// Druid resource types used by this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `CONFIG`: the dynamic config, its history, pod templates.
    Config,
    /// `STATE`: tasks and runner state.
    State,
}

impl ResourceType {
    /// Druid's name (`CONFIG`, `STATE`); also the resource name checked.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Config => "CONFIG",
            ResourceType::State => "STATE",
        }
    }
}

/// Druid actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    /// Read.
    Read,
    /// Write.
    Write,
}

impl Action {
    /// `READ` / `WRITE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "READ",
            Action::Write => "WRITE",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    users: BTreeMap<String, UserEntry>,
    #[serde(default)]
    roles: BTreeMap<String, Vec<PermissionEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    password: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionEntry {
    resource: ResourceEntry,
    action: Action,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceEntry {
    #[serde(rename = "type")]
    resource_type: String,
    name: String,
}

#[derive(Debug)]
struct Permission {
    resource_type: ResourceType,
    name: regex::Regex,
    action: Action,
}

#[derive(Debug)]
struct User {
    phc: String,
    roles: Vec<String>,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Basic` header.
    Missing,
    /// Malformed header, unknown user or wrong password (not distinguished in answers).
    Invalid,
}

/// The loaded users and roles, with a cache of verified credentials (argon2 is deliberately slow,
/// so each user/password pair is verified once; the cache holds SHA-256 digests, never passwords).
#[derive(Debug)]
pub struct Authenticator {
    users: HashMap<String, User>,
    roles: HashMap<String, Vec<Permission>>,
    verified: Mutex<HashSet<(String, [u8; 32])>>,
}

/// Hashes a password as an argon2id PHC string (what the users file stores).
pub fn hash_password(password: &str) -> Result<String, ServerError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Hash(e.to_string()))
}

fn digest(password: &str) -> [u8; 32] {
    use sha2::Digest as _;
    let mut out = [0u8; 32];
    out.copy_from_slice(&sha2::Sha256::digest(password.as_bytes()));
    out
}

impl Authenticator {
    /// Reads and checks a users file.
    pub fn from_file(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
            what: format!("reading users file {}", path.display()),
            source,
        })?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Parses and checks users-file text; `origin` names it in errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, ServerError> {
        let err = |message: String| ServerError::Users {
            path: origin.to_owned(),
            message,
        };
        let file: UsersFile = serde_saphyr::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut roles = HashMap::new();
        for (role, perms) in file.roles {
            let mut out = Vec::new();
            for (i, p) in perms.into_iter().enumerate() {
                let resource_type = match p.resource.resource_type.as_str() {
                    "CONFIG" => ResourceType::Config,
                    "STATE" => ResourceType::State,
                    other => {
                        return Err(err(format!(
                            "roles.{role}[{i}].resource.type: [{other}] is not supported; expected CONFIG or STATE"
                        )));
                    }
                };
                let name =
                    regex::Regex::new(&format!("^(?:{})$", p.resource.name)).map_err(|e| {
                        err(format!(
                            "roles.{role}[{i}].resource.name: not a regular expression: {e}"
                        ))
                    })?;
                out.push(Permission {
                    resource_type,
                    name,
                    action: p.action,
                });
            }
            roles.insert(role, out);
        }
        let mut users = HashMap::new();
        for (name, entry) in file.users {
            if PasswordHash::new(&entry.password).is_err() || !entry.password.starts_with("$argon2")
            {
                return Err(err(format!(
                    "users.{name}.password: expected an argon2 hash (make one with `druid-k8s hash-password`); plaintext passwords are not accepted"
                )));
            }
            for role in &entry.roles {
                if !roles.contains_key(role) {
                    let mut known: Vec<_> = roles.keys().cloned().collect();
                    known.sort();
                    return Err(err(format!(
                        "users.{name}.roles: role [{role}] is not defined under roles (defined: {known:?})"
                    )));
                }
            }
            users.insert(
                name,
                User {
                    phc: entry.password,
                    roles: entry.roles,
                },
            );
        }
        Ok(Authenticator {
            users,
            roles,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an `Authorization` header value; returns the user name.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<String, AuthFailure> {
        use base64::Engine as _;
        let header = header.ok_or(AuthFailure::Missing)?;
        let (scheme, rest) = header.trim().split_once(' ').ok_or(AuthFailure::Invalid)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthFailure::Missing);
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| AuthFailure::Invalid)?;
        let decoded = String::from_utf8(decoded).map_err(|_| AuthFailure::Invalid)?;
        let (user, password) = decoded.split_once(':').ok_or(AuthFailure::Invalid)?;
        let entry = self.users.get(user).ok_or(AuthFailure::Invalid)?;
        let key = (user.to_owned(), digest(password));
        if self.verified.lock().is_ok_and(|v| v.contains(&key)) {
            return Ok(user.to_owned());
        }
        let phc = entry.phc.clone();
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&phc).is_ok_and(|parsed| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Err(AuthFailure::Invalid);
        }
        if let Ok(mut v) = self.verified.lock() {
            if v.len() > 10_000 {
                v.clear();
            }
            v.insert(key);
        }
        Ok(user.to_owned())
    }

    /// Whether `user` may do `action` on the resource `resource_type` (named like its type).
    pub fn authorize(&self, user: &str, resource_type: ResourceType, action: Action) -> bool {
        let Some(entry) = self.users.get(user) else {
            return false;
        };
        entry.roles.iter().any(|role| {
            self.roles.get(role).is_some_and(|perms| {
                perms.iter().any(|p| {
                    p.resource_type == resource_type
                        && p.action == action
                        && p.name.is_match(resource_type.as_str())
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn basic(user: &str, pw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    }

    fn check(text: &str) -> Result<Authenticator, String> {
        Authenticator::from_text(text, "users.yaml").map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn authenticate_and_authorize() {
        let hash = hash_password("pw1").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let text = format!(
            "users:\n  ann:\n    password: '{hash}'\n    roles: [reader]\n  bob:\n    password: '{hash}'\n    roles: []\n\
             roles:\n  reader:\n    - {{resource: {{type: STATE, name: '.*'}}, action: READ}}\n    - {{resource: {{type: CONFIG, name: 'CONF.*'}}, action: WRITE}}\n"
        );
        let auth = check(&text).unwrap();
        assert_eq!(
            auth.authenticate(Some(&basic("ann", "pw1"))).await,
            Ok("ann".into())
        );
        // cached path gives the same answer
        assert_eq!(
            auth.authenticate(Some(&basic("ann", "pw1"))).await,
            Ok("ann".into())
        );
        assert_eq!(
            auth.authenticate(Some(&basic("ann", "nope"))).await,
            Err(AuthFailure::Invalid)
        );
        assert_eq!(
            auth.authenticate(Some(&basic("zed", "pw1"))).await,
            Err(AuthFailure::Invalid)
        );
        assert_eq!(auth.authenticate(None).await, Err(AuthFailure::Missing));
        assert_eq!(
            auth.authenticate(Some("Bearer x")).await,
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            auth.authenticate(Some("Basic !!!")).await,
            Err(AuthFailure::Invalid)
        );

        assert!(auth.authorize("ann", ResourceType::State, Action::Read));
        assert!(!auth.authorize("ann", ResourceType::State, Action::Write));
        assert!(auth.authorize("ann", ResourceType::Config, Action::Write));
        assert!(
            !auth.authorize("ann", ResourceType::Config, Action::Read),
            "READ is separate"
        );
        assert!(!auth.authorize("bob", ResourceType::State, Action::Read));
        assert!(!auth.authorize("nobody", ResourceType::State, Action::Read));
    }

    #[test]
    fn bad_files_name_the_entry() {
        let err = check("users:\n  ann:\n    password: hunter2\n").unwrap_err();
        assert!(
            err.contains("users.ann.password") && err.contains("hash-password"),
            "{err}"
        );
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        let err = check(&format!(
            "users:\n  ann:\n    password: '{hash}'\n    roles: [ghost]\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("users.ann.roles") && err.contains("ghost"),
            "{err}"
        );
        let err =
            check("roles:\n  r:\n    - {resource: {type: DATASOURCE, name: x}, action: READ}\n")
                .unwrap_err();
        assert!(
            err.contains("roles.r[0].resource.type") && err.contains("DATASOURCE"),
            "{err}"
        );
        let err = check("roles:\n  r:\n    - {resource: {type: STATE, name: '('}, action: READ}\n")
            .unwrap_err();
        assert!(err.contains("roles.r[0].resource.name"), "{err}");
        let err = check("userz: {}\n").unwrap_err();
        assert!(err.contains("userz"), "{err}");
    }
}
