//! The dynamic execution config API of `druid-k8s serve`, as the seed document describes it:
//! the seed's curl examples, merge semantics, ETag / If-Match, validation, the three history
//! query forms with `X-Druid-Author` / `X-Druid-Comment` landing in `auditInfo`, and
//! `podTemplates`. Runs on SQLite, and on PostgreSQL too when `DRUID_K8S_TEST_POSTGRES_URL` is
//! set (`.ci/postgres.sh` provides it).

mod server_support;

use std::process::Command;

use serde_json::{Value, json};
use server_support::{Cluster, Http, Server};

const CONFIG: &str = "/druid/indexer/v1/k8s/taskrunner/executionconfig";

/// The seed's `curl` examples, run by curl itself with ROUTER_IP:ROUTER_PORT replaced.
fn curl(base: &str, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(
            args.iter()
                .map(|a| a.replace("http://ROUTER_IP:ROUTER_PORT", base)),
        )
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_owned(), body.to_owned())
}

const SEED_BODY: &str = r#"{
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

async fn check(http: &Http, base: &str) {
    // GET with nothing stored: the effective default
    let (code, body) = curl(
        base,
        &["http://ROUTER_IP:ROUTER_PORT/druid/indexer/v1/k8s/taskrunner/executionconfig"],
    );
    assert_eq!(code, "200");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "default");
    assert_eq!(v["podTemplateSelectStrategy"]["type"], "default");
    assert_eq!(v["capacity"], 4, "static capacity");

    // History: empty array before any change
    let (code, body) = curl(
        base,
        &["http://ROUTER_IP:ROUTER_PORT/druid/indexer/v1/k8s/taskrunner/executionconfig/history"],
    );
    assert_eq!((code.as_str(), body.as_str()), ("200", "[]"));

    // The seed's update: 200 with an empty body
    let (code, body) = curl(
        base,
        &[
            "http://ROUTER_IP:ROUTER_PORT/druid/indexer/v1/k8s/taskrunner/executionconfig",
            "--header",
            "Content-Type: application/json",
            "--header",
            "X-Druid-Author: alice",
            "--header",
            "X-Druid-Comment: route wikipedia to podSpec1",
            "--data",
            SEED_BODY,
        ],
    );
    assert_eq!((code.as_str(), body.as_str()), ("200", ""));

    // The seed's GET sample response
    let r = http.get(CONFIG).await;
    let etag = r.header("etag").expect("an ETag once stored");
    assert_eq!(
        r.json(),
        json!({
            "type": "default",
            "podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [
                {"selectionKey": "podSpec1", "context.tags": {"userProvidedTag": ["tag1", "tag2"]}, "dataSource": ["wikipedia"]},
                {"selectionKey": "podSpec2", "type": ["index_kafka"]}
            ]}
        })
    );

    // merge: only capacity changes; If-Match with the current ETag
    let r = http
        .post(
            CONFIG,
            &[("If-Match", &etag), ("X-Druid-Author", "bob")],
            r#"{"capacity": 2}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = http.get(CONFIG).await.json();
    assert_eq!(v["capacity"], 2);
    assert_eq!(v["podTemplateSelectStrategy"]["type"], "selectorBased");
    // stale ETag: 412
    let r = http
        .post(CONFIG, &[("If-Match", &etag)], r#"{"capacity": 5}"#)
        .await;
    assert_eq!(r.status, 412, "{}", r.text);
    assert_eq!(r.json()["error"], "druidException");
    // validation names the field; unknown selectionKey lists the known keys
    let r = http.post(CONFIG, &[], r#"{"capacity": -2}"#).await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("capacity")
    );
    let r = http
        .post(CONFIG, &[], r#"{"podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [{"selectionKey": "gpu"}]}}"#)
        .await;
    assert_eq!(r.status, 400);
    let msg = r.json()["errorMessage"].as_str().unwrap().to_owned();
    assert!(
        msg.contains("[gpu]") && msg.contains("base, podSpec1, podSpec2"),
        "{msg}"
    );
    let r = http.post(CONFIG, &[], "{\"capacity\": ").await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );
    // a third change, with the seed's taskType spelling (accepted as default)
    let r = http
        .post(
            CONFIG,
            &[("X-Druid-Comment", "back to task types")],
            r#"{"type": "default","podTemplateSelectStrategy":{"type": "taskType"}}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // history, default window: oldest first, headers in auditInfo
    let h = http.get(&format!("{CONFIG}/history")).await.json();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 3);
    assert_eq!(h[0]["key"], "k8s.taskrunner.config");
    assert_eq!(h[0]["type"], "k8s.taskrunner.config");
    assert_eq!(h[0]["auditInfo"]["author"], "alice");
    assert_eq!(h[0]["auditInfo"]["comment"], "route wikipedia to podSpec1");
    assert_eq!(h[0]["auditInfo"]["ip"], "127.0.0.1");
    assert_eq!(h[1]["auditInfo"]["author"], "bob");
    assert_eq!(h[1]["auditInfo"]["comment"], "");
    assert_eq!(h[2]["auditInfo"]["comment"], "back to task types");
    let payload: Value = serde_json::from_str(h[1]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["capacity"], 2);
    assert!(h[0]["auditTime"].as_str().unwrap().ends_with('Z'));
    // count form: the last n, newest first
    let last = http.get(&format!("{CONFIG}/history?count=2")).await.json();
    assert_eq!(last.as_array().unwrap().len(), 2);
    assert_eq!(last[0]["auditInfo"]["comment"], "back to task types");
    // interval form (count ignored)
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let interval = format!("{}/{}", today, today.tomorrow().unwrap());
    let within = http
        .get(&format!("{CONFIG}/history?interval={interval}&count=1"))
        .await
        .json();
    assert_eq!(within.as_array().unwrap().len(), 3);
    let (code, body) = curl(
        base,
        &[
            "http://ROUTER_IP:ROUTER_PORT/druid/indexer/v1/k8s/taskrunner/executionconfig/history?interval=2023-07-13/2023-07-19",
        ],
    );
    assert_eq!((code.as_str(), body.as_str()), ("200", "[]"));
    // bad input is 400 {"error": ...}
    for q in [
        "interval=2023-07-13",
        "interval=13/07/2023",
        "count=0",
        "count=-1",
        "count=ten",
    ] {
        let r = http.get(&format!("{CONFIG}/history?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.json()["error"].is_string(), "{q}: {}", r.text);
    }
    // pod templates of the custom adapter
    let t = http
        .get("/druid/indexer/v1/k8s/taskrunner/podTemplates")
        .await
        .json();
    assert_eq!(
        t["podSpec2"]["template"]["spec"]["containers"][0]["name"],
        "main"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executionconfig_on_sqlite() {
    let cluster = Cluster::start().await;
    let server = Server::start(&cluster.properties(""), &cluster.kubeconfig).await;
    check(&server.http(), &server.base).await;
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executionconfig_on_postgres_when_available() {
    let Ok(url) = std::env::var("DRUID_K8S_TEST_POSTGRES_URL") else {
        // SQLite covers the behaviour; CI sets the variable (.ci/postgres.sh)
        return;
    };
    // Druid's keys: a JDBC URI plus user (translated by the server)
    let rest = url.strip_prefix("postgres://").expect("postgres:// URL");
    let (user, hostpath) = rest.split_once('@').expect("user@host");
    let prefix = format!("e2e{}", std::process::id());
    let cluster = Cluster::start().await;
    let props = cluster.properties(&format!(
        "druid.metadata.storage.type=postgresql\n\
         druid.metadata.storage.connector.connectURI=jdbc:postgresql://{hostpath}\n\
         druid.metadata.storage.connector.user={user}\n\
         druid.k8s.server.metadata.tablePrefix={prefix}"
    ));
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let status = server.http().get("/status").await.json();
    assert_eq!(status["store"], "postgresql");
    check(&server.http(), &server.base).await;
    assert_eq!(server.terminate().await, Some(0));
}
