use std::collections::HashSet;

use super::*;

fn info(id: u64) -> TunnelInfo {
    TunnelInfo {
        id,
        protocol: "socks5",
        client: "127.0.0.1:50000".parse().unwrap(),
        target: "web-1:22".into(),
        instance: Some("i-0123456789abcdef0".into()),
        endpoint: "eice-0123456789abcdef0".into(),
        hop: None,
        closes_at: None,
    }
}

/// The value of the one sample line that starts with `series`.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let metrics = Arc::new(Metrics::new());
    metrics.connection("http", Outcome::Tunnelled);
    let page = metrics.render();
    let mut declared = HashSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            declared.insert(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(rest.split_once(' ').is_some_and(|(_, h)| !h.is_empty()));
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                .unwrap_or(name);
            assert!(declared.contains(family), "no # TYPE before {line:?}");
        }
    }
    assert_eq!(
        sample(
            &page,
            "eice_proxy_connections_total{protocol=\"http\",outcome=\"tunnelled\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn a_meter_counts_live_and_leaves_the_table_when_dropped() {
    let metrics = Arc::new(Metrics::new());
    let meter = metrics.tunnel_opened(info(7));
    meter.up(100);
    meter.up(23);
    meter.down(65_536);
    let status = metrics.status();
    assert_eq!(status.tunnels.len(), 1);
    let t = &status.tunnels[0];
    assert_eq!((t.id, t.bytes_up, t.bytes_down), (7, 123, 65_536));
    assert_eq!(t.target, "web-1:22");
    assert_eq!(
        sample(&metrics.render(), "eice_proxy_open_tunnels"),
        Some(1.0)
    );

    drop(meter);
    let page = metrics.render();
    assert!(metrics.status().tunnels.is_empty());
    assert_eq!(sample(&page, "eice_proxy_open_tunnels"), Some(0.0));
    let up = "eice_proxy_tunnel_bytes_total{direction=\"up\"}";
    let down = "eice_proxy_tunnel_bytes_total{direction=\"down\"}";
    assert_eq!(sample(&page, up), Some(123.0));
    assert_eq!(sample(&page, down), Some(65_536.0));
}

#[test]
fn open_connections_follow_their_guards() {
    let metrics = Arc::new(Metrics::new());
    let a = metrics.connection_opened();
    let b = metrics.connection_opened();
    assert_eq!(
        sample(&metrics.render(), "eice_proxy_open_connections"),
        Some(2.0)
    );
    drop(a);
    drop(b);
    assert_eq!(
        sample(&metrics.render(), "eice_proxy_open_connections"),
        Some(0.0)
    );
}

#[test]
fn the_setup_histogram_is_cumulative() {
    let metrics = Metrics::new();
    metrics.tunnel_setup(Duration::from_millis(30));
    metrics.tunnel_setup(Duration::from_millis(700));
    metrics.tunnel_setup(Duration::from_secs(60));
    let page = metrics.render();
    let bucket = |le: &str| {
        sample(
            &page,
            &format!("eice_proxy_tunnel_setup_seconds_bucket{{le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.025"), Some(0.0));
    assert_eq!(bucket("0.05"), Some(1.0));
    assert_eq!(bucket("1"), Some(2.0));
    assert_eq!(bucket("30"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(3.0));
    assert_eq!(
        sample(&page, "eice_proxy_tunnel_setup_seconds_count"),
        Some(3.0)
    );
    let sum = sample(&page, "eice_proxy_tunnel_setup_seconds_sum").unwrap();
    assert!((sum - 60.73).abs() < 1e-9, "{sum}");
}

#[test]
fn lookups_are_hits_or_misses_and_routes_are_not_counted() {
    let metrics = Metrics::new();
    metrics.lookups([
        ("route", None),
        ("vpc cidrs", Some(false)),
        ("endpoints", Some(true)),
        ("endpoints", Some(true)),
    ]);
    let page = metrics.render();
    assert_eq!(
        sample(
            &page,
            "eice_proxy_cache_lookups_total{kind=\"vpc_cidrs\",result=\"miss\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            "eice_proxy_cache_lookups_total{kind=\"endpoints\",result=\"hit\"}"
        ),
        Some(2.0)
    );
    assert!(!page.contains("kind=\"route\""), "{page}");
}

#[test]
fn outcome_labels_are_distinct_and_follow_the_reply() {
    let mut outcomes: Vec<Outcome> = Reply::ALL.iter().map(|r| Outcome::Refused(*r)).collect();
    outcomes.extend([
        Outcome::Tunnelled,
        Outcome::EndpointBusy,
        Outcome::AuthFailed,
        Outcome::BadRequest,
        Outcome::HandshakeTimeout,
        Outcome::ClientLeft,
        Outcome::Shutdown,
    ]);
    let labels: HashSet<&str> = outcomes.iter().map(|o| o.label()).collect();
    assert_eq!(labels.len(), outcomes.len());
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(prometheus::escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

#[test]
fn forward_connections_are_labelled_forward_on_both_pages() {
    let metrics = Arc::new(Metrics::new());
    metrics.connection("forward", Outcome::Tunnelled);
    let _meter = metrics.tunnel_opened(TunnelInfo {
        protocol: "forward",
        ..info(3)
    });
    let series = "eice_proxy_connections_total{protocol=\"forward\",outcome=\"tunnelled\"}";
    assert_eq!(sample(&metrics.render(), series), Some(1.0));
    assert_eq!(metrics.status().tunnels[0].protocol, "forward");
}

#[test]
fn hop_streams_share_the_one_tunnel_the_gauge_counts() {
    let metrics = Arc::new(Metrics::new());
    let direct = metrics.tunnel_opened(info(1));
    let hop_tunnel = metrics.hop_tunnel_opened();
    let streams: Vec<_> = (2..5)
        .map(|id| {
            metrics.tunnel_opened(TunnelInfo {
                hop: Some("prod".into()),
                ..info(id)
            })
        })
        .collect();
    let page = metrics.render();
    assert_eq!(sample(&page, "eice_proxy_open_tunnels"), Some(2.0));
    assert_eq!(sample(&page, "eice_proxy_hop_streams_open"), Some(3.0));
    let status = metrics.status();
    assert_eq!(
        status.tunnels.len(),
        4,
        "the status page lists every stream"
    );
    assert_eq!(status.tunnels[1].hop.as_deref(), Some("prod"));
    drop((direct, streams));
    assert_eq!(
        sample(&metrics.render(), "eice_proxy_open_tunnels"),
        Some(1.0)
    );
    drop(hop_tunnel);
    let page = metrics.render();
    assert_eq!(sample(&page, "eice_proxy_open_tunnels"), Some(0.0));
    assert_eq!(sample(&page, "eice_proxy_hop_streams_open"), Some(0.0));
}

#[test]
fn only_a_host_that_names_loopback_is_answered() {
    for good in [
        "127.0.0.1:9180",
        "127.0.0.1",
        "127.1.2.3:80",
        "[::1]:9180",
        "[::1]",
        "localhost",
        "LocalHost:9180",
    ] {
        assert!(http::loopback_host(good), "{good}");
    }
    for bad in [
        "rebind.example",
        "rebind.example:9180",
        "localhost.rebind.example",
        "10.0.0.1:9180",
        "::1",
        "[127.0.0.1]:9180",
        "127.0.0.1:",
        "127.0.0.1:99999",
        "localhost:x",
        "",
    ] {
        assert!(!http::loopback_host(bad), "{bad}");
    }
}

#[test]
fn every_page_is_refused_to_a_rebound_name() {
    let metrics = Arc::new(Metrics::new());
    let _meter = metrics.tunnel_opened(info(7));
    let get = |path: &str, host: Option<&str>| {
        let mut req = ::http::Request::builder().uri(path);
        if let Some(host) = host {
            req = req.header("host", host);
        }
        http::answer(&metrics, &req.body(()).unwrap())
            .status()
            .as_u16()
    };
    for path in ["/", "/metrics", "/status", "/nothing"] {
        assert_eq!(get(path, Some("rebind.example:9180")), 421, "{path}");
        assert_eq!(get(path, None), 421, "{path} without Host");
    }
    assert_eq!(get("http://rebind.example/status", Some("localhost")), 421);
    assert_eq!(get("/status", Some("127.0.0.1:9180")), 200);
    assert_eq!(get("/metrics", Some("localhost")), 200);
    assert_eq!(get("/nothing", Some("[::1]:9180")), 404);
}

#[test]
fn the_quota_series_show_each_endpoint_its_line_overflow_and_caps() {
    let metrics = Metrics::new();
    metrics.endpoint_use("eice-0123456789abcdef0", 20, 20, 3);
    metrics.endpoint_wait(std::time::Duration::from_millis(700), WaitEnd::Tunnel);
    metrics.endpoint_wait(std::time::Duration::from_secs(20), WaitEnd::TimedOut);
    metrics.overflowed();
    metrics.capped();
    let page = metrics.render();
    for line in [
        "eice_proxy_endpoint_tunnels{endpoint=\"eice-0123456789abcdef0\"} 20",
        "eice_proxy_endpoint_tunnel_limit{endpoint=\"eice-0123456789abcdef0\"} 20",
        "eice_proxy_endpoint_waiting{endpoint=\"eice-0123456789abcdef0\"} 3",
        "eice_proxy_endpoint_waits_total{result=\"timed_out\"} 1",
        "eice_proxy_endpoint_waits_total{result=\"tunnel\"} 1",
        "eice_proxy_endpoint_wait_seconds_bucket{le=\"1\"} 1",
        "eice_proxy_endpoint_wait_seconds_count 2",
        "eice_proxy_overflow_total 1",
        "eice_proxy_tunnels_capped_total 1",
    ] {
        assert!(page.lines().any(|l| l == line), "no {line:?} in:\n{page}");
    }
    let status = metrics.status();
    assert_eq!(status.endpoints[0].waiting, 3);
}
