//! The report as one readable table for stdout.

use std::fmt::Write as _;

use crate::figures::{Latency, PerDir, num};
use crate::peers::Dir;
use crate::report::Report;

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    num(a.zip(b).map(|(a, b)| a / b), 2)
}

/// The report as the table printed on stdout.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let m = &r.machine;
    let s = &r.settings;
    let _ = writeln!(
        out,
        "eice-proxy end-to-end benchmark ({:.0} s)",
        r.wall_secs
    );
    let _ = writeln!(
        out,
        "machine: {} cores, {}, Linux {}, {} MiB RAM; open files {} (hard {})",
        m.nproc, m.cpu_model, m.kernel, m.mem_total_mib, m.open_files_soft, m.open_files_hard
    );
    let _ = writeln!(
        out,
        "target {}:22 via SOCKS5; {} MiB per transfer, best of {}; relays copy with {} KiB buffers",
        s.target,
        s.mib,
        s.reps,
        s.relay_buffer / 1024
    );
    let _ = writeln!(
        out,
        "load average at start {}, at end {}",
        r.loadavg_start, r.loadavg_end
    );
    render_throughput(&mut out, r);
    render_medians(&mut out, r);
    render_paired(&mut out, r);
    render_ttfb(&mut out, r);
    render_idle(&mut out, r);
    render_aggregate(&mut out, r);
    render_other_load(&mut out, r);
    let _ = writeln!(out, "\ntargets");
    for c in &r.targets {
        let verdict = match c.met {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "  {:<4} {:<46} {:>22}  {verdict}",
            c.transport, c.target, c.measured
        );
    }
    for t in &r.transports {
        if t.proxy_log_warnings > 0 {
            let _ = writeln!(
                out,
                "proxy over {}: {} of {} log lines were warnings or errors; the first:",
                t.name, t.proxy_log_warnings, t.proxy_log_lines
            );
            for line in &t.proxy_first_warnings {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    for e in &r.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

fn render_throughput(out: &mut String, r: &Report) {
    let b = &r.baseline;
    let _ = writeln!(
        out,
        "\n(a) one stream, MiB/s             up     down | up/direct down/direct | up/relay down/relay | up/tls-relay down/tls-relay | CPU s/GiB up (bench+proxy)  down"
    );
    // (label, figures, compared with the TLS chain rather than the plain one)
    let mut rows: Vec<(String, &PerDir, bool)> = vec![
        ("direct TCP".into(), &b.direct_one_stream, false),
        (
            "relay chain, 2 relays".into(),
            &b.relay_chain_one_stream,
            false,
        ),
        (
            "TLS relay chain, 2 relays".into(),
            &b.tls_relay_chain_one_stream,
            true,
        ),
    ];
    rows.extend(
        r.transports
            .iter()
            .map(|t| (format!("proxy over {}", t.name), &t.one_stream, t.tls)),
    );
    for (label, figures, tls) in rows {
        let cpu = |dir: Dir| {
            figures.get(dir).map_or("-".into(), |t| {
                let bench = num(t.bench_cpu_s_per_gib, 2);
                match t.proxy_cpu_s_per_gib {
                    Some(p) => format!("{bench}+{p:.2}"),
                    None => bench,
                }
            })
        };
        let over = |chain: &PerDir, dir: Dir| ratio(figures.best(dir), chain.best(dir));
        // ws rows are held to the plain chain, wss rows to the TLS chain.
        let (relay, tls_relay) = if tls {
            let tls_chain = &b.tls_relay_chain_one_stream;
            (
                ["-".into(), "-".into()],
                [over(tls_chain, Dir::Up), over(tls_chain, Dir::Down)],
            )
        } else {
            let chain = &b.relay_chain_one_stream;
            (
                [over(chain, Dir::Up), over(chain, Dir::Down)],
                ["-".into(), "-".into()],
            )
        };
        let _ = writeln!(
            out,
            "  {label:<28} {:>7} {:>8} | {:>9} {:>11} | {:>8} {:>10} | {:>12} {:>14} | {:>24} {:>11}",
            num(figures.best(Dir::Up), 0),
            num(figures.best(Dir::Down), 0),
            ratio(figures.best(Dir::Up), b.direct_one_stream.best(Dir::Up)),
            ratio(figures.best(Dir::Down), b.direct_one_stream.best(Dir::Down)),
            relay[0],
            relay[1],
            tls_relay[0],
            tls_relay[1],
            cpu(Dir::Up),
            cpu(Dir::Down),
        );
    }
}

/// The same streams by their median run, with the spread of the runs: the
/// ratios a single run of the bench is likely to show.
fn render_medians(out: &mut String, r: &Report) {
    let b = &r.baseline;
    let _ = writeln!(
        out,
        "\n(a') one stream, median of {} runs, MiB/s (slowest-fastest)          up                down | over its chain  up  down",
        r.settings.reps
    );
    let mut rows: Vec<(String, &PerDir, Option<&PerDir>)> = vec![
        ("direct TCP".into(), &b.direct_one_stream, None),
        (
            "relay chain, 2 relays".into(),
            &b.relay_chain_one_stream,
            None,
        ),
        (
            "TLS relay chain, 2 relays".into(),
            &b.tls_relay_chain_one_stream,
            None,
        ),
    ];
    rows.extend(r.transports.iter().map(|t| {
        (
            format!("proxy over {}", t.name),
            &t.one_stream,
            Some(b.reference(t.tls).0),
        )
    }));
    for (label, figures, chain) in rows {
        let cell = |dir: Dir| {
            figures.get(dir).map_or("-".into(), |t| {
                let (lo, hi) = t.spread();
                format!("{:.0} ({lo:.0}-{hi:.0})", t.median())
            })
        };
        let over =
            |dir: Dir| chain.map_or("-".into(), |c| ratio(figures.median(dir), c.median(dir)));
        let _ = writeln!(
            out,
            "  {label:<28} {:>36} {:>19} | {:>17} {:>5}",
            cell(Dir::Up),
            cell(Dir::Down),
            over(Dir::Up),
            over(Dir::Down),
        );
    }
}

/// Each transport against its chain, pair by pair.
fn render_paired(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\n(a'') one stream against its chain, {} pairs run in alternation: proxy/chain, median (lowest-highest)",
        r.settings.reps
    );
    for t in &r.transports {
        let cell = |dir: Dir| {
            t.paired(dir).map_or("-".into(), |p| {
                let (median, lo, hi) = p.ratio();
                format!("{median:.2} ({lo:.2}-{hi:.2})")
            })
        };
        let chain = r.baseline.reference(t.tls).1;
        let _ = writeln!(
            out,
            "  proxy over {:<6} against the {chain:<16} up {:>18}   down {:>18}",
            t.name,
            cell(Dir::Up),
            cell(Dir::Down)
        );
    }
}

fn render_ttfb(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\n(b) time to first byte, ms      count     p50     p99    mean     max | p50 over direct | cold (fresh proxy)"
    );
    let direct = r.baseline.direct_ttfb.as_ref();
    let mut rows = vec![("direct TCP".to_owned(), direct, None, String::new())];
    rows.extend(r.transports.iter().map(|t| {
        let cold: Vec<String> = t.cold_ttfb_ms.iter().map(|c| format!("{c:.1}")).collect();
        let over = t
            .warm_ttfb
            .as_ref()
            .zip(direct)
            .map(|(l, d)| l.p50_ms - d.p50_ms);
        (
            format!("proxy over {}, warm", t.name),
            t.warm_ttfb.as_ref(),
            over,
            cold.join(", "),
        )
    }));
    for (label, latency, over, cold) in rows {
        let field = |f: fn(&Latency) -> f64| num(latency.map(f), 3);
        let _ = writeln!(
            out,
            "  {label:<28} {:>7} {:>7} {:>7} {:>7} {:>7} | {:>15} | {cold}",
            latency.map_or("-".into(), |l| l.count.to_string()),
            field(|l| l.p50_ms),
            field(|l| l.p99_ms),
            field(|l| l.mean_ms),
            field(|l| l.max_ms),
            num(over, 3),
        );
    }
}

fn render_idle(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\n(c) idle tunnels, proxy RSS    open/asked  before KiB  open KiB  per tunnel KiB  after close KiB  peak KiB  proxy fd limit"
    );
    for t in &r.transports {
        let Some(i) = &t.idle else {
            let _ = writeln!(out, "  proxy over {:<17} -", t.name);
            continue;
        };
        let _ = writeln!(
            out,
            "  proxy over {:<17} {:>10} {:>11} {:>9} {:>15.1} {:>16} {:>9} {:>15}",
            t.name,
            format!("{}/{}", i.opened, i.asked),
            i.rss_before_kib,
            i.rss_open_kib,
            i.per_tunnel_kib,
            i.rss_after_close_kib.map_or("-".into(), |k| k.to_string()),
            t.proxy_peak_rss_kib.map_or("-".into(), |k| k.to_string()),
            i.proxy_open_files_limit
                .map_or("-".into(), |k| k.to_string()),
        );
        if let Some(e) = &i.first_error {
            let _ = writeln!(out, "    first failure: {e}");
        }
    }
}

