//! The four measurements, each over any [`Route`]: one-stream throughput,
//! time to first byte, idle-tunnel memory and many-stream throughput.
//!
//! Every loop is bounded by a count; the caller bounds each measurement in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use eice_sim::account::SimAws;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::figures::{Idle, Latency, Paired, Throughput};
use crate::peers::{Dir, Route, Stream, transfer};
use crate::process::{self, cpu_secs, status_kib};

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// How long one tunnel may take to open while many are being opened.
const OPEN_PATIENCE: Duration = Duration::from_secs(30);

/// How long the proxy gets to tear every tunnel down before memory is read.
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);

/// CPU time used by the harness and the proxy while data moves.
#[derive(Default)]
struct CpuMeter {
    proxy: Option<u32>,
    bench: f64,
    proxy_secs: f64,
    /// The readings at the start of the current interval.
    started: Option<(f64, Option<f64>)>,
}

impl CpuMeter {
    fn new(proxy: Option<u32>) -> CpuMeter {
        CpuMeter {
            proxy,
            ..CpuMeter::default()
        }
    }

    fn read(&self) -> (f64, Option<f64>) {
        let bench = cpu_secs(None).unwrap_or(f64::NAN);
        (bench, self.proxy.and_then(|pid| cpu_secs(Some(pid)).ok()))
    }

    fn start(&mut self) {
        self.started = Some(self.read());
    }

    fn stop(&mut self) {
        let (bench, proxy) = self.read();
        if let Some((bench0, proxy0)) = self.started.take() {
            self.bench += bench - bench0;
            self.proxy_secs += proxy.zip(proxy0).map_or(0.0, |(p, p0)| p - p0);
        }
    }

    /// Seconds per GiB for (harness, proxy).
    fn per_gib(&self, bytes: u64) -> (Option<f64>, Option<f64>) {
        let gib = bytes as f64 / GIB;
        let bench = Some(self.bench / gib).filter(|v| v.is_finite());
        (bench, self.proxy.map(|_| self.proxy_secs / gib))
    }
}

fn mib_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / MIB / elapsed.as_secs_f64()
}

fn best_of(runs: Vec<f64>, cpu: &CpuMeter, bytes: u64) -> Throughput {
    let (bench, proxy) = cpu.per_gib(bytes);
    Throughput {
        best_mib_s: runs.iter().copied().fold(0.0, f64::max),
        runs_mib_s: runs,
        bench_cpu_s_per_gib: bench,
        proxy_cpu_s_per_gib: proxy,
    }
}

/// `bytes` over one stream in `dir`, `reps` times on fresh connections.
pub async fn one_stream(
    route: &Route,
    dir: Dir,
    bytes: u64,
    reps: usize,
    proxy: Option<u32>,
) -> anyhow::Result<Throughput> {
    let mut cpu = CpuMeter::new(proxy);
    let mut runs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let mut stream = route.open().await.context("opening the stream")?;
        cpu.start();
        let start = Instant::now();
        transfer(&mut stream, dir, bytes)
            .await
            .context("transferring")?;
        let elapsed = start.elapsed();
        cpu.stop();
        let _ = stream.shutdown().await;
        runs.push(mib_s(bytes, elapsed));
    }
    Ok(best_of(runs, &cpu, bytes * reps as u64))
}

/// `bytes` over one stream in `dir`, `reps` times through `chain` and
/// through `route` in alternation ([`Paired`]).
pub async fn paired(
    chain: &Route,
    route: &Route,
    dir: Dir,
    bytes: u64,
    reps: usize,
) -> anyhow::Result<Paired> {
    let mut pairs = Paired {
        chain_mib_s: Vec::with_capacity(reps),
        proxy_mib_s: Vec::with_capacity(reps),
        ratios: Vec::with_capacity(reps),
    };
    for _ in 0..reps {
        let chain = one_stream(chain, dir, bytes, 1, None).await?.best_mib_s;
        let proxy = one_stream(route, dir, bytes, 1, None).await?.best_mib_s;
        pairs.chain_mib_s.push(chain);
        pairs.proxy_mib_s.push(proxy);
        pairs.ratios.push(proxy / chain);
    }
    Ok(pairs)
}

