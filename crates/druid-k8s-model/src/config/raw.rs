//! Phase one of configuration: a flat map of property names to string values, read from a Java
//! `.properties` text and from environment variables in Druid's image convention.
//!
//! # The environment-variable convention (Druid's Docker image, `druid.sh`)
//!
//! Only variables whose name starts with `druid_` are read. The property name is the variable
//! name with every `_` replaced by `.`, and then every `..` (scanning left to right, without
//! overlap) replaced by `_`. So a doubled underscore stands for a literal underscore:
//! `druid_indexer_runner_k8s_podTemplate_index__kafka` →
//! `druid.indexer.runner.k8s.podTemplate.index_kafka`. Environment values win over the file.
//!
//! Limits of the convention (it is not a bijection):
//! * a property containing `._` (an underscore right after a dot) or `..` cannot be written as a
//!   variable: `a._b` becomes `a___b`, which reads back as `a_.b`;
//! * three underscores read as `_.`, four as `__`.
//!
//! [`property_to_env`] is the inverse for every property without those sequences.

use std::collections::BTreeMap;

use crate::error::ModelError;

/// The prefix every Druid environment variable has.
pub const ENV_PREFIX: &str = "druid_";

/// Converts an environment variable name to a property name (Druid's image convention); `None`
/// when the name does not start with `druid_`.
///
/// ```
/// use druid_k8s_model::config::env_to_property;
/// assert_eq!(env_to_property("druid_indexer_runner_capacity").as_deref(),
///            Some("druid.indexer.runner.capacity"));
/// assert_eq!(env_to_property("druid_indexer_runner_k8s_podTemplate_index__kafka").as_deref(),
///            Some("druid.indexer.runner.k8s.podTemplate.index_kafka"));
/// assert_eq!(env_to_property("PATH"), None);
/// ```
pub fn env_to_property(name: &str) -> Option<String> {
    if !name.starts_with(ENV_PREFIX) {
        return None;
    }
    let dotted = name.replace('_', ".");
    // `sed -e 's/\.\./_/g'`: left to right, non-overlapping.
    Some(dotted.replace("..", "_"))
}

/// Converts a property name to the environment variable Druid's image reads it from: every `_`
/// doubled, then every `.` replaced by `_`. See the module docs for the names that cannot round
/// trip.
///
/// ```
/// use druid_k8s_model::config::property_to_env;
/// assert_eq!(property_to_env("druid.indexer.runner.k8s.podTemplate.index_kafka"),
///            "druid_indexer_runner_k8s_podTemplate_index__kafka");
/// ```
pub fn property_to_env(property: &str) -> String {
    property.replace('_', "__").replace('.', "_")
}

/// True when `property` survives `env_to_property(property_to_env(property))` unchanged: it
/// starts with `druid.` (or `druid_`) and contains neither `..` nor `._`.
pub fn property_round_trips_through_env(property: &str) -> bool {
    (property.starts_with("druid.") || property.starts_with("druid_"))
        && !property.contains("._")
        && !property.contains("..")
}

/// Where a raw value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The properties file.
    File,
    /// An environment variable.
    Env,
    /// Set programmatically.
    Other,
}

/// Raw properties: name → string value, with where each came from. `Debug` masks secret values
/// (see [`is_secret_key`](super::is_secret_key)).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    entries: BTreeMap<String, (String, Source)>,
    /// `${…}` references that could not be resolved: (property, message).
    unresolved: Vec<(String, String)>,
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(k, (v, _))| (k, super::display_value(k, v))),
            )
            .finish()
    }
}

