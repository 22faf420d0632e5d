//! `druid-k8s serve` in migration mode (`druid.indexer.runner.type=k8sAndWorker`, spec §9.1)
//! end to end: a `taskType` runner strategy sends `index_kafka` to a (fake) MiddleManager over
//! Druid's HTTP worker protocol and everything else to Kubernetes Jobs on the simulator; both
//! tasks show up in the task lists with their final status, and the capacity endpoint counts
//! the worker's slots. The same server restarted while worker tasks run re-adopts them from
//! the workers' sync (druid-k8s-sim's simulated MiddleManagers), and `druid-k8s sim --workers`
//! serves the worker protocol.

mod server_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use server_support::{Cluster, Server, sim_task};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A compact fake MiddleManager: the sync long poll (`counter`/`hash` deltas), `assignTask`
/// (the task runs for `run_ms` and then reports SUCCESS through the sync), shutdown and log.
/// Written from Druid's JSON shapes, independent of the runner's protocol types.
struct FakeMm {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<MmState>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct MmState {
    counter: i64,
    history: Vec<(i64, Value)>,
    /// id → (type, dataSource, status)
    tasks: BTreeMap<String, (String, Option<String>, &'static str)>,
    assigned: Vec<String>,
    syncs: usize,
}

const HASH: i64 = 77;

impl MmState {
    fn announce(&self, id: &str) -> Value {
        let (ty, ds, status) = &self.tasks[id];
        json!({
            "type": "taskUpdate",
            "taskAnnouncement": {
                "id": id, "type": ty, "status": status,
                "taskStatus": {
                    "id": id, "status": status,
                    "duration": if *status == "RUNNING" { -1 } else { 250 },
                    "location": {"host": null, "port": -1, "tlsPort": -1}
                },
                "taskResource": {"availabilityGroup": id, "requiredCapacity": 1},
                "taskLocation": {"host": "127.0.0.1", "port": 8100, "tlsPort": -1},
                "taskDataSource": ds
            }
        })
    }

    fn push(&mut self, change: Value) {
        self.counter += 1;
        self.history.push((self.counter, change));
    }

    /// The sync answer for `counter`/`hash`, or `None` when nothing changed.
    fn sync(&mut self, counter: i64, hash: i64) -> Option<Value> {
        self.syncs += 1;
        let requests: Vec<Value> = if counter < 0 || hash != HASH || counter > self.counter {
            let mut all = vec![json!({"type": "metadata", "disabled": false})];
            all.extend(self.tasks.keys().map(|id| self.announce(id)));
            all
        } else {
            let delta: Vec<Value> = self
                .history
                .iter()
                .filter(|(c, _)| *c > counter)
                .map(|(_, v)| v.clone())
                .collect();
            if delta.is_empty() {
                return None;
            }
            delta
        };
        Some(json!({
            "requests": requests,
            "counter": {"counter": self.counter, "hash": HASH},
            "resetCounter": false
        }))
    }
}

fn query_param(path: &str, name: &str) -> Option<i64> {
    let q = path.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

async fn respond(sock: &mut tokio::net::TcpStream, code: u16, body: &str) {
    let reason = match code {
        200 => "OK",
        204 => "No Content",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Reads one request: (method, path, body).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_owned();
    let path = words.next()?.to_owned();
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((method, path, buf[head_end..head_end + len].to_vec()))
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    state: Arc<Mutex<MmState>>,
    run_ms: u64,
) -> Option<()> {
    let (method, path, body) = read_request(&mut sock).await?;
    let route = path.split('?').next().unwrap_or_default().to_owned();
    match (method.as_str(), route.as_str()) {
        ("GET", "/druid-internal/v1/worker") => {
            let counter = query_param(&path, "counter").unwrap_or(-1);
            let hash = query_param(&path, "hash").unwrap_or(0);
            let timeout = query_param(&path, "timeout").unwrap_or(1000);
            let deadline =
                tokio::time::Instant::now() + Duration::from_millis(timeout.unsigned_abs());
            loop {
                let answer = state.lock().unwrap().sync(counter, hash);
                if let Some(a) = answer {
                    respond(&mut sock, 200, &a.to_string()).await;
                    return Some(());
                }
                if tokio::time::Instant::now() >= deadline {
                    respond(&mut sock, 204, "").await;
                    return Some(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        ("POST", "/druid-internal/v1/worker/assignTask") => {
            let task: Value = serde_json::from_slice(&body).ok()?;
            let id = task["id"].as_str()?.to_owned();
            {
                let mut s = state.lock().unwrap();
                s.assigned.push(id.clone());
                if !s.tasks.contains_key(&id) {
                    let ty = task["type"].as_str().unwrap_or_default().to_owned();
                    let ds = task["dataSource"].as_str().map(str::to_owned);
                    s.tasks.insert(id.clone(), (ty, ds, "RUNNING"));
                    let change = s.announce(&id);
                    s.push(change);
                    let state = state.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(run_ms)).await;
                        let mut s = state.lock().unwrap();
                        if let Some(t) = s.tasks.get_mut(&id) {
                            t.2 = "SUCCESS";
                        }
                        let change = s.announce(&id);
                        s.push(change);
                    });
                }
            }
            respond(&mut sock, 200, "").await;
        }
        ("POST", r) if r.starts_with("/druid/worker/v1/task/") && r.ends_with("/shutdown") => {
            let id = r
                .trim_start_matches("/druid/worker/v1/task/")
                .trim_end_matches("/shutdown");
            respond(&mut sock, 200, &json!({"task": id}).to_string()).await;
        }
        _ => respond(&mut sock, 404, "").await,
    }
    Some(())
}

impl FakeMm {
    async fn start(run_ms: u64) -> FakeMm {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(MmState::default()));
        let st = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve_one(sock, st.clone(), run_ms));
            }
        });
        FakeMm {
            addr,
            state,
            server,
        }
    }
}

