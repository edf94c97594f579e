//! The proxy under test as its own process (the release binary cargo built
//! for this bench), and what `/proc` tells about it and about the harness.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use eice_sim::account::SimAws;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};

/// How long the proxy may take to say it listens.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// Warning and error lines kept for the report.
const WARNINGS_KEPT: usize = 10;

/// The files `eice-proxy serve` reads: its config, empty AWS config files
/// (nothing from the developer's `~/.aws` leaks in), and the sim's CA.
pub struct ProxyFiles {
    _dir: TempDir,
    config: PathBuf,
    empty: PathBuf,
    ca: Option<PathBuf>,
}

impl ProxyFiles {
    pub fn new(aws: &SimAws, config: &str) -> std::io::Result<ProxyFiles> {
        let dir = tempfile::tempdir()?;
        let path = |name: &str| dir.path().join(name);
        let (config_path, empty) = (path("config.toml"), path("empty-aws-config"));
        std::fs::write(&config_path, config)?;
        std::fs::write(&empty, "")?;
        let ca = match aws.eice.ca_pem() {
            Some(pem) => {
                let ca = path("ca.pem");
                std::fs::write(&ca, pem)?;
                Some(ca)
            }
            None => None,
        };
        Ok(ProxyFiles {
            _dir: dir,
            config: config_path,
            empty,
            ca,
        })
    }
}

impl ProxyFiles {
    /// The empty file the AWS config and credentials variables name.
    #[allow(dead_code)] // the WAN bench's; the e2e bench passes the files whole
    pub fn empty(&self) -> &Path {
        &self.empty
    }
}

/// What the proxy logged: counts, the first warnings, and the latest line.
#[derive(Default)]
struct Log {
    lines: u64,
    warnings: u64,
    first_warnings: Vec<String>,
    last: Option<String>,
}

impl Log {
    fn push(&mut self, line: String) {
        self.lines += 1;
        if line.contains(" WARN ") || line.contains(" ERROR ") {
            self.warnings += 1;
            if self.first_warnings.len() < WARNINGS_KEPT {
                self.first_warnings.push(line.clone());
            }
        }
        self.last = Some(line);
    }
}

/// A running `eice-proxy serve`; dropping it kills the process.
pub struct ProxyProcess {
    child: Child,
    pub addr: SocketAddr,
    pub pid: u32,
    log: Arc<Mutex<Log>>,
}

impl ProxyProcess {
    /// Starts `exe serve --listen 127.0.0.1:0` against `aws` with a cleared
    /// environment (under `wrapper`, a profiler, when it is not empty), and
    /// waits for its `listening on ADDR` line.
    pub async fn start(
        exe: &Path,
        wrapper: &[String],
        aws: &SimAws,
        files: &ProxyFiles,
    ) -> anyhow::Result<Self> {
        ProxyProcess::start_with_env(exe, wrapper, aws, files, &[]).await
    }

    /// [`ProxyProcess::start`] with `extra` variables set last, over the
    /// account's (the WAN bench points the proxy at delayed links this way).
    pub async fn start_with_env(
        exe: &Path,
        wrapper: &[String],
        aws: &SimAws,
        files: &ProxyFiles,
        extra: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&files.config)
            .env_clear()
            .envs(aws.isolated_env(&files.empty))
            .env("RUST_LOG", "warn,eice_proxy=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(ca) = &files.ca {
            command.env("AWS_CA_BUNDLE", ca);
        }
        command.envs(extra.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the proxy exited at once"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Log::default()));
        let addr = tokio::time::timeout(START_PATIENCE, wait_listening(stderr, log.clone()))
            .await
            .map_err(|_| anyhow!("the proxy did not listen within {START_PATIENCE:?}"))??;
        Ok(ProxyProcess {
            child,
            addr,
            pid,
            log,
        })
    }

    /// Lines logged so far, and how many of them were warnings or errors.
    pub fn log_counts(&self) -> (u64, u64) {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        (log.lines, log.warnings)
    }

    /// The first warning and error lines logged.
    pub fn first_warnings(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.first_warnings.clone()
    }

