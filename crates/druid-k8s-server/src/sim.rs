//! `druid-k8s sim`: runs the Kubernetes API simulator standalone (prints its URL, writes a
//! kubeconfig, runs until Ctrl-C or SIGTERM). `--workers N` also runs N simulated
//! MiddleManagers (Druid's HTTP worker protocol) and prints one `worker <url>` line each, for
//! `druid.indexer.runner.k8sAndWorker.workers`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use druid_k8s_sim::{FaultConfig, Sim, SimConfig, SimWorker, SimWorkerConfig};

/// Options of `druid-k8s sim` (see the druid-k8s-sim README for what each one simulates).
#[derive(Debug, Args)]
pub struct SimArgs {
    /// TCP port on 127.0.0.1 (0 = pick a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Write a kubeconfig pointing at the simulator to this file.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the kubeconfig's context.
    #[arg(long, default_value = "default")]
    pub context_namespace: String,
    /// Extra namespaces that exist from the start (repeatable; `druid` always exists).
    #[arg(long = "namespace")]
    pub namespaces: Vec<String>,
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Allocatable CPU per node (a Kubernetes quantity).
    #[arg(long, default_value = "16")]
    pub node_cpu: String,
    /// Allocatable memory per node (a Kubernetes quantity).
    #[arg(long, default_value = "64Gi")]
    pub node_memory: String,
    /// Maximum pods per node.
    #[arg(long, default_value_t = 110)]
    pub node_pods: u32,
    /// Delay before a pod is scheduled, in ms.
    #[arg(long, default_value_t = 5)]
    pub schedule_delay_ms: u64,
    /// Delay between scheduling and containers running, in ms.
    #[arg(long, default_value_t = 20)]
    pub startup_delay_ms: u64,
    /// Run time of a simulated task without `context.sim.durationMs`, in ms.
    #[arg(long, default_value_t = 100)]
    pub task_duration_ms: u64,
    /// Run time of simple container commands (`true`, `echo`), in ms.
    #[arg(long, default_value_t = 20)]
    pub command_duration_ms: u64,
    /// Time containers need to exit after SIGTERM, in ms.
    #[arg(long, default_value_t = 20)]
    pub sigterm_delay_ms: u64,
    /// First Job controller back-off after a failed pod, in ms (doubles per failure).
    #[arg(long, default_value_t = 100)]
    pub job_backoff_ms: u64,
    /// Images matching this regex fail to pull (ImagePullBackOff); empty disables.
    #[arg(long, default_value = "(^|/)nonexistent([:@/]|$)")]
    pub image_pull_failure_pattern: String,
    /// Watch events retained for resumption (older resourceVersions get 410 Expired).
    #[arg(long, default_value_t = 10_000)]
    pub event_window: usize,
    /// Events a watcher may lag behind before it is cut.
    #[arg(long, default_value_t = 4096)]
    pub watch_buffer: usize,
    /// Interval between watch bookmarks, in ms.
    #[arg(long, default_value_t = 5000)]
    pub bookmark_interval_ms: u64,
    /// Default Druid `file` task-log directory for simulated peons.
    #[arg(long)]
    pub task_logs_dir: Option<PathBuf>,
    /// Local directory standing in for S3 buckets (`s3` task logs).
    #[arg(long)]
    pub s3_root: Option<PathBuf>,
    /// Simulated peons also push their log (in Druid the overlord does).
    #[arg(long)]
    pub peon_pushes_log: bool,
    /// Error rate: `0.1` for every verb, or `get=0.1,list=0.2,*=0.01`.
    #[arg(long)]
    pub fault_error_rate: Option<String>,
    /// Status codes injected errors pick from, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "500,503,429")]
    pub fault_error_codes: Vec<u16>,
    /// Retry-After seconds on injected 429/503.
    #[arg(long, default_value_t = 1)]
    pub fault_retry_after_secs: u64,
    /// Latency added to every API request, in ms.
    #[arg(long, default_value_t = 0)]
    pub fault_latency_ms: u64,
    /// Cut every watch stream after this many seconds.
    #[arg(long)]
    pub fault_watch_cut_secs: Option<f64>,
    /// Probability that a watch resuming from a resourceVersion gets 410 Expired.
    #[arg(long, default_value_t = 0.0)]
    pub fault_watch_gone_rate: f64,
    /// Probability that a request's connection is dropped.
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop_rate: f64,
    /// Also run this many simulated MiddleManagers on 127.0.0.1 (migration mode,
    /// `druid.indexer.runner.type=k8sAndWorker`); each prints a `worker <url>` line.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub workers: u32,
    /// Task slots of each simulated worker.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub worker_capacity: u32,
}

