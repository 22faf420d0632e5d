//! The shared state of a running simulator and the object operations (create, update, patch,
//! delete) used alike by the REST layer and the simulated controllers.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use crate::config::SimConfig;
use crate::error::{ApiError, Cause};
use crate::kinds::{JOB, KINDS, NAMESPACE, POD};
use crate::logs::LogStore;
use crate::patch;
use crate::stats::Counters;
use crate::store::{Key, Store, key_of, rv_of};
use crate::util;
use crate::validate;

/// Everything a running simulator shares between its server and controllers.
pub(crate) struct Core {
    pub cfg: SimConfig,
    pub store: Store,
    pub logs: LogStore,
    pub counters: Counters,
    pub image_fail: Option<regex::Regex>,
    /// `127.0.0.1:port`, set once the listener is bound.
    pub address: OnceLock<String>,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Events recorded by the simulated controllers, oldest first.
    pub recorded_events: std::sync::Mutex<std::collections::VecDeque<Key>>,
}

/// How a delete propagates to dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    Background,
    Foreground,
    Orphan,
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOpts {
    pub propagation: Option<Propagation>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// The patch formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

/// The result of a delete: the object as last seen (with `deletionTimestamp` when the delete is
/// pending) and an optional warning header.
pub(crate) struct Deleted {
    pub object: Arc<Value>,
    pub warning: Option<String>,
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Whether a pod is in a terminal phase.
pub(crate) fn pod_terminal(pod: &Value) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    )
}

