//! The OpenAPI 3 description served at `/openapi.json` (hand-written; a test checks that it
//! describes exactly the routes the router serves).
//!
//! The document describes the server as configured: HTTP Basic authentication (and the 401/403
//! answers) appear only when `druid.k8s.server.auth.usersFile` is set, and parameter schemas are
//! as strict as the handlers (a request valid by the document is not refused for its shape).

use serde_json::{Map, Value, json};

fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

fn query_param(name: &str, ty: &str, description: &str) -> Value {
    let schema = if ty == "integer" {
        json!({"type": ty, "format": "int64"})
    } else {
        json!({"type": ty})
    };
    query_param_schema(name, schema, description)
}

fn query_param_schema(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// An ISO-8601 interval as the handlers parse it: `start/end`, `start/period` or `period/end`,
/// where an instant is a date or a date-time (with `Z` or an offset, or taken as UTC). The
/// pattern cannot say that the end must not precede the start; such an interval is refused.
fn interval() -> Value {
    const INSTANT: &str = "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,3})?)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)?";
    const PERIOD: &str = "P([1-9][0-9]{0,3}[DW]|T[1-9][0-9]{0,3}[HMS])";
    json!({"type": "string", "pattern": format!("^({INSTANT}/{INSTANT}|{INSTANT}/{PERIOD}|{PERIOD}/{INSTANT})$")})
}

fn non_negative() -> Value {
    json!({"type": "integer", "format": "int64", "minimum": 0})
}

/// A task type: it starts a generated task id, so it obeys Druid's id rules (`IdUtils.validateId`):
/// no leading `.`, no `/`, no tab/newline/CR/FF/VT, no control characters, C1 controls,
/// surrogates above U+D800, private use characters or U+FFF1..U+FFFE.
fn id_part() -> Value {
    json!({"type": "string", "minLength": 1,
           "pattern": "^[^./\\t\\n\\u000b\\f\\r\\u0001-\\u001e\\u0080-\\u009e\\ud801-\\uf8fe\\ufff1-\\ufffe][^/\\t\\n\\u000b\\f\\r\\u0001-\\u001e\\u0080-\\u009e\\ud801-\\uf8fe\\ufff1-\\ufffe]*$"})
}

/// A string that is not empty and not only whitespace (what the handlers accept).
fn non_blank() -> Value {
    json!({"type": "string", "minLength": 1, "pattern": "\\S"})
}

fn header_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description, "schema": non_blank()})
}

