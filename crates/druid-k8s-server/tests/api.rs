//! The HTTP API in-process (`tower::ServiceExt::oneshot`): dynamic config, history, auth,
//! health/status/openapi, and the task endpoints over a recording fake runner.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use druid_k8s_model::{
    AdapterType, DynamicConfig, RunnerTaskState, Task, TaskLocation, TaskStatus,
};
use druid_k8s_server::auth::{Authenticator, hash_password};
use druid_k8s_server::backend::{BackendError, Capacity, RunnerTask, TaskBackend};
use druid_k8s_server::store::Store;
use druid_k8s_server::{App, AppParts, RunnerFacts};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

async fn call(app: &App, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body.to_owned())).unwrap();
    let resp = app.router().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &App, path: &str) -> Resp {
    call(app, Method::GET, path, &[], "").await
}

async fn post(app: &App, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    call(app, Method::POST, path, headers, body).await
}

fn templates() -> BTreeMap<String, std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    ["base", "podSpec1", "podSpec2"]
        .into_iter()
        .map(|k| (k.to_owned(), dir.join("template.yaml")))
        .collect()
}

async fn app_with(
    adapter: AdapterType,
    auth: Option<Authenticator>,
    backend: Option<Arc<dyn TaskBackend>>,
) -> App {
    let store = Store::connect("sqlite::memory:", "druid_k8s")
        .await
        .unwrap();
    App::new(AppParts {
        store,
        auth,
        backend,
        runner: RunnerFacts {
            adapter,
            pod_templates: if adapter == AdapterType::CustomTemplate {
                templates()
            } else {
                BTreeMap::new()
            },
            static_capacity: 7,
        },
        audit_history_millis: 7 * 24 * 3600 * 1000,
        max_request_bytes: 64 * 1024,
        advertised_url: "http://127.0.0.1:8090".into(),
        metrics: None,
    })
    .await
    .unwrap()
}

async fn app() -> App {
    app_with(AdapterType::CustomTemplate, None, None).await
}

const SEED_CONFIG: &str = r#"{
  "type": "default",
  "podTemplateSelectStrategy":
  {
    "type": "selectorBased",
    "selectors": [
      {
        "selectionKey": "podSpec1",
        "context.tags":
        {
          "userProvidedTag": ["tag1", "tag2"]
        },
        "dataSource": ["wikipedia"]
      },
      {
        "selectionKey": "podSpec2",
        "type": ["index_kafka"]
      }
    ]
  }
}"#;

const CONFIG: &str = "/druid/indexer/v1/k8s/taskrunner/executionconfig";
const HISTORY: &str = "/druid/indexer/v1/k8s/taskrunner/executionconfig/history";

