//! The `druid-k8s` command-line tool. Each subcommand's logic lives in its own module; this
//! file only parses the command line, sets up logging and maps results to exit codes.

mod render;
mod sim;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Run Apache Druid tasks as Kubernetes Jobs.
#[derive(Debug, Parser)]
#[command(name = "druid-k8s", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a runtime.properties file (plus `druid_*` environment variables) and print the
    /// effective configuration, or every problem found.
    Validate(validate::ValidateArgs),
    /// Print the Kubernetes Job a task would get (no cluster needed); `--explain` tells which
    /// adapter, pod template and selector were used and where the payload goes.
    Render(render::RenderArgs),
    /// Run the Kubernetes API simulator (Job controller, scheduler, simulated peons) on
    /// 127.0.0.1; prints its URL and writes a kubeconfig.
    Sim(Box<sim::SimArgs>),
    /// Serve Druid's overlord task API and the runner's dynamic config over HTTP, running tasks
    /// as Kubernetes Jobs (kubeconfig or in-cluster access); stops on SIGTERM/Ctrl-C, leaving
    /// Jobs running.
    Serve(druid_k8s_server::serve::ServeArgs),
    /// Everything on one machine: the simulator, the server, sample tasks with live progress;
    /// then keeps serving for the README's curl examples (`--exit-when-done` to stop).
    Demo(druid_k8s_server::demo::DemoArgs),
    /// Print an argon2 hash of a password for the users file (`druid.k8s.server.auth.usersFile`).
    HashPassword(druid_k8s_server::serve::HashPasswordArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Render(args) => render::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Serve(args) => druid_k8s_server::serve::run(&args).map_err(Into::into),
        Command::Demo(args) => druid_k8s_server::demo::run(&args).map_err(Into::into),
        Command::HashPassword(args) => {
            druid_k8s_server::serve::hash_password(&args).map_err(Into::into)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
