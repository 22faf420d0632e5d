use super::*;
use crate::views::{JobEnd, JobView, PodView};
use rand::{Rng, SeedableRng};

type C = Core<(), String>;
type Cmd = Command<String>;

struct H {
    core: C,
    now: Instant,
}

fn cfg(capacity: u32) -> CoreConfig {
    CoreConfig {
        capacity,
        launch_timeout: Duration::from_secs(60),
        max_task_duration: Duration::from_secs(3600),
        deadline_grace: Duration::from_secs(30),
        debug_jobs: false,
    }
}

fn job(name: &str, end: Option<JobEnd>) -> JobView {
    JobView {
        name: name.into(),
        active: i32::from(end.is_none()),
        succeeded: 0,
        failed: 0,
        start_time: None,
        completion_time: None,
        end_time: None,
        end,
    }
}

fn pod(job: &str, phase: &str) -> PodView {
    PodView {
        name: format!("{job}-abcde"),
        job_name: job.into(),
        phase: phase.into(),
        pod_ip: (phase != "Pending").then(|| "10.1.2.3".to_string()),
        tls: false,
        reason: None,
        message: None,
        waiting: None,
        terminated: None,
        unscheduled: None,
        terminating: false,
        log_container: Some("main".into()),
    }
}

fn jn(id: &str) -> String {
    format!("job-{id}")
}

impl H {
    fn new(capacity: u32) -> Self {
        H {
            core: Core::new(cfg(capacity)),
            now: Instant::now(),
        }
    }
    fn ev(&mut self, e: Event<(), String>) -> Vec<Cmd> {
        self.core.on_event(self.now, e)
    }
    fn submit(&mut self, id: &str, priority: i32) -> Vec<Cmd> {
        self.ev(Event::Submit {
            id: id.into(),
            job_name: jn(id),
            priority,
            task: (),
        })
    }
    fn advance(&mut self, d: Duration) {
        self.now += d;
    }
    /// Drives a launched task to completion and its Job to deletion; returns all commands.
    fn complete(&mut self, id: &str) -> Vec<Cmd> {
        let mut all = self.ev(Event::Launched {
            id: id.into(),
            result: Ok(()),
        });
        all.extend(self.ev(Event::PodApplied(pod(&jn(id), "Running"))));
        all.extend(self.ev(Event::JobApplied(job(&jn(id), Some(JobEnd::Succeeded)))));
        all.extend(self.ev(Event::Finished {
            id: id.into(),
            status: format!("{id}:SUCCESS"),
        }));
        all.extend(self.ev(Event::JobGone(jn(id))));
        all
    }
}

fn launches(cmds: &[Cmd]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Launch { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn deletes(cmds: &[Cmd]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::DeleteJob { job_name } => Some(job_name.clone()),
            _ => None,
        })
        .collect()
}

fn finish(cmds: &[Cmd]) -> Option<(Option<String>, String)> {
    cmds.iter().find_map(|c| match c {
        Command::Finish { failure, hint, .. } => Some((failure.clone(), hint.clone())),
        _ => None,
    })
}

#[test]
fn capacity_and_priority_order() {
    let mut h = H::new(1);
    assert_eq!(launches(&h.submit("a", 0)), ["a"]);
    for (id, p) in [("b", 0), ("c", 5), ("d", 5), ("e", -1)] {
        assert!(launches(&h.submit(id, p)).is_empty());
    }
    assert_eq!(h.core.queued(), 4);
    let mut order = vec![];
    let mut cur = "a".to_string();
    loop {
        let next = launches(&h.complete(&cur));
        assert!(next.len() <= 1);
        let Some(n) = next.into_iter().next() else {
            break;
        };
        order.push(n.clone());
        cur = n;
    }
    assert_eq!(order, ["c", "d", "b", "e"]);
    assert_eq!(h.core.jobs_held(), 0);
}