impl SimArgs {
    /// The simulator configuration these options describe.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let ms = Duration::from_millis;
        let mut cfg = SimConfig::default()
            .port(self.port)
            .nodes(self.nodes)
            .node_cpu(&self.node_cpu)
            .node_memory(&self.node_memory)
            .node_pods(self.node_pods)
            .schedule_delay(ms(self.schedule_delay_ms))
            .pod_startup_delay(ms(self.startup_delay_ms))
            .default_task_duration(ms(self.task_duration_ms))
            .command_duration(ms(self.command_duration_ms))
            .sigterm_delay(ms(self.sigterm_delay_ms))
            .job_backoff(ms(self.job_backoff_ms))
            .event_window(self.event_window)
            .watch_buffer(self.watch_buffer)
            .bookmark_interval(ms(self.bookmark_interval_ms))
            .peon_pushes_log(self.peon_pushes_log)
            .image_pull_failure_pattern(
                (!self.image_pull_failure_pattern.is_empty())
                    .then(|| self.image_pull_failure_pattern.clone()),
            );
        for ns in &self.namespaces {
            cfg = cfg.namespace(ns.clone());
        }
        if let Some(d) = &self.task_logs_dir {
            cfg = cfg.task_logs_dir(d);
        }
        if let Some(d) = &self.s3_root {
            cfg = cfg.s3_root(d);
        }
        let watch_cut_after = match self.fault_watch_cut_secs {
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                anyhow::bail!("--fault-watch-cut-secs {s}: expected a positive number of seconds")
            }
            None => None,
        };
        let faults = FaultConfig {
            error_rates: match &self.fault_error_rate {
                Some(s) => FaultConfig::parse_error_rates(s)?,
                None => Default::default(),
            },
            error_codes: self.fault_error_codes.clone(),
            retry_after_seconds: self.fault_retry_after_secs,
            latency: ms(self.fault_latency_ms),
            watch_cut_after,
            watch_resume_gone_rate: self.fault_watch_gone_rate,
            drop_rate: self.fault_drop_rate,
        };
        cfg = cfg.faults(faults);
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Runs the simulator until Ctrl-C or SIGTERM.
pub fn run(args: &SimArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let task_duration = cfg.default_task_duration;
        let logs = args.task_logs_dir.clone();
        let sim = Sim::start(cfg).await?;
        let mut workers = Vec::new();
        for _ in 0..args.workers {
            let mut wc = SimWorkerConfig::default()
                .capacity(args.worker_capacity)
                .default_task_duration(task_duration);
            if let Some(d) = &logs {
                wc = wc.task_logs_dir(d);
            }
            workers.push(SimWorker::start(wc).await?);
        }
        if let Some(path) = &args.kubeconfig {
            std::fs::write(
                path,
                sim.kubeconfig_yaml_for_namespace(&args.context_namespace),
            )
            .with_context(|| format!("writing the kubeconfig {}", path.display()))?;
        }
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", sim.url())?;
            for w in &workers {
                writeln!(out, "worker {}", w.url())?;
            }
            out.flush()?;
        }
        wait_for_signal().await?;
        for w in workers {
            w.shutdown().await;
        }
        sim.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
