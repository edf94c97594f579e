//! The Prometheus text exposition format, version 0.0.4, written by hand:
//! `# HELP` and `# TYPE` before each family, one `name{labels} value` line per
//! series, histograms as cumulative `_bucket{le=…}` lines with `_sum` and `_count`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::api_calls::AWS_CALLS;
use super::{Histogram, Metrics};

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn render(m: &Metrics) -> String {
    let mut page = Page::default();
    page.family(
        "eice_proxy_build_info",
        "gauge",
        "Always 1; the version is a label.",
    );
    page.sample(
        "eice_proxy_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    page.family(
        "eice_proxy_start_time_seconds",
        "gauge",
        "When the proxy started, in seconds since the Unix epoch.",
    );
    page.sample("eice_proxy_start_time_seconds", &[], m.started_unix);

    page.family(
        "eice_proxy_connections_total",
        "counter",
        "Client connections by protocol and outcome (tunnelled, refused_<reason>, auth_failed, \
         bad_request, handshake_timeout, client_left, shutdown).",
    );
    for ((protocol, outcome), n) in m.connections.snapshot() {
        page.sample(
            "eice_proxy_connections_total",
            &[("protocol", protocol), ("outcome", outcome)],
            n,
        );
    }
    page.family(
        "eice_proxy_open_connections",
        "gauge",
        "Client connections open now, in their handshake or tunnelled.",
    );
    page.sample(
        "eice_proxy_open_connections",
        &[],
        m.open_connections.load(Relaxed),
    );

    // The table lock is taken before the byte counters are read: a tunnel
    // (or hop stream) that is gone from the table has made its last add, so
    // once the table is empty the byte totals are exact.
    let (hop_streams, own_tunnels) = {
        let tunnels = m.tunnels.lock().expect("tunnel table lock");
        let hop_streams = tunnels.values().filter(|t| t.info.hop.is_some()).count() as u64;
        (hop_streams, tunnels.len() as u64 - hop_streams)
    };
    page.family(
        "eice_proxy_open_tunnels",
        "gauge",
        "EICE tunnels open now: one per direct connection, one per hop SSH connection.",
    );
    page.sample(
        "eice_proxy_open_tunnels",
        &[],
        own_tunnels + m.hop_tunnels.load(Relaxed),
    );
    page.family(
        "eice_proxy_hop_streams_open",
        "gauge",
        "Streams open now as channels on a hop's SSH connection.",
    );
    page.sample("eice_proxy_hop_streams_open", &[], hop_streams);
    page.family(
        "eice_proxy_tunnel_bytes_total",
        "counter",
        "Bytes carried through tunnels: up is client to instance, down is instance to client.",
    );
    page.sample(
        "eice_proxy_tunnel_bytes_total",
        &[("direction", "up")],
        m.bytes_up.load(Relaxed),
    );
    page.sample(
        "eice_proxy_tunnel_bytes_total",
        &[("direction", "down")],
        m.bytes_down.load(Relaxed),
    );

    setup_histogram(&mut page, m);
    quota(&mut page, m);

    page.family(
        "eice_proxy_cache_lookups_total",
        "counter",
        "Resolver lookups by kind, answered by the cache (hit) or the EC2 API (miss).",
    );
    for ((kind, result), n) in m.lookups.snapshot() {
        let kind = kind.replace(' ', "_");
        page.sample(
            "eice_proxy_cache_lookups_total",
            &[("kind", &kind), ("result", result)],
            n,
        );
    }
    page.family(
        "eice_proxy_aws_api_calls_total",
        "counter",
        "EC2 API calls (one per page) by action and result (ok, not_found, denied, throttled, \
         timeout, error).",
    );
    for ((action, result), n) in AWS_CALLS.snapshot() {
        page.sample(
            "eice_proxy_aws_api_calls_total",
            &[("action", action), ("result", result)],
            n,
        );
    }
    page.0
}

fn setup_histogram(page: &mut Page, m: &Metrics) {
    let h = m.setup.lock().expect("histogram lock").clone();
    histogram(
        page,
        "eice_proxy_tunnel_setup_seconds",
        "Time from a client's request to an open tunnel (resolve and open), for tunnels that opened.",
        &h,
    );
}

/// A histogram family: cumulative buckets, then the sum and the count.
fn histogram(page: &mut Page, name: &str, help: &str, h: &Histogram) {
    page.family(name, "histogram", help);
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (bound, n) in h.bounds.iter().zip(&h.buckets) {
        cumulative += n;
        page.sample(&bucket, &[("le", &bound.to_string())], cumulative);
    }
    page.sample(&bucket, &[("le", "+Inf")], h.count);
    page.sample(&format!("{name}_sum"), &[], h.sum);
    page.sample(&format!("{name}_count"), &[], h.count);
}

/// Each endpoint's tunnels and line, the waits, overflow onto hops, and
/// tunnels ended at their maxTunnelDuration.
fn quota(page: &mut Page, m: &Metrics) {
    let endpoints = m.endpoint_statuses();
    page.family(
        "eice_proxy_endpoint_tunnels",
        "gauge",
        "EICE tunnels open now per endpoint (a hop's connection is one), out of eice_proxy_endpoint_tunnel_limit.",
    );
    for e in &endpoints {
        page.sample(
            "eice_proxy_endpoint_tunnels",
            &[("endpoint", &e.endpoint)],
            e.tunnels,
        );
    }
    page.family(
        "eice_proxy_endpoint_tunnel_limit",
        "gauge",
        "Tunnels an endpoint may carry at once ([limits] tunnels_per_endpoint, EICE's quota of 20).",
    );
    for e in &endpoints {
        page.sample(
            "eice_proxy_endpoint_tunnel_limit",
            &[("endpoint", &e.endpoint)],
            e.limit,
        );
    }
    page.family(
        "eice_proxy_endpoint_waiting",
        "gauge",
        "Connections waiting in line now for a tunnel of a full endpoint.",
    );
    for e in &endpoints {
        page.sample(
            "eice_proxy_endpoint_waiting",
            &[("endpoint", &e.endpoint)],
            e.waiting,
        );
    }
    page.family(
        "eice_proxy_endpoint_waits_total",
        "counter",
        "Waits in line for a full endpoint, by how they ended (tunnel, timed_out, left).",
    );
    for (result, n) in m.quota.waits.snapshot() {
        page.sample("eice_proxy_endpoint_waits_total", &[("result", result)], n);
    }
    let waits = m.quota.wait_seconds.lock().expect("histogram lock").clone();
    histogram(
        page,
        "eice_proxy_endpoint_wait_seconds",
        "Time connections waited in line for a tunnel of a full endpoint, however the wait ended.",
        &waits,
    );
    page.family(
        "eice_proxy_overflow_total",
        "counter",
        "Connections sent through a hop because their endpoint's tunnels were all in use.",
    );
    page.sample(
        "eice_proxy_overflow_total",
        &[],
        m.quota.overflow.load(Relaxed),
    );
    page.family(
        "eice_proxy_tunnels_capped_total",
        "counter",
        "Tunnels EICE closed when they reached their maxTunnelDuration.",
    );
    page.sample(
        "eice_proxy_tunnels_capped_total",
        &[],
        m.quota.capped.load(Relaxed),
    );
}

/// The page being written.
#[derive(Default)]
struct Page(String);

impl Page {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0 += name;
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
pub(super) fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}
