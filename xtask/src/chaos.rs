//! `cargo xtask chaos`: the "no task lost or duplicated" promise, checked end to end through the
//! real binary.
//!
//! It starts `druid-k8s sim` with faults on (5 % of API requests answer 500 or 429, every watch
//! is cut after 5 s, half the watch resumes get 410 Expired — the simulator cannot tell a resume
//! from the watch that follows a list, so a rate of 1 would never let a watch stream), runs `druid-k8s serve` against it on a
//! SQLite data directory, submits short tasks whose `context.sim` says how each one ends
//! (SUCCESS or FAILED, varied durations), posts dynamic-config updates with audit headers, and
//! kills the server with SIGKILL at random moments, restarting it on the same data directory each
//! time. Submissions that got no answer (the server died mid-request) are retried with the same
//! task id. At the end it checks: every task accepted is finished, with the status its
//! `context.sim` asked for; the simulator created exactly one Job per task (`/sim/stats`
//! `created` and `createdAgain`); every acknowledged config update is in the history.
//!
//! Everything talks over 127.0.0.1 and is bounded in time and in count. The file is also
//! compiled into `tests/tests/chaos.rs` (a small run in CI), so it uses std, serde_json and
//! anyhow only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// What a chaos run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `druid-k8s` binary.
    pub bin: PathBuf,
    /// Tasks submitted.
    pub tasks: usize,
    /// SIGKILLs of the server (each followed by a restart).
    pub kills: usize,
    /// Seed of every random choice (task outcomes, durations, kill moments).
    pub seed: u64,
    /// The runner's static capacity (`druid.indexer.runner.capacity`).
    pub capacity: u32,
    /// Give up (and report what is unfinished as lost) after this long.
    pub time_limit: Duration,
    /// Keep the work directory (logs, SQLite, task logs) instead of deleting it.
    pub keep: bool,
    /// Print progress.
    pub verbose: bool,
}

impl Options {
    /// The full-size defaults: 2,000 tasks, 20 kills.
    pub fn new(bin: PathBuf) -> Options {
        Options {
            bin,
            tasks: 2000,
            kills: 20,
            seed: 1,
            capacity: 64,
            time_limit: Duration::from_secs(600),
            keep: false,
            verbose: false,
        }
    }
}

/// What a chaos run found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Tasks the client submitted.
    pub submitted: usize,
    /// Submissions answered 200 on the first attempt that reached the server.
    pub accepted: usize,
    /// Retried submissions answered 400 "already exists" (an earlier attempt had got no answer
    /// but had been recorded): counted as accepted once.
    pub accepted_on_retry: usize,
    /// Submission attempts that got no answer (server killed mid-request, or down).
    pub unanswered_attempts: usize,
    /// "already exists" on a task's very first attempt: a server bug.
    pub unexpected_duplicates: Vec<String>,
    /// Tasks never acknowledged in either way (should be 0).
    pub never_acknowledged: Vec<String>,
    /// Tasks with a final status (SUCCESS or FAILED).
    pub finished: usize,
    /// Tasks acknowledged but unknown to the server, or not finished within the time limit.
    pub lost: Vec<String>,
    /// Tasks whose final status disagrees with `context.sim`: (id, expected, got, errorMsg).
    pub wrong_status: Vec<(String, String, String, String)>,
    /// Jobs the simulator created.
    pub jobs_created: u64,
    /// Job names created more than once (`/sim/stats` `createdAgain`).
    pub jobs_created_again: BTreeMap<String, u64>,
    /// Tasks the server lists that the client never submitted.
    pub unknown_tasks: Vec<String>,
    /// Peon Jobs still present at the end (all tasks finished, so they should be cleaned up).
    pub jobs_left: u64,
    /// Dynamic-config updates acknowledged with 200.
    pub config_acknowledged: usize,
    /// Acknowledged updates whose comment is missing from the history.
    pub config_lost: Vec<String>,
    /// Entries in the history at the end.
    pub config_history: usize,
    /// Kills done.
    pub kills: usize,
    /// Server restarts: time from spawn to listening, longest.
    pub longest_restart: Duration,
    /// Wall time.
    pub elapsed: Duration,
    /// Simulator counters at the end (faults injected, watches cut, 410s).
    pub sim_faults: String,
    /// Peak RSS of the last server process, in MiB.
    pub server_peak_rss_mib: f64,
    /// The seed.
    pub seed: u64,
}

