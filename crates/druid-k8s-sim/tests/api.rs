//! The simulator driven with the real `kube` client over HTTP: errors, list/watch fidelity,
//! Job lifecycle (completion, deadline, TTL with cascading deletion), patches, pagination.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{command_job, encode_task, eventually, has_condition, peon_job, start};
use druid_k8s_sim::{FaultConfig, SimConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": "x", "n": name}}, "data": {"v": v}}),
    )
    .expect("configmap")
}

#[tokio::test]
async fn errors_are_status_objects_like_the_real_api_server() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let job = command_job("dup", json!(["true"]));
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create");
    let e = api_error(
        jobs.create(&PostParams::default(), &job)
            .await
            .expect_err("409"),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "jobs.batch \"dup\" already exists");

    let e = api_error(jobs.get("nope").await.expect_err("404"));
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "jobs.batch \"nope\" not found");

    let e = api_error(
        jobs.create(
            &PostParams::default(),
            &command_job("Bad_Name", json!(["true"])),
        )
        .await
        .expect_err("422"),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.starts_with("Job.batch \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", e.message);
    let details = e.details.expect("details");
    assert_eq!(details.causes[0].field, "metadata.name");

    let mut bad_label = command_job("bad-label", json!(["true"]));
    bad_label.metadata.labels = Some(BTreeMap::from([("ok".to_owned(), "not ok!".to_owned())]));
    let e = api_error(
        jobs.create(&PostParams::default(), &bad_label)
            .await
            .expect_err("422"),
    );
    assert_eq!(e.code, 422);

    // A namespace that does not exist.
    let other: Api<Job> = Api::namespaced(client.clone(), "missing-ns");
    let e = api_error(
        other
            .create(&PostParams::default(), &job)
            .await
            .expect_err("404"),
    );
    assert_eq!(e.message, "namespaces \"missing-ns\" not found");

    // dry run: validated, not stored.
    let dry = jobs
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &command_job("dry", json!(["true"])),
        )
        .await
        .expect("dry run");
    assert!(dry.metadata.uid.is_some());
    assert_eq!(
        api_error(jobs.get("dry").await.expect_err("not stored")).code,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn job_defaults_pod_shape_and_completion() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let created = jobs
        .create(
            &PostParams::default(),
            &command_job("shape", json!(["sh", "-c", "echo hi"])),
        )
        .await
        .expect("create");
    let uid = created.metadata.uid.clone().expect("uid");
    let spec = created.spec.clone().expect("spec");
    assert_eq!(
        (spec.completions, spec.parallelism, spec.backoff_limit),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(spec.completion_mode.as_deref(), Some("NonIndexed"));
    let sel = spec
        .selector
        .and_then(|s| s.match_labels)
        .expect("selector");
    assert_eq!(sel.get("batch.kubernetes.io/controller-uid"), Some(&uid));
    assert_eq!(created.metadata.generation, Some(1));

    let job = eventually(10, "complete", || async {
        let j = jobs.get("shape").await.ok()?;
        has_condition(&j, "Complete").then_some(j)
    })
    .await;
    let conds: Vec<(String, String)> = job
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        conds,
        [
            (
                "SuccessCriteriaMet".to_owned(),
                "CompletionsReached".to_owned()
            ),
            ("Complete".to_owned(), "CompletionsReached".to_owned())
        ]
    );
    let pod = pods
        .list(&ListParams::default().labels("job-name=shape"))
        .await
        .expect("pods")
        .items
        .pop()
        .expect("a pod");
    let name = pod.metadata.name.clone().expect("name");
    assert!(
        name.starts_with("shape-") && name.len() == "shape-".len() + 5,
        "{name}"
    );
    let labels = pod.metadata.labels.clone().expect("labels");
    for k in ["job-name", "batch.kubernetes.io/job-name"] {
        assert_eq!(labels.get(k).map(String::as_str), Some("shape"));
    }
    for k in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        assert_eq!(labels.get(k), Some(&uid));
    }
    let owner = &pod.metadata.owner_references.clone().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Job", uid.as_str(), Some(true))
    );
    // The tracking finalizer is gone once the pod is counted.
    assert!(pod.metadata.finalizers.unwrap_or_default().is_empty());
    assert_eq!(
        pod.status.and_then(|s| s.phase).as_deref(),
        Some("Succeeded")
    );
    let log = pods.logs(&name, &Default::default()).await.expect("logs");
    assert_eq!(log, "hi\n");
    sim.shutdown().await;
}

