//! The chaos scenario of `cargo xtask chaos`, small enough for CI: `druid-k8s serve` against a
//! faulty `druid-k8s sim` (5 % 500/429, watches cut after 5 s, 410 on half the resumes), killed
//! with SIGKILL and restarted while tasks run and dynamic-config updates are posted. No task may
//! be lost, launched twice or end with a status other than its `context.sim` outcome; no
//! acknowledged config update may be missing from the history.
//!
//! The harness is `xtask/src/chaos.rs`, compiled in here so CI and `cargo xtask chaos` run the
//! same code.

#[allow(dead_code)]
#[path = "../../xtask/src/chaos.rs"]
mod chaos;

use std::time::Duration;

#[test]
fn small_chaos_run_loses_and_duplicates_nothing() {
    let mut opts = chaos::Options::new(druid_k8s_tests::druid_k8s_bin().to_path_buf());
    opts.tasks = 200;
    opts.kills = 3;
    opts.seed = 42;
    opts.capacity = 32;
    opts.time_limit = Duration::from_secs(90);
    let report = chaos::run(&opts).expect("the chaos harness runs");
    println!("{report}");
    assert!(report.ok(), "{report}");
    assert_eq!(report.kills, 3);
    assert_eq!(report.finished, 200, "{report}");
    assert!(report.config_acknowledged > 0, "{report}");
}