fn render_aggregate(out: &mut String, r: &Report) {
    let s = &r.settings;
    let _ = writeln!(
        out,
        "\n(d) {} concurrent streams, aggregate MiB/s ({} MiB per run, each direction separately)",
        s.streams, s.aggregate_mib
    );
    let _ = writeln!(
        out,
        "                                   up     down | up/direct down/direct | up/one-stream down/one-stream"
    );
    let direct = &r.baseline.direct_aggregate;
    let mut rows = vec![(
        "direct TCP".to_owned(),
        direct,
        &r.baseline.direct_one_stream,
    )];
    rows.extend(r.transports.iter().map(|t| {
        (
            format!("proxy over {}", t.name),
            &t.aggregate,
            &t.one_stream,
        )
    }));
    for (label, agg, one) in rows {
        let _ = writeln!(
            out,
            "  {label:<28} {:>7} {:>8} | {:>9} {:>11} | {:>13} {:>15}",
            num(agg.best(Dir::Up), 0),
            num(agg.best(Dir::Down), 0),
            ratio(agg.best(Dir::Up), direct.best(Dir::Up)),
            ratio(agg.best(Dir::Down), direct.best(Dir::Down)),
            ratio(agg.best(Dir::Up), one.best(Dir::Up)),
            ratio(agg.best(Dir::Down), one.best(Dir::Down)),
        );
    }
}

fn render_other_load(out: &mut String, r: &Report) {
    let _ = writeln!(
        out,
        "\nother processes' load during each measurement, in cores of {}",
        r.machine.nproc
    );
    for row in r.other_load.chunks(3) {
        let cells: Vec<String> = row
            .iter()
            .map(|l| format!("{:<34} {:>4.2}", l.measurement, l.cores))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("   "));
    }
}