#[tokio::test]
async fn active_deadline_fails_the_job_with_deadline_exceeded() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let task = json!({"id": "long", "type": "noop", "context": {"sim": {"durationMs": 60000}}});
    let mut job = peon_job(
        "long",
        json!([{"name": "TASK_JSON", "value": encode_task(&task)}]),
        json!({}),
    );
    if let Some(s) = job.spec.as_mut() {
        s.active_deadline_seconds = Some(1);
    }
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create");
    let job = eventually(10, "the deadline", || async {
        let j = jobs.get("long").await.ok()?;
        has_condition(&j, "Failed").then_some(j)
    })
    .await;
    let failed = job
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Failed")
        .expect("Failed condition");
    assert_eq!(failed.reason.as_deref(), Some("DeadlineExceeded"));
    // The running pod was stopped (SIGTERM, exit 143).
    let pod = pods
        .list(&ListParams::default().labels("job-name=long"))
        .await
        .expect("pods")
        .items
        .pop();
    if let Some(p) = pod {
        let st = p.status.expect("status");
        assert_eq!(st.phase.as_deref(), Some("Failed"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn ttl_after_finished_deletes_the_job_and_cascades_to_its_pod() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let mut job = command_job("ttl", json!(["true"]));
    if let Some(s) = job.spec.as_mut() {
        s.ttl_seconds_after_finished = Some(1);
    }
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create");
    eventually(10, "the pod", || async {
        let l = pods
            .list(&ListParams::default().labels("job-name=ttl"))
            .await
            .ok()?;
        (!l.items.is_empty()).then_some(())
    })
    .await;
    eventually(10, "the job to be deleted", || async {
        jobs.get("ttl").await.is_err().then_some(())
    })
    .await;
    eventually(10, "the pod to be garbage-collected", || async {
        let l = pods
            .list(&ListParams::default().labels("job-name=ttl"))
            .await
            .ok()?;
        l.items.is_empty().then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn deleting_a_job_orphans_by_default_and_cascades_with_background() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    for name in ["orphan", "cascade", "fg"] {
        jobs.create(
            &PostParams::default(),
            &command_job(name, json!(["sleep", "60"])),
        )
        .await
        .expect("create");
    }
    let running = |name: &'static str| {
        let pods = pods.clone();
        async move {
            let l = pods
                .list(&ListParams::default().labels(&format!("job-name={name}")))
                .await
                .ok()?;
            l.items
                .first()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                .cloned()
        }
    };
    for name in ["orphan", "cascade", "fg"] {
        eventually(10, "a running pod", || running(name)).await;
    }
    jobs.delete("orphan", &DeleteParams::default())
        .await
        .expect("delete");
    jobs.delete("cascade", &DeleteParams::background())
        .await
        .expect("delete");
    jobs.delete("fg", &DeleteParams::foreground())
        .await
        .expect("delete");
    // Foreground: the Job stays (with a deletionTimestamp) until its pod is gone.
    let fg = jobs
        .get("fg")
        .await
        .expect("still there while the pod terminates");
    assert!(fg.metadata.deletion_timestamp.is_some());
    for name in ["cascade", "fg"] {
        eventually(10, "cascade", || async {
            let l = pods
                .list(&ListParams::default().labels(&format!("job-name={name}")))
                .await
                .ok()?;
            l.items.is_empty().then_some(())
        })
        .await;
    }
    eventually(10, "fg job gone", || async {
        jobs.get("fg").await.is_err().then_some(())
    })
    .await;
    // Orphan: the pod lives on, without its owner reference.
    let p = eventually(10, "orphaned pod", || async {
        let p = running("orphan").await?;
        p.metadata.owner_references.is_none().then_some(p)
    })
    .await;
    assert!(jobs.get("orphan").await.is_err());
    // A pod gets its grace period: deletion sets deletionTimestamp, SIGTERM stops it.
    let name = p.metadata.name.expect("name");
    let deleted = pods
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete pod");
    assert!(
        deleted
            .left()
            .is_some_and(|p| p.metadata.deletion_timestamp.is_some())
    );
    eventually(10, "pod gone", || async {
        pods.get(&name).await.is_err().then_some(())
    })
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn selectors_pagination_patches_and_conflicts() {
    let (sim, client) = start(SimConfig::default()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "druid");
    for i in 0..7 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("cm-{i}"), &i.to_string()),
        )
        .await
        .expect("create");
    }
    let l = cms
        .list(&ListParams::default().labels("n in (cm-1,cm-3),app=x"))
        .await
        .expect("in");
    assert_eq!(l.items.len(), 2);
    let l = cms
        .list(&ListParams::default().labels("n notin (cm-1),!missing"))
        .await
        .expect("notin");
    assert_eq!(l.items.len(), 6);
    let l = cms
        .list(&ListParams::default().fields("metadata.name=cm-4"))
        .await
        .expect("field");
    assert_eq!(l.items.len(), 1);
    let e = api_error(
        cms.list(&ListParams::default().fields("data.v=1"))
            .await
            .expect_err("400"),
    );
    assert_eq!(e.code, 400);

    let mut names = Vec::new();
    let mut lp = ListParams::default().limit(3);
    loop {
        let page = cms.list(&lp).await.expect("page");
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => {
                assert!(page.metadata.remaining_item_count.is_some_and(|n| n > 0));
                lp = lp.continue_token(&c);
            }
            None => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());

    // Merge patch, JSON patch, and optimistic concurrency on replace.
    let p = cms
        .patch(
            "cm-0",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"w": "2"}})),
        )
        .await
        .expect("merge");
    assert_eq!(
        p.data.as_ref().and_then(|d| d.get("w")).map(String::as_str),
        Some("2")
    );
    let p = cms
        .patch(
            "cm-0",
            &PatchParams::default(),
            &Patch::<()>::Json(
                serde_json::from_value(json!([{"op": "remove", "path": "/data/w"}]))
                    .expect("patch"),
            ),
        )
        .await
        .expect("json patch");
    assert!(p.data.as_ref().is_some_and(|d| !d.contains_key("w")));
    let mut stale = p.clone();
    cms.patch(
        "cm-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .expect("bump");
    stale.data = Some(BTreeMap::from([("v".to_owned(), "stale".to_owned())]));
    let e = api_error(
        cms.replace("cm-0", &PostParams::default(), &stale)
            .await
            .expect_err("409"),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    let fresh = cms.get("cm-0").await.expect("get");
    let mut next = fresh.clone();
    next.data = Some(BTreeMap::from([("v".to_owned(), "new".to_owned())]));
    let replaced = cms
        .replace("cm-0", &PostParams::default(), &next)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version,
        fresh.metadata.resource_version
    );
    // Server-side apply creates and updates.
    let applied = cms
        .patch(
            "applied",
            &PatchParams::apply("test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .expect("apply");
    assert_eq!(
        applied.data.and_then(|d| d.get("a").cloned()).as_deref(),
        Some("1")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn watch_from_an_expired_version_gets_410_and_selectors_apply() {
    let (sim, client) = start(SimConfig::default().event_window(5)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "druid");
    let first = cms
        .create(&PostParams::default(), &cm("w-0", "0"))
        .await
        .expect("create");
    let rv0 = first.metadata.resource_version.clone().expect("rv");
    for i in 1..10 {
        cms.create(&PostParams::default(), &cm(&format!("w-{i}"), "x"))
            .await
            .expect("create");
    }
    let mut s = cms
        .watch(&WatchParams::default(), &rv0)
        .await
        .expect("watch")
        .boxed();
    match s.try_next().await.expect("event") {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    // A fresh watch with a label selector sees only matching objects, and an object leaving the
    // selector as DELETED.
    let list = cms.list(&ListParams::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("rv");
    let mut s = cms
        .watch(&WatchParams::default().labels("n=w-3").timeout(5), &rv)
        .await
        .expect("watch")
        .boxed();
    cms.patch(
        "w-2",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "y"}})),
    )
    .await
    .expect("patch other");
    cms.patch(
        "w-3",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "y"}})),
    )
    .await
    .expect("patch");
    cms.patch(
        "w-3",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"n": "moved"}}})),
    )
    .await
    .expect("relabel");
    match s.try_next().await.expect("event") {
        Some(WatchEvent::Modified(c)) => assert_eq!(c.metadata.name.as_deref(), Some("w-3")),
        other => panic!("expected MODIFIED w-3, got {other:?}"),
    }
    match s.try_next().await.expect("event") {
        Some(WatchEvent::Deleted(c)) => assert_eq!(c.metadata.name.as_deref(), Some("w-3")),
        other => panic!("expected DELETED w-3, got {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn watcher_recovers_from_cut_streams_and_forced_410_and_sees_every_change() {
    let faults = FaultConfig {
        watch_cut_after: Some(Duration::from_millis(300)),
        watch_resume_gone_rate: 0.5,
        ..SimConfig::default().faults
    };
    let (sim, client) = start(SimConfig::default().faults(faults)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "druid");
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(cms.clone(), watcher::Config::default()))
        .default_backoff()
        .applied_objects();
    let drain = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    let mut expected = BTreeMap::new();
    for round in 0..12 {
        for i in 0..5 {
            if round > 6 && i == 4 {
                continue;
            }
            let name = format!("c-{i}");
            let v = format!("{round}");
            if round == 0 {
                cms.create(&PostParams::default(), &cm(&name, &v))
                    .await
                    .expect("create");
            } else {
                cms.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"v": v}})),
                )
                .await
                .expect("patch");
            }
            expected.insert(name, v);
        }
        if round == 6 {
            cms.delete("c-4", &DeleteParams::default())
                .await
                .expect("delete");
            expected.remove("c-4");
        }
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    eventually(20, "the reflector to converge", || async {
        let seen: BTreeMap<String, String> = reader
            .state()
            .iter()
            .filter_map(|c| Some((c.metadata.name.clone()?, c.data.as_ref()?.get("v")?.clone())))
            .collect();
        (seen == expected).then_some(())
    })
    .await;
    // The faults are random: a run of 410s can back the watcher off long enough that no stream
    // has lived 300 ms yet. Wait until both faults have hit, then check one more change arrives.
    eventually(60, "a cut watch and a 410 resume", || async {
        let stats = sim.stats();
        (stats.watches_cut > 0
            && stats.gone_answers > 0
            && stats.requests_for("watch", "configmaps") > 2)
            .then_some(())
    })
    .await;
    cms.patch(
        "c-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "after-faults"}})),
    )
    .await
    .expect("patch");
    eventually(60, "the change after the faults", || async {
        let c = reader
            .state()
            .into_iter()
            .find(|c| c.metadata.name.as_deref() == Some("c-0"))?;
        (c.data.as_ref()?.get("v")? == "after-faults").then_some(())
    })
    .await;
    drain.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_errors_carry_retry_after_and_are_counted() {
    let faults = FaultConfig {
        error_rates: BTreeMap::from([("get".to_owned(), 1.0)]),
        error_codes: vec![429],
        ..SimConfig::default().faults
    };
    let (sim, _) = start(SimConfig::default().faults(faults)).await;
    // kube retries 429/503/504 by itself (honouring Retry-After); see the raw answer instead.
    let mut config = kube::Config::new(sim.url().parse().expect("url"));
    config.default_retry = false;
    let client = kube::Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "druid");
    cms.create(&PostParams::default(), &cm("f", "1"))
        .await
        .expect("create works");
    let e = api_error(cms.get("f").await.expect_err("get fails"));
    assert_eq!((e.code, e.reason.as_str()), (429, "TooManyRequests"));
    let stats = sim.stats();
    assert!(stats.injected_errors >= 1);
    assert_eq!(stats.requests_for("create", "configmaps"), 1);
    // The raw HTTP answer has Retry-After, and /sim/stats serves the counters.
    let addr = sim.addr();
    let raw = http_get(addr, "/api/v1/namespaces/druid/configmaps/f").await;
    assert!(raw.starts_with("HTTP/1.1 429"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("retry-after: 1"), "{raw}");
    let raw = http_get(addr, "/sim/stats").await;
    assert!(raw.contains("\"injectedErrors\""), "{raw}");
    sim.shutdown().await;
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn unschedulable_pods_wait_and_image_pull_failures_back_off() {
    let (sim, client) = start(SimConfig::default().nodes(1).node_cpu("2")).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let pod = |name: &str, image: &str, cpu: &str| -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": image, "command": ["sleep", "60"],
            "resources": {"requests": {"cpu": cpu}}}]}}),
        )
        .expect("pod")
    };
    pods.create(&PostParams::default(), &pod("big", "busybox:1", "3"))
        .await
        .expect("create");
    pods.create(
        &PostParams::default(),
        &pod("pull", "registry.example/nonexistent:1", "1"),
    )
    .await
    .expect("create");
    let big = eventually(10, "unschedulable", || async {
        let p = pods.get("big").await.ok()?;
        let c = p
            .status
            .as_ref()?
            .conditions
            .clone()?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False").then_some(c)
    })
    .await;
    assert_eq!(big.reason.as_deref(), Some("Unschedulable"));
    assert!(big.message.unwrap_or_default().contains("Insufficient cpu"));
    let waiting = eventually(10, "ImagePullBackOff", || async {
        let p = pods.get("pull").await.ok()?;
        let w = p
            .status?
            .container_statuses?
            .first()?
            .state
            .clone()?
            .waiting?;
        (w.reason.as_deref() == Some("ImagePullBackOff")).then_some(w)
    })
    .await;
    assert!(waiting.message.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_and_dropped_connections_are_injected() {
    let faults = FaultConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::default().faults
    };
    let (sim, client) = start(SimConfig::default().faults(faults)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "druid");
    let t = std::time::Instant::now();
    cms.list(&ListParams::default()).await.expect("list");
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    sim.shutdown().await;

    let faults = FaultConfig {
        drop_rate: 1.0,
        ..SimConfig::default().faults
    };
    let (sim, _) = start(SimConfig::default().faults(faults)).await;
    let raw = http_get(sim.addr(), "/api/v1/namespaces/druid/configmaps").await;
    assert!(!raw.contains("ConfigMapList"), "{raw}");
    assert_eq!(sim.stats().dropped_connections, 1);
    // Discovery is not subject to faults.
    let raw = http_get(sim.addr(), "/apis/batch/v1").await;
    assert!(raw.contains("\"jobs/status\""), "{raw}");
    sim.shutdown().await;
}