    /// Stops the process (SIGTERM, so a profiler can write its output, then
    /// SIGKILL after a bound) and reaps it.
    pub async fn stop(mut self) {
        // SAFETY: kill(2) on the pid of our own child, which is not reaped yet.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let exited = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        if exited.is_ok() {
            return;
        }
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Reads stderr until `listening on ADDR`, then keeps draining it in the
/// background (a full pipe would stall the proxy's logging).
async fn wait_listening(stderr: ChildStderr, log: Arc<Mutex<Log>>) -> anyhow::Result<SocketAddr> {
    let mut lines = BufReader::new(stderr).lines();
    while let Some(line) = lines.next_line().await? {
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::parse::<SocketAddr>);
        log.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
        if let Some(addr) = addr {
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    log.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            });
            return Ok(addr?);
        }
    }
    let last = log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .last
        .clone();
    bail!("the proxy exited before listening; its last line: {last:?}")
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow!("no {field} in /proc/{pid}/status"))
}

/// User + system CPU seconds used so far by `pid` (all threads), or by this
/// process when `pid` is `None`.
pub fn cpu_secs(pid: Option<u32>) -> anyhow::Result<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path)?;
    // Fields after the parenthesised command name (which may hold spaces):
    // state is field 3, utime 14 and stime 15.
    let after = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("odd {path}"))?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow!("short {path}"))?
            .parse()?)
    };
    // SAFETY: sysconf reads a constant of the running system; no memory is shared.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Ok((ticks(11)? + ticks(12)?) as f64 / per_sec.max(1) as f64)
}

/// The `Max open files` soft limit of `pid`, as `/proc/PID/limits` shows it.
pub fn open_files_limit(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Raises this process's soft open-file limit towards `want` (capped by the
/// hard limit); children such as the proxy inherit it. Returns (soft, hard).
pub fn raise_open_files(want: u64) -> (u64, u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        if limit.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want.min(limit.rlim_max),
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Busy CPU seconds of the whole machine so far (all cores), from `/proc/stat`.
fn machine_busy_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat
        .lines()
        .next()
        .ok_or_else(|| anyhow!("empty /proc/stat"))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    Ok(busy as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf reads a constant of the running system; no memory is shared.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    per_sec.max(1) as f64
}

/// CPU used by this process, its reaped children and the running proxy.
fn own_secs(proxy: Option<u32>) -> f64 {
    let children = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(13)
                .take(2)
                .map(|f| f.parse().ok())
                .collect::<Option<_>>()?;
            Some(fields.iter().sum::<u64>() as f64 / clock_ticks())
        })
        .unwrap_or(0.0);
    let proxy = proxy
        .and_then(|pid| cpu_secs(Some(pid)).ok())
        .unwrap_or(0.0);
    cpu_secs(None).unwrap_or(0.0) + children + proxy
}

/// Waits up to `patience` for a window of `window` in which the machine's
/// busy cores (this process is idle meanwhile) stay under `quiet`; returns
/// how long it waited and the load of the last window.
pub async fn wait_quiet(patience: Duration, window: Duration, quiet: f64) -> (Duration, f64) {
    let start = std::time::Instant::now();
    loop {
        let busy = machine_busy_secs().unwrap_or(0.0);
        tokio::time::sleep(window).await;
        let cores = (machine_busy_secs().unwrap_or(0.0) - busy) / window.as_secs_f64();
        if cores < quiet || start.elapsed() >= patience {
            return (start.elapsed(), cores);
        }
    }
}

/// How busy other processes kept the machine while something ran: on a
/// shared box the figures mean little without it.
pub struct LoadMeter {
    proxy: Option<u32>,
    start: std::time::Instant,
    busy: f64,
    own: f64,
}

impl LoadMeter {
    pub fn start(proxy: Option<u32>) -> LoadMeter {
        LoadMeter {
            proxy,
            start: std::time::Instant::now(),
            busy: machine_busy_secs().unwrap_or(f64::NAN),
            own: own_secs(proxy),
        }
    }

    /// Cores used on average by processes other than the harness and the
    /// proxy since [`LoadMeter::start`]; `None` for intervals too short for
    /// the kernel's 10 ms accounting ticks to say anything.
    pub fn other_cores(&self) -> Option<f64> {
        let wall = self.start.elapsed().as_secs_f64();
        if wall < 0.5 {
            return None;
        }
        let busy = machine_busy_secs().ok()? - self.busy;
        let own = own_secs(self.proxy) - self.own;
        Some(((busy - own) / wall).max(0.0)).filter(|c| c.is_finite())
    }
}
