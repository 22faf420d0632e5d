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
    Sim(sim::SimArgs),
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
