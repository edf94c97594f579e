//! The e2e run's report: its figures (`figures.rs`) arranged by path and
//! transport, and the targets they are held to; serialised as is to
//! `target/e2e-bench.json` (`table.rs` renders the same figures for stdout).

use serde::Serialize;

use crate::Settings;
use crate::figures::{Idle, Latency, Machine, Paired, PerDir};
use crate::peers::Dir;

/// Figures that need no proxy: what the box does without one.
#[derive(Debug, Default, Serialize)]
pub struct Baseline {
    pub direct_one_stream: PerDir,
    pub relay_chain_one_stream: PerDir,
    /// The same chain with TLS between the relays: wss's reference.
    pub tls_relay_chain_one_stream: PerDir,
    pub direct_ttfb: Option<Latency>,
    pub direct_aggregate: PerDir,
}

impl Baseline {
    /// The chain a transport is compared with, and its name: the TLS relay
    /// chain for wss, the plain one for ws.
    pub fn reference(&self, tls: bool) -> (&PerDir, &'static str) {
        if tls {
            (&self.tls_relay_chain_one_stream, "TLS relay chain")
        } else {
            (&self.relay_chain_one_stream, "relay chain")
        }
    }
}

/// Everything measured through the proxy over one transport.
#[derive(Debug, Default, Serialize)]
pub struct TransportReport {
    /// `ws` or `wss`, with the binary's label if several were measured.
    pub name: String,
    /// Over TLS (wss): held to the TLS relay chain, not the plain one.
    pub tls: bool,
    /// Time to first byte of the first connection to each fresh proxy.
    pub cold_ttfb_ms: Vec<f64>,
    pub warm_ttfb: Option<Latency>,
    pub idle: Option<Idle>,
    pub one_stream: PerDir,
    /// One stream against its reference chain, in alternation: up, down.
    pub paired_up: Option<Paired>,
    pub paired_down: Option<Paired>,
    pub aggregate: PerDir,
    pub proxy_peak_rss_kib: Option<u64>,
    pub proxy_log_lines: u64,
    pub proxy_log_warnings: u64,
    /// The first warning and error lines the proxy logged.
    pub proxy_first_warnings: Vec<String>,
}

impl TransportReport {
    pub fn paired(&self, dir: Dir) -> Option<&Paired> {
        match dir {
            Dir::Up => self.paired_up.as_ref(),
            Dir::Down => self.paired_down.as_ref(),
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
            let name = baseline.reference(t.tls).1;
            let ratio = t.paired(dir).map(|p| p.ratio().0);
            check(
                format!(
                    "one-stream {} >= 0.95 of the {name}, median pair",
                    dir.label()
                ),
                ratio.map_or("n/a".into(), |r| format!("{r:.2}")),
                ratio.map(|r| r >= 0.95),
            );
        }
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
