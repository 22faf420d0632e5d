//! The object store: one global, monotonically increasing resourceVersion, objects kept as
//! `serde_json::Value` per kind, a bounded window of past events for watch resumption, and a
//! broadcast channel feeding watchers (a slow watcher lags and is cut; writers never block).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::error::ApiError;
use crate::kinds::KINDS;

/// `(namespace or "", name)`.
pub(crate) type Key = (String, String);

/// The type of a stored change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change to the store. The object is kept serialized (shared by every watcher, and much
/// smaller than a `Value`), with a slim copy of what selectors and controllers look at.
#[derive(Debug)]
pub(crate) struct Event {
    pub rv: u64,
    pub kind: usize,
    pub etype: EventType,
    pub key: Key,
    /// The object, as JSON.
    pub json: bytes::Bytes,
    /// Metadata (name, namespace, uid, labels, owner references) and selectable fields.
    pub slim: Value,
    /// The same for the previous version of a MODIFIED object.
    pub old_slim: Option<Value>,
}

fn set_path(target: &mut Value, path: &[&str], v: Value) {
    let mut cur = target;
    for (i, p) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur[*p] = v;
            return;
        }
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
}

/// The parts of an object that watch selectors and the controllers' indexes need.
pub(crate) fn slim_of(kind: usize, obj: &Value) -> Value {
    let mut slim = json!({"metadata": {}});
    if let Some(m) = obj.get("metadata") {
        for f in [
            "name",
            "namespace",
            "uid",
            "labels",
            "ownerReferences",
            "resourceVersion",
        ] {
            if let Some(v) = m.get(f) {
                slim["metadata"][f] = v.clone();
            }
        }
    }
    for field in crate::selector::supported_fields(kind) {
        if field.starts_with("metadata.") {
            continue;
        }
        let path: Vec<&str> = if *field == "source" {
            vec!["source"]
        } else {
            field.split('.').collect()
        };
        if let Some(v) = obj.pointer(&format!("/{}", path.join("/"))) {
            set_path(&mut slim, &path, v.clone());
        }
    }
    slim
}

impl Event {
    fn new(
        rv: u64,
        kind: usize,
        etype: EventType,
        key: Key,
        obj: &Value,
        old: Option<&Value>,
    ) -> Self {
        Event {
            rv,
            kind,
            etype,
            key,
            json: bytes::Bytes::from(serde_json::to_vec(obj).unwrap_or_default()),
            slim: slim_of(kind, obj),
            old_slim: old.map(|o| slim_of(kind, o)),
        }
    }
}

struct Inner {
    rv: u64,
    objects: Vec<BTreeMap<Key, Arc<Value>>>,
    window: VecDeque<Arc<Event>>,
    /// Events with `rv <= compacted` are no longer retained.
    compacted: u64,
}

/// The store. All methods are synchronous and hold the lock only briefly.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    ctl: mpsc::UnboundedSender<Arc<Event>>,
    window_cap: usize,
}

/// The result of starting a watch.
pub(crate) struct WatchStart {
    /// Events to send first (replayed from the window).
    pub backlog: Vec<Arc<Event>>,
    /// For a fresh watch: the current objects, to send as ADDED first.
    pub current: Vec<Arc<Value>>,
    /// Live events after the backlog.
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// The store's resourceVersion when the watch started.
    pub rv: u64,
}

/// One page of a list.
pub(crate) struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub rv: u64,
    pub continue_key: Option<Key>,
    pub remaining: usize,
}