#[test]
fn slot_is_held_until_the_job_is_gone() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.submit("b", 0);
    let mut c = h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    c.extend(h.ev(Event::PodApplied(pod("job-a", "Running"))));
    c.extend(h.ev(Event::JobApplied(job("job-a", Some(JobEnd::Succeeded)))));
    let c = h.ev(Event::Finished {
        id: "a".into(),
        status: "ok".into(),
    });
    assert_eq!(deletes(&c), ["job-a"], "a finished Job is deleted");
    assert!(launches(&c).is_empty(), "b must wait until job-a is gone");
    let c = h.ev(Event::JobGone("job-a".into()));
    assert_eq!(launches(&c), ["b"]);
}

#[test]
fn one_delete_per_job_at_a_time() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    h.ev(Event::PodApplied(pod("job-a", "Running")));
    h.ev(Event::JobApplied(job("job-a", Some(JobEnd::Succeeded))));
    let c = h.ev(Event::Finished {
        id: "a".into(),
        status: "ok".into(),
    });
    assert_eq!(deletes(&c), ["job-a"]);
    let c = h.ev(Event::Shutdown {
        id: "a".into(),
        reason: "completed".into(),
    });
    assert!(
        deletes(&c).is_empty(),
        "the first DELETE is still in flight"
    );
    h.ev(Event::JobGone("job-a".into()));
    assert_eq!(h.core.jobs_held(), 0);
}

#[test]
fn submit_is_idempotent_and_slots_follow_druid() {
    let mut h = H::new(3);
    assert_eq!(launches(&h.submit("a", 0)), ["a"]);
    assert!(launches(&h.submit("a", 0)).is_empty());
    h.submit("b", 0);
    h.submit("c", 0);
    h.submit("d", 0);
    assert_eq!(
        h.core.slots(),
        Slots {
            total: 3,
            idle: 0,
            used: 3
        }
    );
    assert_eq!(h.core.get("d").unwrap().phase, Phase::Queued);
    h.ev(Event::SetCapacity(10));
    assert_eq!(
        h.core.slots(),
        Slots {
            total: 10,
            idle: 6,
            used: 4
        }
    );
    assert_eq!(h.core.get("d").unwrap().phase, Phase::Launching);
}

#[test]
fn capacity_increase_launches_waiting_tasks_and_decrease_kills_nothing() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.submit("b", 0);
    h.submit("c", 0);
    assert_eq!(launches(&h.ev(Event::SetCapacity(3))), ["b", "c"]);
    let c = h.ev(Event::SetCapacity(1));
    assert!(deletes(&c).is_empty());
    assert_eq!(h.core.jobs_held(), 3);
}

#[test]
fn shutdown_of_a_queued_task_never_launches_it() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.submit("q", 0);
    let c = h.ev(Event::Shutdown {
        id: "q".into(),
        reason: "user".into(),
    });
    let (failure, _) = finish(&c).unwrap();
    assert!(
        failure
            .unwrap()
            .contains("shut down before it was launched")
    );
    assert!(deletes(&c).is_empty());
    h.ev(Event::Finished {
        id: "q".into(),
        status: "q:FAILED".into(),
    });
    assert!(h.core.get("q").is_none(), "done and shut down: forgotten");
    let all = h.complete("a");
    assert!(launches(&all).is_empty(), "q must never launch: {all:?}");
}

#[test]
fn shutdown_while_launching_deletes_after_create_returns() {
    let mut h = H::new(2);
    h.submit("a", 0);
    let c = h.ev(Event::Shutdown {
        id: "a".into(),
        reason: "r".into(),
    });
    assert!(deletes(&c).is_empty(), "delete must not race the create");
    // a racing JobGone (404 from an early delete) must not free the slot while creating
    h.ev(Event::JobGone("job-a".into()));
    assert_eq!(h.core.jobs_held(), 1);
    let c = h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    assert_eq!(deletes(&c), ["job-a"]);
    assert!(finish(&c).unwrap().0.unwrap().contains("shut down"));
}

