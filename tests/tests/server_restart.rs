//! Restarting `druid-k8s serve` mid-run: the dynamic config, its history and the task records
//! survive; running tasks are picked up again (no Job created twice); a Job without a record is
//! adopted; a running record whose Job vanished is failed with a reason.

mod server_support;

use std::time::Duration;

use server_support::{Cluster, Server, sim_task};

const CONFIG: &str = "/druid/indexer/v1/k8s/taskrunner/executionconfig";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_run_keeps_records_and_runs_nothing_twice() {
    let cluster = Cluster::start().await;
    let props = cluster.properties("");
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();
    let r = http
        .post(
            CONFIG,
            &[
                ("X-Druid-Author", "ops"),
                ("X-Druid-Comment", "before restart"),
            ],
            r#"{"capacity": 3}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    let quick = http.submit(&sim_task("restart", 200, "SUCCESS")).await;
    http.wait_status(&quick, |s| s["statusCode"] == "SUCCESS")
        .await;
    let long = http.submit(&sim_task("restart", 5000, "SUCCESS")).await;
    let vanishing = http.submit(&sim_task("restart", 60_000, "SUCCESS")).await;
    for id in [&long, &vanishing] {
        http.wait_status(id, |s| s["runnerStatusCode"] == "RUNNING")
            .await;
    }
    let creates_before = cluster.sim.stats().requests_for("create", "jobs");
    assert_eq!(creates_before, 3);

    // graceful stop: exit 0, Jobs keep running
    assert_eq!(server.terminate().await, Some(0));
    let long_job = druid_k8s_adapters::job_name("", &long);
    let vanishing_job = druid_k8s_adapters::job_name("", &vanishing);
    let jobs = cluster.jobs().await;
    assert!(
        jobs.contains(&long_job) && jobs.contains(&vanishing_job),
        "{jobs:?}"
    );
    // while the server is down, one Job disappears
    let api: kube::Api<k8s_openapi::api::batch::v1::Job> =
        kube::Api::namespaced(cluster.client(), "druid");
    api.delete(&vanishing_job, &kube::api::DeleteParams::background())
        .await
        .unwrap();
    for _ in 0..100 {
        if !cluster.jobs().await.contains(&vanishing_job) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // restart on the same data directory
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();
    let v = http.get(CONFIG).await.json();
    assert_eq!(v["capacity"], 3);
    let h = http.get(&format!("{CONFIG}/history")).await.json();
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(h[0]["auditInfo"]["comment"], "before restart");
    let s = http.status(&quick).await;
    assert_eq!(s["statusCode"], "SUCCESS");
    // the long task is followed to its end without a new Job
    let s = http
        .wait_status(&long, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    // the vanished one is failed with a reason
    let s = http
        .wait_status(&vanishing, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "FAILED", "{s}");
    assert!(s["errorMsg"].as_str().is_some_and(|m| !m.is_empty()), "{s}");
    assert_eq!(
        cluster.sim.stats().requests_for("create", "jobs"),
        creates_before,
        "no Job was created again"
    );
    let all = http.get("/druid/indexer/v1/tasks").await.json();
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "no task duplicated: {all}"
    );
    assert_eq!(server.terminate().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_a_record_is_adopted() {
    let cluster = Cluster::start().await;
    // a first server (its own store) launches a task and stops
    let first_props = cluster.properties("");
    let first = Server::start(&first_props, &cluster.kubeconfig).await;
    let id = first
        .http()
        .submit(&sim_task("adopt", 3000, "SUCCESS"))
        .await;
    first
        .http()
        .wait_status(&id, |s| s["runnerStatusCode"] == "RUNNING")
        .await;
    assert_eq!(first.terminate().await, Some(0));
    // a second server with an empty store finds the Job and adopts it
    let other = cluster.dir.path().join("other-data");
    let props = cluster.properties(&format!("druid.k8s.server.dataDir={}", other.display()));
    let second = Server::start(&props, &cluster.kubeconfig).await;
    let http = second.http();
    let p = http.get(&format!("/druid/indexer/v1/task/{id}")).await;
    assert_eq!(p.status, 200, "adopted record: {}", p.text);
    assert_eq!(p.json()["payload"]["type"], "noop");
    let s = http
        .wait_status(&id, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    assert_eq!(s["dataSource"], "adopt");
    assert_eq!(cluster.sim.stats().requests_for("create", "jobs"), 1);
    assert_eq!(second.terminate().await, Some(0));
}
