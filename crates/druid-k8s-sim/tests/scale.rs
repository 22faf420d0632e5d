//! Scale: thousands of Jobs and pods through the real client, with watchers attached, without
//! losing an event or blocking writers. (Throughput numbers belong in benchmarks; this checks
//! correctness at scale and prints what it measured.)

mod common;

use std::time::Instant;

use common::{command_job, eventually, start};
use druid_k8s_sim::SimConfig;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams, WatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

fn rss_mib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

async fn count_complete(jobs: &Api<Job>) -> usize {
    let mut n = 0;
    let mut lp = ListParams::default().limit(1000);
    loop {
        let Ok(page) = jobs.list(&lp).await else {
            return 0;
        };
        n += page
            .items
            .iter()
            .filter(|j| common::has_condition(j, "Complete"))
            .count();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => return n,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_jobs_complete_with_watchers_attached() {
    let n: usize = std::env::var("SIM_SCALE_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let cfg = SimConfig::default()
        .nodes(((n / 100) + 1) as u32)
        .node_pods(110)
        .event_window(4 * n);
    let (sim, client) = start(cfg).await;
    eprintln!("simulator at {}", sim.url());
    let jobs: Api<Job> = Api::namespaced(client.clone(), "druid");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "druid");
    // A watcher that follows every pod (resuming when it is cut for being slow), and one that
    // never reads (it must be cut, not block anybody).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen_w = seen.clone();
    let follower = watcher(pods.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let counter = tokio::spawn(async move {
        futures::pin_mut!(follower);
        while let Some(ev) = follower.next().await {
            if let Ok(p) = ev
                && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")
                && let Ok(mut g) = seen_w.lock()
            {
                g.insert(p.metadata.name.unwrap_or_default());
            }
        }
    });
    let _stalled = pods
        .watch(&WatchParams::default(), "0")
        .await
        .expect("watch");

    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let jobs = jobs.clone();
            async move {
                jobs.create(
                    &PostParams::default(),
                    &command_job(&format!("scale-{i}"), json!(["true"])),
                )
                .await
                .expect("create")
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    let created = started.elapsed();
    eventually(600, "every job to complete", || async {
        (count_complete(&jobs).await == n).then_some(())
    })
    .await;
    let done = started.elapsed();
    let stats = sim.stats();
    eprintln!(
        "{n} jobs: created in {created:?}, all complete after {done:?}; rss {:?} MiB; stats: rv {}, objects {:?}, watches cut {}",
        rss_mib(),
        stats.resource_version,
        stats.objects,
        stats.watches_cut
    );
    assert_eq!(stats.objects.get("jobs.batch"), Some(&(n as u64)));
    assert_eq!(stats.objects.get("pods"), Some(&(n as u64)));
    let page = pods
        .list(
            &ListParams::default()
                .fields("status.phase=Succeeded")
                .limit(1),
        )
        .await
        .expect("list");
    assert_eq!(page.metadata.remaining_item_count, Some(n as i64 - 1));
    eventually(
        120,
        "the following watcher to see every pod succeed",
        || async { (seen.lock().map(|g| g.len()).unwrap_or(0) == n).then_some(()) },
    )
    .await;
    counter.abort();
    sim.shutdown().await;
}
