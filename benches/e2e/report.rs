//! The figures the harness collects, the machine they were taken on and the
//! targets they are held to; serialised as is to `target/e2e-bench.json`
//! (`table.rs` renders the same figures for stdout).

use std::time::Duration;

use serde::Serialize;

use crate::Settings;
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

/// Figures that need no proxy: what the box does without one.
#[derive(Debug, Default, Serialize)]
pub struct Baseline {
    pub direct_one_stream: PerDir,
    pub relay_chain_one_stream: PerDir,
    pub direct_ttfb: Option<Latency>,
    pub direct_aggregate: PerDir,
}

/// Everything measured through the proxy over one transport.
#[derive(Debug, Default, Serialize)]
pub struct TransportReport {
    /// `ws` or `wss`.
    pub name: String,
    /// Time to first byte of the first connection to each fresh proxy.
    pub cold_ttfb_ms: Vec<f64>,
    pub warm_ttfb: Option<Latency>,
    pub idle: Option<Idle>,
    pub one_stream: PerDir,
    pub aggregate: PerDir,
    pub proxy_peak_rss_kib: Option<u64>,
    pub proxy_log_lines: u64,
    pub proxy_log_warnings: u64,
    /// The first warning and error lines the proxy logged.
    pub proxy_first_warnings: Vec<String>,
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

/// One target and whether it was met (`None`: not measured).
#[derive(Debug, Serialize)]
pub struct Check {
    pub target: String,
    pub transport: String,
    pub measured: String,
    pub met: Option<bool>,
}

/// Cores kept busy by other processes (neither the harness nor the proxy)
/// while one measurement ran.
#[derive(Debug, Serialize)]
pub struct OtherLoad {
    pub measurement: String,
    pub cores: f64,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub baseline: Baseline,
    pub transports: Vec<TransportReport>,
    pub targets: Vec<Check>,
    /// Measurements that failed or were skipped, with why.
    pub errors: Vec<String>,
    pub other_load: Vec<OtherLoad>,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub wall_secs: f64,
}

/// Holds each transport's figures to the performance targets.
pub fn check_targets(baseline: &Baseline, transports: &[TransportReport]) -> Vec<Check> {
    let mut checks = Vec::new();
    for t in transports {
        let mut check = |target: String, measured: String, met: Option<bool>| {
            checks.push(Check {
                target,
                transport: t.name.clone(),
                measured,
                met,
            })
        };
        for dir in Dir::BOTH {
            let (proxy, direct) = (t.one_stream.best(dir), baseline.direct_one_stream.best(dir));
            let ratio = proxy.zip(direct).map(|(p, d)| p / d);
            check(
                format!("one-stream {} >= 50% of direct", dir.label()),
                ratio.map_or("n/a".into(), |r| format!("{:.0}%", r * 100.0)),
                ratio.map(|r| r >= 0.5),
            );
        }
        let overhead = t
            .warm_ttfb
            .as_ref()
            .zip(baseline.direct_ttfb.as_ref())
            .map(|(p, d)| p.p50_ms - d.p50_ms);
        check(
            "warm TTFB p50 overhead <= 1 ms".into(),
            overhead.map_or("n/a".into(), |o| format!("{o:.3} ms")),
            overhead.map(|o| o <= 1.0),
        );
        let per = t.idle.as_ref().map(|i| i.per_tunnel_kib);
        check(
            "RSS per idle tunnel <= 64 KiB".into(),
            per.map_or("n/a".into(), |p| format!("{p:.1} KiB")),
            per.map(|p| p <= 64.0),
        );
        for dir in Dir::BOTH {
            let pair = t.aggregate.best(dir).zip(t.one_stream.best(dir));
            check(
                format!("aggregate {} >= one-stream {}", dir.label(), dir.label()),
                pair.map_or("n/a".into(), |(a, o)| format!("{a:.0} vs {o:.0} MiB/s")),
                pair.map(|(a, o)| a >= o),
            );
        }
    }
    checks
}
