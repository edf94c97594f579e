//! The WAN bench's settings (`WAN_*` variables, documented at the top of
//! `wan.rs`), figures, and the table made of them.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;
use tokio::time::Instant;

use crate::delay::Event;
use crate::figures::{Machine, num};
use crate::vars::{list, var};

/// The ways `WAN_WAYS` accepts, and those it measures by default.
const WAYS: [&str; 5] = ["direct", "serve", "connect", "ssh", "connect+serve"];
const DEFAULT_WAYS: [&str; 4] = ["direct", "serve", "connect", "ssh"];

/// Everything a run can be told.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub rtts_ms: Vec<f64>,
    pub logins: usize,
    pub ways: Vec<String>,
    pub trace_rtt_ms: Option<f64>,
    pub proxy: String,
    pub proxy_config: String,
    pub timeout_secs: u64,
}

impl Settings {
    pub fn from_env(built: &str) -> anyhow::Result<Settings> {
        let rtts_ms = list(&var("WAN_RTTS_MS", "20,60,150".to_owned())?)
            .iter()
            .map(|r| r.parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("WAN_RTTS_MS: {e}"))?;
        let ways = list(&var("WAN_WAYS", DEFAULT_WAYS.join(","))?);
        if let Some(bad) = ways.iter().find(|w| !WAYS.contains(&w.as_str())) {
            bail!("WAN_WAYS: {bad:?} is not one of {WAYS:?}");
        }
        let trace: f64 = var("WAN_TRACE_RTT_MS", 0.0)?;
        let config = var("WAN_PROXY_CONFIG", String::new())?;
        let proxy_config = if config.is_empty() {
            String::new()
        } else {
            std::fs::read_to_string(&config)
                .map_err(|e| anyhow::anyhow!("WAN_PROXY_CONFIG={config}: {e}"))?
        };
        let settings = Settings {
            rtts_ms,
            logins: var("WAN_LOGINS", 7)?,
            ways,
            trace_rtt_ms: (trace > 0.0).then_some(trace),
            proxy: var("WAN_PROXY", built.to_owned())?,
            proxy_config,
            timeout_secs: var("WAN_TIMEOUT_SECS", 60)?,
        };
        if settings.logins == 0 || settings.rtts_ms.is_empty() {
            bail!("WAN_LOGINS and WAN_RTTS_MS must ask for at least one login");
        }
        Ok(settings)
    }

    /// Whether `WAN_WAYS` names `way`.
    pub fn wants(&self, way: &str) -> bool {
        self.ways.iter().any(|w| w == way)
    }
}

/// One way's logins at one round-trip time.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub way: String,
    pub samples_ms: Vec<f64>,
    pub median_ms: Option<f64>,
    /// (median − direct ssh's median) / RTT.
    pub over_direct_rtts: Option<f64>,
}

impl Row {
    pub fn new(way: &str, mut samples_ms: Vec<f64>) -> Row {
        samples_ms.sort_by(f64::total_cmp);
        let median_ms = match samples_ms.len() {
            0 => None,
            n if n % 2 == 1 => Some(samples_ms[n / 2]),
            n => Some((samples_ms[n / 2 - 1] + samples_ms[n / 2]) / 2.0),
        };
        Row {
            way: way.to_owned(),
            samples_ms,
            median_ms,
            over_direct_rtts: None,
        }
    }

    pub fn with_over_direct(&self, direct_ms: Option<f64>, rtt_ms: f64) -> Row {
        let mut row = self.clone();
        row.over_direct_rtts = match (self.median_ms, direct_ms) {
            (Some(m), Some(d)) if rtt_ms > 0.0 => Some((m - d) / rtt_ms),
            _ => None,
        };
        row
    }
}

#[derive(Debug, Serialize)]
pub struct RttReport {
    pub rtt_ms: f64,
    pub rows: Vec<Row>,
}