#[test]
fn shutdown_of_a_running_task_deletes_its_job_and_reads_the_status() {
    let mut h = H::new(2);
    h.submit("a", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    h.ev(Event::PodApplied(pod("job-a", "Running")));
    let c = h.ev(Event::Shutdown {
        id: "a".into(),
        reason: "killed by user".into(),
    });
    assert_eq!(deletes(&c), ["job-a"]);
    let c = h.ev(Event::JobGone("job-a".into()));
    let (failure, hint) = finish(&c).unwrap();
    assert_eq!(failure, None);
    assert!(hint.contains("shut down: killed by user"), "{hint}");
    let c = h.ev(Event::Finished {
        id: "a".into(),
        status: "F".into(),
    });
    assert!(c.contains(&Command::Completed {
        id: "a".into(),
        status: "F".into()
    }));
    assert!(h.core.get("a").is_none());
    assert_eq!(h.core.jobs_held(), 0);
}

#[test]
fn debug_jobs_never_deletes() {
    let mut h = H::new(1);
    h.core.cfg.debug_jobs = true;
    h.submit("a", 0);
    h.submit("b", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    h.ev(Event::PodApplied(pod("job-a", "Running")));
    assert!(
        deletes(&h.ev(Event::Shutdown {
            id: "a".into(),
            reason: "x".into()
        }))
        .is_empty()
    );
    h.ev(Event::JobApplied(job("job-a", Some(JobEnd::Succeeded))));
    let c = h.ev(Event::Finished {
        id: "a".into(),
        status: "ok".into(),
    });
    assert!(deletes(&c).is_empty());
    assert_eq!(launches(&c), ["b"], "a kept Job does not hold a slot");
}

#[test]
fn running_then_located_with_metrics() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    h.advance(Duration::from_secs(3));
    let c = h.ev(Event::PodApplied(pod("job-a", "Pending")));
    assert!(c.is_empty());
    h.advance(Duration::from_secs(2));
    let c = h.ev(Event::PodApplied(pod("job-a", "Running")));
    assert!(c.contains(&Command::ObserveStartup {
        id: "a".into(),
        elapsed: Duration::from_secs(5)
    }));
    assert!(c.contains(&Command::ObservePending {
        id: "a".into(),
        elapsed: Duration::from_secs(5)
    }));
    assert!(c.contains(&Command::StateChanged {
        id: "a".into(),
        phase: Phase::Running
    }));
    assert!(
        c.iter()
            .any(|c| matches!(c, Command::Located { location, .. } if location.host == "10.1.2.3"))
    );
    assert!(
        c.iter().any(
            |c| matches!(c, Command::CaptureLogs { pod_name, .. } if pod_name == "job-a-abcde")
        )
    );
    assert_eq!(
        h.core.get("a").unwrap().phase.lifecycle(),
        druid_k8s_model::LifecycleState::Running
    );
}

#[test]
fn fatal_waiting_reason_fails_fast() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    let mut p = pod("job-a", "Pending");
    p.waiting = Some(("ContainerCreating".into(), String::new()));
    assert!(finish(&h.ev(Event::PodApplied(p.clone()))).is_none());
    p.waiting = Some((
        "ImagePullBackOff".into(),
        "Back-off pulling image \"nope:1\"".into(),
    ));
    let c = h.ev(Event::PodApplied(p));
    assert_eq!(deletes(&c), ["job-a"]);
    let msg = finish(&c).unwrap().0.unwrap();
    assert!(
        msg.contains("cannot start: ImagePullBackOff (Back-off pulling image \"nope:1\")"),
        "{msg}"
    );
}

#[test]
fn unschedulable_waits_until_the_launch_timeout() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    let mut p = pod("job-a", "Pending");
    p.unscheduled = Some(("Unschedulable".into(), "0/3 nodes are available".into()));
    assert!(h.ev(Event::PodApplied(p)).is_empty());
    h.advance(Duration::from_secs(59));
    assert!(h.ev(Event::Tick).is_empty());
    h.advance(Duration::from_secs(1));
    let c = h.ev(Event::Tick);
    assert_eq!(deletes(&c), ["job-a"]);
    let msg = finish(&c).unwrap().0.unwrap();
    assert!(
        msg.contains("Timed out after PT1M (k8sjobLaunchTimeout)"),
        "{msg}"
    );
    assert!(
        msg.contains("Unschedulable (0/3 nodes are available)"),
        "{msg}"
    );
    // a second tick does not finish twice
    assert!(finish(&h.ev(Event::Tick)).is_none());
}

