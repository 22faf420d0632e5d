//! Container logs kept by the simulated kubelet. Lines carry the wall-clock time they are
//! "written"; lines in the future are not visible yet, so a peon's log grows while it runs without
//! any per-pod timer.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::Key;

#[derive(Debug, Default, Clone)]
struct ContainerLog {
    lines: Vec<(jiff::Timestamp, String)>,
    /// When the container ends (possibly in the future); `None` while it runs indefinitely.
    ends_at: Option<jiff::Timestamp>,
}

/// A snapshot of one container's log.
#[derive(Debug, Clone)]
pub(crate) struct LogSnapshot {
    /// Lines written so far.
    pub lines: Vec<(jiff::Timestamp, String)>,
    /// Whether the container has ended (no more lines will come).
    pub finished: bool,
}

/// All container logs, by pod.
#[derive(Debug, Default)]
pub(crate) struct LogStore {
    inner: Mutex<HashMap<Key, HashMap<String, ContainerLog>>>,
}

impl LogStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, HashMap<String, ContainerLog>>> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Sets a container's (future) log and end time.
    pub fn set(
        &self,
        pod: &Key,
        container: &str,
        lines: Vec<(jiff::Timestamp, String)>,
        ends_at: Option<jiff::Timestamp>,
    ) {
        self.lock()
            .entry(pod.clone())
            .or_default()
            .insert(container.to_owned(), ContainerLog { lines, ends_at });
    }

    /// Ends a container at `at`: lines after it are dropped, a final line may be added.
    pub fn finish(&self, pod: &Key, container: &str, at: jiff::Timestamp, last_lines: Vec<String>) {
        let mut g = self.lock();
        let log = g
            .entry(pod.clone())
            .or_default()
            .entry(container.to_owned())
            .or_default();
        log.lines.retain(|(t, _)| *t <= at);
        log.lines.extend(last_lines.into_iter().map(|l| (at, l)));
        log.ends_at = Some(at);
    }

    /// Forgets a pod's logs.
    pub fn remove_pod(&self, pod: &Key) {
        self.lock().remove(pod);
    }

    /// The log of a container as of now; `None` when the container has no log.
    pub fn read(&self, pod: &Key, container: &str) -> Option<LogSnapshot> {
        let now = jiff::Timestamp::now();
        let g = self.lock();
        let log = g.get(pod)?.get(container)?;
        let lines = log
            .lines
            .iter()
            .filter(|(t, _)| *t <= now)
            .cloned()
            .collect();
        Some(LogSnapshot {
            lines,
            finished: log.ends_at.is_some_and(|e| e <= now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_lines_are_hidden_until_written() {
        let s = LogStore::default();
        let k = ("ns".to_owned(), "p".to_owned());
        let now = jiff::Timestamp::now();
        let later = now + jiff::SignedDuration::from_secs(3600);
        s.set(
            &k,
            "main",
            vec![(now, "a".into()), (later, "b".into())],
            Some(later),
        );
        let snap = s.read(&k, "main").unwrap();
        assert_eq!(snap.lines.len(), 1);
        assert!(!snap.finished);
        s.finish(&k, "main", now, vec!["killed".into()]);
        let snap = s.read(&k, "main").unwrap();
        assert_eq!(
            snap.lines.iter().map(|l| l.1.as_str()).collect::<Vec<_>>(),
            ["a", "killed"]
        );
        assert!(snap.finished);
        s.remove_pod(&k);
        assert!(s.read(&k, "main").is_none());
    }
}
