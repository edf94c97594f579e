//! More than 20 connections through one endpoint (EICE's quota), against
//! the simulated AWS, which itself refuses a 21st tunnel: connections wait
//! in line for a tunnel to close, and past `queue_wait` are refused with
//! words that say what lifts the limit. And the end EICE puts to every
//! tunnel at its maxTunnelDuration is announced before it comes.
//!
//! The overflow onto a hop, and real Ansible, are in `fleet_hop.rs`.

mod common;

use common::clients::{CONNECT, Dest, SocksFailure, banner, socks5};
use common::metrics::{METRICS, metrics_addr, sample, scrape_until, status};
use common::{PATIENCE, Proxy};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
/// web-1's endpoint.
const ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";

fn waiting_series() -> String {
    format!("eice_proxy_endpoint_waiting{{endpoint=\"{ENDPOINT}\"}}")
}

/// A SOCKS5 client to web-1:22 that has read its banner.
async fn with_banner(proxy: std::net::SocketAddr) -> TcpStream {
    let mut s = timeout(
        PATIENCE,
        socks5(proxy, Dest::Domain(WEB_1), 22, None, CONNECT),
    )
    .await
    .expect("a tunnel in time")
    .expect("a tunnel");
    assert!(banner(&mut s).await.contains(WEB_1));
    s
}

/// Closes a client's connection and waits for its tunnel's end.
async fn close(mut s: TcpStream) {
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = timeout(PATIENCE, s.read_to_end(&mut rest)).await.unwrap();
}

/// A SOCKS5 client that asks for web-1:22 and does not wait for the answer.
async fn asks_and_leaves(proxy: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(&[5, 1, 0]).await.unwrap();
    let mut method = [0u8; 2];
    s.read_exact(&mut method).await.unwrap();
    let mut request = vec![5, 1, 0, 3, WEB_1.len() as u8];
    request.extend_from_slice(WEB_1.as_bytes());
    request.extend_from_slice(&22u16.to_be_bytes());
    s.write_all(&request).await.unwrap();
    s
}

#[tokio::test]
async fn twenty_five_clients_get_banners_by_waiting_when_five_close() {
    let proxy = Proxy::start(World::demo(), METRICS).await;
    let metrics = metrics_addr(&proxy).await;
    let mut first = Vec::new();
    for _ in 0..20 {
        first.push(with_banner(proxy.addr).await);
    }
    // Five more wait in line; a sixth joins it and gives up.
    let waiters: Vec<_> = (0..5)
        .map(|_| tokio::spawn(with_banner(proxy.addr)))
        .collect();
    let leaver = asks_and_leaves(proxy.addr).await;
    scrape_until(metrics, "six in line", |p| {
        sample(p, &waiting_series()) == 6
    })
    .await;
    let lines = status(metrics).await;
    assert_eq!(
        (lines.endpoints[0].tunnels, lines.endpoints[0].limit),
        (20, 20)
    );
    drop(leaver);
    scrape_until(metrics, "the leaver gone", |p| {
        sample(p, &waiting_series()) == 5
    })
    .await;

    // Five clients close: the five in line get their tunnels, in turn.
    for s in first.drain(..5) {
        close(s).await;
    }
    for w in waiters {
        timeout(PATIENCE, w).await.unwrap().unwrap();
    }
    let stats = proxy.aws.eice.stats();
    assert_eq!(stats.endpoint_peaks[ENDPOINT], 20, "never a 21st tunnel");
    assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
    assert_eq!(stats.tunnels_opened, 25);
    let page = scrape_until(metrics, "the waits counted", |p| {
        sample(p, "eice_proxy_endpoint_waits_total{result=\"tunnel\"}") == 5
    })
    .await;
    assert_eq!(
        sample(&page, "eice_proxy_endpoint_waits_total{result=\"left\"}"),
        1
    );
    assert_eq!(sample(&page, &waiting_series()), 0);
    proxy
        .log_count(&format!("a tunnel of {ENDPOINT} was free after"), 5)
        .await;
}

#[tokio::test]
async fn past_queue_wait_the_refusal_says_how_many_waited_and_what_lifts_the_limit() {
    // Nothing frees a slot here, so the short wait cannot end otherwise.
    let config = format!("[limits]\nqueue_wait = 0.5\n{METRICS}");
    let proxy = Proxy::start(World::demo(), &config).await;
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(with_banner(proxy.addr).await);
    }
    let refused = timeout(
        PATIENCE,
        socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT),
    )
    .await
    .unwrap();
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x01)));
    let line = proxy.log_line("refused: endpoint").await;
    let carries = format!("endpoint {ENDPOINT} already carries 20 tunnels from this proxy");
    for words in [
        carries.as_str(),
        "none was freed in 0.5s of waiting in line (1 connection was waiting",
        "a [[hop]] for vpc-0a1b2c3d4e5f60001 (vpc = \"vpc-0a1b2c3d4e5f60001\") lifts the limit",
    ] {
        assert!(line.contains(words), "{words:?} not in {line}");
    }
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        20,
        "the service was not asked"
    );
}

#[tokio::test]
async fn the_cap_is_announced_in_the_log_and_status_and_counted() {
    // EICE ends the tunnel at 4 s; the warnings come 3 s and 2 s before.
    let config = format!("max_tunnel_duration = 4\n[limits]\nwarn_before_cap = [3, 2]\n{METRICS}");
    let proxy = Proxy::start(World::demo(), &config).await;
    let metrics = metrics_addr(&proxy).await;
    let mut s = with_banner(proxy.addr).await;
    let client = s.local_addr().unwrap().to_string();
    let tunnel = status(metrics).await.tunnels.remove(0);
    assert!(
        tunnel.closes_in_seconds.is_some_and(|left| left <= 4),
        "{tunnel:?}"
    );
    for left in [3, 2] {
        let line = proxy
            .log_line(&format!(
                "EICE will close this tunnel in {left}s, when it reaches its maximum duration of 4s"
            ))
            .await;
        assert!(
            line.contains(&client) && line.contains(&format!("target={WEB_1}:22")),
            "{line}"
        );
    }
    let mut rest = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    scrape_until(metrics, "the capped tunnel counted", |p| {
        sample(p, "eice_proxy_tunnels_capped_total") == 1
    })
    .await;
}