impl Report {
    /// No task lost, none duplicated, every status right, no config entry lost.
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.never_acknowledged.is_empty()
            && self.unexpected_duplicates.is_empty()
            && self.wrong_status.is_empty()
            && self.jobs_created_again.is_empty()
            && self.jobs_created == self.submitted as u64
            && self.unknown_tasks.is_empty()
            && self.config_lost.is_empty()
    }
}

fn list<T: fmt::Debug>(v: &[T]) -> String {
    const SHOWN: usize = 10;
    if v.is_empty() {
        return String::new();
    }
    let mut s = format!(" {:?}", &v[..v.len().min(SHOWN)]);
    if v.len() > SHOWN {
        s.push_str(&format!(" … and {} more", v.len() - SHOWN));
    }
    s
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "chaos (seed {}): {} kills, {:.1} s, longest restart {:.2} s",
            self.seed,
            self.kills,
            self.elapsed.as_secs_f64(),
            self.longest_restart.as_secs_f64()
        )?;
        writeln!(
            f,
            "  tasks submitted:            {} ({} accepted, {} accepted on retry as \"already exists\", {} unanswered attempts)",
            self.submitted, self.accepted, self.accepted_on_retry, self.unanswered_attempts
        )?;
        writeln!(f, "  tasks finished:             {}", self.finished)?;
        writeln!(
            f,
            "  tasks lost:                 {}{}",
            self.lost.len(),
            list(&self.lost)
        )?;
        writeln!(
            f,
            "  never acknowledged:         {}{}",
            self.never_acknowledged.len(),
            list(&self.never_acknowledged)
        )?;
        writeln!(
            f,
            "  duplicate on first attempt: {}{}",
            self.unexpected_duplicates.len(),
            list(&self.unexpected_duplicates)
        )?;
        writeln!(
            f,
            "  unknown tasks listed:       {}{}",
            self.unknown_tasks.len(),
            list(&self.unknown_tasks)
        )?;
        writeln!(
            f,
            "  Jobs created:               {} for {} tasks ({} names created more than once){}",
            self.jobs_created,
            self.submitted,
            self.jobs_created_again.len(),
            list(&self.jobs_created_again.iter().collect::<Vec<_>>())
        )?;
        writeln!(
            f,
            "  wrong final status:         {}{}",
            self.wrong_status.len(),
            list(&self.wrong_status)
        )?;
        writeln!(f, "  Jobs left at the end:       {}", self.jobs_left)?;
        writeln!(
            f,
            "  config updates:             {} acknowledged, {} history entries, {} lost{}",
            self.config_acknowledged,
            self.config_history,
            self.config_lost.len(),
            list(&self.config_lost)
        )?;
        writeln!(f, "  simulator:                  {}", self.sim_faults)?;
        writeln!(
            f,
            "  last server's peak RSS:     {:.1} MiB",
            self.server_peak_rss_mib
        )?;
        write!(
            f,
            "  verdict:                    {}",
            if self.ok() { "OK" } else { "FAILED" }
        )
    }
}

/// `cargo xtask chaos [--tasks N] [--kills K] [--seed S] [--capacity C] [--keep] [--quiet]`.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    let bin = match args.iter().position(|a| a == "--bin") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--bin needs a path")?),
        None => build_release_binary(root)?,
    };
    let mut opts = Options::new(bin);
    opts.verbose = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            let v = it.next().ok_or_else(|| anyhow!("{name} needs a value"))?;
            v.parse()
                .with_context(|| format!("{name} {v:?}: expected a whole number"))
        };
        match a.as_str() {
            "--tasks" => opts.tasks = value("--tasks")? as usize,
            "--kills" => opts.kills = value("--kills")? as usize,
            "--seed" => opts.seed = value("--seed")?,
            "--capacity" => opts.capacity = value("--capacity")? as u32,
            "--time-limit-secs" => {
                opts.time_limit = Duration::from_secs(value("--time-limit-secs")?)
            }
            "--keep" => opts.keep = true,
            "--bin" => {
                it.next();
            }
            "--quiet" => opts.verbose = false,
            other => bail!(
                "unknown option {other:?}; usage: cargo xtask chaos [--tasks N] [--kills K] [--seed S] [--capacity C] [--time-limit-secs T] [--keep] [--quiet] [--bin PATH]"
            ),
        }
    }
    let report = run(&opts)?;
    println!("{report}");
    if !report.ok() {
        bail!("the chaos run found lost, duplicated or wrong tasks (see above)");
    }
    Ok(())
}

