//! JSON merge patch (RFC 7386), JSON patch (RFC 6902) and an approximation of Kubernetes'
//! strategic merge patch (lists of known kinds merge by their key).

use serde_json::{Map, Value};

/// Applies an RFC 7386 merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path component {t:?} not found"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("invalid array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot traverse into a scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn get_at(doc: &Value, path: &str) -> Result<Value, String> {
    let ptr = path.to_owned();
    doc.pointer(&ptr)
        .cloned()
        .ok_or_else(|| format!("path {path:?} not found"))
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i > a.len() {
                return Err(format!("array index {i} out of range"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("cannot add at {path:?}: parent is a scalar")),
    }
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, String> {
    let tokens = split_pointer(path)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Err("cannot remove the whole document".to_owned());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("unable to remove nonexistent key: {last}: missing value")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove at {path:?}")),
    }
}

/// Applies an RFC 6902 JSON patch; errors name the failing operation.
pub(crate) fn json_patch(target: &Value, ops: &Value) -> Result<Value, String> {
    let ops = ops
        .as_array()
        .ok_or_else(|| "a JSON patch must be an array of operations".to_owned())?;
    let mut doc = target.clone();
    for (i, op) in ops.iter().enumerate() {
        let name = op["op"].as_str().unwrap_or_default();
        let path = op["path"]
            .as_str()
            .ok_or_else(|| format!("operation {i}: missing \"path\""))?;
        let res = match name {
            "add" => add_at(&mut doc, path, op["value"].clone()),
            "remove" => remove_at(&mut doc, path).map(|_| ()),
            "replace" => {
                remove_at(&mut doc, path).and_then(|_| add_at(&mut doc, path, op["value"].clone()))
            }
            "move" => {
                let from = op["from"].as_str().unwrap_or_default();
                remove_at(&mut doc, from).and_then(|v| add_at(&mut doc, path, v))
            }
            "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                get_at(&doc, from).and_then(|v| add_at(&mut doc, path, v))
            }
            "test" => get_at(&doc, path).and_then(|v| {
                if v == op["value"] {
                    Ok(())
                } else {
                    Err(format!("testing value {path} failed"))
                }
            }),
            other => Err(format!("unexpected kind: {other}")),
        };
        res.map_err(|e| format!("operation {i} ({name} {path}): {e}"))?;
    }
    Ok(doc)
}

/// Merge keys of lists that strategic merge patch merges element-wise.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "volumeMounts"
        | "imagePullSecrets"
        | "hostAliases" => match field {
            "hostAliases" => "ip",
            _ => "name",
        },
        "ports" => "containerPort",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "volumeDevices" => "devicePath",
        _ => return None,
    })
}

/// Applies a strategic merge patch (approximation; see the module doc).
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = p.clone();
        clean.remove("$patch");
        *target = Value::Object(clean);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Value::Array(del)) = (t.get_mut(field), v) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (merge_key(k), v) {
            (Some(mk), Value::Array(items)) => {
                let cur = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                let Value::Array(cur) = cur else { continue };
                for item in items {
                    let key = item.get(mk).cloned();
                    let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                    let pos = key
                        .as_ref()
                        .and_then(|kv| cur.iter().position(|c| c.get(mk) == Some(kv)));
                    match (pos, delete) {
                        (Some(i), true) => {
                            cur.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => strategic_merge(&mut cur[i], item),
                        (None, false) => {
                            let mut fresh = Value::Null;
                            strategic_merge(&mut fresh, item);
                            cur.push(fresh);
                        }
                    }
                }
            }
            (None, Value::Array(items)) if k == "finalizers" => {
                let cur = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(cur) = cur {
                    for it in items {
                        if !cur.contains(it) {
                            cur.push(it.clone());
                        }
                    }
                }
            }
            _ => strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_rfc6902() {
        let t = json!({"metadata": {"finalizers": ["a", "b"]}, "x": 1});
        let out = json_patch(
            &t,
            &json!([
                {"op": "test", "path": "/x", "value": 1},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {"op": "add", "path": "/metadata/labels", "value": {"k": "v"}},
                {"op": "add", "path": "/metadata/labels/a~1b", "value": "w"},
                {"op": "replace", "path": "/x", "value": 2},
                {"op": "add", "path": "/metadata/finalizers/-", "value": "c"}
            ]),
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"finalizers": ["b", "c"], "labels": {"k": "v", "a/b": "w"}}, "x": 2})
        );
        assert!(json_patch(&t, &json!([{"op": "test", "path": "/x", "value": 2}])).is_err());
        assert!(json_patch(&t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut t = json!({"spec": {"containers": [
            {"name": "main", "image": "a:1"}, {"name": "side", "image": "s:1"}]}});
        strategic_merge(
            &mut t,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "main"}],
                "containers": [{"name": "main", "image": "a:2"}, {"name": "side", "$patch": "delete"}]}}),
        );
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "main", "image": "a:2"}]}})
        );
    }
}
