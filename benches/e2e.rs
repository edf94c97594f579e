//! End-to-end benchmark: the `eice-proxy` binary, run as its own process,
//! against the simulated AWS account (`SimAws`, `World::demo()`), all on
//! 127.0.0.1. Run with `cargo bench --bench e2e`.
//!
//! A source/sink server stands for web-1's port 22 (`10.0.1.10:22`). Clients
//! reach it four ways: **direct** TCP; a **relay chain** of two plain TCP
//! relays (the same number of user-space hops as the tunnel path, so the
//! design's limit on this box, and ws's reference); a **TLS relay chain**
//! (the same two relays with TLS between them, the same rustls config and
//! cipher as the simulated EICE's wss: wss's reference); and **through the
//! proxy** (SOCKS5 → proxy → simulated EICE over ws or wss → sink). The harness process holds the
//! clients, the sink, the relays and the simulated service; the proxy is a
//! separate process, so its CPU and memory are its own.
//!
//! Measured, in one run: (a) one-stream throughput each way, best of N,
//! with the median and spread of the N; then each transport's streams
//! again against its reference chain's, the two in alternation so that the
//! ratio is taken pair by pair (the machine's speed drifts within a run);
//! (b) time to first byte of new connections (warm p50/p99, and the first
//! connection to a fresh proxy); (c) the proxy's RSS with many idle tunnels;
//! (d) aggregate throughput of many concurrent streams. A table goes to
//! stdout, the same figures as JSON to `target/e2e-bench.json`.
//!
//! The proxy's config pins the demo's overlapping 10.0.0.0/16 to one VPC and
//! raises `[limits]` above EICE's default quota of 20 tunnels per endpoint,
//! which the simulated service does not enforce, so that the idle-tunnel and
//! many-stream figures can be taken at all.
//!
//! The machine may be shared: each measurement also records how many cores
//! other processes kept busy meanwhile, and the table shows it.
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `E2E_MIB` | 512 | MiB per one-stream transfer |
//! | `E2E_REPS` | 3 | repetitions of each transfer; the best counts |
//! | `E2E_TTFB_CONNECTIONS` | 2000 | sequential connections timed for TTFB |
//! | `E2E_TTFB_WARMUP` | 20 | untimed connections before them |
//! | `E2E_COLD_PROXIES` | 3 | fresh proxies whose first connection is timed |
//! | `E2E_IDLE_TUNNELS` | 1000 | idle tunnels held open for the RSS figure |
//! | `E2E_OPEN_PARALLEL` | 32 | idle tunnels being opened at once |
//! | `E2E_STREAMS` | 100 | concurrent streams for the aggregate figure |
//! | `E2E_AGGREGATE_MIB` | 512 | MiB per aggregate run, split over the streams |
//! | `E2E_RELAY_BUFFER` | 65536 | relay copy buffer per direction (the proxy reads 65,000-byte frames) |
//! | `E2E_TRANSPORTS` | `ws,wss` | which simulated EICE transports to measure (`none`: only the baseline) |
//! | `E2E_DIRECTIONS` | `up,down` | which transfer directions to measure |
//! | `E2E_TARGET` | `i-0a1b2c3d4e5f60001` | SOCKS5 host (or `10.0.1.10`, pinned by the config's route) |
//! | `E2E_MEASURE` | `throughput,ttfb,idle,aggregate` | which of (a)–(d) to take |
//! | `E2E_BASELINE` | 1 | 0 skips the direct and relay-chain figures (when profiling the proxy path) |
//! | `E2E_TIMEOUT_SECS` | 300 | bound on any one measurement |
//! | `E2E_DEADLINE_SECS` | 1200 | after this, remaining measurements are skipped |
//! | `E2E_WAIT_QUIET_SECS` | 0 | first wait up to this long for the machine to be idle (< 0.25 busy cores over 3 s) |
//! | `E2E_PROXY_WRAPPER` | none | a command to run the proxy under, for profiling: `valgrind --tool=callgrind` |
//! | `E2E_PROXIES` | the built binary | `label=path,…`: proxy binaries to measure side by side in one run (e.g. builds from before and after a change) |

#[path = "e2e/figures.rs"]
mod figures;
#[path = "e2e/measure.rs"]
mod measure;
#[path = "e2e/peers.rs"]
mod peers;
#[path = "e2e/process.rs"]
mod process;
#[path = "e2e/report.rs"]
mod report;
#[path = "e2e/settings.rs"]
mod settings;
#[path = "e2e/table.rs"]
mod table;
#[path = "e2e/tls_relay.rs"]
mod tls_relay;
#[path = "e2e/vars.rs"]
mod vars;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use eice_sim::account::SimAws;
use eice_sim::world::World;

use figures::Machine;
use peers::{Dir, Route};
use process::{LoadMeter, ProxyFiles, ProxyProcess};
use report::{Baseline, OtherLoad, Report, TransportReport};
pub use settings::Settings;

