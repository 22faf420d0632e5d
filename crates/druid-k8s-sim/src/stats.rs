//! Request and watch counters, exposed on `GET /sim/stats` and by `SimHandle::stats()`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SimStats {
    /// API requests by `"<verb> <resource>"` (e.g. `"list jobs"`, `"get pods/log"`).
    pub requests: BTreeMap<String, u64>,
    /// All API requests.
    pub requests_total: u64,
    /// Watches currently open.
    pub watches_open: i64,
    /// Watches opened since start.
    pub watches_total: u64,
    /// Injected error answers.
    pub injected_errors: u64,
    /// Injected dropped connections.
    pub dropped_connections: u64,
    /// Watch streams cut by fault injection or because the watcher lagged.
    pub watches_cut: u64,
    /// 410 Expired answers (real or injected).
    pub gone_answers: u64,
    /// The store's current resourceVersion.
    pub resource_version: u64,
    /// Stored objects by resource (`jobs.batch`, `pods`).
    pub objects: BTreeMap<String, u64>,
    /// Objects actually created (successful, not dry-run creates) by resource (`"jobs"`).
    pub created: BTreeMap<String, u64>,
    /// Names created more than once since start (the earlier object having been deleted), as
    /// `"<resource> <namespace>/<name>"` → number of creates: a client that launches the same
    /// Job twice shows up here.
    pub created_again: BTreeMap<String, u64>,
}

impl SimStats {
    /// Requests counted for a verb and resource (`("watch", "jobs")`).
    pub fn requests_for(&self, verb: &str, resource: &str) -> u64 {
        self.requests
            .get(&format!("{verb} {resource}"))
            .copied()
            .unwrap_or(0)
    }
}

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: Mutex<BTreeMap<String, u64>>,
    pub requests_total: AtomicU64,
    pub watches_open: AtomicI64,
    pub watches_total: AtomicU64,
    pub injected_errors: AtomicU64,
    pub dropped_connections: AtomicU64,
    pub watches_cut: AtomicU64,
    pub gone_answers: AtomicU64,
    /// Successful creates by `"<resource> <namespace>/<name>"`.
    created: Mutex<HashMap<String, u64>>,
}

impl Counters {
    pub fn request(&self, verb: &str, resource: &str) {
        self.requests_total.fetch_add(1, Ordering::Relaxed);
        let mut g = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g.entry(format!("{verb} {resource}")).or_default() += 1;
    }

    /// Records an object actually created (not a dry run).
    pub fn created(&self, resource: &str, namespace: Option<&str>, name: &str) {
        let mut g = match self.created.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g.entry(format!("{resource} {}/{name}", namespace.unwrap_or("")))
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> SimStats {
        let requests = match self.requests.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let mut created = BTreeMap::new();
        let mut created_again = BTreeMap::new();
        {
            let g = match self.created.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            for (key, n) in g.iter() {
                let resource = key.split(' ').next().unwrap_or_default();
                *created.entry(resource.to_owned()).or_default() += n;
                if *n > 1 {
                    created_again.insert(key.clone(), *n);
                }
            }
        }
        SimStats {
            requests,
            requests_total: self.requests_total.load(Ordering::Relaxed),
            watches_open: self.watches_open.load(Ordering::Relaxed),
            watches_total: self.watches_total.load(Ordering::Relaxed),
            injected_errors: self.injected_errors.load(Ordering::Relaxed),
            dropped_connections: self.dropped_connections.load(Ordering::Relaxed),
            watches_cut: self.watches_cut.load(Ordering::Relaxed),
            gone_answers: self.gone_answers.load(Ordering::Relaxed),
            resource_version: 0,
            objects: BTreeMap::new(),
            created,
            created_again,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_counted_and_repeated_names_listed() {
        let c = Counters::default();
        c.created("jobs", Some("druid"), "a");
        c.created("jobs", Some("druid"), "b");
        c.created("jobs", Some("druid"), "a");
        c.created("pods", Some("druid"), "a-x");
        let s = c.snapshot();
        assert_eq!(s.created.get("jobs"), Some(&3));
        assert_eq!(s.created.get("pods"), Some(&1));
        assert_eq!(
            s.created_again.into_iter().collect::<Vec<_>>(),
            vec![("jobs druid/a".to_owned(), 2)]
        );
    }
}