impl RawConfig {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a Java `.properties` text (`k=v`, `k = v`, `k: v`, `#`/`!` comments, `\` line
    /// continuations and escapes). Values are kept verbatim except that surrounding whitespace is
    /// trimmed.
    pub fn from_properties(text: &str) -> Result<Self, ModelError> {
        let map = java_properties::read(text.as_bytes()).map_err(|e| ModelError::Properties {
            message: e.to_string(),
        })?;
        let entries = map
            .into_iter()
            .map(|(k, v)| (k.trim().to_owned(), (v.trim().to_owned(), Source::File)))
            .collect();
        Ok(Self {
            entries,
            unresolved: Vec::new(),
        })
    }

    /// Collects the `druid_*` variables of an environment (e.g. `std::env::vars()`), converted
    /// with [`env_to_property`]; other variables are ignored.
    pub fn from_env<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let entries = vars
            .into_iter()
            .filter_map(|(k, v)| {
                env_to_property(k.as_ref())
                    .map(|p| (p, (v.as_ref().trim().to_owned(), Source::Env)))
            })
            .collect();
        Self {
            entries,
            unresolved: Vec::new(),
        }
    }

    /// The properties file overlaid with the environment (environment wins).
    pub fn load<I, K, V>(properties_text: &str, env: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let mut raw = Self::from_properties(properties_text)?;
        raw.overlay(Self::from_env(&env));
        raw.substitute_env(&|name| env.get(name).cloned());
        Ok(raw)
    }

    /// Replaces `${env:NAME}` references in property values, as Druid's `JsonConfigurator`
    /// (a Commons Text `StringSubstitutor`) does for every property bound to a config object:
    /// the `env` prefix is case-insensitive, `${env:NAME:-default}` gives a default, `$${` is a
    /// literal `${`, and a `${` without a closing `}` is left alone. Pod template paths and the
    /// `druid.indexer.runner.type` / `druid.indexer.runner.k8s.adapter.type` selectors are read
    /// by Druid without substitution and are left alone here too.
    ///
    /// A reference that cannot be resolved (an unset variable without default, `${sys:…}`,
    /// `${file:…}`, a name without prefix) fails Druid's start-up: the value is kept and the
    /// problem is recorded in [`unresolved_references`](Self::unresolved_references), which
    /// [`RunnerConfig::from_raw`](super::RunnerConfig::from_raw) reports as an error of that
    /// property. [`load`](Self::load) calls this with the environment it is given.
    pub fn substitute_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        for (key, (value, _)) in &mut self.entries {
            if !is_substituted(key) || !value.contains("${") {
                continue;
            }
            match substitute(value, lookup) {
                Ok(done) => *value = done,
                Err(message) => {
                    self.unresolved.retain(|(k, _)| k != key);
                    self.unresolved.push((key.clone(), message));
                }
            }
        }
    }

    /// Properties whose `${…}` references could not be resolved by
    /// [`substitute_env`](Self::substitute_env): (property, message), in property order.
    pub fn unresolved_references(&self) -> &[(String, String)] {
        &self.unresolved
    }

    /// Puts every entry of `other` over this map (`other` wins).
    pub fn overlay(&mut self, other: RawConfig) {
        self.unresolved
            .retain(|(k, _)| !other.entries.contains_key(k));
        self.unresolved.extend(other.unresolved);
        self.entries.extend(other.entries);
    }

    /// Sets one property.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.unresolved.retain(|(k, _)| *k != key);
        self.entries.insert(key, (value.into(), Source::Other));
    }

    /// Builder-style [`insert`](Self::insert).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Removes one property.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.unresolved.retain(|(k, _)| k != key);
        self.entries.remove(key).map(|(v, _)| v)
    }

    /// The value of a property.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|(v, _)| v.as_str())
    }

    /// Where a property's value came from.
    pub fn source(&self, key: &str) -> Option<Source> {
        self.entries.get(key).map(|(_, s)| *s)
    }

    /// All properties in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for RawConfig {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut raw = RawConfig::new();
        for (k, v) in iter {
            raw.insert(k, v);
        }
        raw
    }
}

/// Whether Druid runs this property through its `StringSubstitutor` (see
/// [`RawConfig::substitute_env`]).
fn is_substituted(key: &str) -> bool {
    !(key.starts_with(super::POD_TEMPLATE_PREFIX)
        || key == "druid.indexer.runner.type"
        || key == "druid.indexer.runner.k8s.adapter.type")
}

/// Position of the `}` closing a `${` whose body starts at `start`, counting nested `${`.
fn closing_brace(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if bytes[i] == b'}' {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
        i += 1;
    }
    None
}

/// Commons Text `StringSubstitutor` with Druid's lookups, `env` only.
fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(escaped) = after.strip_prefix("$${") {
            // Escaped: a literal `${`, the rest of the reference is not resolved.
            out.push_str("${");
            rest = escaped;
        } else if after.starts_with("${") {
            let Some(end) = closing_brace(after, 2) else {
                out.push_str(after);
                return Ok(out);
            };
            let expr = substitute(&after[2..end], lookup)?;
            out.push_str(&resolve(&expr, lookup)?);
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Resolves one `${…}` body (`env:NAME` or `env:NAME:-default`).
fn resolve(expr: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (name, default) = match expr.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (expr, None),
    };
    let Some((prefix, var)) = name.split_once(':') else {
        return Err(format!(
            "cannot resolve `${{{expr}}}`: a reference needs a lookup prefix; only `${{env:NAME}}` is supported (Druid fails start-up on it too)"
        ));
    };
    if !prefix.eq_ignore_ascii_case("env") {
        return Err(format!(
            "cannot resolve `${{{expr}}}`: only environment references `${{env:NAME}}` are supported (Druid's `{prefix}:` lookup is not)"
        ));
    }
    match (lookup(var), default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "cannot resolve `${{{expr}}}`: environment variable {var} is not set (Druid fails start-up on an undefined variable; use `${{env:{var}:-default}}` for a default)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_syntax() {
        let raw = RawConfig::from_properties(
            "# comment\n! other comment\na=1\nb = two  \nc: three\nd=long \\\n   value\ne\\ f=g\n",
        )
        .unwrap();
        assert_eq!(raw.get("a"), Some("1"));
        assert_eq!(raw.get("b"), Some("two"));
        assert_eq!(raw.get("c"), Some("three"));
        assert_eq!(raw.get("d"), Some("long value"));
        assert_eq!(raw.get("e f"), Some("g"));
        assert_eq!(raw.source("a"), Some(Source::File));
    }

    #[test]
    fn env_wins_and_only_druid_vars_count() {
        let raw = RawConfig::load(
            "druid.indexer.runner.capacity=5\ndruid.indexer.runner.namespace=a\n",
            [
                ("druid_indexer_runner_capacity", "7"),
                ("HOME", "/root"),
                ("DRUID_X", "1"),
                (
                    "druid_indexer_runner_k8s_podTemplate_index__kafka",
                    "/t.yaml",
                ),
            ],
        )
        .unwrap();
        assert_eq!(raw.get("druid.indexer.runner.capacity"), Some("7"));
        assert_eq!(
            raw.source("druid.indexer.runner.capacity"),
            Some(Source::Env)
        );
        assert_eq!(raw.get("druid.indexer.runner.namespace"), Some("a"));
        assert_eq!(
            raw.get("druid.indexer.runner.k8s.podTemplate.index_kafka"),
            Some("/t.yaml")
        );
        assert_eq!(raw.len(), 3);
    }

    /// Druid's `JsonConfigurator` runs every bound property value through a `StringSubstitutor`:
    /// `${env:NAME}` (with an optional `:-default`), `$$` escapes, undefined variables fail
    /// start-up. Pod template paths and the runner/adapter type selectors are read from the raw
    /// properties and are not substituted.
    #[test]
    fn env_references_are_substituted_like_druid() {
        let raw = RawConfig::load(
            "druid.indexer.runner.namespace=${env:POD_NAMESPACE}\n\
             druid.indexer.logs.s3Prefix=logs/${ENV:CLUSTER}/${env:MISSING:-none}\n\
             druid.indexer.runner.labels={\"team\":\"${env:TEAM}\"}\n\
             druid.indexer.runner.javaOptsArray=[\"-Dx=$${env:POD_NAMESPACE}\"]\n\
             druid.indexer.runner.k8s.podTemplate.base=/t/${env:TEAM}.yaml\n\
             druid.indexer.runner.k8sTaskPodNamePrefix=${unterminated\n",
            [
                ("POD_NAMESPACE", "druid"),
                ("CLUSTER", "c1"),
                ("TEAM", "ingest"),
                ("druid_indexer_runner_capacity", "${env:CAP}"),
            ],
        )
        .unwrap();
        assert_eq!(raw.get("druid.indexer.runner.namespace"), Some("druid"));
        assert_eq!(raw.get("druid.indexer.logs.s3Prefix"), Some("logs/c1/none"));
        assert_eq!(
            raw.get("druid.indexer.runner.labels"),
            Some("{\"team\":\"ingest\"}")
        );
        assert_eq!(
            raw.get("druid.indexer.runner.javaOptsArray"),
            Some("[\"-Dx=${env:POD_NAMESPACE}\"]")
        );
        assert_eq!(
            raw.get("druid.indexer.runner.k8s.podTemplate.base"),
            Some("/t/${env:TEAM}.yaml")
        );
        assert_eq!(
            raw.get("druid.indexer.runner.k8sTaskPodNamePrefix"),
            Some("${unterminated")
        );
        // `CAP` is not set: the value is kept and the problem is reported by key.
        assert_eq!(raw.get("druid.indexer.runner.capacity"), Some("${env:CAP}"));
        let unresolved = raw.unresolved_references();
        assert_eq!(unresolved.len(), 1, "{unresolved:?}");
        assert_eq!(unresolved[0].0, "druid.indexer.runner.capacity");
        assert!(unresolved[0].1.contains("CAP"), "{}", unresolved[0].1);

        let errors = crate::config::RunnerConfig::from_raw(&raw).unwrap_err();
        assert!(errors.mentions("druid.indexer.runner.capacity"), "{errors}");

        let raw = RawConfig::load(
            "a.b=${sys:user.home}\nc.d=${file:UTF-8:/etc/x}\ne.f=${HOME}\n",
            [("HOME", "/root")],
        )
        .unwrap();
        let keys: Vec<&str> = raw
            .unresolved_references()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["a.b", "c.d", "e.f"]);
    }

    #[test]
    fn env_convention_edge_cases() {
        assert_eq!(
            env_to_property("druid_a___b").as_deref(),
            Some("druid.a_.b")
        );
        assert_eq!(
            env_to_property("druid_a____b").as_deref(),
            Some("druid.a__b")
        );
        assert_eq!(env_to_property("druidx"), None);
        assert_eq!(property_to_env("druid.a._b"), "druid_a___b");
        assert!(!property_round_trips_through_env("druid.a._b"));
    }
}