pub(crate) fn rv_of(obj: &Value) -> u64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Store {
    /// A new store; `ctl` receives every event, in order (the controllers' informer).
    pub fn new(
        window_cap: usize,
        channel_cap: usize,
        ctl: mpsc::UnboundedSender<Arc<Event>>,
    ) -> Self {
        let (tx, _) = broadcast::channel(channel_cap.max(16));
        Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: KINDS.iter().map(|_| BTreeMap::new()).collect(),
                window: VecDeque::new(),
                compacted: 0,
            }),
            tx,
            ctl,
            window_cap: window_cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn emit(&self, inner: &mut Inner, ev: Event) {
        let ev = Arc::new(ev);
        inner.window.push_back(ev.clone());
        while inner.window.len() > self.window_cap {
            if let Some(old) = inner.window.pop_front() {
                inner.compacted = old.rv;
            }
        }
        let _ = self.ctl.send(ev.clone());
        let _ = self.tx.send(ev);
    }

    /// The current global resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// Number of stored objects per kind.
    pub fn counts(&self) -> Vec<usize> {
        self.lock().objects.iter().map(BTreeMap::len).collect()
    }

    pub fn get(&self, kind: usize, key: &Key) -> Option<Arc<Value>> {
        self.lock().objects[kind].get(key).cloned()
    }

    /// Inserts a new object (the caller has validated and defaulted it).
    pub fn insert(&self, kind: usize, mut obj: Value) -> Result<Arc<Value>, ApiError> {
        let key = key_of(&obj);
        let mut inner = self.lock();
        if inner.objects[kind].contains_key(&key) {
            return Err(ApiError::already_exists(&KINDS[kind], &key.1));
        }
        inner.rv += 1;
        let rv = inner.rv;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        let obj = Arc::new(obj);
        inner.objects[kind].insert(key.clone(), obj.clone());
        self.emit(
            &mut inner,
            Event::new(rv, kind, EventType::Added, key, &obj, None),
        );
        Ok(obj)
    }

    /// Atomically reads, transforms and writes one object. `f` returns `Ok(None)` for "no change".
    /// Returns the stored object (new or unchanged).
    pub fn update<F>(&self, kind: usize, key: &Key, f: F) -> Result<Arc<Value>, ApiError>
    where
        F: FnOnce(&Value) -> Result<Option<Value>, ApiError>,
    {
        let mut inner = self.lock();
        let Some(cur) = inner.objects[kind].get(key).cloned() else {
            return Err(ApiError::not_found(&KINDS[kind], &key.1));
        };
        let Some(mut new) = f(&cur)? else {
            return Ok(cur);
        };
        if new == *cur {
            return Ok(cur);
        }
        inner.rv += 1;
        let rv = inner.rv;
        new["metadata"]["resourceVersion"] = json!(rv.to_string());
        let new = Arc::new(new);
        inner.objects[kind].insert(key.clone(), new.clone());
        self.emit(
            &mut inner,
            Event::new(rv, kind, EventType::Modified, key.clone(), &new, Some(&cur)),
        );
        Ok(new)
    }

    /// Removes an object; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&self, kind: usize, key: &Key) -> Option<Arc<Value>> {
        let mut inner = self.lock();
        let cur = inner.objects[kind].remove(key)?;
        inner.rv += 1;
        let rv = inner.rv;
        let mut last = (*cur).clone();
        last["metadata"]["resourceVersion"] = json!(rv.to_string());
        let last = Arc::new(last);
        self.emit(
            &mut inner,
            Event::new(rv, kind, EventType::Deleted, key.clone(), &last, None),
        );
        Some(last)
    }

    /// Lists objects of a kind (optionally in one namespace) matching `filter`, starting after
    /// `after`, at most `limit` items.
    pub fn list(
        &self,
        kind: usize,
        ns: Option<&str>,
        after: Option<&Key>,
        limit: Option<usize>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> ListPage {
        let inner = self.lock();
        let map = &inner.objects[kind];
        let range: Box<dyn Iterator<Item = (&Key, &Arc<Value>)>> = match (after, ns) {
            (Some(a), _) => Box::new(map.range((
                std::ops::Bound::Excluded(a.clone()),
                std::ops::Bound::Unbounded,
            ))),
            (None, Some(n)) => Box::new(map.range((n.to_owned(), String::new())..)),
            (None, None) => Box::new(map.iter()),
        };
        let mut items = Vec::new();
        let mut continue_key = None;
        let mut remaining = 0;
        for (k, v) in range {
            if let Some(n) = ns
                && k.0 != n
            {
                if k.0.as_str() > n {
                    break;
                }
                continue;
            }
            if !filter(v) {
                continue;
            }
            if continue_key.is_some() {
                remaining += 1;
                continue;
            }
            items.push(v.clone());
            if limit.is_some_and(|l| items.len() >= l) {
                continue_key = Some(k.clone());
            }
        }
        if remaining == 0 {
            continue_key = None;
        }
        ListPage {
            items,
            rv: inner.rv,
            continue_key,
            remaining,
        }
    }

    /// The oldest resourceVersion a watch or continue token may still start from.
    pub fn compacted_rv(&self) -> u64 {
        self.lock().compacted
    }

    /// Starts a watch. `from`: `None` = fresh watch (synthetic ADDED for current objects);
    /// `Some(rv)` = replay retained events after `rv`, or 410 when they are gone.
    pub fn watch(
        &self,
        kind: usize,
        ns: Option<&str>,
        from: Option<u64>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let mut backlog = Vec::new();
        let mut current = Vec::new();
        match from {
            None => {
                for (k, v) in inner.objects[kind].iter() {
                    if ns.is_some_and(|n| n != k.0) || !filter(v) {
                        continue;
                    }
                    current.push(v.clone());
                }
            }
            Some(rv) => {
                if rv < inner.compacted {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {rv} ({})",
                        inner.compacted + 1
                    )));
                }
                let start = inner.window.partition_point(|e| e.rv <= rv);
                backlog.extend(
                    inner
                        .window
                        .range(start..)
                        .filter(|e| e.kind == kind)
                        .cloned(),
                );
            }
        }
        Ok(WatchStart {
            backlog,
            current,
            rx,
            rv: inner.rv,
        })
    }
}