/// The proxy binary cargo built for this bench (the bench profile).
const PROXY_EXE: &str = env!("CARGO_BIN_EXE_eice-proxy");

/// web-1's port 22, which the sink stands for.
const INSTANCE_PORT: &str = "10.0.1.10:22";

fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    figures::run_bench(run(settings), table::render, PROXY_EXE, "e2e-bench.json")
}

/// Runs measurements within a per-measurement bound and an overall
/// deadline, recording what failed instead of stopping the run.
struct Budget {
    deadline: Instant,
    each: Duration,
    errors: Vec<String>,
    /// The proxy running now, whose CPU is not "other load".
    proxy: Option<u32>,
    /// Cores other processes kept busy during each measurement.
    other_load: Vec<OtherLoad>,
}

impl Budget {
    async fn run<T>(
        &mut self,
        what: &str,
        measurement: impl Future<Output = anyhow::Result<T>>,
    ) -> Option<T> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            self.errors
                .push(format!("{what}: skipped, past E2E_DEADLINE_SECS"));
            return None;
        }
        eprintln!("e2e: {what}");
        let load = LoadMeter::start(self.proxy);
        let bound = self.each.min(left);
        let outcome = figures::bounded("e2e", what, bound, &mut self.errors, measurement).await;
        if let Some(cores) = load.other_cores() {
            let measurement = what.to_owned();
            self.other_load.push(OtherLoad { measurement, cores });
        }
        outcome
    }
}