fn json_body(schema: &str, description: &str) -> Value {
    json!({"required": true, "description": description,
           "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn ok_json(schema: Value, description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("DruidError")}}})
}

fn op(
    summary: &str,
    tag: &str,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(&str, Value)>,
    open: bool,
) -> Value {
    let mut o = Map::new();
    o.insert("summary".into(), json!(summary));
    o.insert("tags".into(), json!([tag]));
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    let has_body = body.is_some();
    if let Some(b) = body {
        o.insert("requestBody".into(), b);
    }
    let mut rs = Map::new();
    if has_body {
        rs.insert(
            "413".into(),
            error("The body is larger than druid.k8s.server.maxRequestBytes"),
        );
    }
    for (code, v) in responses {
        rs.insert(code.into(), v);
    }
    if !open {
        rs.insert(
            "401".into(),
            error("Authentication is on and the credentials are missing or wrong"),
        );
        rs.insert(
            "403".into(),
            error("The user's roles do not grant the needed permission"),
        );
    } else {
        o.insert("security".into(), json!([]));
    }
    o.insert("responses".into(), Value::Object(rs));
    Value::Object(o)
}

/// The document; `auth` says whether the server authenticates requests (a users file is set).
pub fn document(auth: bool) -> Value {
    let id = || path_param("id", "Task id");
    let text = |d: &str| json!({"description": d, "content": {"text/plain": {"schema": {"type": "string"}}}});
    let list = |d: &str| ok_json(json!({"type": "array", "items": r("TaskStatusPlus")}), d);
    let unavailable = || error("No task runner is configured on this server");
    let paths = json!({
        "/status/health": {"get": op("Liveness: always true", "status", vec![], None,
            vec![("200", ok_json(json!({"type": "boolean"}), "true"))], true)},
        "/status": {"get": op("Version and server facts", "status", vec![], None,
            vec![("200", ok_json(json!({"type": "object"}), "Version, modules, adapter, store"))], false)},
        "/metrics": {"get": op("Prometheus / OpenMetrics text", "status", vec![], None,
            vec![("200", json!({"description": "Metrics", "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}}))], false)},
        "/openapi.json": {"get": op("This document", "status", vec![], None,
            vec![("200", ok_json(json!({"type": "object"}), "OpenAPI 3 document"))], true)},
        "/druid/indexer/v1/leader": {"get": op("The leader's URL (this server)", "status", vec![], None,
            vec![("200", ok_json(json!({"type": "string"}), "URL"))], false)},
        "/druid/indexer/v1/isLeader": {"get": op("Whether this server leads (always true)", "status", vec![], None,
            vec![("200", ok_json(json!({"type": "object", "properties": {"leader": {"type": "boolean"}}}), "{\"leader\": true}"))], true)},
        "/druid/indexer/v1/task": {"post": op("Submit a task (an id is generated when absent)", "tasks", vec![],
            Some(json_body("Task", "Druid task JSON")),
            vec![("200", ok_json(json!({"type": "object", "properties": {"task": {"type": "string"}}}), "{\"task\": id}")),
                 ("400", error("Malformed JSON, invalid task, or duplicate id")),
                 ("503", unavailable())], false)},
        "/druid/indexer/v1/task/{id}": {"get": op("Task payload", "tasks", vec![id()], None,
            vec![("200", ok_json(json!({"type": "object", "properties": {"task": {"type": "string"}, "payload": r("Task")}}), "{\"task\", \"payload\"}")),
                 ("404", ok_json(json!({"type": "object"}), "Unknown task (payload null)"))], false)},
        "/druid/indexer/v1/task/{id}/status": {"get": op("Task status", "tasks", vec![id()], None,
            vec![("200", ok_json(json!({"type": "object", "properties": {"task": {"type": "string"}, "status": r("TaskStatusPlus")}}), "{\"task\", \"status\"}")),
                 ("404", ok_json(json!({"type": "object"}), "Unknown task (status null)"))], false)},
        "/druid/indexer/v1/task/{id}/log": {"get": op("Task log: live while running, archived after", "tasks",
            vec![id(), query_param("offset", "integer", "Bytes to skip (negative: last N bytes)")], None,
            vec![("200", text("Log text")), ("400", text("Bad offset")), ("404", text("No log")), ("503", unavailable())], false)},
        "/druid/indexer/v1/task/{id}/reports": {"get": op("Task reports", "tasks", vec![id()], None,
            vec![("200", ok_json(json!({"type": "object"}), "Reports")), ("404", text("No reports")), ("503", unavailable())], false)},
        "/druid/indexer/v1/task/{id}/shutdown": {"post": op("Stop a task (its Job is deleted; status FAILED)", "tasks", vec![id()], None,
            vec![("200", ok_json(json!({"type": "object", "properties": {"task": {"type": "string"}}}), "{\"task\": id}")),
                 ("404", error("Unknown task")), ("503", unavailable())], false)},
        "/druid/indexer/v1/tasks": {"get": op("Tasks by state", "tasks",
            vec![query_param_schema("state", json!({"type": "string", "enum": ["pending", "waiting", "running", "complete"]}), "pending, waiting, running or complete"),
                 query_param("datasource", "string", "Only this datasource"),
                 query_param("type", "string", "Only this task type"),
                 query_param_schema("max", non_negative(), "At most this many complete tasks"),
                 query_param_schema("createdTimeInterval", interval(), "ISO interval of creation times")], None,
            vec![("200", list("TaskStatusPlus list")), ("400", text("Invalid state or parameter"))], false)},
        "/druid/indexer/v1/runningTasks": {"get": op("Running tasks", "tasks",
            vec![query_param("type", "string", "Only this task type")], None, vec![("200", list("Running"))], false)},
        "/druid/indexer/v1/pendingTasks": {"get": op("Pending tasks", "tasks", vec![], None, vec![("200", list("Pending"))], false)},
        "/druid/indexer/v1/waitingTasks": {"get": op("Waiting tasks", "tasks", vec![], None, vec![("200", list("Waiting"))], false)},
        "/druid/indexer/v1/completeTasks": {"get": op("Complete tasks", "tasks",
            vec![query_param_schema("n", non_negative(), "At most this many")], None,
            vec![("200", list("Complete")), ("400", text("Invalid n"))], false)},
        "/druid/indexer/v1/totalWorkerCapacity": {"get": op("Capacity", "tasks", vec![], None,
            vec![("200", ok_json(json!({"type": "object", "properties": {
                "currentClusterCapacity": {"type": "integer"},
                "maximumCapacityWithAutoScale": {"type": "integer"},
                "usedClusterCapacity": {"type": "integer"}}}), "Capacity")), ("503", unavailable())], false)},
        "/druid/indexer/v1/k8s/taskrunner/executionconfig": {
            "get": op("Current dynamic config (ETag when stored)", "config", vec![], None,
                vec![("200", ok_json(r("DynamicConfig"), "The config"))], false),
            "post": op("Update the dynamic config (merged into the stored one)", "config",
                vec![header_param("X-Druid-Author", "Author for the audit entry"),
                     header_param("X-Druid-Comment", "Comment for the audit entry"),
                     header_param("If-Match", "Only update when the stored config has this ETag")],
                Some(json_body("DynamicConfig", "Fields to set")),
                vec![("200", json!({"description": "Updated (empty body; ETag of the new config)"})),
                     ("400", error("Malformed or invalid config, unknown selectionKey, blank If-Match")),
                     ("412", error("If-Match does not match the stored config"))], false)},
        "/druid/indexer/v1/k8s/taskrunner/executionconfig/history": {"get": op("Audit history of the dynamic config", "config",
            vec![query_param_schema("interval", interval(), "ISO interval start/end, start/period or period/end (count is then ignored)"),
                 query_param_schema("count", json!({"type": "integer", "format": "int64", "minimum": 1}), "The last N entries")], None,
            vec![("200", ok_json(json!({"type": "array", "items": r("AuditEntry")}), "Entries")),
                 ("400", ok_json(json!({"type": "object", "properties": {"error": {"type": "string"}}}), "Malformed interval or count"))], false)},
        "/druid/indexer/v1/k8s/taskrunner/podTemplates": {"get": op("Configured pod templates (customTemplateAdapter)", "config", vec![], None,
            vec![("200", ok_json(json!({"type": "object", "additionalProperties": {"type": "object"}}), "key → PodTemplate")),
                 ("404", error("Adapter is not customTemplateAdapter"))], false)},
        "/druid/indexer/v1/k8s/taskrunner/preview": {"post": op("Render the Job a task would get, with the template selection explained", "config",
            vec![query_param("dryRun", "boolean", "Also ask the API server (server-side dry-run create)")],
            Some(json_body("Task", "Druid task JSON")),
            vec![("200", ok_json(json!({"type": "object", "properties": {
                    "job": {"type": "object"}, "adapter": {"type": "string"},
                    "templateKey": {"type": "string", "nullable": true}, "selection": {"type": "object", "nullable": true},
                    "dryRun": {"type": "object", "nullable": true}}}), "Preview")),
                 ("400", error("Malformed task or no template")), ("503", unavailable())], false)},
    });
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "druid-k8s",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Apache Druid's overlord task API and the Kubernetes task runner's dynamic config, served by druid-k8s."
        },
        "paths": paths,
        "security": [{"basic": []}],
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Task": {"type": "object", "required": ["type"], "additionalProperties": true,
                         "properties": {"id": {"type": "string", "nullable": true, "description": "Generated when absent, null or empty"},
                                        "type": id_part(),
                                        "groupId": {"type": "string", "nullable": true},
                                        "dataSource": {"type": "string", "nullable": true},
                                        "context": {"type": "object", "nullable": true}}},
                "TaskLocation": {"type": "object", "properties": {"host": {"type": "string", "nullable": true},
                    "port": {"type": "integer"}, "tlsPort": {"type": "integer"}, "k8sPodName": {"type": "string"}}},
                "TaskStatusPlus": {"type": "object", "properties": {
                    "id": {"type": "string"}, "groupId": {"type": "string"}, "type": {"type": "string"},
                    "createdTime": {"type": "string", "format": "date-time"},
                    "queueInsertionTime": {"type": "string", "format": "date-time"},
                    "statusCode": {"type": "string", "enum": ["RUNNING", "SUCCESS", "FAILED"]},
                    "status": {"type": "string", "enum": ["RUNNING", "SUCCESS", "FAILED"]},
                    "runnerStatusCode": {"type": "string", "enum": ["WAITING", "PENDING", "RUNNING", "NONE"]},
                    "duration": {"type": "integer"}, "location": r("TaskLocation"),
                    "dataSource": {"type": "string", "nullable": true}, "errorMsg": {"type": "string", "nullable": true}}},
                "DynamicConfig": {"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["default"]},
                    "podTemplateSelectStrategy": {"oneOf": [
                        {"type": "object", "required": ["type"], "additionalProperties": false,
                         "properties": {"type": {"type": "string", "enum": ["default", "taskType"]}}},
                        {"type": "object", "required": ["type"], "additionalProperties": false, "properties": {
                            "type": {"type": "string", "enum": ["selectorBased"]},
                            "selectors": {"type": "array", "items": {"type": "object", "required": ["selectionKey"], "properties": {
                                "selectionKey": {"type": "string"},
                                "context.tags": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                                "type": {"type": "array", "items": {"type": "string"}},
                                "dataSource": {"type": "array", "items": {"type": "string"}}}}}}}]},
                    "capacity": {"type": "integer", "minimum": 0}}},
                "AuditEntry": {"type": "object", "properties": {
                    "key": {"type": "string"}, "type": {"type": "string"},
                    "auditInfo": {"type": "object", "properties": {"author": {"type": "string"}, "identity": {"type": "string"},
                        "comment": {"type": "string"}, "ip": {"type": "string"}}},
                    "payload": {"type": "string"}, "auditTime": {"type": "string", "format": "date-time"}}},
                "DruidError": {"type": "object", "properties": {
                    "error": {"type": "string"}, "errorCode": {"type": "string"}, "persona": {"type": "string"},
                    "category": {"type": "string"}, "errorMessage": {"type": "string"}, "context": {"type": "object"}}}
            }
        }
    });
    if !auth {
        strip_auth(&mut doc);
    }
    doc
}

/// Without a users file nothing is authenticated: no security requirement, no 401/403 answers.
fn strip_auth(doc: &mut Value) {
    if let Some(root) = doc.as_object_mut() {
        root.remove("security");
    }
    if let Some(c) = doc["components"].as_object_mut() {
        c.remove("securitySchemes");
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut().filter_map(Value::as_object_mut) {
                op.remove("security");
                if let Some(rs) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    rs.remove("401");
                    rs.remove("403");
                }
            }
        }
    }
}