/// `(namespace, name)` of an object.
pub(crate) fn key_of(obj: &Value) -> Key {
    let s = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (s("/metadata/namespace"), s("/metadata/name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::{JOB, POD};

    fn store(window: usize) -> (Store, mpsc::UnboundedReceiver<Arc<Event>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Store::new(window, 64, tx), rx)
    }

    fn obj(ns: &str, name: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name}})
    }

    #[test]
    fn resource_versions_increase_and_conflicts_are_detected() {
        let (s, mut rx) = store(100);
        let a = s.insert(POD, obj("d", "a")).unwrap();
        let b = s.insert(POD, obj("d", "b")).unwrap();
        assert!(rv_of(&b) > rv_of(&a));
        assert_eq!(s.insert(POD, obj("d", "a")).unwrap_err().code, 409);
        let key = ("d".to_owned(), "a".to_owned());
        let c = s
            .update(POD, &key, |cur| {
                let mut n = cur.clone();
                n["spec"] = json!({"x": 1});
                Ok(Some(n))
            })
            .unwrap();
        assert!(rv_of(&c) > rv_of(&b));
        let d = s.remove(POD, &key).unwrap();
        assert!(rv_of(&d) > rv_of(&c));
        let types: Vec<EventType> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.etype)
            .collect();
        assert_eq!(
            types,
            [
                EventType::Added,
                EventType::Added,
                EventType::Modified,
                EventType::Deleted
            ]
        );
    }

    #[test]
    fn list_paginates_in_key_order_within_a_namespace() {
        let (s, _rx) = store(100);
        for (ns, n) in [("b", "2"), ("a", "1"), ("b", "1"), ("c", "1")] {
            s.insert(JOB, obj(ns, n)).unwrap();
        }
        let page = s.list(JOB, Some("b"), None, Some(1), &|_| true);
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.remaining, 1);
        let k = page.continue_key.clone().unwrap();
        assert_eq!(k, ("b".to_owned(), "1".to_owned()));
        let page2 = s.list(JOB, Some("b"), Some(&k), Some(1), &|_| true);
        assert_eq!(key_of(&page2.items[0]).1, "2");
        assert!(page2.continue_key.is_none());
        let all = s.list(JOB, None, None, None, &|_| true);
        assert_eq!(all.items.len(), 4);
    }

    #[test]
    fn watch_replays_the_window_and_expires_old_versions() {
        let (s, _rx) = store(3);
        for i in 0..5 {
            s.insert(POD, obj("d", &i.to_string())).unwrap();
        }
        // rv 1..5 written; window keeps 3..5, so rv >= 2 is resumable.
        let w = s.watch(POD, None, Some(2), &|_| true).unwrap();
        assert_eq!(
            w.backlog.iter().map(|e| e.rv).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        let e = s.watch(POD, None, Some(1), &|_| true).err().unwrap();
        assert_eq!(e.code, 410);
        let fresh = s.watch(POD, Some("d"), None, &|_| true).unwrap();
        assert_eq!(fresh.current.len(), 5);
    }
}
