//! Single figures, each over any path: a transfer's throughput, a latency
//! distribution, the proxy's memory with idle tunnels, and the machine they
//! were taken on, and the bounds and output every run shares. Shared by the
//! `e2e` and `hop` benches; each bench's own report (`report.rs` here)
//! arranges them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use crate::peers::Dir;

/// One transfer figure: the best of several runs, and what it cost in CPU.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub best_mib_s: f64,
    pub runs_mib_s: Vec<f64>,
    /// CPU seconds per GiB moved used by the harness process: clients, the
    /// sink, the relays and the simulated EICE service.
    pub bench_cpu_s_per_gib: Option<f64>,
    /// CPU seconds per GiB moved used by the proxy process.
    pub proxy_cpu_s_per_gib: Option<f64>,
}

impl Throughput {
    /// The middle run (the mean of the two middle ones for an even count):
    /// what a run is likely to give, where the best is what it can give.
    pub fn median(&self) -> f64 {
        median(&self.runs_mib_s)
    }

    /// The slowest and the fastest run.
    pub fn spread(&self) -> (f64, f64) {
        let min = self
            .runs_mib_s
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        (min, self.best_mib_s)
    }
}

/// One stream through the proxy against one through its reference chain,
/// the two run in alternation (chain, proxy, chain, proxy, …) so that each
/// pair meets the machine in the same state: on a shared VM the speed of
/// the whole box drifts by a third within a minute, and two blocks of runs
/// taken a minute apart compare two different machines.
#[derive(Debug, Clone, Serialize)]
pub struct Paired {
    pub chain_mib_s: Vec<f64>,
    pub proxy_mib_s: Vec<f64>,
    /// Proxy over chain, pair by pair.
    pub ratios: Vec<f64>,
}

impl Paired {
    /// The median pair's ratio, and the lowest and highest.
    pub fn ratio(&self) -> (f64, f64, f64) {
        let r = &self.ratios;
        let lo = r.iter().copied().fold(f64::NAN, f64::min);
        let hi = r.iter().copied().fold(f64::NAN, f64::max);
        (median(r), lo, hi)
    }
}

/// The middle value (the mean of the two middle ones for an even count);
/// NaN for none.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A figure each way.
#[derive(Debug, Default, Serialize)]
pub struct PerDir {
    pub up: Option<Throughput>,
    pub down: Option<Throughput>,
}

impl PerDir {
    pub fn get(&self, dir: Dir) -> Option<&Throughput> {
        match dir {
            Dir::Up => self.up.as_ref(),
            Dir::Down => self.down.as_ref(),
        }
    }

    pub fn set(&mut self, dir: Dir, value: Option<Throughput>) {
        match dir {
            Dir::Up => self.up = value,
            Dir::Down => self.down = value,
        }
    }

    pub fn best(&self, dir: Dir) -> Option<f64> {
        self.get(dir).map(|t| t.best_mib_s)
    }

    pub fn median(&self, dir: Dir) -> Option<f64> {
        self.get(dir).map(Throughput::median)
    }
}

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples`; `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let rank = |p: f64| {
            let i = (p * samples.len() as f64).ceil() as usize;
            ms(samples[i.clamp(1, samples.len()) - 1])
        };
        let total: Duration = samples.iter().sum();
        Some(Latency {
            count: samples.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            mean_ms: ms(total) / samples.len() as f64,
            min_ms: ms(samples[0]),
            max_ms: ms(samples[samples.len() - 1]),
        })
    }
}

/// The proxy's memory with many idle tunnels open.
#[derive(Debug, Serialize)]
pub struct Idle {
    pub asked: usize,
    pub opened: usize,
    pub first_error: Option<String>,
    pub rss_before_kib: u64,
    pub rss_open_kib: u64,
    pub rss_after_close_kib: Option<u64>,
    pub per_tunnel_kib: f64,
    pub proxy_open_files_limit: Option<u64>,
}

/// Where the figures were taken.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub mem_total_mib: u64,
    pub open_files_soft: u64,
    pub open_files_hard: u64,
    pub proxy_binary: String,
}

impl Machine {
    pub fn probe(open_files: (u64, u64), proxy_binary: &str) -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let cpuinfo = read("/proc/cpuinfo");
        let meminfo = read("/proc/meminfo");
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            mem_total_mib: field(&meminfo, "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024),
            open_files_soft: open_files.0,
            open_files_hard: open_files.1,
            proxy_binary: proxy_binary.to_owned(),
        }
    }
}

/// A bench's whole run: `run` on a multi-threaded runtime, then the table
/// `render` makes of its report on stdout, and the report as JSON in
/// `target/NAME`.
pub fn run_bench<R: Serialize>(
    run: impl std::future::Future<Output = anyhow::Result<R>>,
    render: fn(&R) -> String,
    exe: &str,
    name: &str,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run)?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    print!("{}", render(&report));
    write_json(&report, exe, name)
}

/// Writes `report` as pretty JSON to `target/NAME` (the proxy binary `exe`
/// lives in `target/<profile>/`) and says where.
pub fn write_json<T: Serialize>(report: &T, exe: &str, name: &str) -> anyhow::Result<()> {
    let path = Path::new(exe)
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join(name);
    std::fs::write(&path, serde_json::to_string_pretty(report)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("JSON: {}", path.display());
    Ok(())
}

/// The 1, 5 and 15-minute load averages.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `measurement` within `bound`. A failure or a timeout is said on
/// stderr (after `bench: `) and kept in `errors`, and the run goes on.
pub async fn bounded<T>(
    bench: &str,
    what: &str,
    bound: Duration,
    errors: &mut Vec<String>,
    measurement: impl std::future::Future<Output = anyhow::Result<T>>,
) -> Option<T> {
    match tokio::time::timeout(bound, measurement).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            eprintln!("{bench}: {what} failed: {e:#}");
            errors.push(format!("{what}: {e:#}"));
            None
        }
        Err(_) => {
            eprintln!("{bench}: {what} timed out");
            errors.push(format!("{what}: timed out"));
            None
        }
    }
}

/// A figure with `decimals` places, or `-` where there is none.
pub fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".to_owned(), |v| format!("{v:.decimals$}"))
}
