//! The table of resource kinds the simulator serves, and the discovery documents built from it.
//!
//! Adding a kind is one entry in [`KINDS`]: the store, REST routing, discovery, list/watch and
//! garbage collection are generic over it.

use serde_json::{Value, json};

/// One served resource kind.
#[derive(Debug)]
pub(crate) struct Kind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Plural resource name used in URLs.
    pub plural: &'static str,
    /// Singular name (discovery).
    pub singular: &'static str,
    /// The object's `kind`.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (discovery; kubectl uses them).
    pub short_names: &'static [&'static str],
    /// Categories (discovery; `kubectl get all`).
    pub categories: &'static [&'static str],
    /// Subresources besides the main resource (`status`, `log`).
    pub subresources: &'static [&'static str],
}

impl Kind {
    /// `apiVersion` of objects of this kind.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `jobs.batch` or `pods` as used in API error messages.
    pub fn group_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Job.batch` or `Pod` as used in 422 messages.
    pub fn group_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_owned()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether the kind has a `status` subresource.
    pub fn has_status(&self) -> bool {
        self.subresources.contains(&"status")
    }
}

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];
const STATUS: &[&str] = &["status"];

/// Every served kind. Indices into this table are used as kind ids; see the `*_KIND` constants.
pub(crate) static KINDS: &[Kind] = &[
    Kind {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: NONE,
        subresources: STATUS,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: ALL,
        subresources: &["status", "log"],
    },
    Kind {
        group: "",
        version: "v1",
        plural: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        short_names: &["no"],
        categories: NONE,
        subresources: STATUS,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "podtemplates",
        singular: "podtemplate",
        kind: "PodTemplate",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: ALL,
        subresources: STATUS,
    },
    Kind {
        group: "batch",
        version: "v1",
        plural: "jobs",
        singular: "job",
        kind: "Job",
        namespaced: true,
        short_names: NONE,
        categories: ALL,
        subresources: STATUS,
    },
    Kind {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: ALL,
        subresources: STATUS,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
    Kind {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: NONE,
        categories: NONE,
        subresources: NONE,
    },
];

/// Index of `namespaces` in [`KINDS`].
pub(crate) const NAMESPACE: usize = 0;
/// Index of `pods` in [`KINDS`].
pub(crate) const POD: usize = 1;
/// Index of `nodes` in [`KINDS`].
pub(crate) const NODE: usize = 2;
/// Index of `events` in [`KINDS`].
pub(crate) const EVENT: usize = 3;
/// Index of `configmaps` in [`KINDS`].
pub(crate) const CONFIGMAP: usize = 5;
/// Index of `jobs` in [`KINDS`].
pub(crate) const JOB: usize = 9;

/// Finds a kind by group, version and plural.
pub(crate) fn find(group: &str, version: &str, plural: &str) -> Option<usize> {
    KINDS
        .iter()
        .position(|k| k.group == group && k.version == version && k.plural == plural)
}

/// Finds a kind by `apiVersion` and `kind` (used for owner references).
pub(crate) fn find_by_kind(api_version: &str, kind: &str) -> Option<usize> {
    KINDS
        .iter()
        .position(|k| k.kind == kind && k.api_version() == api_version)
}

/// The `(group, version)` pairs served, in a stable order, core first.
fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for k in KINDS {
        if !out.contains(&(k.group, k.version)) {
            out.push((k.group, k.version));
        }
    }
    out
}

/// `/version`.
pub(crate) fn version_doc() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0-druid-k8s-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub(crate) fn api_versions_doc(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ]
    })
}

/// `/apis`.
pub(crate) fn api_group_list_doc() -> Value {
    let groups: Vec<Value> = group_versions()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, v)| {
            let gv = format!("{g}/{v}");
            json!({
                "name": g,
                "versions": [{"groupVersion": gv, "version": v}],
                "preferredVersion": {"groupVersion": gv, "version": v}
            })
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/{group}` (an `APIGroup`), if served.
pub(crate) fn api_group_doc(group: &str) -> Option<Value> {
    let (g, v) = group_versions().into_iter().find(|(g, _)| *g == group)?;
    let gv = format!("{g}/{v}");
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": g,
        "versions": [{"groupVersion": gv, "version": v}],
        "preferredVersion": {"groupVersion": gv, "version": v}
    }))
}

/// `/api/v1` or `/apis/{group}/{version}` (an `APIResourceList`), if served.
pub(crate) fn resource_list_doc(group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for k in KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        let mut r = json!({
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        });
        if !k.short_names.is_empty() {
            r["shortNames"] = json!(k.short_names);
        }
        if !k.categories.is_empty() {
            r["categories"] = json!(k.categories);
        }
        resources.push(r);
        for sub in k.subresources {
            let verbs = if *sub == "log" {
                json!(["get"])
            } else {
                json!(["get", "patch", "update"])
            };
            resources.push(json!({
                "name": format!("{}/{}", k.plural, sub),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": if *sub == "log" { "Pod" } else { k.kind },
                "verbs": verbs,
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources
    }))
}

/// `/openapi/v3`: the index of per-group-version documents.
pub(crate) fn openapi_v3_index() -> Value {
    let mut paths = serde_json::Map::new();
    for (g, v) in group_versions() {
        let p = if g.is_empty() {
            format!("api/{v}")
        } else {
            format!("apis/{g}/{v}")
        };
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=druid-k8s-sim")}),
        );
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/{g}/{v}`: a minimal document that declares the
/// operations and their `fieldValidation`/`dryRun` parameters (kubectl checks it before relying
/// on server-side field validation). Schemas are not described.
pub(crate) fn openapi_v3_doc(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}
    ]);
    let mut paths = serde_json::Map::new();
    for k in kinds {
        let gvk = json!({"group": k.group, "version": k.version, "kind": k.kind});
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", k.kind),
                "parameters": params,
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let (collection, item) = if k.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", k.plural),
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", k.plural),
            )
        } else {
            (
                format!("{prefix}/{}", k.plural),
                format!("{prefix}/{}/{{name}}", k.plural),
            )
        };
        paths.insert(collection, json!({"post": op("post")}));
        paths.insert(
            item,
            json!({"put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (druid-k8s-sim)", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_point_at_the_right_kinds() {
        assert_eq!(KINDS[NAMESPACE].kind, "Namespace");
        assert_eq!(KINDS[POD].kind, "Pod");
        assert_eq!(KINDS[NODE].kind, "Node");
        assert_eq!(KINDS[EVENT].kind, "Event");
        assert_eq!(KINDS[CONFIGMAP].kind, "ConfigMap");
        assert_eq!(KINDS[JOB].kind, "Job");
    }

    #[test]
    fn batch_discovery_lists_jobs_and_status() {
        let doc = resource_list_doc("batch", "v1").expect("batch/v1 is served");
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(names, ["jobs", "jobs/status"]);
        assert_eq!(doc["groupVersion"], "batch/v1");
        assert!(resource_list_doc("nope", "v1").is_none());
    }

    #[test]
    fn lookups() {
        assert_eq!(find("batch", "v1", "jobs"), Some(JOB));
        assert_eq!(find_by_kind("v1", "Pod"), Some(POD));
        assert_eq!(KINDS[JOB].group_resource(), "jobs.batch");
        assert_eq!(KINDS[POD].group_resource(), "pods");
        assert_eq!(KINDS[JOB].group_kind(), "Job.batch");
    }
}