/// Builds `druid-k8s` with the release profile and returns its path.
pub fn build_release_binary(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--package",
            "druid-k8s-server",
            "--bin",
            "druid-k8s",
        ])
        .status()
        .context("starting cargo build")?;
    if !status.success() {
        bail!("building druid-k8s failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join("druid-k8s"))
}

// ---------------------------------------------------------------------------------------------
// small deterministic random numbers (splitmix64)

/// A seeded random number generator (splitmix64): the same seed gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// a minimal HTTP/1.1 client (one connection per request, `Connection: close`)

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body as text.
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends one request to `base` (`http://127.0.0.1:PORT`); an error means no complete answer.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    timeout: Duration,
) -> Result<Answer> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs: {base}"))?
        .trim_end_matches('/');
    let addr: std::net::SocketAddr = authority
        .parse()
        .with_context(|| format!("address {authority}"))?;
    if !addr.ip().is_loopback() {
        bail!("refusing to talk to {addr}: chaos and bench talk to 127.0.0.0/8 only");
    }
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Answer> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("incomplete HTTP answer ({} bytes)", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad status line"))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k == "content-length" {
                length = v.parse::<usize>().ok();
            }
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let line_end = rest[pos..]
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| anyhow!("truncated chunked body"))?;
            let size_text = String::from_utf8_lossy(&rest[pos..pos + line_end]);
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| anyhow!("bad chunk size {size_text:?}"))?;
            pos += line_end + 2;
            if size == 0 {
                break;
            }
            if pos + size > rest.len() {
                bail!("truncated chunk");
            }
            out.extend_from_slice(&rest[pos..pos + size]);
            pos += size + 2;
        }
        out
    } else {
        match length {
            Some(n) if rest.len() < n => bail!("truncated body ({} of {n} bytes)", rest.len()),
            Some(n) => rest[..n].to_vec(),
            None => rest.to_vec(),
        }
    };
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

// ---------------------------------------------------------------------------------------------
// processes

/// A child process whose stderr (and stdout) lines are kept (the last 400) and copied to a file.
pub struct Proc {
    child: Child,
    /// The last lines it printed.
    pub tail: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    /// Spawns `cmd`; returns the process and a receiver of its output lines.
    pub fn spawn(mut cmd: Command, log: &Path) -> Result<(Proc, mpsc::Receiver<String>)> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let file = Arc::new(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .with_context(|| format!("opening {}", log.display()))?,
        ));
        let outs: Vec<Box<dyn Read + Send>> = vec![
            Box::new(child.stdout.take().context("stdout")?),
            Box::new(child.stderr.take().context("stderr")?),
        ];
        for out in outs {
            let (tail, tx, file) = (tail.clone(), tx.clone(), file.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut f) = file.lock() {
                        let _ = writeln!(f, "{line}");
                    }
                    let _ = tx.send(line.clone());
                    if let Ok(mut t) = tail.lock() {
                        if t.len() >= 400 {
                            t.remove(0);
                        }
                        t.push(line);
                    }
                }
            });
        }
        Ok((Proc { child, tail }, rx))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// A memory figure of the process from `/proc/<pid>/status` in KiB: `VmRSS` (now) or
    /// `VmHWM` (peak).
    pub fn memory_kib(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.id())).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether it has exited (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The last lines, joined.
    pub fn tail_text(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a line starting with `prefix` (returns the rest) or for the process to exit.
pub fn wait_line(
    proc: &mut Proc,
    rx: &mpsc::Receiver<String>,
    prefix: &str,
    limit: Duration,
) -> Result<String> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Ok(rest.trim().to_owned());
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if let Some(status) = proc.exited() {
            bail!("process exited ({status}):\n{}", proc.tail_text());
        }
    }
    bail!(
        "no line starting with {prefix:?} within {limit:?}:\n{}",
        proc.tail_text()
    )
}

