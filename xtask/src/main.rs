//! `cargo xtask`: the druid-k8s release pipeline and repository checks.
//!
//! Run `cargo xtask help` for the list of tasks. Tidy checks (dependency rules for the pure
//! crates, crate docs) are ordinary `#[test]`s in [`tidy`], so `cargo test` runs them.

mod bench;
mod chaos;
mod dist;
mod package;
mod release;
mod tidy;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const HELP: &str = "\
cargo xtask <task>

Tasks:
  ci      run exactly what CI runs (.ci/run): fmt check, clippy, the whole test suite
  tidy    check the repository rules (pure crates do no I/O, crate docs and READMEs)
  dist    release build + reproducible target/dist/druid-k8s-<version>-<target>.tar.gz,
          SHA256SUMS and a JSON manifest
  release --version X.Y.Z
          bump the workspace version and cut CHANGELOG's Unreleased section (no network,
          refuses a dirty tree)
  package cargo package every library crate (proves they are publishable); extra
          arguments go to cargo package (e.g. --no-verify, --allow-dirty)
  chaos [--tasks N] [--kills K] [--seed S] [--capacity C] [--time-limit-secs T] [--keep]
          serve against a faulty simulator, SIGKILL/restart the server K times while N tasks
          run; fails if a task is lost, duplicated or ends with the wrong status, or a
          dynamic-config history entry is lost (defaults: 2000 tasks, 20 kills)
  bench [--tasks N] [--capacity C] [--in-flight M] [--time-limit-secs T] [--no-floor] [--write]
          the runner benchmark through the release binary: N tasks end to end over the HTTP
          API, peak RSS with M in flight, API requests per task, restore of M Jobs after
          SIGKILL, the bare-client floor; --write updates BENCHMARKS.md (defaults: 5000, 500,
          10000)
  help    print this help
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let root = tidy::workspace_root();
    match args.first().map(String::as_str) {
        Some("ci") => {
            let status = Command::new("bash")
                .arg(root.join(".ci/run"))
                .current_dir(&root)
                .status()
                .context("starting .ci/run")?;
            if !status.success() {
                bail!(".ci/run failed ({status})");
            }
            Ok(())
        }
        Some("tidy") => {
            let problems = tidy::check_all(&root)?;
            if problems.is_empty() {
                println!("tidy: ok");
                Ok(())
            } else {
                for problem in &problems {
                    eprintln!("{problem}");
                }
                bail!("{} tidy problem(s)", problems.len())
            }
        }
        Some("dist") => dist::run(&root),
        Some("release") => match args.get(1..) {
            Some([flag, version]) if flag == "--version" => release::run(&root, version),
            _ => bail!("usage: cargo xtask release --version X.Y.Z"),
        },
        Some("package") => package::run(&root, &args[1..]),
        Some("chaos") => chaos::main(&root, &args[1..]),
        Some("bench") => bench::main(&root, &args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{HELP}"),
    }
}
