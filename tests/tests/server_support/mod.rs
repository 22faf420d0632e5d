//! Shared harness of the `server_*` end-to-end tests: a Kubernetes simulator in the test
//! process, the real `druid-k8s serve` binary pointed at it through a kubeconfig, and a small
//! HTTP client. Everything talks over 127.0.0.1.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use druid_k8s_sim::{Sim, SimConfig, SimHandle};
use serde_json::Value;

pub const TEMPLATE: &str = "apiVersion: v1
kind: PodTemplate
template:
  spec:
    restartPolicy: Never
    containers:
    - name: main
      image: apache/druid:33.0.0
      command: [\"sh\", \"-c\", \"/peon.sh /druid/data 1\"]
";

/// A simulator plus a directory holding the kubeconfig, templates, task logs and data.
pub struct Cluster {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    pub logs: PathBuf,
    pub data: PathBuf,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("task-logs");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&logs).unwrap();
        for key in ["base", "podSpec1", "podSpec2"] {
            std::fs::write(dir.path().join(format!("{key}.yaml")), TEMPLATE).unwrap();
        }
        let sim = Sim::start(SimConfig::default().task_logs_dir(&logs))
            .await
            .unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig_yaml_for_namespace("druid")).unwrap();
        Cluster {
            sim,
            dir,
            kubeconfig,
            logs,
            data,
        }
    }

    /// Writes a runtime.properties (custom templates base/podSpec1/podSpec2, file task logs,
    /// SQLite in the data dir) with `extra` lines appended; returns its path.
    pub fn properties(&self, extra: &str) -> PathBuf {
        let d = self.dir.path().display();
        let text = format!(
            "druid.indexer.runner.type=k8s\n\
             druid.indexer.runner.namespace=druid\n\
             druid.indexer.runner.capacity=4\n\
             druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
             druid.indexer.runner.k8s.podTemplate.base={d}/base.yaml\n\
             druid.indexer.runner.k8s.podTemplate.podSpec1={d}/podSpec1.yaml\n\
             druid.indexer.runner.k8s.podTemplate.podSpec2={d}/podSpec2.yaml\n\
             druid.indexer.task.encapsulatedTask=true\n\
             druid.indexer.logs.type=file\n\
             druid.indexer.logs.directory={}\n\
             druid.k8s.server.dataDir={}\n{extra}\n",
            self.logs.display(),
            self.data.display()
        );
        let path = self.dir.path().join("runtime.properties");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn client(&self) -> kube::Client {
        let mut c = kube::Config::new(self.sim.url().parse().unwrap());
        c.default_namespace = "druid".into();
        kube::Client::try_from(c).unwrap()
    }

    /// Names of the peon Jobs that exist now.
    pub async fn jobs(&self) -> Vec<String> {
        let api: kube::Api<k8s_openapi::api::batch::v1::Job> =
            kube::Api::namespaced(self.client(), "druid");
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|j| j.metadata.name)
            .collect()
    }
}

/// A running `druid-k8s serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub async fn start(props: &Path, kubeconfig: &Path) -> Server {
        Self::start_with(props, kubeconfig, &[]).await
    }

    pub async fn start_with(props: &Path, kubeconfig: &Path, env: &[(&str, &str)]) -> Server {
        let bin = druid_k8s_tests::druid_k8s_bin();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--config"])
            .arg(props)
            .args(["--listen", "127.0.0.1:0"])
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("druid-k8s starts");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("druid-k8s serving on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut server = Server {
            child: Some(child),
            base: String::new(),
            stderr: lines,
        };
        for _ in 0..600 {
            if let Ok(url) = rx.try_recv() {
                server.base = url;
                return server;
            }
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "druid-k8s serve exited with {status}:\n{}",
                    server.stderr.lock().unwrap().join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "druid-k8s serve did not start in 60 s:\n{}",
            server.stderr.lock().unwrap().join("\n")
        );
    }

    /// Sends SIGTERM and waits for the exit (graceful shutdown); returns the exit code.
    pub async fn terminate(mut self) -> Option<i32> {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..300 {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        panic!("druid-k8s serve did not stop within 15 s of SIGTERM");
    }

    pub fn http(&self) -> Http {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Http {
            base: self.base.clone(),
            auth: None,
            client: reqwest_rustls_ring::Client::new(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest_rustls_ring::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("HTTP {} not JSON ({e}): {}", self.status, self.text))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub auth: Option<(String, String)>,
    client: reqwest_rustls_ring::Client,
}

impl Http {
    pub fn with_auth(&self, user: &str, password: &str) -> Http {
        Http {
            auth: Some((user.into(), password.into())),
            ..self.clone()
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let method = reqwest_rustls_ring::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some((u, p)) = &self.auth {
            req = req.basic_auth(u, Some(p));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("HTTP request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Resp {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, &[], None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        self.send("POST", path, headers, Some(body)).await
    }

    /// Submits a task; returns its id.
    pub async fn submit(&self, task: &Value) -> String {
        let r = self
            .post("/druid/indexer/v1/task", &[], &task.to_string())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["task"].as_str().unwrap().to_owned()
    }

    /// The task's TaskStatusPlus.
    pub async fn status(&self, id: &str) -> Value {
        let r = self
            .get(&format!("/druid/indexer/v1/task/{id}/status"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()["status"].clone()
    }

    /// Polls until `pred` holds on the status (30 s at most).
    pub async fn wait_status(&self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            let s = self.status(id).await;
            if pred(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "task {id} never reached the expected status: {}",
            self.status(id).await
        );
    }
}

/// A task the simulated peon runs for `ms` and ends as `status`.
pub fn sim_task(ds: &str, ms: u64, status: &str) -> Value {
    serde_json::json!({
        "type": "noop",
        "dataSource": ds,
        "context": {"sim": {"durationMs": ms, "status": status, "logLines": 3}}
    })
}