impl Core {
    fn check_namespace(&self, kind: usize, ns: &str) -> Result<(), ApiError> {
        if !KINDS[kind].namespaced {
            return Ok(());
        }
        let Some(nso) = self.store.get(NAMESPACE, &(String::new(), ns.to_owned())) else {
            return Err(ApiError::namespace_not_found(ns));
        };
        if nso.pointer("/metadata/deletionTimestamp").is_some() {
            return Err(ApiError {
                code: 403,
                reason: "Forbidden",
                message: format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    KINDS[kind].group_resource(),
                    ""
                ),
                details: None,
                retry_after: None,
            });
        }
        Ok(())
    }

    fn check_type(kind: usize, body: &Value) -> Result<(), ApiError> {
        let k = &KINDS[kind];
        if let Some(av) = body.get("apiVersion").and_then(Value::as_str)
            && av != k.api_version()
        {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                k.api_version()
            )));
        }
        if let Some(kd) = body.get("kind").and_then(Value::as_str)
            && kd != k.kind
        {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kd}) does not match the expected kind ({})",
                k.kind
            )));
        }
        if !body.is_object() {
            return Err(ApiError::bad_request("the body must be a JSON object"));
        }
        Ok(())
    }

    /// Creates an object (POST). `ns` is the URL namespace for namespaced kinds.
    pub fn create(
        &self,
        kind: usize,
        ns: Option<&str>,
        mut body: Value,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        Self::check_type(kind, &body)?;
        let k = &KINDS[kind];
        body["apiVersion"] = json!(k.api_version());
        body["kind"] = json!(k.kind);
        if !body.get("metadata").is_some_and(Value::is_object) {
            body["metadata"] = json!({});
        }
        if k.namespaced {
            let url_ns = ns.unwrap_or("default");
            match meta_str(&body, "namespace") {
                Some(n) if !n.is_empty() && n != url_ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => body["metadata"]["namespace"] = json!(url_ns),
            }
            self.check_namespace(kind, url_ns)?;
        } else if let Some(m) = body["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        let name = meta_str(&body, "name").unwrap_or_default().to_owned();
        let generate = meta_str(&body, "generateName")
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() {
            if generate.is_empty() {
                return Err(ApiError::invalid(
                    k,
                    "",
                    vec![Cause {
                        reason: "FieldValueRequired",
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
            body["metadata"]["name"] = json!(format!("{generate}{}", util::random_suffix(5)));
        }
        let uid = util::new_uid();
        {
            let m = body["metadata"]
                .as_object_mut()
                .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
            m.remove("resourceVersion");
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("managedFields");
            m.insert("uid".into(), json!(uid));
            m.insert("creationTimestamp".into(), json!(util::now_str()));
        }
        if body.get("spec").is_some() {
            body["metadata"]["generation"] = json!(1);
        }
        if k.has_status()
            && let Some(m) = body.as_object_mut()
        {
            m.remove("status");
        }
        let name = meta_str(&body, "name").unwrap_or_default().to_owned();
        let causes = validate::validate(kind, &body);
        if !causes.is_empty() {
            return Err(ApiError::invalid(k, &name, causes));
        }
        validate::apply_defaults(kind, &mut body, &uid);
        sort_meta_maps(&mut body);
        if dry_run {
            let key = key_of(&body);
            if self.store.get(kind, &key).is_some() {
                return Err(ApiError::already_exists(k, &name));
            }
            return Ok(Arc::new(body));
        }
        let mut attempt = 0;
        loop {
            match self.store.insert(kind, body.clone()) {
                Err(e) if e.code == 409 && !generate.is_empty() && attempt < 8 => {
                    attempt += 1;
                    body["metadata"]["name"] =
                        json!(format!("{generate}{}", util::random_suffix(5)));
                }
                other => return other,
            }
        }
    }

    /// Builds the object to store from the current one and a full new body (PUT semantics).
    fn compose(
        kind: usize,
        cur: &Value,
        body: &Value,
        sub: Option<&str>,
    ) -> Result<Value, ApiError> {
        let k = &KINDS[kind];
        let name = meta_str(cur, "name").unwrap_or_default().to_owned();
        if sub == Some("status") {
            let mut new = cur.clone();
            new["status"] = body.get("status").cloned().unwrap_or(json!({}));
            return Ok(new);
        }
        Self::check_type(kind, body)?;
        let mut new = body.clone();
        new["apiVersion"] = json!(k.api_version());
        new["kind"] = json!(k.kind);
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        if let Some(n) = meta_str(body, "name")
            && n != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        for f in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "generateName",
        ] {
            match cur["metadata"].get(f) {
                Some(v) => new["metadata"][f] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(f);
                    }
                }
            }
        }
        if let Some(m) = new["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        if cur
            .get("metadata")
            .and_then(|m| m.get("deletionTimestamp"))
            .is_some()
        {
            // Finalizers may only be removed once deletion started.
            let old = finalizers(cur);
            let added: Vec<String> = finalizers(&new)
                .into_iter()
                .filter(|f| !old.contains(f))
                .collect();
            if !added.is_empty() {
                return Err(ApiError::invalid(
                    k,
                    &name,
                    vec![Cause::forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted",
                    )],
                ));
            }
        }
        if k.has_status() {
            match cur.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        let uid = meta_str(cur, "uid").unwrap_or_default().to_owned();
        if kind == JOB || kind == POD {
            let status = new.get("status").cloned();
            validate::apply_defaults(kind, &mut new, &uid);
            if let Some(s) = status {
                new["status"] = s;
            }
        }
        let causes = validate::validate(kind, &new);
        if !causes.is_empty() {
            return Err(ApiError::invalid(k, &name, causes));
        }
        if kind == JOB {
            for f in ["selector", "template", "completionMode"] {
                if cur["spec"].get(f) != new["spec"].get(f) {
                    return Err(ApiError::invalid(
                        k,
                        &name,
                        vec![Cause::invalid(
                            format!("spec.{f}"),
                            &new["spec"].get(f).map(Value::to_string).unwrap_or_default(),
                            "field is immutable",
                        )],
                    ));
                }
            }
        }
        if kind == POD {
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(cs) = s.get_mut("containers").and_then(Value::as_array_mut) {
                    for c in cs {
                        if let Some(m) = c.as_object_mut() {
                            m.remove("image");
                        }
                    }
                }
                if let Some(m) = s.as_object_mut() {
                    m.remove("activeDeadlineSeconds");
                    m.remove("tolerations");
                }
                s
            };
            if strip(cur) != strip(&new) {
                return Err(ApiError::invalid(
                    k,
                    &name,
                    vec![Cause::forbidden(
                        "spec",
                        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                    )],
                ));
            }
        }
        if cur.get("spec") != new.get("spec") && cur.get("spec").is_some() {
            let g = cur["metadata"]["generation"].as_i64().unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        sort_meta_maps(&mut new);
        Ok(new)
    }

    /// Removes the object when its deletion is pending and nothing holds it any more.
    pub fn finish_deletion_if_done(&self, kind: usize, key: &Key) {
        let Some(obj) = self.store.get(kind, key) else {
            return;
        };
        if obj.pointer("/metadata/deletionTimestamp").is_none() || !finalizers(&obj).is_empty() {
            return;
        }
        let grace = obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if kind == POD && grace > 0 && !pod_terminal(&obj) {
            return;
        }
        self.store.remove(kind, key);
    }

    /// Replaces an object (PUT), with optimistic concurrency on `metadata.resourceVersion`.
    pub fn replace(
        &self,
        kind: usize,
        key: &Key,
        body: Value,
        sub: Option<&str>,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let k = &KINDS[kind];
        let body_rv = meta_str(&body, "resourceVersion")
            .unwrap_or_default()
            .to_owned();
        if body_rv.is_empty() {
            return Err(ApiError::invalid(
                k,
                &key.1,
                vec![Cause::invalid(
                    "metadata.resourceVersion",
                    "",
                    "must be specified for an update",
                )],
            ));
        }
        if dry_run {
            let cur = self
                .store
                .get(kind, key)
                .ok_or_else(|| ApiError::not_found(k, &key.1))?;
            if rv_of(&cur).to_string() != body_rv {
                return Err(ApiError::modified(k, &key.1));
            }
            return Self::compose(kind, &cur, &body, sub).map(Arc::new);
        }
        let out = self.store.update(kind, key, |cur| {
            if rv_of(cur).to_string() != body_rv {
                return Err(ApiError::modified(k, &key.1));
            }
            Self::compose(kind, cur, &body, sub).map(Some)
        })?;
        self.finish_deletion_if_done(kind, key);
        Ok(out)
    }

    /// Patches an object (PATCH). A server-side apply of a missing object creates it.
    pub fn patch(
        &self,
        kind: usize,
        key: &Key,
        ptype: PatchType,
        body: &Value,
        sub: Option<&str>,
        dry_run: bool,
    ) -> Result<Arc<Value>, ApiError> {
        let k = &KINDS[kind];
        if ptype == PatchType::Apply && sub.is_none() && self.store.get(kind, key).is_none() {
            let ns = (!key.0.is_empty()).then_some(key.0.as_str());
            return self.create(kind, ns, body.clone(), dry_run);
        }
        let apply = |cur: &Value| -> Result<Value, ApiError> {
            let mut candidate = cur.clone();
            match ptype {
                PatchType::Merge => patch::merge_patch(&mut candidate, body),
                PatchType::Strategic | PatchType::Apply => {
                    patch::strategic_merge(&mut candidate, body);
                }
                PatchType::Json => {
                    candidate = patch::json_patch(cur, body).map_err(|e| {
                        ApiError::invalid(
                            k,
                            &key.1,
                            vec![Cause {
                                reason: "FieldValueInvalid",
                                message: e,
                                field: "patch".into(),
                            }],
                        )
                    })?;
                }
            }
            if ptype != PatchType::Json
                && let Some(prv) = body
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                && prv != rv_of(cur).to_string()
            {
                return Err(ApiError::modified(k, &key.1));
            }
            if ptype == PatchType::Json
                && meta_str(&candidate, "resourceVersion") != meta_str(cur, "resourceVersion")
                && meta_str(&candidate, "resourceVersion").is_some()
            {
                return Err(ApiError::modified(k, &key.1));
            }
            if sub == Some("status") {
                let mut new = cur.clone();
                new["status"] = candidate.get("status").cloned().unwrap_or(json!({}));
                // A status patch may also touch metadata (e.g. finalizers are not allowed,
                // labels are): keep it like upstream's status strategy, which ignores them.
                return Ok(new);
            }
            // Status changes through the main resource are ignored when there is a subresource.
            Self::compose(kind, cur, &candidate, None)
        };
        if dry_run {
            let cur = self
                .store
                .get(kind, key)
                .ok_or_else(|| ApiError::not_found(k, &key.1))?;
            return apply(&cur).map(Arc::new);
        }
        let out = self.store.update(kind, key, |cur| apply(cur).map(Some))?;
        self.finish_deletion_if_done(kind, key);
        Ok(out)
    }

    /// Applies a change from a controller (no validation, no concurrency check); `f` returns
    /// `None` when there is nothing to change.
    pub fn mutate<F>(&self, kind: usize, key: &Key, f: F) -> Option<Arc<Value>>
    where
        F: FnOnce(&Value) -> Option<Value>,
    {
        let out = self.store.update(kind, key, |cur| Ok(f(cur))).ok();
        self.finish_deletion_if_done(kind, key);
        out
    }

    /// Deletes an object (DELETE) with upstream's semantics: finalizers, pod grace periods,
    /// propagation policies (Jobs in batch/v1 orphan their pods by default, as upstream).
    pub fn delete(&self, kind: usize, key: &Key, opts: &DeleteOpts) -> Result<Deleted, ApiError> {
        let k = &KINDS[kind];
        let cur = self
            .store
            .get(kind, key)
            .ok_or_else(|| ApiError::not_found(k, &key.1))?;
        if let Some(uid) = &opts.precondition_uid
            && meta_str(&cur, "uid") != Some(uid.as_str())
        {
            return Err(ApiError::conflict(
                k,
                &key.1,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&cur, "uid").unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv_of(&cur).to_string() != *rv
        {
            return Err(ApiError::conflict(
                k,
                &key.1,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    rv_of(&cur)
                ),
            ));
        }
        let mut warning = None;
        let propagation = opts.propagation.unwrap_or_else(|| {
            if kind == JOB {
                warning = Some("child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning".to_owned());
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        });
        let mut grace = 0;
        if kind == POD {
            let scheduled = cur
                .pointer("/spec/nodeName")
                .and_then(Value::as_str)
                .is_some();
            grace = opts.grace_period_seconds.unwrap_or_else(|| {
                cur.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(30)
            });
            if !scheduled || pod_terminal(&cur) {
                grace = 0;
            }
            grace = grace.max(0);
        }
        let mut fins = finalizers(&cur);
        match propagation {
            Propagation::Orphan => fins.push("orphan".into()),
            Propagation::Foreground => fins.push("foregroundDeletion".into()),
            Propagation::Background => {}
        }
        fins.dedup();
        let already = cur.pointer("/metadata/deletionTimestamp").is_some();
        if opts.dry_run {
            let mut v = (*cur).clone();
            if !fins.is_empty() || grace > 0 {
                v["metadata"]["deletionTimestamp"] = json!(util::now_str());
            }
            return Ok(Deleted {
                object: Arc::new(v),
                warning,
            });
        }
        if fins.is_empty() && grace == 0 {
            let obj = self
                .store
                .remove(kind, key)
                .ok_or_else(|| ApiError::not_found(k, &key.1))?;
            return Ok(Deleted {
                object: obj,
                warning,
            });
        }
        let now = jiff::Timestamp::now();
        let obj = self.store.update(kind, key, |c| {
            let mut v = c.clone();
            let cur_grace = c
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64);
            if !already || cur_grace.is_some_and(|g| grace < g) {
                v["metadata"]["deletionTimestamp"] =
                    json!(util::fmt_ts(util::add_secs(now, grace)));
                v["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            }
            if !already {
                v["metadata"]["finalizers"] = json!(fins);
            }
            Ok(Some(v))
        })?;
        self.finish_deletion_if_done(kind, key);
        let obj = self.store.get(kind, key).unwrap_or(obj);
        Ok(Deleted {
            object: obj,
            warning,
        })
    }

    /// Records a core/v1 Event about `obj` (a controller's event).
    pub fn record_event(
        &self,
        kind: usize,
        obj: &Value,
        type_: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        let k = &KINDS[kind];
        let name = meta_str(obj, "name").unwrap_or_default();
        let ns = meta_str(obj, "namespace").unwrap_or("default");
        let now = util::now_str();
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": format!("{name}.{}", util::random_hex(16)), "namespace": ns},
            "involvedObject": {
                "kind": k.kind,
                "namespace": ns,
                "name": name,
                "uid": meta_str(obj, "uid").unwrap_or_default(),
                "apiVersion": k.api_version(),
                "resourceVersion": meta_str(obj, "resourceVersion").unwrap_or_default(),
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": "",
        });
        if let Ok(created) = self.create(crate::kinds::EVENT, Some(ns), ev, false) {
            let mut fifo = match self.recorded_events.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            fifo.push_back(key_of(&created));
            while fifo.len() > self.cfg.max_events {
                if let Some(old) = fifo.pop_front() {
                    self.store.remove(crate::kinds::EVENT, &old);
                }
            }
        }
    }
}

/// Labels and annotations come back sorted from the real API server (Go maps); do the same.
fn sort_meta_maps(obj: &mut Value) {
    for ptr in [
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/template/metadata/labels",
        "/spec/template/metadata/annotations",
    ] {
        if let Some(Value::Object(m)) = obj.pointer_mut(ptr) {
            let mut items: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            items.sort_by(|a, b| a.0.cmp(&b.0));
            m.extend(items);
        }
    }
}