impl Drop for FakeMm {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_and_worker_routes_by_task_type_and_reports_both_runners() {
    let cluster = Cluster::start().await;
    let mm = FakeMm::start(300).await;
    let props = cluster.properties(&format!(
        "druid.indexer.runner.type=k8sAndWorker\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=k8s\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={{\"index_kafka\":\"worker\"}}\n\
         druid.indexer.runner.k8sAndWorker.workers=127.0.0.1:{}\n\
         druid.indexer.runner.k8sAndWorker.workerCapacity=3\n\
         druid.indexer.runner.syncRequestTimeout=PT1S\n",
        mm.addr.port()
    ));
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();

    // capacity: the Kubernetes runner's 4 plus the worker's 3
    let cap = http.get("/druid/indexer/v1/totalWorkerCapacity").await;
    assert_eq!(cap.status, 200, "{}", cap.text);
    assert_eq!(cap.json()["currentClusterCapacity"], 7, "{}", cap.text);

    let kafka = http
        .submit(&json!({"type": "index_kafka", "dataSource": "clicks"}))
        .await;
    let noop = http.submit(&sim_task("wiki", 300, "SUCCESS")).await;

    let s = http
        .wait_status(&kafka, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    let s = http
        .wait_status(&noop, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");

    // the index_kafka task went to the MiddleManager, once; the noop one became a Job
    {
        let st = mm.state.lock().unwrap();
        assert_eq!(st.assigned, vec![kafka.clone()], "assignments");
        assert!(st.syncs > 0);
    }
    // the noop task ran as a Job: its peon wrote the archived log (the Job itself is deleted
    // once the status is recorded)
    let mut log = String::new();
    for _ in 0..50 {
        let r = http
            .get(&format!("/druid/indexer/v1/task/{noop}/log"))
            .await;
        if r.status == 200 {
            log = r.text;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        log.contains(&format!("Running peon for task [{noop}]")),
        "{log}"
    );

    // both in the task list with their final status
    let tasks = http.get("/druid/indexer/v1/tasks").await;
    assert_eq!(tasks.status, 200, "{}", tasks.text);
    let tasks = tasks.json();
    for id in [&kafka, &noop] {
        let t = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing from {tasks}"));
        assert_eq!(t["statusCode"], "SUCCESS", "{t}");
    }
    let done = http.get("/druid/indexer/v1/completeTasks").await.json();
    assert_eq!(done.as_array().map(Vec::len), Some(2), "{done}");
}

fn kafka(ds: &str, ms: u64) -> Value {
    json!({
        "type": "index_kafka",
        "dataSource": ds,
        "context": {"sim": {"durationMs": ms, "logLines": 2}}
    })
}

/// A server restarted while worker tasks run: the task whose worker is still there is
/// re-adopted from the sync (no second `assignTask`) and ends SUCCESS; the task whose worker
/// went away while the server was down fails once `serverUnstabilityTimeout` has passed, with
/// a reason naming that worker (not "Kubernetes Job no longer exists").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_re_adopts_worker_tasks_from_the_sync() {
    use druid_k8s_sim::{SimWorker, SimWorkerConfig};
    let cluster = Cluster::start().await;
    let cfg = || {
        SimWorkerConfig::default()
            .capacity(1)
            .task_logs_dir(&cluster.logs)
    };
    let a = SimWorker::start(cfg()).await.unwrap();
    let b = SimWorker::start(cfg()).await.unwrap();
    let props = cluster.properties(&format!(
        "druid.indexer.runner.type=k8sAndWorker\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=worker\n\
         druid.indexer.runner.k8sAndWorker.workers={},{}\n\
         druid.indexer.runner.k8sAndWorker.workerCapacity=1\n\
         druid.indexer.runner.syncRequestTimeout=PT2S\n\
         druid.indexer.runner.serverUnstabilityTimeout=PT3S\n",
        a.host(),
        b.host()
    ));
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();
    let t1 = http.submit(&kafka("one", 8000)).await;
    let t2 = http.submit(&kafka("two", 8000)).await;
    for id in [&t1, &t2] {
        http.wait_status(id, |s| s["runnerStatusCode"] == "RUNNING")
            .await;
    }
    // one task per worker (one slot each)
    let (stays, goes) = if a.tasks().iter().any(|t| t.id == t1) {
        (t1.clone(), t2.clone())
    } else {
        (t2.clone(), t1.clone())
    };
    assert!(a.tasks().iter().any(|t| t.id == stays), "{:?}", a.tasks());
    assert!(b.tasks().iter().any(|t| t.id == goes), "{:?}", b.tasks());
    assert_eq!(server.terminate().await, Some(0));
    let b_host = b.host();
    b.shutdown().await;

    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();
    let s = http
        .wait_status(&stays, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    let s = http
        .wait_status(&goes, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "FAILED", "{s}");
    let msg = s["errorMsg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("worker [{b_host}] did not answer its sync"))
            && msg.contains(&format!(
                "worker [{}] synced and does not have it",
                a.host()
            ))
            && !msg.contains("Kubernetes Job"),
        "{msg}"
    );
    // each task was assigned once, before the restart
    assert_eq!(a.assigned(), vec![stays.clone()]);
    // nothing ran as a Job
    assert!(cluster.jobs().await.is_empty());
}

/// `druid-k8s sim --workers 2` prints one `worker <url>` line per simulated MiddleManager,
/// each answering Druid's worker sync with its full state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_sim_serves_simulated_workers() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(druid_k8s_tests::druid_k8s_bin())
        .args([
            "sim",
            "--port",
            "0",
            "--workers",
            "2",
            "--worker-capacity",
            "3",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("druid-k8s sim starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line in time")
            .unwrap()
            .expect("a line")
    };
    assert!(next().await.starts_with("http://127.0.0.1:"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest_rustls_ring::Client::new();
    for _ in 0..2 {
        let line = next().await;
        let url = line.strip_prefix("worker ").expect(&line).to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let text = client
            .get(format!(
                "{url}/druid-internal/v1/worker?counter=-1&hash=0&timeout=1000"
            ))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(body["resetCounter"], false, "{body}");
        assert_eq!(
            body["requests"],
            json!([{"type": "metadata", "disabled": false}]),
            "{body}"
        );
        assert_eq!(body["counter"]["counter"], 0, "{body}");
    }
    let _ = child.kill().await;
}

/// `druid.discovery.type=k8s`: the server finds its MiddleManager through the pod that
/// druid-kubernetes-extensions would have labelled and annotated (no static worker list), and
/// the `index_kafka` task runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_are_discovered_from_announced_pods() {
    use druid_k8s_sim::{SimWorker, SimWorkerConfig};
    use k8s_openapi::api::core::v1::Pod;
    let cluster = Cluster::start().await;
    let mm = SimWorker::start(SimWorkerConfig::default().capacity(2))
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "druid-middlemanager-0",
            "labels": {
                "druidDiscoveryAnnouncement-middleManager": "true",
                "druidDiscoveryAnnouncement-id": mm.host().replace(':', "-"),
                "druidDiscoveryAnnouncement-cluster-identifier": "demo-cluster"
            },
            "annotations": {"druidNodeInfo-middleManager": mm.druid_node_info().to_string()}
        },
        "spec": {"containers": [{"name": "mm", "image": "apache/druid:33.0.0"}]}
    }))
    .unwrap();
    kube::Api::<Pod>::namespaced(cluster.client(), "druid")
        .create(&Default::default(), &pod)
        .await
        .unwrap();
    let props = cluster.properties(
        "druid.indexer.runner.type=k8sAndWorker\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.type=taskType\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.default=k8s\n\
         druid.indexer.runner.k8sAndWorker.runnerStrategy.taskType.overrides={\"index_kafka\":\"worker\"}\n\
         druid.discovery.type=k8s\n\
         druid.discovery.k8s.clusterIdentifier=demo-cluster\n\
         druid.indexer.runner.syncRequestTimeout=PT2S\n",
    );
    let server = Server::start(&props, &cluster.kubeconfig).await;
    let http = server.http();
    // the Kubernetes runner's 4 slots plus the announced worker's 2
    let cap = http.get("/druid/indexer/v1/totalWorkerCapacity").await;
    assert_eq!(cap.json()["currentClusterCapacity"], 6, "{}", cap.text);
    let id = http.submit(&kafka("discovered", 200)).await;
    let s = http
        .wait_status(&id, |s| s["statusCode"] != "RUNNING")
        .await;
    assert_eq!(s["statusCode"], "SUCCESS", "{s}");
    assert_eq!(mm.assigned(), vec![id]);
}