/// One traced login: every chunk each link delivered.
#[derive(Debug, Serialize)]
pub struct TracedLogin {
    pub way: String,
    pub rtt_ms: f64,
    pub took_ms: f64,
    /// `t_ms link#conn direction bytes`, from ssh's start.
    pub events: Vec<String>,
}

impl TracedLogin {
    pub fn new(
        way: &str,
        rtt_ms: f64,
        began: Instant,
        took: Duration,
        events: &[Event],
    ) -> TracedLogin {
        // A connection that only ends in the window is a straggler of the
        // login before; it is left out.
        let active: std::collections::HashSet<(&str, u64)> = events
            .iter()
            .filter(|e| e.opened || e.bytes > 0)
            .map(|e| (e.link, e.conn))
            .collect();
        let events = events
            .iter()
            .filter(|e| active.contains(&(e.link, e.conn)))
            .map(|e| {
                let t = e.at.saturating_duration_since(began).as_secs_f64() * 1e3;
                let what = match (e.opened, e.outbound, e.bytes) {
                    (true, ..) => "connection reaches AWS".to_owned(),
                    (false, true, 0) => "--> end of stream".to_owned(),
                    (false, false, 0) => "<-- end of stream".to_owned(),
                    (false, true, n) => format!("--> {n} bytes"),
                    (false, false, n) => format!("<-- {n} bytes"),
                };
                format!(
                    "{t:8.1} ms {:5.2} RTT  {}#{}  {what}",
                    t / rtt_ms,
                    e.link,
                    e.conn
                )
            })
            .collect();
        TracedLogin {
            way: way.to_owned(),
            rtt_ms,
            took_ms: took.as_secs_f64() * 1e3,
            events,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub settings: Settings,
    pub rtts: Vec<RttReport>,
    pub traces: Vec<TracedLogin>,
    pub errors: Vec<String>,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub wall_secs: f64,
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let m = &r.machine;
    let _ = writeln!(
        out,
        "machine: {} cores ({}), {} MiB, Linux {}; load {} -> {}; {:.0} s",
        m.nproc,
        m.cpu_model,
        m.mem_total_mib,
        m.kernel,
        r.loadavg_start,
        r.loadavg_end,
        r.wall_secs
    );
    let _ = writeln!(
        out,
        "\nlogin (ssh HOST echo x), median of {} | ms at each RTT, then round trips over direct ssh",
        r.settings.logins
    );
    let mut header = format!("  {:<26}", "RTT");
    for rtt in &r.rtts {
        let _ = write!(header, " {:>8}", format!("{:.0} ms", rtt.rtt_ms));
    }
    header.push_str(" |");
    for rtt in &r.rtts {
        let _ = write!(header, " {:>7}", format!("{:.0} ms", rtt.rtt_ms));
    }
    let _ = writeln!(out, "{header}");
    let labels: Vec<&str> = r
        .rtts
        .first()
        .map(|t| t.rows.iter().map(|row| row.way.as_str()).collect())
        .unwrap_or_default();
    for label in labels {
        let mut line = format!("  {label:<26}");
        let row = |t: &RttReport| t.rows.iter().find(|row| row.way == label).cloned();
        for t in &r.rtts {
            let _ = write!(line, " {:>8}", num(row(t).and_then(|x| x.median_ms), 0));
        }
        line.push_str(" |");
        for t in &r.rtts {
            let over = row(t).and_then(|x| x.over_direct_rtts);
            let text = if label == "direct ssh" {
                "-".to_owned()
            } else {
                num(over, 1)
            };
            let _ = write!(line, " {text:>7}");
        }
        let _ = writeln!(out, "{line}");
    }
    for t in &r.traces {
        let _ = writeln!(
            out,
            "\ntrace: {} at RTT {:.0} ms, {:.0} ms ({:.1} RTT)",
            t.way,
            t.rtt_ms,
            t.took_ms,
            t.took_ms / t.rtt_ms
        );
        for e in &t.events {
            let _ = writeln!(out, "  {e}");
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(out, "\nerrors");
        for e in &r.errors {
            let _ = writeln!(out, "  {e}");
        }
    }
    out
}
