//! SSH hop benchmark: a stream to a port EICE refuses, through the proxy's
//! `[[hop]]`, against the manual workaround (`ssh -L`) and plain TCP, all on
//! 127.0.0.1. Run with `cargo bench --bench hop` (as root, with OpenSSH's
//! server installed; otherwise it says why and exits).
//!
//! The simulated AWS account (`SimAws`, `World::demo()`) has a real sshd
//! (`sshd -i` per connection) standing for web-1's port 22; the target is
//! the e2e bench's source/sink on 127.0.0.1, which the hop's sshd reaches
//! on the host. Clients reach the sink three ways:
//!
//! - **direct**: plain TCP.
//! - **hop**: SOCKS5 → the `eice-proxy serve` binary, a process of its own,
//!   with `[[hop]] cidrs = ["127.0.0.0/8"]` → simulated EICE (ws) → sshd →
//!   a `direct-tcpip` channel → the sink. All streams share one SSH
//!   connection, made on the first.
//! - **ssh -L**: what users run today, `ssh -N -L SOCKET:SINK` with
//!   `ProxyCommand=eice-proxy connect %h %p`; the client connects to the
//!   unix socket, and ssh opens a channel on its one connection.
//!
//! Measured, in one run: one-stream throughput each way (best of N, with
//! the CPU each process spent per GiB), time to first byte of a new stream
//! (warm p50/p99: a new channel on an open connection), and the first
//! stream of a fresh proxy or ssh (cold: tunnel, SSH handshake, login). A
//! table goes to stdout, the same figures as JSON to `target/hop-bench.json`.
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `HOP_MIB` | 256 | MiB per one-stream transfer |
//! | `HOP_REPS` | 3 | repetitions of each transfer; the best counts (0: no transfers) |
//! | `HOP_TTFB_STREAMS` | 200 | sequential new streams timed for TTFB (0: none) |
//! | `HOP_TTFB_WARMUP` | 20 | untimed streams before them |
//! | `HOP_COLD` | 3 | fresh proxies (and fresh ssh processes) whose first stream is timed |
//! | `HOP_PATHS` | `direct,hop,ssh-l` | which paths to measure |
//! | `HOP_DIRECTIONS` | `up,down` | which transfer directions to measure |
//! | `HOP_SSH_OPTIONS` | none | more options for `ssh -L`, e.g. `-c aes128-gcm@openssh.com` |
//! | `HOP_TIMEOUT_SECS` | 300 | bound on any one measurement |
//! | `HOP_PROXY_WRAPPER` | none | a command to run the proxy under, for profiling: `valgrind --tool=callgrind` |

#[allow(dead_code)]
#[path = "e2e/figures.rs"]
mod figures;
#[path = "hop/forward.rs"]
mod forward;
#[allow(dead_code)]
#[path = "e2e/measure.rs"]
mod measure;
#[allow(dead_code)]
#[path = "e2e/peers.rs"]
mod peers;
#[allow(dead_code)]
#[path = "e2e/process.rs"]
mod process;
#[path = "hop/report.rs"]
mod report;
#[path = "hop/settings.rs"]
mod settings;
#[allow(dead_code)]
#[path = "../tests/common/sshd.rs"]
mod sshd;
#[path = "e2e/vars.rs"]
mod vars;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use eice_sim::account::SimAws;
use eice_sim::sshd::{SSHD, SimSshd};
use eice_sim::world::World;

use figures::Machine;
use forward::{Forward, cpu_of, sshd_pids};
use peers::Route;
use process::{ProxyFiles, ProxyProcess};
use report::{PathReport, Report};
pub use settings::Settings;
use sshd::Sshd;

/// The proxy binary cargo built for this bench (the bench profile).
const PROXY_EXE: &str = env!("CARGO_BIN_EXE_eice-proxy");

/// The hop instance, web-1, and its port 22 that the sshd stands for.
const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const WEB_1_SSH: &str = "10.0.1.10:22";

const GIB: f64 = (1u64 << 30) as f64;

fn main() -> anyhow::Result<()> {
    if !SimSshd::available() {
        println!("hop bench skipped: it needs root and OpenSSH's server at {SSHD}");
        return Ok(());
    }
    let settings = Settings::from_env()?;
    figures::run_bench(run(settings), report::render, PROXY_EXE, "hop-bench.json")
}

/// Runs each measurement within a bound, recording what failed instead of
/// stopping the run.
struct Runner {
    each: Duration,
    errors: Vec<String>,
}

impl Runner {
    async fn run<T>(
        &mut self,
        what: &str,
        measurement: impl Future<Output = anyhow::Result<T>>,
    ) -> Option<T> {
        eprintln!("hop: {what}");
        figures::bounded("hop", what, self.each, &mut self.errors, measurement).await
    }
}

async fn run(s: Settings) -> anyhow::Result<Report> {
    let started = Instant::now();
    let loadavg_start = figures::loadavg();
    let mut runner = Runner {
        each: Duration::from_secs(s.timeout_secs),
        errors: Vec::new(),
    };
    let sink = peers::start_sink().await?;
    let aws = SimAws::start(World::demo(), false).await?;
    let mut sshd = Sshd::new();
    let local = sshd.listen("web-1").await;
    aws.eice.add_target(WEB_1_SSH.parse()?, local);

    let mut paths = Vec::new();
    if s.wants("direct") {
        let direct = Route::Tcp(sink.addr);
        paths.push(measure_path(&s, &mut runner, "direct", &direct, None).await);
    }
    if s.wants("hop") {
        paths.push(measure_hop(&s, &mut runner, &aws, &sshd, sink.addr).await?);
    }
    if s.wants("ssh-l") {
        paths.push(measure_ssh_forward(&s, &mut runner, &aws, &sshd, sink.addr).await);
    }
    Ok(Report {
        machine: Machine::probe(process::raise_open_files(1024), PROXY_EXE),
        settings: s,
        paths,
        errors: runner.errors,
        loadavg_start,
        loadavg_end: figures::loadavg(),
        wall_secs: started.elapsed().as_secs_f64(),
    })
}

