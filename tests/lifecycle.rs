//! Shutdown and long life: SIGTERM stops accepting but lets open tunnels
//! finish within the grace period; 10,000 connections leave no descriptor or
//! memory behind.

mod common;

use common::clients::{CONNECT, Dest, banner, socks5};
use common::{PATIENCE, Proxy};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

#[tokio::test]
async fn sigterm_stops_accepting_and_lets_open_tunnels_finish() {
    let mut proxy = Proxy::start(World::demo(), "[timeouts]\nshutdown_grace = 60\n").await;
    let mut open = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("connected");
    assert!(banner(&mut open).await.contains(WEB_1));

    proxy.signal("TERM");
    proxy
        .log_line("shutting down: no new connections; 1 open connection(s) get 60s")
        .await;
    // No new connections...
    assert!(
        tokio::net::TcpStream::connect(proxy.addr).await.is_err(),
        "the listener is closed"
    );
    // ...but the open tunnel still carries data both ways.
    open.write_all(b"still here").await.unwrap();
    let mut echo = [0u8; 10];
    timeout(PATIENCE, open.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"still here");
    assert!(proxy.is_running());

    // When it ends, the proxy exits 0.
    drop(open);
    assert!(proxy.exit_status().await.success());
}

#[tokio::test]
async fn sigint_closes_what_is_still_open_after_the_grace_period() {
    let mut proxy = Proxy::start(World::demo(), "[timeouts]\nshutdown_grace = 1\n").await;
    let mut open = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("connected");
    assert!(banner(&mut open).await.contains(WEB_1));
    proxy.signal("INT");
    let status = proxy.exit_status().await;
    assert!(status.success(), "{status}");
    proxy
        .log_line("grace period over: closing 1 connection(s)")
        .await;
    // The client sees its connection end.
    let mut rest = Vec::new();
    let _ = timeout(PATIENCE, open.read_to_end(&mut rest))
        .await
        .unwrap();
}

/// Open file descriptors and resident memory (KiB) of a process.
fn usage(pid: u32) -> (usize, u64) {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    (fds, rss)
}

/// One full connection: SOCKS5, tunnel, banner, echo, close.
async fn round_trip(proxy: &Proxy) {
    let mut s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("connected");
    assert!(banner(&mut s).await.contains(WEB_1));
    s.write_all(b"x").await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"x");
}

/// Waits until the proxy's descriptors are back to `fds` or fewer, for at
/// most [`PATIENCE`]; returns the last reading, which the caller judges.
async fn settled(proxy: &Proxy, fds: usize) -> (usize, u64) {
    let back = async {
        loop {
            let now = usage(proxy.pid());
            if now.0 <= fds {
                return now;
            }
            // Observing another process: re-read until its sockets are closed.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    timeout(PATIENCE, back)
        .await
        .unwrap_or_else(|_| usage(proxy.pid()))
}

/// Waits until the simulated EICE serves no tunnel.
async fn no_tunnel_left(proxy: &Proxy) {
    let idle = proxy.aws.eice.wait_for(|s| s.tunnels_active == 0);
    let stats = timeout(PATIENCE, idle).await;
    assert!(
        stats.is_ok(),
        "tunnels still open: {:?}",
        proxy.aws.eice.stats()
    );
}

/// Tunnels held open at once to show the descriptor count follows them.
const HELD: usize = 16;

#[tokio::test]
async fn ten_thousand_connections_leave_no_descriptor_or_memory_behind() {
    let proxy = Proxy::start_with(
        eice_sim::account::SimAws::start(World::demo(), false)
            .await
            .unwrap(),
        "",
        &[("RUST_LOG", "warn,eice_proxy::commands=info")],
    )
    .await;
    // Warm up caches, pools and allocator arenas, then take the baseline.
    for _ in 0..200 {
        round_trip(&proxy).await;
    }
    no_tunnel_left(&proxy).await;
    let (fds, _) = usage(proxy.pid());
    let (_, rss_before) = settled(&proxy, fds).await;

    // The count is the proxy's sockets: it rises by at least one (the
    // client's) for every tunnel held open, and falls back once they close.
    let mut held = Vec::new();
    for _ in 0..HELD {
        let mut s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
            .await
            .expect("connected");
        assert!(banner(&mut s).await.contains(WEB_1));
        held.push(s);
    }
    let (fds_open, _) = usage(proxy.pid());
    eprintln!("descriptors: {fds} idle, {fds_open} with {HELD} tunnels open");
    assert!(
        fds_open >= fds + HELD,
        "descriptors {fds_open} with {HELD} tunnels open, baseline {fds}"
    );
    drop(held);
    no_tunnel_left(&proxy).await;
    let (fds_closed, _) = settled(&proxy, fds).await;
    assert!(
        fds_closed <= fds,
        "descriptors {fds_closed} after {HELD} tunnels closed, baseline {fds}"
    );

    for _ in 0..10_000 {
        round_trip(&proxy).await;
    }
    no_tunnel_left(&proxy).await;
    let (fds_after, rss_after) = settled(&proxy, fds).await;
    assert!(
        fds_after <= fds,
        "descriptors {fds_after} after 10,000 connections, baseline {fds}"
    );
    assert!(
        rss_after <= rss_before + 4 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 10,000 connections"
    );
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        (10_200 + HELD) as u64
    );
}