#[test]
fn job_failure_reason_reaches_the_hint_and_max_duration_is_enforced() {
    let mut h = H::new(2);
    h.submit("a", 0);
    h.submit("b", 0);
    for id in ["a", "b"] {
        h.ev(Event::Launched {
            id: id.into(),
            result: Ok(()),
        });
        h.ev(Event::PodApplied(pod(&jn(id), "Running")));
    }
    let c = h.ev(Event::JobApplied(job(
        "job-a",
        Some(JobEnd::Failed {
            reason: "DeadlineExceeded".into(),
            message: "Job was active longer than specified deadline".into(),
        }),
    )));
    let (failure, hint) = finish(&c).unwrap();
    assert_eq!(failure, None);
    assert_eq!(
        hint,
        "Job [job-a] failed: DeadlineExceeded (Job was active longer than specified deadline)"
    );
    h.advance(Duration::from_secs(3600));
    assert!(
        finish(&h.ev(Event::Tick)).is_none(),
        "Kubernetes gets the grace period first"
    );
    h.advance(Duration::from_secs(30));
    let c = h.ev(Event::Tick);
    assert_eq!(deletes(&c), ["job-b"]);
    assert!(
        finish(&c)
            .unwrap()
            .0
            .unwrap()
            .contains("exceeded maxTaskDuration (PT1H)")
    );
}

#[test]
fn launch_failure_fails_the_task_and_frees_the_slot_after_delete() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.submit("b", 0);
    let c = h.ev(Event::Launched {
        id: "a".into(),
        result: Err("422 Invalid".into()),
    });
    assert_eq!(deletes(&c), ["job-a"]);
    assert!(finish(&c).unwrap().0.unwrap().contains("422 Invalid"));
    assert_eq!(launches(&h.ev(Event::JobGone("job-a".into()))), ["b"]);
}

#[test]
fn adopt_counts_against_capacity_and_finished_jobs_are_finished() {
    let mut h = H::new(1);
    let c = h.ev(Event::Adopt {
        id: "old".into(),
        priority: 0,
        task: (),
        job: job("job-old", None),
    });
    assert!(finish(&c).is_none());
    let c = h.ev(Event::Adopt {
        id: "done".into(),
        priority: 0,
        task: (),
        job: job("job-done", Some(JobEnd::Succeeded)),
    });
    assert_eq!(finish(&c).unwrap().1, "Job [job-done] succeeded");
    assert_eq!(h.core.jobs_held(), 2);
    assert!(
        launches(&h.submit("new", 0)).is_empty(),
        "over capacity after restore"
    );
    assert!(
        launches(&h.submit("old", 0)).is_empty(),
        "known: no second Job"
    );
    // adopted tasks get no startup metric but a pending time
    let c = h.ev(Event::PodApplied(pod("job-old", "Running")));
    assert!(
        !c.iter()
            .any(|c| matches!(c, Command::ObserveStartup { .. }))
    );
    assert!(
        c.iter()
            .any(|c| matches!(c, Command::ObservePending { .. }))
    );
}

#[test]
fn a_queued_task_whose_job_exists_is_adopted_not_relaunched() {
    let mut h = H::new(1);
    h.submit("a", 0);
    h.submit("b", 0);
    let c = h.ev(Event::JobApplied(job("job-b", None)));
    assert!(launches(&c).is_empty());
    assert_eq!(h.core.get("b").unwrap().phase, Phase::Starting);
    let all = h.complete("a");
    assert!(launches(&all).is_empty());
}

