//! `druid-k8s serve` over HTTPS (rustls) with a certificate and key from
//! `druid.k8s.server.tls.certPath` / `.keyPath`; a bad key fails start-up with a message that
//! names the property.

mod server_support;

use std::process::Command;

use server_support::{Cluster, Server};

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_configured_certificate() {
    let cluster = Cluster::start().await;
    let dir = cluster.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let props = cluster.properties(&format!(
        "druid.k8s.server.tls.certPath={}\ndruid.k8s.server.tls.keyPath={}",
        cert.display(),
        key.display()
    ));
    let server = Server::start(&props, &cluster.kubeconfig).await;
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let cacert = cert.display().to_string();
    let (ok, body) = curl(&[
        "--cacert",
        &cacert,
        &format!("{}/status/health", server.base),
    ]);
    assert!(ok, "{body}");
    assert_eq!(body, "true");
    // a config change over TLS records the peer address
    let cfg = format!(
        "{}/druid/indexer/v1/k8s/taskrunner/executionconfig",
        server.base
    );
    let (ok, body) = curl(&[
        "--cacert",
        &cacert,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"capacity": 2}"#,
        &cfg,
    ]);
    assert!(ok, "{body}");
    let (_, history) = curl(&["--cacert", &cacert, &format!("{cfg}/history")]);
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history[0]["auditInfo"]["ip"], "127.0.0.1");
    // plain HTTP is not answered
    let plain = server.base.replace("https://", "http://");
    let (ok, _) = curl(&["--max-time", "5", &format!("{plain}/status/health")]);
    assert!(!ok, "plain HTTP must not work on the TLS port");
    assert_eq!(server.terminate().await, Some(0));

    // a key that is not a key: start-up fails naming the property
    std::fs::write(&key, "not a key").unwrap();
    let out = Command::new(druid_k8s_tests::druid_k8s_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&props)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("druid.k8s.server.tls.keyPath"), "{err}");
}