/// The proxy's config: web-1 as the hop for 127.0.0.0/8, logged in to
/// with the key the sshd trusts, its host key learned into a file of the
/// bench's own.
fn hop_config(sshd: &Sshd) -> String {
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    format!(
        "[ssh]\nknown_hosts = {:?}\n\n[[hop]]\nname = \"web\"\ninstance = \"{WEB_1}\"\n\
         os_user = {:?}\nkey = {:?}\ncidrs = [\"127.0.0.0/8\"]\n",
        known_hosts.display().to_string(),
        sshd.user,
        sshd.key.display().to_string(),
    )
}

/// The hop: cold first streams of fresh proxies, then everything else on
/// the last one.
async fn measure_hop(
    s: &Settings,
    runner: &mut Runner,
    aws: &SimAws,
    sshd: &Sshd,
    sink: SocketAddr,
) -> anyhow::Result<PathReport> {
    let files = ProxyFiles::new(aws, &hop_config(sshd))?;
    let start = || ProxyProcess::start(Path::new(PROXY_EXE), &s.proxy_wrapper, aws, &files);
    let route = |proxy: &ProxyProcess| Route::Socks {
        proxy: proxy.addr,
        host: sink.ip().to_string(),
        port: sink.port(),
    };
    let mut cold = Vec::new();
    for i in 1..s.cold {
        let proxy = start().await?;
        let first = async { Ok(route(&proxy).time_to_first_byte().await?) };
        cold.extend(
            runner
                .run(&format!("hop cold, fresh proxy {i}"), first)
                .await,
        );
        proxy.stop().await;
    }
    let proxy = start().await?;
    let route = route(&proxy);
    if s.cold > 0 {
        let first = async { Ok(route.time_to_first_byte().await?) };
        let what = format!("hop cold, fresh proxy {}", s.cold);
        cold.extend(runner.run(&what, first).await);
    }
    let mut p = measure_path(s, runner, "hop", &route, Some(&[proxy.pid])).await;
    p.cold_ms = cold.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    proxy.stop().await;
    Ok(p)
}

/// `ssh -L`: cold first streams of fresh ssh processes (from ssh's start),
/// then everything else through the last one.
async fn measure_ssh_forward(
    s: &Settings,
    runner: &mut Runner,
    aws: &SimAws,
    sshd: &Sshd,
    sink: SocketAddr,
) -> PathReport {
    let start = || Forward::start(Path::new(PROXY_EXE), aws, sshd, WEB_1, sink, &s.ssh_options);
    let mut cold = Vec::new();
    let mut last = None;
    for i in 1..=s.cold.max(1) {
        let timed = async {
            let began = Instant::now();
            let mut forward = start()?;
            forward.ready().await?;
            Route::Unix(forward.socket.clone())
                .time_to_first_byte()
                .await?;
            Ok((began.elapsed(), forward))
        };
        let what = format!("ssh -L cold, fresh ssh {i}");
        let Some((elapsed, forward)) = runner.run(&what, timed).await else {
            continue;
        };
        if i <= s.cold {
            cold.push(elapsed.as_secs_f64() * 1e3);
        }
        if let Some(previous) = last.replace(forward) {
            Forward::stop(previous).await;
        }
    }
    let Some(forward) = last else {
        return PathReport {
            name: "ssh -L".into(),
            ..PathReport::default()
        };
    };
    let route = Route::Unix(forward.socket.clone());
    let mut p = measure_path(s, runner, "ssh -L", &route, Some(&forward.pids())).await;
    p.cold_ms = cold;
    forward.stop().await;
    p
}

/// Throughput each way and warm TTFB over `route`; `path_pids` are the
/// processes between the client and the tunnel, whose CPU is recorded with
/// the sshd sessions' (`None`: a path without either).
async fn measure_path(
    s: &Settings,
    runner: &mut Runner,
    name: &str,
    route: &Route,
    path_pids: Option<&[u32]>,
) -> PathReport {
    let mut p = PathReport {
        name: name.to_owned(),
        ..PathReport::default()
    };
    for &dir in s.directions.iter().filter(|_| s.reps > 0) {
        let what = format!("{name} one stream {}", dir.label());
        let (sshd, path) = (sshd_pids(), path_pids.unwrap_or_default());
        let (sshd_before, path_before) = (cpu_of(&sshd), cpu_of(path));
        let got = measure::one_stream(route, dir, s.bytes(), s.reps, None);
        let mut got = runner.run(&what, got).await;
        let gib = (s.bytes() * s.reps as u64) as f64 / GIB;
        if let Some(t) = got.as_mut() {
            t.proxy_cpu_s_per_gib = path_pids.map(|_| (cpu_of(path) - path_before) / gib);
        }
        let sshd_used = got
            .as_ref()
            .filter(|_| path_pids.is_some())
            .map(|_| (cpu_of(&sshd) - sshd_before) / gib);
        p.sshd_cpu_s_per_gib.set(dir, sshd_used);
        p.one_stream.set(dir, got);
    }
    if s.ttfb_streams > 0 {
        let got = measure::ttfb(route, s.ttfb_warmup, s.ttfb_streams);
        p.ttfb = runner.run(&format!("{name} TTFB"), got).await;
    }
    p
}