#[test]
fn relist_without_a_seen_job_means_it_was_deleted() {
    let mut h = H::new(3);
    h.submit("a", 0);
    h.submit("b", 0);
    h.ev(Event::Launched {
        id: "a".into(),
        result: Ok(()),
    });
    h.ev(Event::Launched {
        id: "b".into(),
        result: Ok(()),
    });
    h.ev(Event::JobApplied(job("job-a", None)));
    // job-b was created but not yet observed: a relist that lacks it proves nothing
    let c = h.ev(Event::JobsListed(HashSet::new()));
    let f: Vec<_> = c
        .iter()
        .filter_map(|c| match c {
            Command::Finish { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(f, ["a"]);
    assert_eq!(h.core.jobs_held(), 1);
}

/// Random event sequences: never more Jobs than capacity, never two launches of one task,
/// never a launch of a task shut down while queued, every task ends exactly once.
#[test]
fn random_sequences_keep_the_invariants() {
    for seed in 0..200u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let cap = rng.random_range(1..5u32);
        let mut h = H::new(cap);
        let n = 12;
        let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
        let mut launched = HashSet::new();
        let mut completed = HashSet::new();
        let mut cancelled_queued = HashSet::new();
        let mut existing: HashSet<String> = HashSet::new();
        let mut pending_launch: Vec<String> = vec![];
        let mut pending_finish: Vec<String> = vec![];
        let mut pending_delete: Vec<String> = vec![];
        let mut trace: Vec<String> = vec![];
        for _ in 0..400 {
            let id = ids[rng.random_range(0..n)].clone();
            let ev = match rng.random_range(0..10) {
                0 | 1 => {
                    if h.core.get(&id).is_none() {
                        // a new run of a forgotten task id
                        launched.remove(&id);
                        completed.remove(&id);
                        cancelled_queued.remove(&id);
                    }
                    Event::Submit {
                        id: id.clone(),
                        job_name: jn(&id),
                        priority: rng.random_range(-1..2),
                        task: (),
                    }
                }
                2 => {
                    if h.core.get(&id).is_some_and(|e| e.phase == Phase::Queued) {
                        cancelled_queued.insert(id.clone());
                    }
                    Event::Shutdown {
                        id: id.clone(),
                        reason: "r".into(),
                    }
                }
                3 if !pending_launch.is_empty() => {
                    let id = pending_launch.remove(rng.random_range(0..pending_launch.len()));
                    if rng.random_bool(0.9) {
                        existing.insert(jn(&id));
                        Event::Launched { id, result: Ok(()) }
                    } else {
                        Event::Launched {
                            id,
                            result: Err("boom".into()),
                        }
                    }
                }
                4 if existing.contains(&jn(&id)) => Event::PodApplied(pod(&jn(&id), "Running")),
                5 if existing.contains(&jn(&id)) => {
                    Event::JobApplied(job(&jn(&id), Some(JobEnd::Succeeded)))
                }
                6 if !pending_finish.is_empty() => {
                    let id = pending_finish.remove(rng.random_range(0..pending_finish.len()));
                    Event::Finished {
                        id: id.clone(),
                        status: id,
                    }
                }
                7 if !pending_delete.is_empty() => {
                    let name = pending_delete.remove(rng.random_range(0..pending_delete.len()));
                    existing.remove(&name);
                    Event::JobGone(name)
                }
                8 => {
                    h.advance(Duration::from_secs(rng.random_range(0..40)));
                    Event::Tick
                }
                _ => Event::JobsListed(existing.clone()),
            };
            trace.push(format!("{ev:?}"));
            let cmds = h.ev(ev);
            trace.push(format!(
                "  -> {cmds:?}\n  slots={:?} existing={:?}",
                h.core.slots, existing
            ));
            for c in cmds {
                match c {
                    Command::Launch { id, .. } => {
                        assert!(
                            launched.insert(id.clone()),
                            "seed {seed}: {id} launched twice"
                        );
                        assert!(
                            !cancelled_queued.contains(&id),
                            "seed {seed}: cancelled {id} launched"
                        );
                        pending_launch.push(id);
                    }
                    Command::Finish { id, .. } => pending_finish.push(id),
                    Command::DeleteJob { job_name } => pending_delete.push(job_name),
                    Command::Completed { id, .. } => {
                        assert!(
                            completed.insert(id.clone()),
                            "seed {seed}: {id} completed twice"
                        )
                    }
                    _ => {}
                }
            }
            assert!(
                h.core.jobs_held() <= cap as usize,
                "seed {seed}: {} jobs > {cap}",
                h.core.jobs_held()
            );
            if existing.len() > cap as usize {
                let t = trace.len().saturating_sub(40);
                panic!(
                    "seed {seed}: existing {:?} > {cap}\n{}",
                    existing,
                    trace[t..].join("\n")
                );
            }
        }
    }
}