#[tokio::test]
async fn kube_discovery_finds_every_served_kind() {
    let (sim, client) = start(SimConfig::default()).await;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for (group, kind) in [
        ("", "Pod"),
        ("batch", "Job"),
        ("coordination.k8s.io", "Lease"),
        ("", "Event"),
    ] {
        let found = discovery
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.recommended_resources())
            .any(|(ar, _)| ar.kind == kind);
        assert!(found, "{group}/{kind}");
    }
    let (ar, caps) = kube::discovery::pinned_kind(
        &client,
        &kube::api::GroupVersionKind::gvk("batch", "v1", "Job"),
    )
    .await
    .expect("pinned");
    assert_eq!(ar.plural, "jobs");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    sim.shutdown().await;
}

#[tokio::test]
async fn native_sidecars_do_not_block_completion_but_ordinary_sidecars_do() {
    let (sim, client) = start(SimConfig::default()).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    let job = |name: &str, spec: serde_json::Value| -> Job {
        serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": spec}}}))
        .expect("job")
    };
    let main = json!({"name": "main", "image": "busybox:1", "command": ["true"]});
    let forever = json!({"name": "side", "image": "envoy:1", "command": ["envoy"]});
    let mut native_side = forever.clone();
    native_side["restartPolicy"] = json!("Always");
    jobs.create(
        &PostParams::default(),
        &job(
            "native",
            json!({"restartPolicy": "Never",
        "initContainers": [native_side], "containers": [main]}),
        ),
    )
    .await
    .expect("create");
    jobs.create(
        &PostParams::default(),
        &job(
            "ordinary",
            json!({"restartPolicy": "Never",
        "containers": [main, forever]}),
        ),
    )
    .await
    .expect("create");
    let mut kubexit_side = forever.clone();
    kubexit_side["env"] = json!([{"name": "KUBEXIT_NAME", "value": "side"}, {"name": "KUBEXIT_DEATH_DEPS", "value": "main"}]);
    jobs.create(
        &PostParams::default(),
        &job(
            "kubexit",
            json!({"restartPolicy": "Never",
        "containers": [main, kubexit_side]}),
        ),
    )
    .await
    .expect("create");
    for name in ["native", "kubexit"] {
        eventually(10, name, || async {
            let j = jobs.get(name).await.ok()?;
            has_condition(&j, "Complete").then_some(())
        })
        .await;
    }
    // The ordinary sidecar keeps its pod running: the Job never completes.
    let pod = eventually(10, "main exited", || async {
        let p = pods
            .list(&ListParams::default().labels("job-name=ordinary"))
            .await
            .ok()?
            .items
            .pop()?;
        let st = p.status.clone()?;
        let main_done = st
            .container_statuses?
            .iter()
            .any(|c| c.name == "main" && c.state.as_ref().is_some_and(|s| s.terminated.is_some()));
        main_done.then_some(p)
    })
    .await;
    assert_eq!(pod.status.and_then(|s| s.phase).as_deref(), Some("Running"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let j = jobs.get("ordinary").await.expect("job");
    assert!(!has_condition(&j, "Complete"));
    assert_eq!(j.status.and_then(|s| s.active), Some(1));
    sim.shutdown().await;
}