/// A fresh work directory under the system temp dir.
pub fn work_dir(what: &str) -> Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("druid-k8s-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The pod template every chaos/bench task uses (the simulator's peon runs its container `main`).
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

/// Writes the template and a runtime.properties for `serve` into `dir`; returns its path.
pub fn write_properties(dir: &Path, capacity: u32, extra: &str) -> Result<PathBuf> {
    std::fs::write(dir.join("base.yaml"), TEMPLATE)?;
    let logs = dir.join("task-logs");
    std::fs::create_dir_all(&logs)?;
    let text = format!(
        "druid.indexer.runner.type=k8s\n\
         druid.indexer.runner.namespace=druid\n\
         druid.indexer.runner.capacity={capacity}\n\
         druid.indexer.runner.k8s.adapter.type=customTemplateAdapter\n\
         druid.indexer.runner.k8s.podTemplate.base={}\n\
         druid.indexer.task.encapsulatedTask=true\n\
         druid.indexer.logs.type=file\n\
         druid.indexer.logs.directory={}\n\
         druid.k8s.server.dataDir={}\n{extra}\n",
        dir.join("base.yaml").display(),
        logs.display(),
        dir.join("data").display(),
    );
    let path = dir.join("runtime.properties");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Starts `druid-k8s sim` with `faults` (extra CLI flags); returns it and its URL.
pub fn start_sim(bin: &Path, dir: &Path, faults: &[&str]) -> Result<(Proc, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["sim", "--port", "0", "--context-namespace", "druid"])
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .arg("--task-logs-dir")
        .arg(dir.join("task-logs"))
        .args(faults)
        .env("RUST_LOG", "warn");
    let (mut proc, rx) = Proc::spawn(cmd, &dir.join("sim.log"))?;
    let url = wait_line(&mut proc, &rx, "http://", Duration::from_secs(30))?;
    Ok((proc, format!("http://{url}")))
}

/// Starts `druid-k8s serve`; returns it and its base URL once it listens, and how long it took.
pub fn start_server(
    bin: &Path,
    dir: &Path,
    props: &Path,
    env: &[(&str, &str)],
) -> Result<(Proc, String, Duration)> {
    start_server_within(bin, dir, props, env, Duration::from_secs(60))
}

/// [`start_server`] waiting up to `limit` for the server to listen (a restore of many Jobs
/// happens before it listens).
pub fn start_server_within(
    bin: &Path,
    dir: &Path,
    props: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<(Proc, String, Duration)> {
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--config"])
        .arg(props)
        .args(["--listen", "127.0.0.1:0"])
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (mut proc, rx) = Proc::spawn(cmd, &dir.join("server.log"))?;
    let url = wait_line(&mut proc, &rx, "druid-k8s serving on ", limit)?;
    // keep draining the channel so the reader threads never block
    std::thread::spawn(move || for _ in rx {});
    Ok((proc, url, started.elapsed()))
}

// ---------------------------------------------------------------------------------------------
// the run

const TASK: &str = "/druid/indexer/v1/task";
const CONFIG: &str = "/druid/indexer/v1/k8s/taskrunner/executionconfig";

#[derive(Debug, Clone)]
struct Planned {
    id: String,
    expected: &'static str,
    body: String,
}

fn plan(opts: &Options) -> Vec<Planned> {
    let mut rng = Rng::new(opts.seed);
    (0..opts.tasks)
        .map(|i| {
            let failed = rng.range(0, 100) < 25;
            let duration = match rng.range(0, 10) {
                0..=5 => rng.range(20, 300),
                6..=8 => rng.range(300, 1500),
                _ => rng.range(1500, 4000),
            };
            let expected = if failed { "FAILED" } else { "SUCCESS" };
            let id = format!("chaos_s{}_{i:05}", opts.seed);
            let mut sim = json!({"durationMs": duration, "status": expected, "logLines": 2});
            if failed {
                sim["errorMsg"] = json!(format!("planned failure of {id}"));
            }
            let body = json!({
                "type": "noop",
                "id": id,
                "dataSource": "chaos",
                "context": {"sim": sim},
            })
            .to_string();
            Planned { id, expected, body }
        })
        .collect()
}

#[derive(Debug, Default)]
struct Shared {
    accepted: usize,
    accepted_on_retry: usize,
    unanswered: usize,
    unexpected_duplicates: Vec<String>,
    never_acknowledged: Vec<String>,
    config_acked: Vec<String>,
}

/// Runs the chaos scenario and returns what it found (an `Err` only when the harness itself
/// could not run: binary missing, simulator not starting).
pub fn run(opts: &Options) -> Result<Report> {
    let dir = work_dir("chaos")?;
    let result = run_in(opts, &dir);
    if opts.keep || result.as_ref().map_or(true, |r| !r.ok()) {
        eprintln!("chaos: work directory kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn run_in(opts: &Options, dir: &Path) -> Result<Report> {
    let t0 = Instant::now();
    let deadline = t0 + opts.time_limit;
    let say = |msg: String| {
        if opts.verbose {
            eprintln!("[chaos {:6.1}s] {msg}", t0.elapsed().as_secs_f64());
        }
    };
    let (_sim, sim_url) = start_sim(
        &opts.bin,
        dir,
        &[
            "--fault-error-rate",
            "0.05",
            "--fault-error-codes",
            "500,429",
            "--fault-watch-cut-secs",
            "5",
            "--fault-watch-gone-rate",
            "0.5",
            "--nodes",
            "4",
        ],
    )?;
    say(format!(
        "simulator on {sim_url} (5% 500/429, watch cut every 5 s, 410 on half the resumes)"
    ));
    let props = write_properties(dir, opts.capacity, "")?;
    let (server, base, _) = start_server(&opts.bin, dir, &props, &[])?;
    say(format!("server on {base}"));
    let server = Arc::new(Mutex::new(server));
    let base = Arc::new(RwLock::new(base));
    let planned = plan(opts);
    let shared = Arc::new(Mutex::new(Shared::default()));
    let submitting_done = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let longest_restart = Arc::new(AtomicU64::new(0));
    let timeout = Duration::from_secs(10);
    let current = |base: &RwLock<String>| base.read().map(|b| b.clone()).unwrap_or_default();

    // The kill moments: spread over the expected submission window (about 1.5 s per kill, at
    // least as long as submitting takes at ~100 tasks/s).
    let window = Duration::from_millis((opts.kills as u64 * 1500).max(opts.tasks as u64 * 10));
    let mut rng = Rng::new(opts.seed.wrapping_mul(31).wrapping_add(7));

    let kills_done = std::thread::scope(|s| -> Result<usize> {
        // submitters: 4 threads, each paced to spread its share over the window
        let submitters = 4usize;
        let mut handles = Vec::new();
        for w in 0..submitters {
            let mine: Vec<Planned> = planned
                .iter()
                .skip(w)
                .step_by(submitters)
                .cloned()
                .collect();
            let (base, shared, stop) = (base.clone(), shared.clone(), stop.clone());
            let pace = window / (mine.len().max(1) as u32);
            handles.push(s.spawn(move || {
                for t in mine {
                    let next = Instant::now() + pace;
                    let mut attempts = 0;
                    loop {
                        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                            if let Ok(mut g) = shared.lock() {
                                g.never_acknowledged.push(t.id.clone());
                            }
                            break;
                        }
                        attempts += 1;
                        match http(&current(&base), "POST", TASK, &[], Some(&t.body), timeout) {
                            Ok(a) if a.status == 200 => {
                                if let Ok(mut g) = shared.lock() {
                                    g.accepted += 1;
                                }
                                break;
                            }
                            Ok(a) if a.status == 400 && a.body.contains("already exists") => {
                                if let Ok(mut g) = shared.lock() {
                                    if attempts == 1 {
                                        g.unexpected_duplicates.push(t.id.clone());
                                    } else {
                                        g.accepted_on_retry += 1;
                                    }
                                }
                                break;
                            }
                            Ok(a) if a.status >= 500 || a.status == 429 => {
                                // not accepted (the server said so): retry
                                std::thread::sleep(Duration::from_millis(100));
                            }
                            Ok(a) => {
                                if let Ok(mut g) = shared.lock() {
                                    g.never_acknowledged
                                        .push(format!("{} (HTTP {}: {})", t.id, a.status, a.body));
                                }
                                break;
                            }
                            Err(_) => {
                                if let Ok(mut g) = shared.lock() {
                                    g.unanswered += 1;
                                }
                                std::thread::sleep(Duration::from_millis(100));
                            }
                        }
                    }
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            }));
        }
        // dynamic-config updates, about one every 700 ms, with audit headers
        {
            let (base, shared, stop, done) = (
                base.clone(),
                shared.clone(),
                stop.clone(),
                submitting_done.clone(),
            );
            let capacity = opts.capacity;
            let seed = opts.seed;
            s.spawn(move || {
                let mut rng = Rng::new(seed ^ 0x00C0_FFEE);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
                    n += 1;
                    let comment = format!("chaos update {n}");
                    let cap = rng.range(u64::from(capacity / 2).max(1), u64::from(capacity) + 1);
                    let body = json!({"capacity": cap}).to_string();
                    let r = http(
                        &current(&base),
                        "POST",
                        CONFIG,
                        &[("X-Druid-Author", "chaos"), ("X-Druid-Comment", &comment)],
                        Some(&body),
                        timeout,
                    );
                    if let Ok(a) = r
                        && a.status == 200
                        && let Ok(mut g) = shared.lock()
                    {
                        g.config_acked.push(comment);
                    }
                    std::thread::sleep(Duration::from_millis(700));
                }
            });
        }
        // the killer (this thread)
        let per_kill = window / (opts.kills.max(1) as u32);
        let mut kills = 0;
        let killing = (|| -> Result<()> {
            while kills < opts.kills && Instant::now() < deadline {
                let wait = rng.range(
                    per_kill.as_millis() as u64 / 4,
                    per_kill.as_millis() as u64 * 7 / 4,
                );
                std::thread::sleep(Duration::from_millis(wait));
                {
                    let mut g = server.lock().map_err(|_| anyhow!("server lock"))?;
                    g.kill();
                }
                kills += 1;
                let (p, url, took) = start_server(&opts.bin, dir, &props, &[])?;
                longest_restart.fetch_max(took.as_millis() as u64, Ordering::Relaxed);
                if let Ok(mut b) = base.write() {
                    *b = url;
                }
                *server.lock().map_err(|_| anyhow!("server lock"))? = p;
                say(format!(
                    "kill {kills}/{}: restarted in {:.2} s",
                    opts.kills,
                    took.as_secs_f64()
                ));
            }
            Ok(())
        })();
        if killing.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        for h in handles {
            let _ = h.join();
        }
        submitting_done.store(true, Ordering::Relaxed);
        killing.map(|()| kills)
    })?;
    say("submitted; waiting for every task to finish".into());

    // wait for every task to reach a final status
    let base_now = current(&base);
    let ids: BTreeSet<String> = planned.iter().map(|p| p.id.clone()).collect();
    let mut statuses: BTreeMap<String, Value> = BTreeMap::new();
    loop {
        if let Ok(a) = http(
            &base_now,
            "GET",
            "/druid/indexer/v1/tasks",
            &[],
            None,
            timeout,
        ) && a.status == 200
            && let Value::Array(items) = a.json()
        {
            statuses = items
                .into_iter()
                .filter_map(|t| Some((t["id"].as_str()?.to_owned(), t)))
                .collect();
            let unfinished = ids
                .iter()
                .filter(|id| {
                    statuses.get(*id).is_none_or(|s| {
                        !matches!(s["statusCode"].as_str(), Some("SUCCESS" | "FAILED"))
                    })
                })
                .count();
            if unfinished == 0 {
                break;
            }
            if opts.verbose && t0.elapsed().as_secs().is_multiple_of(5) {
                say(format!("{unfinished} tasks not finished yet"));
            }
        }
        if Instant::now() > deadline {
            say("time limit reached".into());
            break;
        }
        std::thread::sleep(Duration::from_millis(1000));
    }

    let mut report = Report {
        seed: opts.seed,
        submitted: planned.len(),
        kills: kills_done,
        longest_restart: Duration::from_millis(longest_restart.load(Ordering::Relaxed)),
        ..Report::default()
    };
    {
        let g = shared.lock().map_err(|_| anyhow!("lock"))?;
        report.accepted = g.accepted;
        report.accepted_on_retry = g.accepted_on_retry;
        report.unanswered_attempts = g.unanswered;
        report.unexpected_duplicates = g.unexpected_duplicates.clone();
        report.never_acknowledged = g.never_acknowledged.clone();
        report.config_acknowledged = g.config_acked.len();
        // history: every acknowledged comment must be there
        let h = http(
            &base_now,
            "GET",
            &format!("{CONFIG}/history?count=100000"),
            &[],
            None,
            timeout,
        )?;
        let history = h.json();
        let comments: BTreeSet<String> = history
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["auditInfo"]["comment"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        report.config_history = history.as_array().map_or(0, Vec::len);
        report.config_lost = g
            .config_acked
            .iter()
            .filter(|c| !comments.contains(*c))
            .cloned()
            .collect();
    }
    for p in &planned {
        match statuses.get(&p.id) {
            None => report
                .lost
                .push(format!("{} (unknown to the server)", p.id)),
            Some(s) => match s["statusCode"].as_str() {
                Some(code @ ("SUCCESS" | "FAILED")) => {
                    report.finished += 1;
                    if code != p.expected {
                        report.wrong_status.push((
                            p.id.clone(),
                            p.expected.to_owned(),
                            code.to_owned(),
                            s["errorMsg"].as_str().unwrap_or_default().to_owned(),
                        ));
                    }
                }
                other => report
                    .lost
                    .push(format!("{} (still {})", p.id, other.unwrap_or("?"))),
            },
        }
    }
    report.unknown_tasks = statuses
        .keys()
        .filter(|id| !ids.contains(*id))
        .cloned()
        .collect();
    // give the server a moment to delete the last Jobs, then read the simulator's counters
    let stats_until = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = http(&sim_url, "GET", "/sim/stats", &[], None, timeout)?.json();
        report.jobs_created = stats["created"]["jobs"].as_u64().unwrap_or(0);
        report.jobs_created_again = stats["createdAgain"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("jobs "))
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        report.jobs_left = stats["objects"]["jobs.batch"].as_u64().unwrap_or(0);
        report.sim_faults = format!(
            "{} API requests, {} injected errors, {} watches cut, {} 410 answers",
            stats["requestsTotal"],
            stats["injectedErrors"],
            stats["watchesCut"],
            stats["goneAnswers"]
        );
        if report.jobs_left == 0 || Instant::now() > stats_until {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    report.elapsed = t0.elapsed();
    if let Ok(mut s) = server.lock() {
        report.server_peak_rss_mib = s.memory_kib("VmHWM").unwrap_or(0) as f64 / 1024.0;
        if !report.ok() {
            eprintln!("chaos: last server output:\n{}", s.tail_text());
        }
        s.kill();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_answers_parse() {
        let a = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((a.status, a.body.as_str()), (200, "{}"));
        let a = parse_response(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_str()), (400, "abcde"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}").is_err());
        assert!(parse_response(b"HTTP/1.1 200").is_err());
    }

    #[test]
    fn plans_are_reproducible_and_mixed() {
        let mut o = Options::new(PathBuf::from("x"));
        o.tasks = 400;
        let a = plan(&o);
        let b = plan(&o);
        assert_eq!(
            a.iter().map(|p| &p.body).collect::<Vec<_>>(),
            b.iter().map(|p| &p.body).collect::<Vec<_>>()
        );
        let failed = a.iter().filter(|p| p.expected == "FAILED").count();
        assert!(
            (50..150).contains(&failed),
            "{failed} of 400 planned to fail"
        );
    }

    #[test]
    fn only_loopback_is_contacted() {
        let e = http(
            "http://10.0.0.1:80",
            "GET",
            "/",
            &[],
            None,
            Duration::from_millis(10),
        )
        .unwrap_err();
        assert!(e.to_string().contains("127.0.0.0/8"), "{e}");
    }
}
