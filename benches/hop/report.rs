//! The hop bench's figures, serialised as is to `target/hop-bench.json`,
//! and the same figures as a table for stdout.

use std::fmt::Write as _;

use serde::Serialize;

use crate::Settings;
use crate::figures::{Latency, Machine, PerDir, num};
use crate::peers::Dir;

/// A figure each way that is not a throughput.
#[derive(Debug, Default, Serialize)]
pub struct UpDown {
    pub up: Option<f64>,
    pub down: Option<f64>,
}

impl UpDown {
    pub fn set(&mut self, dir: Dir, value: Option<f64>) {
        match dir {
            Dir::Up => self.up = value,
            Dir::Down => self.down = value,
        }
    }

    fn get(&self, dir: Dir) -> Option<f64> {
        match dir {
            Dir::Up => self.up,
            Dir::Down => self.down,
        }
    }
}

/// Everything measured over one way of reaching the sink.
#[derive(Debug, Default, Serialize)]
pub struct PathReport {
    /// `direct`, `hop` or `ssh -L`.
    pub name: String,
    /// One stream each way, best of N. `proxy_cpu_s_per_gib` is the CPU of
    /// the process(es) between the client and the tunnel: the proxy for the
    /// hop, ssh and its ProxyCommand for `ssh -L`.
    pub one_stream: PerDir,
    /// CPU seconds per GiB used by the sshd sessions (the hop instance).
    pub sshd_cpu_s_per_gib: UpDown,
    /// A new stream: connect (+ SOCKS5) + the sink's first byte, warm.
    pub ttfb: Option<Latency>,
    /// The first stream of a fresh proxy / a fresh ssh, in ms: tunnel, SSH
    /// handshake and authentication included (for ssh, from its start).
    pub cold_ms: Vec<f64>,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub paths: Vec<PathReport>,
    /// Measurements that failed, with why.
    pub errors: Vec<String>,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub wall_secs: f64,
}

/// The report as the table printed on stdout.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let (m, s) = (&r.machine, &r.settings);
    let _ = writeln!(out, "eice-proxy SSH hop benchmark ({:.0} s)", r.wall_secs);
    let _ = writeln!(
        out,
        "machine: {} cores, {}, Linux {}, {} MiB RAM",
        m.nproc, m.cpu_model, m.kernel, m.mem_total_mib
    );
    let _ = writeln!(
        out,
        "{} MiB per transfer, best of {}; TTFB over {} new streams after {} warm-up; load average {} -> {}",
        s.mib, s.reps, s.ttfb_streams, s.ttfb_warmup, r.loadavg_start, r.loadavg_end
    );
    render_throughput(&mut out, r);
    render_ttfb(&mut out, r);
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

fn render_throughput(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\none stream, MiB/s         up     down | up/direct down/direct | CPU s/GiB up (harness+path+sshd)    down"
    );
    let direct = r.paths.iter().find(|p| p.name == "direct");
    let ratio = |p: &PathReport, dir: Dir| {
        let base = direct.and_then(|d| d.one_stream.best(dir));
        num(p.one_stream.best(dir).zip(base).map(|(a, b)| a / b), 2)
    };
    for p in &r.paths {
        let cpu = |dir: Dir| {
            let Some(t) = p.one_stream.get(dir) else {
                return "-".to_owned();
            };
            let mut parts = vec![num(t.bench_cpu_s_per_gib, 2)];
            parts.extend(t.proxy_cpu_s_per_gib.map(|c| format!("{c:.2}")));
            parts.extend(p.sshd_cpu_s_per_gib.get(dir).map(|c| format!("{c:.2}")));
            parts.join("+")
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>7} {:>8} | {:>9} {:>11} | {:>32} {:>7}",
            p.name,
            num(p.one_stream.best(Dir::Up), 0),
            num(p.one_stream.best(Dir::Down), 0),
            ratio(p, Dir::Up),
            ratio(p, Dir::Down),
            cpu(Dir::Up),
            cpu(Dir::Down),
        );
    }
}

fn render_ttfb(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\nnew stream TTFB, ms    count     p50     p99    mean     max | cold first stream, ms"
    );
    for p in &r.paths {
        let l = p.ttfb.as_ref();
        let field = |f: fn(&Latency) -> f64| num(l.map(f), 3);
        let cold: Vec<String> = p.cold_ms.iter().map(|c| format!("{c:.1}")).collect();
        let _ = writeln!(
            out,
            "  {:<20} {:>5} {:>7} {:>7} {:>7} {:>7} | {}",
            p.name,
            l.map_or("-".into(), |l| l.count.to_string()),
            field(|l| l.p50_ms),
            field(|l| l.p99_ms),
            field(|l| l.mean_ms),
            field(|l| l.max_ms),
            cold.join(", "),
        );
    }
    let _ = writeln!(
        out,
        "  (hop: a new SSH channel on the proxy's one connection; cold = a fresh proxy's first stream,\n   \
         with the EC2 lookup, tunnel, SSH handshake and login. ssh -L: a new channel on ssh's connection;\n   \
         cold = from starting ssh to the first byte through its socket.)"
    );
}
