//! `druid-k8s serve` end to end over HTTP against the simulator: submit → status → logs →
//! reports; shutdown; preview with the selection explained (and a server-side dry run); the
//! dynamic config changing selection and capacity for the next task without a restart.

mod server_support;

use serde_json::json;
use server_support::{Cluster, Server, sim_task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_status_logs_reports_and_shutdown() {
    let cluster = Cluster::start().await;
    let server = Server::start(&cluster.properties(""), &cluster.kubeconfig).await;
    let http = server.http();

    // a task that succeeds
    let id = http.submit(&sim_task("wiki", 300, "SUCCESS")).await;
    assert!(
        id.starts_with("noop_wiki_"),
        "Druid-style generated id: {id}"
    );
    let s = http
        .wait_status(&id, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    assert_eq!(s["status"], "SUCCESS");
    assert_eq!(s["runnerStatusCode"], "NONE");
    assert_eq!(s["type"], "noop");
    assert_eq!(s["dataSource"], "wiki");
    assert!(s["duration"].as_i64().is_some());
    // the payload as submitted
    let p = http
        .get(&format!("/druid/indexer/v1/task/{id}"))
        .await
        .json();
    assert_eq!(p["payload"]["context"]["sim"]["durationMs"], 300);
    // archived log and reports
    let mut log = String::new();
    for _ in 0..50 {
        let r = http.get(&format!("/druid/indexer/v1/task/{id}/log")).await;
        if r.status == 200 {
            log = r.text;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        log.contains(&format!("Running peon for task [{id}]")),
        "{log}"
    );
    let tail = http
        .get(&format!("/druid/indexer/v1/task/{id}/log?offset=-20"))
        .await;
    assert_eq!(tail.text.len(), 20);
    assert!(log.ends_with(&tail.text));
    let reports = http
        .get(&format!("/druid/indexer/v1/task/{id}/reports"))
        .await;
    assert_eq!(reports.status, 200, "{}", reports.text);
    assert!(reports.json().is_object());

    // a failing task carries the peon's error
    let bad = http.submit(&sim_task("wiki", 100, "FAILED")).await;
    let s = http
        .wait_status(&bad, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "FAILED");
    assert!(s["errorMsg"].as_str().is_some_and(|m| !m.is_empty()), "{s}");

    // duplicate ids are refused; malformed bodies are 400
    let dup = http
        .post(
            "/druid/indexer/v1/task",
            &[],
            &json!({"id": id, "type": "noop"}).to_string(),
        )
        .await;
    assert_eq!(dup.status, 400, "{}", dup.text);
    assert!(
        dup.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let mal = http
        .post("/druid/indexer/v1/task", &[], "{\"type\": ")
        .await;
    assert_eq!(mal.status, 400);
    assert!(
        mal.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );

    // a long task: live log while running, then shutdown
    let long = http.submit(&sim_task("logs", 60_000, "SUCCESS")).await;
    let s = http
        .wait_status(&long, |s| s["runnerStatusCode"] == "RUNNING")
        .await;
    assert!(s["location"]["host"].is_string(), "{s}");
    let running = http.get("/druid/indexer/v1/runningTasks").await.json();
    assert!(
        running
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == long.as_str())
    );
    let live = http
        .get(&format!("/druid/indexer/v1/task/{long}/log"))
        .await;
    assert_eq!(live.status, 200);
    assert!(live.text.contains("Running peon for task"), "{}", live.text);
    let r = http
        .post(&format!("/druid/indexer/v1/task/{long}/shutdown"), &[], "")
        .await;
    assert_eq!(r.json(), json!({"task": long}));
    let s = http.status(&long).await;
    assert_eq!(s["statusCode"], "FAILED");
    assert_eq!(s["errorMsg"], "Shutdown request from user");
    // its Job goes away
    let mut gone = false;
    for _ in 0..100 {
        let job = druid_k8s_adapters::job_name("", &long);
        if !cluster.jobs().await.contains(&job) {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the shut-down task's Job was not deleted: {:?}",
        cluster.jobs().await
    );

    // finished tasks no longer hold slots (the runner forgets them once recorded)
    let mut used = serde_json::Value::Null;
    for _ in 0..100 {
        used = http
            .get("/druid/indexer/v1/totalWorkerCapacity")
            .await
            .json()["usedClusterCapacity"]
            .clone();
        if used == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(used, 0);

    // lists
    let complete = http
        .get("/druid/indexer/v1/tasks?state=complete")
        .await
        .json();
    assert_eq!(complete.as_array().unwrap().len(), 3);
    let wiki = http
        .get("/druid/indexer/v1/tasks?datasource=wiki&max=1")
        .await
        .json();
    assert_eq!(wiki.as_array().unwrap().len(), 1);
    let r = http.get("/druid/indexer/v1/tasks?state=nope").await;
    assert_eq!(r.status, 400);

    // metrics: the server's and the runner's in one exposition
    let m = http.get("/metrics").await.text;
    for name in [
        "druid_k8s_tasks_submitted_total 3",
        "druid_k8s_tasks_completed_total{status=\"SUCCESS\"} 1",
        "druid_k8s_peon_startup_time_seconds_count",
        "druid_k8s_http_requests_total{",
    ] {
        assert!(m.contains(name), "{name} missing from /metrics:\n{m}");
    }
    assert_eq!(m.matches("# EOF").count(), 1);
    // every metric family appears once (Prometheus refuses a scrape that repeats one)
    let mut families: Vec<&str> = m
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let all = families.len();
    families.sort_unstable();
    families.dedup();
    assert_eq!(families.len(), all, "a metric family is repeated:\n{m}");
    assert!(m.contains("druid_k8s_runner_tasks_completed_total{status=\"SUCCESS\"} 1"));
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_config_changes_selection_and_capacity_without_restart() {
    let cluster = Cluster::start().await;
    let server = Server::start(&cluster.properties(""), &cluster.kubeconfig).await;
    let http = server.http();
    let task = json!({
        "type": "index_kafka",
        "dataSource": "wikipedia",
        "context": {"tags": {"userProvidedTag": "tag1"}, "sim": {"durationMs": 20000}}
    });
    // before: the default strategy picks base, and says why
    let p = http
        .post(
            "/druid/indexer/v1/k8s/taskrunner/preview",
            &[],
            &task.to_string(),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let p = p.json();
    assert_eq!(p["templateKey"], "base");
    assert_eq!(p["adapter"], "customTemplateAdapter");
    assert!(
        p["selection"]["explanation"]
            .as_str()
            .unwrap()
            .contains("index_kafka"),
        "{p}"
    );
    assert_eq!(p["job"]["kind"], "Job");
    assert!(p["dryRun"].is_null());

    // the seed's selector config, posted while running
    let cfg = json!({
        "type": "default",
        "podTemplateSelectStrategy": {"type": "selectorBased", "selectors": [
            {"selectionKey": "podSpec1", "context.tags": {"userProvidedTag": ["tag1", "tag2"]}, "dataSource": ["wikipedia"]},
            {"selectionKey": "podSpec2", "type": ["index_kafka"]}
        ]},
        "capacity": 1
    });
    let r = http
        .post(
            "/druid/indexer/v1/k8s/taskrunner/executionconfig",
            &[],
            &cfg.to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let p = http
        .post(
            "/druid/indexer/v1/k8s/taskrunner/preview?dryRun=true",
            &[],
            &task.to_string(),
        )
        .await
        .json();
    assert_eq!(p["templateKey"], "podSpec1");
    assert!(
        p["selection"]["explanation"]
            .as_str()
            .unwrap()
            .contains("selector #0"),
        "{p}"
    );
    assert_eq!(p["dryRun"]["accepted"], true, "{p}");
    let cap = http
        .get("/druid/indexer/v1/totalWorkerCapacity")
        .await
        .json();
    assert_eq!(cap["currentClusterCapacity"], 1);

    // the next tasks: the first gets podSpec1 (annotation task.jobTemplate), the second waits
    // for the single slot
    let a = http.submit(&task).await;
    let b = http.submit(&task).await;
    http.wait_status(&a, |s| s["runnerStatusCode"] == "RUNNING")
        .await;
    let api: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(cluster.client(), "druid");
    let jobs = api.list(&Default::default()).await.unwrap().items;
    assert_eq!(jobs.len(), 1, "capacity 1: one Job at a time");
    let ann = jobs[0].metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get("task.jobTemplate").map(String::as_str),
        Some("podSpec1")
    );
    let s = http.status(&b).await;
    assert_eq!(s["runnerStatusCode"], "PENDING", "{s}");
    let pending = http.get("/druid/indexer/v1/pendingTasks").await.json();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    // raising the capacity starts it
    let r = http
        .post(
            "/druid/indexer/v1/k8s/taskrunner/executionconfig",
            &[],
            r#"{"capacity": 3}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    http.wait_status(&b, |s| s["runnerStatusCode"] == "RUNNING")
        .await;
    for id in [&a, &b] {
        http.post(&format!("/druid/indexer/v1/task/{id}/shutdown"), &[], "")
            .await;
    }
    assert_eq!(server.terminate().await, Some(0));
}