#[tokio::test]
async fn executionconfig_get_post_merge_and_etag() {
    let app = app().await;
    // nothing stored: the effective default, no ETag
    let r = get(&app, CONFIG).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"type": "default", "podTemplateSelectStrategy": {"type": "default"}, "capacity": 7})
    );
    assert!(r.headers.get("etag").is_none());

    // the seed's POST: 200, empty body
    let r = post(
        &app,
        CONFIG,
        &[("content-type", "application/json")],
        SEED_CONFIG,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text, "");
    let r = get(&app, CONFIG).await;
    let etag1 = r.headers["etag"].to_str().unwrap().to_owned();
    let v = r.json();
    assert_eq!(v["podTemplateSelectStrategy"]["type"], "selectorBased");
    assert_eq!(
        v["podTemplateSelectStrategy"]["selectors"][0]["selectionKey"],
        "podSpec1"
    );
    assert_eq!(
        v["podTemplateSelectStrategy"]["selectors"][0]["context.tags"]["userProvidedTag"],
        json!(["tag1", "tag2"])
    );
    assert!(
        v.get("capacity").is_none(),
        "static values are never persisted: {v}"
    );

    // merge: capacity only keeps the strategy
    let r = post(&app, CONFIG, &[("If-Match", &etag1)], r#"{"capacity": 3}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let etag2 = r.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag1, etag2);
    let v = get(&app, CONFIG).await.json();
    assert_eq!(v["capacity"], 3);
    assert_eq!(v["podTemplateSelectStrategy"]["type"], "selectorBased");

    // stale ETag: 412, nothing changes
    let r = post(&app, CONFIG, &[("If-Match", &etag1)], r#"{"capacity": 9}"#).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text);
    assert_eq!(r.json()["error"], "druidException");
    assert!(r.json()["errorMessage"].as_str().unwrap().contains(&etag2));
    assert_eq!(get(&app, CONFIG).await.json()["capacity"], 3);
    // blank If-Match: 400
    let r = post(&app, CONFIG, &[("If-Match", "  ")], r#"{"capacity": 9}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json()["errorMessage"],
        "If-Match header must not be blank"
    );
    // '*' matches a stored value
    let r = post(
        &app,
        CONFIG,
        &[("If-Match", "*")],
        r#"{"podTemplateSelectStrategy": {"type": "default"}}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = get(&app, CONFIG).await.json();
    assert_eq!(
        v,
        json!({"type": "default", "podTemplateSelectStrategy": {"type": "default"}, "capacity": 3})
    );
}

#[tokio::test]
async fn executionconfig_validation_names_the_problem() {
    let app = app().await;
    let cases = [
        ("{not json", "Malformed JSON"),
        ("", "empty"),
        (r#"{"capacity": -1}"#, "capacity"),
        (r#"{"capacity": "many"}"#, "capacity"),
        (
            r#"{"podTemplateSelectStrategy": {"type": "bogus"}}"#,
            "bogus",
        ),
        (
            r#"{"podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [{"selectionKey": "podSpec9"}]}}"#,
            "podSpec9",
        ),
    ];
    for (body, needle) in cases {
        let r = post(&app, CONFIG, &[], body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        let v = r.json();
        assert_eq!(v["error"], "druidException");
        assert_eq!(v["category"], "INVALID_INPUT");
        let msg = v["errorMessage"].as_str().unwrap();
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // the unknown key lists the known ones
    let r = post(
        &app,
        CONFIG,
        &[],
        r#"{"podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [{"selectionKey": "podSpec9"}]}}"#,
    )
    .await;
    let msg = r.json()["errorMessage"].as_str().unwrap().to_owned();
    assert!(msg.contains("base, podSpec1, podSpec2"), "{msg}");
    assert!(
        msg.contains("druid.indexer.runner.k8s.podTemplate.podSpec9"),
        "{msg}"
    );
    // nothing was stored
    assert!(get(&app, CONFIG).await.headers.get("etag").is_none());
    let v: Vec<Value> = serde_json::from_str(&get(&app, HISTORY).await.text).unwrap();
    assert!(v.is_empty());
}

#[tokio::test]
async fn history_three_forms_and_audit_headers() {
    let app = app().await;
    let r = get(&app, HISTORY).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "[]"));
    for (i, body) in [
        r#"{"capacity": 1}"#,
        r#"{"capacity": 2}"#,
        r#"{"capacity": 3}"#,
    ]
    .iter()
    .enumerate()
    {
        let comment = format!("change {i}");
        let r = post(
            &app,
            CONFIG,
            &[("X-Druid-Author", "ann"), ("X-Druid-Comment", &comment)],
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // default window (a week): oldest first
    let all = get(&app, HISTORY).await.json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["key"], "k8s.taskrunner.config");
    assert_eq!(all[0]["type"], "k8s.taskrunner.config");
    assert_eq!(all[0]["auditInfo"]["author"], "ann");
    assert_eq!(all[0]["auditInfo"]["comment"], "change 0");
    assert_eq!(all[0]["auditInfo"]["ip"], "127.0.0.1");
    assert_eq!(all[2]["payload"], r#"{"type":"default","capacity":3}"#);
    assert!(all[0]["auditTime"].as_str().unwrap().ends_with('Z'));
    // count: newest first
    let last = get(&app, &format!("{HISTORY}?count=2")).await.json();
    assert_eq!(last.as_array().unwrap().len(), 2);
    assert_eq!(last[0]["auditInfo"]["comment"], "change 2");
    // interval (count ignored)
    let now = jiff::Timestamp::now();
    let interval = format!(
        "{}/{}",
        now.checked_sub(jiff::SignedDuration::from_secs(3600))
            .unwrap(),
        now.checked_add(jiff::SignedDuration::from_secs(3600))
            .unwrap()
    );
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("interval", &interval)
        .append_pair("count", "1")
        .finish();
    let within = get(&app, &format!("{HISTORY}?{q}")).await.json();
    assert_eq!(within.as_array().unwrap().len(), 3);
    let old = get(&app, &format!("{HISTORY}?interval=2023-07-13/2023-07-19"))
        .await
        .json();
    assert_eq!(old, json!([]));
    // bad input: 400 {"error": ...}, never 500
    for q in [
        "interval=yesterday",
        "interval=2023-07-19/2023-07-13",
        "count=0",
        "count=-3",
        "count=x",
    ] {
        let r = get(&app, &format!("{HISTORY}?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
        let v = r.json();
        assert!(
            v["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{q}: {v}"
        );
        assert_eq!(v.as_object().unwrap().len(), 1, "plain error shape: {v}");
    }
    let r = get(&app, &format!("{HISTORY}?count=0")).await;
    assert_eq!(r.json()["error"], "Limit must be greater than zero!");
}

#[tokio::test]
async fn pod_templates_by_adapter() {
    let app = app().await;
    let r = get(&app, "/druid/indexer/v1/k8s/taskrunner/podTemplates").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 3);
    assert_eq!(
        v["podSpec1"]["template"]["spec"]["containers"][0]["name"],
        "main"
    );
    let other = app_with(AdapterType::OverlordSingleContainer, None, None).await;
    let r = get(&other, "/druid/indexer/v1/k8s/taskrunner/podTemplates").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json()["errorMessage"],
        "Pod templates are only available when the k8s task adapter type is [customTemplateAdapter]"
    );
    // and selectors cannot name templates there
    let r = post(&other, CONFIG, &[], SEED_CONFIG).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("customTemplateAdapter")
    );
}

#[tokio::test]
async fn health_status_leader_metrics_and_unknown_paths() {
    let app = app().await;
    let r = get(&app, "/status/health").await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::OK, "true"));
    let r = get(&app, "/status").await;
    assert_eq!(r.json()["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        get(&app, "/druid/indexer/v1/isLeader").await.json(),
        json!({"leader": true})
    );
    assert_eq!(
        get(&app, "/druid/indexer/v1/leader").await.json(),
        json!("http://127.0.0.1:8090")
    );
    post(&app, CONFIG, &[], r#"{"capacity": 1}"#).await;
    let m = get(&app, "/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(
        m.text.contains("druid_k8s_dynamic_config_updates_total 1"),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("druid_k8s_http_requests_total{"),
        "{}",
        m.text
    );
    let r = get(&app, "/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"], "druidException");
    // a body over maxRequestBytes (64 KiB here) gets 413 in Druid's error shape, naming the limit
    let big = format!(r#"{{"capacity": 1, "pad": "{}"}}"#, "x".repeat(70 * 1024));
    let r = post(&app, CONFIG, &[("Content-Type", "application/json")], &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"], "druidException");
    let msg = r.json()["errorMessage"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("65536") && msg.contains("druid.k8s.server.maxRequestBytes"),
        "{msg}"
    );
    // without a runner, task endpoints say so with 503
    let r = post(&app, "/druid/indexer/v1/task", &[], r#"{"type":"noop"}"#).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn openapi_describes_every_route_and_nothing_else() {
    let app = app().await;
    let doc = get(&app, "/openapi.json").await.json();
    assert_eq!(doc["openapi"], "3.0.3");
    // this server has no users file: the document asks for no credentials and promises no 401
    assert!(doc.get("security").is_none(), "{}", doc["security"]);
    assert!(doc["components"].get("securitySchemes").is_none());
    let text = doc.to_string();
    assert!(!text.contains("\"401\"") && !text.contains("\"403\""));
    // parameters are as strict as the handlers
    let tasks = &doc["paths"]["/druid/indexer/v1/tasks"]["get"]["parameters"][0];
    assert_eq!(tasks["name"], "state");
    assert_eq!(
        tasks["schema"]["enum"],
        serde_json::json!(["pending", "waiting", "running", "complete"])
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut described: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            // every path parameter is declared
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{method} {path}: path parameter {name} not declared"
                );
            }
            described.push((method.to_uppercase(), path.clone()));
        }
    }
    // every $ref resolves
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_owned());
                    } else {
                        refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "{r}");
    }
    let (_, served) = app.routes();
    let mut served: Vec<(String, String)> = served
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p.to_owned()))
        .collect();
    served.sort();
    described.sort();
    assert_eq!(served, described);
    // and each described route is really routed (not the fallback)
    for (m, p) in &served {
        let path = p.replace("{id}", "some-task");
        let r = call(&app, m.parse().unwrap(), &path, &[], "").await;
        assert!(
            r.headers.get("x-druid-k8s-route").is_none(),
            "{m} {p} is not routed"
        );
    }
}