async fn run(settings: Settings) -> anyhow::Result<Report> {
    if settings.wait_quiet_secs > 0 {
        eprintln!("e2e: waiting for a quiet machine");
        let patience = Duration::from_secs(settings.wait_quiet_secs);
        let (waited, cores) = process::wait_quiet(patience, Duration::from_secs(3), 0.25).await;
        eprintln!("e2e: waited {waited:.0?}; the machine is using {cores:.2} cores");
    }
    let started = Instant::now();
    let loadavg_start = figures::loadavg();
    // Each idle tunnel costs four descriptors here and two in the proxy.
    let open_files = process::raise_open_files(8 * settings.idle_tunnels as u64 + 1024);
    let mut budget = Budget {
        deadline: started + Duration::from_secs(settings.deadline_secs),
        each: Duration::from_secs(settings.timeout_secs),
        errors: Vec::new(),
        proxy: None,
        other_load: Vec::new(),
    };
    let sink = peers::start_sink().await?;
    let far_relay = peers::start_relay(sink.addr, settings.relay_buffer).await?;
    let near_relay = peers::start_relay(far_relay.addr, settings.relay_buffer).await?;
    let direct = Route::Tcp(sink.addr);
    let chain = Route::Tcp(near_relay.addr);
    let tls_chain = tls_relay::start_tls_chain(sink.addr, settings.relay_buffer).await?;
    let tls_chain_route = Route::Tcp(tls_chain.near.addr);
    let baseline = if settings.baseline {
        let chains = (&chain, &tls_chain_route);
        measure_baseline(&settings, &mut budget, &direct, chains).await
    } else {
        Baseline::default()
    };
    let mut transports = Vec::new();
    for (label, exe) in &settings.proxies {
        for name in &settings.transports {
            let tls = name == "wss";
            let proxy = (label.as_str(), Path::new(exe.as_str()));
            let reference = if tls { &tls_chain_route } else { &chain };
            let t = measure_transport(&settings, &mut budget, tls, (sink.addr, reference), proxy);
            transports.push(t.await?);
        }
    }
    let targets = report::check_targets(&baseline, &transports);
    Ok(Report {
        machine: Machine::probe(open_files, PROXY_EXE),
        settings,
        baseline,
        transports,
        targets,
        errors: budget.errors,
        other_load: budget.other_load,
        loadavg_start,
        loadavg_end: figures::loadavg(),
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

/// The figures without the proxy: direct TCP and the relay chains (plain
/// and TLS).
async fn measure_baseline(
    s: &Settings,
    budget: &mut Budget,
    direct: &Route,
    (chain, tls_chain): (&Route, &Route),
) -> Baseline {
    let mut b = Baseline::default();
    for dir in s.directions_for("throughput") {
        let what = format!("direct one stream {}", dir.label());
        let got = measure::one_stream(direct, dir, s.bytes(), s.reps, None);
        b.direct_one_stream.set(dir, budget.run(&what, got).await);
        let what = format!("relay chain one stream {}", dir.label());
        let got = measure::one_stream(chain, dir, s.bytes(), s.reps, None);
        let got = budget.run(&what, got).await;
        b.relay_chain_one_stream.set(dir, got);
        let what = format!("TLS relay chain one stream {}", dir.label());
        let got = measure::one_stream(tls_chain, dir, s.bytes(), s.reps, None);
        let got = budget.run(&what, got).await;
        b.tls_relay_chain_one_stream.set(dir, got);
    }
    if s.wants("ttfb") {
        let got = measure::ttfb(direct, s.ttfb_warmup, s.ttfb_connections);
        b.direct_ttfb = budget.run("direct TTFB", got).await;
    }
    for dir in s.directions_for("aggregate") {
        let what = format!("direct {} streams {}", s.streams, dir.label());
        let total = s.aggregate_bytes();
        let got = measure::aggregate(direct, dir, s.streams, total, s.reps, None);
        b.direct_aggregate.set(dir, budget.run(&what, got).await);
    }
    b
}

/// Everything through the proxy over one simulated EICE transport.
async fn measure_transport(
    s: &Settings,
    budget: &mut Budget,
    tls: bool,
    (sink, reference): (SocketAddr, &Route),
    (label, exe): (&str, &Path),
) -> anyhow::Result<TransportReport> {
    let name = match (tls, label) {
        (true, "") => "wss".to_owned(),
        (false, "") => "ws".to_owned(),
        (true, label) => format!("wss ({label})"),
        (false, label) => format!("ws ({label})"),
    };
    let name = name.as_str();
    let aws = SimAws::start(World::demo(), tls).await?;
    // The idle and many-stream figures need more than EICE's 20 tunnels per
    // endpoint: the simulated service's quota is raised with the proxy's.
    aws.eice
        .set_tunnels_per_endpoint(s.idle_tunnels.max(s.streams) + 64);
    aws.eice.add_target(INSTANCE_PORT.parse()?, sink);
    let files = ProxyFiles::new(&aws, &s.proxy_config)?;
    let mut t = TransportReport {
        name: name.to_owned(),
        tls,
        ..TransportReport::default()
    };
    let start_proxy = || ProxyProcess::start(exe, &s.proxy_wrapper, &aws, &files);
    let route = |proxy: &ProxyProcess| Route::Socks {
        proxy: proxy.addr,
        host: s.target.clone(),
        port: 22,
    };

    // Cold: the first connection to each fresh proxy; the last one stays.
    let cold_proxies = if s.wants("ttfb") { s.cold_proxies } else { 0 };
    for i in 1..cold_proxies {
        let proxy = start_proxy().await?;
        budget.proxy = Some(proxy.pid);
        t.cold_ttfb_ms
            .extend(cold_ttfb(budget, name, i, &route(&proxy)).await);
        proxy.stop().await;
    }
    let proxy = start_proxy().await?;
    let (route, pid) = (route(&proxy), proxy.pid);
    budget.proxy = Some(pid);
    if cold_proxies > 0 {
        t.cold_ttfb_ms
            .extend(cold_ttfb(budget, name, cold_proxies, &route).await);
        let got = measure::ttfb(&route, s.ttfb_warmup, s.ttfb_connections);
        t.warm_ttfb = budget.run(&format!("{name} warm TTFB"), got).await;
    }
    if s.wants("idle") {
        let got = measure::idle(&route, &aws, pid, s.idle_tunnels, s.open_parallel);
        t.idle = budget.run(&format!("{name} idle tunnels"), got).await;
    }
    for dir in s.directions_for("throughput") {
        let what = format!("{name} one stream {}", dir.label());
        let got = measure::one_stream(&route, dir, s.bytes(), s.reps, Some(pid));
        t.one_stream.set(dir, budget.run(&what, got).await);
    }
    for dir in s.directions_for("throughput") {
        let what = format!("{name} one stream {} against its chain", dir.label());
        let got = measure::paired(reference, &route, dir, s.bytes(), s.reps);
        let got = budget.run(&what, got).await;
        match dir {
            Dir::Up => t.paired_up = got,
            Dir::Down => t.paired_down = got,
        }
    }
    for dir in s.directions_for("aggregate") {
        let what = format!("{name} {} streams {}", s.streams, dir.label());
        let total = s.aggregate_bytes();
        let got = measure::aggregate(&route, dir, s.streams, total, s.reps, Some(pid));
        t.aggregate.set(dir, budget.run(&what, got).await);
    }
    measure::settle(&aws).await;
    t.proxy_peak_rss_kib = process::status_kib(pid, "VmHWM").ok();
    (t.proxy_log_lines, t.proxy_log_warnings) = proxy.log_counts();
    t.proxy_first_warnings = proxy.first_warnings();
    budget.proxy = None;
    proxy.stop().await;
    Ok(t)
}

/// Time to first byte of the first connection to a fresh proxy, in ms.
async fn cold_ttfb(budget: &mut Budget, name: &str, nth: usize, route: &Route) -> Option<f64> {
    let what = format!("{name} cold TTFB, fresh proxy {nth}");
    let got = async { Ok(route.time_to_first_byte().await?) };
    let elapsed = budget.run(&what, got).await?;
    Some(elapsed.as_secs_f64() * 1e3)
}
