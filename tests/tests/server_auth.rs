//! HTTP Basic authentication of `druid-k8s serve`: users from a file with argon2 hashes made by
//! `druid-k8s hash-password`, Druid-style READ/WRITE on CONFIG and STATE, 401 vs 403, the health
//! check left open, the identity recorded in the audit history, and no secret in the log.

mod server_support;

use std::process::Command;

use server_support::{Cluster, Server, sim_task};

fn hash(password: &str) -> String {
    let out = Command::new(druid_k8s_tests::druid_k8s_bin())
        .args(["hash-password", "--password", password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(h.starts_with("$argon2id$"), "{h}");
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_roles() {
    let cluster = Cluster::start().await;
    let admin_hash = hash("s3cret-admin");
    let viewer_hash = hash("s3cret-viewer");
    let users = cluster.dir.path().join("users.yaml");
    std::fs::write(
        &users,
        format!(
            "users:\n  admin: {{password: '{admin_hash}', roles: [admin]}}\n  viewer: {{password: '{viewer_hash}', roles: [viewer]}}\n\
             roles:\n  admin:\n    - {{resource: {{type: CONFIG, name: '.*'}}, action: READ}}\n    - {{resource: {{type: CONFIG, name: '.*'}}, action: WRITE}}\n    - {{resource: {{type: STATE, name: '.*'}}, action: READ}}\n    - {{resource: {{type: STATE, name: '.*'}}, action: WRITE}}\n\
             \x20 viewer:\n    - {{resource: {{type: CONFIG, name: CONFIG}}, action: READ}}\n    - {{resource: {{type: STATE, name: STATE}}, action: READ}}\n"
        ),
    )
    .unwrap();
    let props = cluster.properties(&format!(
        "druid.k8s.server.auth.usersFile={}",
        users.display()
    ));
    let server = Server::start_with(&props, &cluster.kubeconfig, &[("RUST_LOG", "debug")]).await;
    let anon = server.http();
    let admin = anon.with_auth("admin", "s3cret-admin");
    let viewer = anon.with_auth("viewer", "s3cret-viewer");

    assert_eq!(anon.get("/status/health").await.status, 200);
    let r = anon.get("/druid/indexer/v1/tasks").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    assert_eq!(
        anon.with_auth("admin", "wrong").get("/status").await.status,
        401
    );

    let cfg = "/druid/indexer/v1/k8s/taskrunner/executionconfig";
    assert_eq!(viewer.get(cfg).await.status, 200);
    let r = viewer.post(cfg, &[], r#"{"capacity": 1}"#).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json()["category"], "FORBIDDEN");
    let r = viewer
        .post(
            "/druid/indexer/v1/task",
            &[],
            &sim_task("auth", 100, "SUCCESS").to_string(),
        )
        .await;
    assert_eq!(r.status, 403);

    let r = admin
        .post(cfg, &[("X-Druid-Author", "ops")], r#"{"capacity": 1}"#)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = admin.submit(&sim_task("auth", 100, "SUCCESS")).await;
    let s = viewer
        .wait_status(&id, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS");
    let h = viewer.get(&format!("{cfg}/history")).await.json();
    assert_eq!(h[0]["auditInfo"]["identity"], "admin");
    assert_eq!(h[0]["auditInfo"]["author"], "ops");

    let log = server.stderr.lock().unwrap().join("\n");
    assert!(
        !log.contains("s3cret"),
        "a password reached the log:\n{log}"
    );
    assert_eq!(server.terminate().await, Some(0));
}