fn users_file() -> String {
    let hash = hash_password("secret").unwrap();
    format!(
        "users:\n  admin: {{password: '{hash}', roles: [admin]}}\n  viewer: {{password: '{hash}', roles: [viewer]}}\n\
         roles:\n  admin:\n    - {{resource: {{type: CONFIG, name: '.*'}}, action: READ}}\n    - {{resource: {{type: CONFIG, name: '.*'}}, action: WRITE}}\n    - {{resource: {{type: STATE, name: '.*'}}, action: READ}}\n    - {{resource: {{type: STATE, name: '.*'}}, action: WRITE}}\n\
         \x20 viewer:\n    - {{resource: {{type: CONFIG, name: CONFIG}}, action: READ}}\n    - {{resource: {{type: STATE, name: STATE}}, action: READ}}\n"
    )
}

fn basic(user: &str, pw: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

#[tokio::test]
async fn auth_401_403_and_identity_in_audit() {
    let auth = Authenticator::from_text(&users_file(), "inline").unwrap();
    let app = app_with(AdapterType::CustomTemplate, Some(auth), None).await;
    // open paths
    assert_eq!(get(&app, "/status/health").await.status, StatusCode::OK);
    assert_eq!(
        get(&app, "/druid/indexer/v1/isLeader").await.status,
        StatusCode::OK
    );
    // the document declares Basic auth and the 401/403 answers, as this server enforces them
    let doc = get(&app, "/openapi.json").await.json();
    assert_eq!(doc["security"], serde_json::json!([{"basic": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["basic"]["scheme"],
        "basic"
    );
    let status_op = &doc["paths"]["/status"]["get"];
    assert!(status_op["responses"]["401"].is_object() && status_op["responses"]["403"].is_object());
    assert_eq!(
        doc["paths"]["/status/health"]["get"]["security"],
        serde_json::json!([])
    );
    // no or bad credentials
    let r = get(&app, CONFIG).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let r = call(
        &app,
        Method::GET,
        CONFIG,
        &[("Authorization", &basic("admin", "wrong"))],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["category"], "UNAUTHORIZED");
    // viewer reads but cannot write
    let viewer = basic("viewer", "secret");
    let r = call(&app, Method::GET, CONFIG, &[("Authorization", &viewer)], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(
        &app,
        Method::POST,
        CONFIG,
        &[("Authorization", &viewer)],
        r#"{"capacity":1}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json()["category"], "FORBIDDEN");
    assert!(r.json()["errorMessage"].as_str().unwrap().contains("WRITE"));
    // admin writes; identity lands in the audit entry
    let admin = basic("admin", "secret");
    let r = call(
        &app,
        Method::POST,
        CONFIG,
        &[("Authorization", &admin), ("X-Druid-Author", "ops")],
        r#"{"capacity":1}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let h = call(
        &app,
        Method::GET,
        HISTORY,
        &[("Authorization", &viewer)],
        "",
    )
    .await
    .json();
    assert_eq!(h[0]["auditInfo"]["author"], "ops");
    assert_eq!(h[0]["auditInfo"]["identity"], "admin");
}

// ---- task endpoints over a fake runner ----

#[derive(Default)]
struct Fake {
    runs: Mutex<Vec<String>>,
    shutdowns: Mutex<Vec<String>>,
    known: Mutex<Vec<RunnerTask>>,
    applied: Mutex<Vec<Option<DynamicConfig>>>,
}

impl TaskBackend for Fake {
    fn run(&self, task: Task) -> BoxFuture<'_, Result<(), BackendError>> {
        let id = task.id().to_owned();
        Box::pin(async move {
            self.runs.lock().unwrap().push(id.clone());
            self.known.lock().unwrap().push(RunnerTask {
                id,
                state: RunnerTaskState::Running,
                location: TaskLocation::for_pod("10.0.0.7", false, "pod-1"),
            });
            Ok(())
        })
    }
    fn shutdown<'a>(
        &'a self,
        id: &'a str,
        _reason: &'a str,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.shutdowns.lock().unwrap().push(id.to_owned());
            self.known.lock().unwrap().retain(|t| t.id != id);
            Ok(())
        })
    }
    fn known_tasks(&self) -> Vec<RunnerTask> {
        self.known.lock().unwrap().clone()
    }
    fn capacity(&self) -> Capacity {
        Capacity {
            total: 5,
            used: u32::try_from(self.known.lock().unwrap().len()).unwrap(),
        }
    }
    fn live_log<'a>(&'a self, id: &'a str, _offset: i64) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { Some(format!("live log of {id}\n").into_bytes()) })
    }
    fn archived_log<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move { (id == "done").then(|| b"archived 0123456789".to_vec()) })
    }
    fn reports<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(
            async move { (id == "done").then(|| br#"{"ingestionStatsAndErrors":{}}"#.to_vec()) },
        )
    }
    fn stored_status<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, Option<TaskStatus>> {
        Box::pin(async { None })
    }
    fn apply_dynamic_config(&self, config: Option<DynamicConfig>) {
        self.applied.lock().unwrap().push(config);
    }
    fn preview<'a>(
        &'a self,
        task: &'a Task,
        config: Option<&'a DynamicConfig>,
        dry_run: bool,
    ) -> BoxFuture<'a, Result<Value, BackendError>> {
        Box::pin(async move {
            Ok(
                json!({"task": task.id(), "config": config.map(DynamicConfig::to_value), "dryRun": dry_run}),
            )
        })
    }
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[tokio::test]
async fn task_endpoints_over_a_runner() {
    let fake = Arc::new(Fake::default());
    let app = app_with(AdapterType::CustomTemplate, None, Some(fake.clone())).await;
    assert_eq!(
        fake.applied.lock().unwrap().as_slice(),
        &[None],
        "stored config applied at start"
    );

    let r = post(
        &app,
        "/druid/indexer/v1/task",
        &[],
        r#"{"type":"noop","dataSource":"wiki"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json()["task"].as_str().unwrap().to_owned();
    assert!(id.starts_with("noop_wiki_"), "{id}");
    assert_eq!(
        fake.runs.lock().unwrap().as_slice(),
        std::slice::from_ref(&id)
    );

    let r = post(
        &app,
        "/druid/indexer/v1/task",
        &[],
        &format!(r#"{{"id":"{id}","type":"noop"}}"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    assert_eq!(fake.runs.lock().unwrap().len(), 1, "no duplicate run");
    let r = post(&app, "/druid/indexer/v1/task", &[], "{oops").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );

    let p = get(&app, &format!("/druid/indexer/v1/task/{id}"))
        .await
        .json();
    assert_eq!(p["task"], id.as_str());
    assert_eq!(p["payload"]["id"], id.as_str());
    let s = get(&app, &format!("/druid/indexer/v1/task/{id}/status"))
        .await
        .json();
    assert_eq!(s["status"]["statusCode"], "RUNNING");
    assert_eq!(s["status"]["runnerStatusCode"], "RUNNING");
    assert_eq!(s["status"]["location"]["host"], "10.0.0.7");
    assert_eq!(s["status"]["dataSource"], "wiki");
    assert_eq!(s["status"]["errorMsg"], Value::Null);
    let r = get(&app, "/druid/indexer/v1/task/missing/status").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), json!({"task": "missing", "status": null}));

    let log = get(&app, &format!("/druid/indexer/v1/task/{id}/log")).await;
    assert_eq!(log.text, format!("live log of {id}\n"));
    let r = get(&app, "/druid/indexer/v1/task/done/log?offset=-4").await;
    assert_eq!(r.text, "6789");
    assert_eq!(
        get(&app, "/druid/indexer/v1/task/x/log?offset=abc")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&app, "/druid/indexer/v1/task/x/log").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/druid/indexer/v1/task/done/reports")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get(&app, "/druid/indexer/v1/task/x/reports").await.status,
        StatusCode::NOT_FOUND
    );

    let running = get(&app, "/druid/indexer/v1/runningTasks").await.json();
    assert_eq!(running.as_array().unwrap().len(), 1);
    let r = get(&app, "/druid/indexer/v1/tasks?state=bogus").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("Invalid task state[bogus]"));
    let cap = get(&app, "/druid/indexer/v1/totalWorkerCapacity")
        .await
        .json();
    assert_eq!(cap["currentClusterCapacity"], 5);
    assert_eq!(cap["usedClusterCapacity"], 1);

    let r = post(
        &app,
        &format!("/druid/indexer/v1/task/{id}/shutdown"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.json(), json!({"task": id}));
    assert_eq!(
        fake.shutdowns.lock().unwrap().as_slice(),
        std::slice::from_ref(&id)
    );
    let s = get(&app, &format!("/druid/indexer/v1/task/{id}/status"))
        .await
        .json();
    assert_eq!(s["status"]["statusCode"], "FAILED");
    assert_eq!(s["status"]["errorMsg"], "Shutdown request from user");
    assert_eq!(s["status"]["runnerStatusCode"], "NONE");
    let complete = get(
        &app,
        "/druid/indexer/v1/tasks?state=complete&datasource=wiki",
    )
    .await
    .json();
    assert_eq!(complete.as_array().unwrap().len(), 1);
    assert_eq!(
        get(&app, "/druid/indexer/v1/runningTasks").await.json(),
        json!([])
    );

    // dynamic config reaches the runner; preview gets the stored config
    post(&app, CONFIG, &[], r#"{"capacity": 2}"#).await;
    assert_eq!(
        fake.applied
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .as_ref()
            .and_then(|c| c.capacity),
        Some(2)
    );
    let p = post(
        &app,
        "/druid/indexer/v1/k8s/taskrunner/preview?dryRun=true",
        &[],
        r#"{"type":"noop"}"#,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json()["config"]["capacity"], 2);
    assert_eq!(p.json()["dryRun"], true);
}