/// `total` bytes split over `streams` concurrent streams in `dir`, `reps`
/// times. All streams are opened first; the clock covers only the transfer.
pub async fn aggregate(
    route: &Route,
    dir: Dir,
    streams: usize,
    total: u64,
    reps: usize,
    proxy: Option<u32>,
) -> anyhow::Result<Throughput> {
    let each = total / streams as u64;
    let mut cpu = CpuMeter::new(proxy);
    let mut runs = Vec::with_capacity(reps);
    for _ in 0..reps {
        let opened = open_many(route, streams, streams).await;
        let opened = opened
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .context("opening the streams")?;
        cpu.start();
        let start = Instant::now();
        let mut transfers = JoinSet::new();
        for mut stream in opened {
            transfers.spawn(async move {
                transfer(&mut stream, dir, each).await?;
                let done = Instant::now();
                let _ = stream.shutdown().await;
                Ok::<_, std::io::Error>(done)
            });
        }
        let mut last = start;
        while let Some(done) = transfers.join_next().await {
            last = last.max(done?.context("transferring")?);
        }
        cpu.stop();
        runs.push(mib_s(each * streams as u64, last - start));
    }
    Ok(best_of(runs, &cpu, each * streams as u64 * reps as u64))
}

/// Opens `count` streams, at most `parallel` at a time; each result in any order.
async fn open_many(route: &Route, count: usize, parallel: usize) -> Vec<anyhow::Result<Stream>> {
    let permits = Arc::new(Semaphore::new(parallel.max(1)));
    let mut set = JoinSet::new();
    for _ in 0..count {
        let (route, permits) = (route.clone(), permits.clone());
        set.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let opened = tokio::time::timeout(OPEN_PATIENCE, route.open()).await;
            Ok(opened.context("timed out")??)
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(joined) = set.join_next().await {
        results.push(joined.map_err(anyhow::Error::from).and_then(|r| r));
    }
    results
}

/// Time to first byte over `count` sequential new connections, after
/// `warmup` untimed ones (which also fill the proxy's caches).
pub async fn ttfb(route: &Route, warmup: usize, count: usize) -> anyhow::Result<Latency> {
    for _ in 0..warmup {
        route.time_to_first_byte().await.context("warm-up")?;
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let sample = route.time_to_first_byte().await;
        samples.push(sample.with_context(|| format!("connection {i}"))?);
    }
    Latency::of(samples).context("no samples")
}

/// The proxy's RSS before and with `count` idle tunnels open, opened
/// `parallel` at a time; the tunnels are then closed and RSS read again.
pub async fn idle(
    route: &Route,
    aws: &SimAws,
    pid: u32,
    count: usize,
    parallel: usize,
) -> anyhow::Result<Idle> {
    settle(aws).await;
    let before = status_kib(pid, "VmRSS")?;
    let mut first_error = None;
    let mut streams = Vec::with_capacity(count);
    for result in open_many(route, count, parallel).await {
        match result {
            Ok(stream) => streams.push(stream),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    // Let the proxy finish any work the last opens started.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let open = status_kib(pid, "VmRSS")?;
    let opened = streams.len();
    drop(streams);
    settle(aws).await;
    Ok(Idle {
        asked: count,
        opened,
        first_error,
        rss_before_kib: before,
        rss_open_kib: open,
        rss_after_close_kib: status_kib(pid, "VmRSS").ok(),
        per_tunnel_kib: (open as f64 - before as f64) / opened.max(1) as f64,
        proxy_open_files_limit: process::open_files_limit(pid),
    })
}

/// Waits (bounded) until the simulated service has no tunnel left, so the
/// proxy has ended every splice, then a moment for it to free their memory.
pub async fn settle(aws: &SimAws) {
    let _ = tokio::time::timeout(
        SETTLE_PATIENCE,
        aws.eice.wait_for(|stats| stats.tunnels_active == 0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
}
