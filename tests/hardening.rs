//! Bad input, limits and the doors the proxy keeps shut: slow and oversized
//! requests, the connection limit, non-loopback listening, secrets in logs.

mod common;

use std::net::SocketAddr;
use std::process::Stdio;

use common::clients::{CONNECT, Dest, banner, read_http_answer, socks5};
use common::{PATIENCE, Proxy, aws_command};
use eice_sim::account::SimAws;
use eice_sim::eice::EXAMPLE_SECRET_ACCESS_KEY;
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

/// Reads until the proxy closes; a reset counts as closed.
async fn closed(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    match timeout(PATIENCE, s.read_to_end(&mut rest))
        .await
        .expect("closed in time")
    {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    rest
}

#[tokio::test]
async fn silent_and_slow_clients_are_dropped_after_the_handshake_timeout() {
    let proxy = Proxy::start(World::demo(), "[timeouts]\nhandshake = 1\n").await;
    // Connects and says nothing.
    let mut silent = TcpStream::connect(proxy.addr).await.unwrap();
    assert!(closed(&mut silent).await.is_empty());
    proxy.log_line("the client sent nothing for 1s").await;
    // Starts a SOCKS5 greeting and stalls.
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(&[5, 1]).await.unwrap();
    assert!(closed(&mut slow).await.is_empty());
    proxy.log_line("the SOCKS5 handshake took over 1s").await;
    // Starts a CONNECT request head and stalls.
    let mut half = TcpStream::connect(proxy.addr).await.unwrap();
    half.write_all(b"CONNECT i-0a1b2c3d4e5f60001:22 HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let _ = closed(&mut half).await;
    proxy.log_line("a bad or slow HTTP request").await;
}

#[tokio::test]
async fn oversized_http_headers_get_a_clear_refusal() {
    let proxy = Proxy::start(World::demo(), "").await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut request = format!("CONNECT {WEB_1}:22 HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        request += &format!("X-Padding-{i}: {}\r\n", "a".repeat(64));
    }
    request += "\r\n";
    s.write_all(request.as_bytes()).await.unwrap();
    let answer = read_http_answer(BufReader::new(s)).await;
    assert_eq!(answer.status, 431, "{}", answer.head);
    proxy.log_line("a bad or slow HTTP request").await;
    assert_eq!(proxy.aws.ec2.calls_total(), 0);
}

#[tokio::test]
async fn oversized_socks_fields_are_bounded_by_the_protocol() {
    // SOCKS5 carries lengths in one byte; a domain of 255 bytes is the most a
    // client can send, and one that is no valid host gets 0x04.
    let proxy = Proxy::start(World::demo(), "").await;
    let long = "x".repeat(255);
    let reply = socks5(proxy.addr, Dest::Domain(&long), 22, None, CONNECT).await;
    assert_eq!(
        reply.err(),
        Some(common::clients::SocksFailure::Reply(0x04))
    );
}

/// How many connections wait in the kernel's accept queue of the listening
/// TCP socket on `addr` (an IPv4 address): for a listening socket,
/// `/proc/net/tcp` gives the queue's length as its receive queue.
fn accept_queue(addr: SocketAddr) -> usize {
    let local = format!(":{:04X}", addr.port());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|f| f[1].ends_with(&local) && f[3] == "0A")
        .and_then(|f| usize::from_str_radix(f[4].split_once(':')?.1, 16).ok())
        .unwrap_or_else(|| panic!("no listening socket on {addr} in /proc/net/tcp"))
}

#[tokio::test]
async fn the_connection_limit_holds_new_clients_until_a_place_frees() {
    let proxy = Proxy::start(World::demo(), "[limits]\nmax_connections = 1\n").await;
    let sim = &proxy.aws.eice;
    let mut first = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("first");
    assert!(banner(&mut first).await.contains(WEB_1));
    assert_eq!(sim.stats().tunnels_opened, 1);

    // The second client sends its whole greeting and request at once.
    let mut second = TcpStream::connect(proxy.addr).await.unwrap();
    let mut request = vec![5, 1, 0, 5, 1, 0, 3, WEB_1.len() as u8];
    request.extend(WEB_1.as_bytes());
    request.extend(22u16.to_be_bytes());
    second.write_all(&request).await.unwrap();
    proxy
        .log_line("connection limit reached (1 open): new connections wait")
        .await;
    // Round trips through the first tunnel, each through the proxy and back:
    // its other tasks run meanwhile, so a second client it were free to
    // serve would have been accepted and answered by the end.
    for _ in 0..100 {
        let mut echo = [0u8; 1];
        first.write_all(b"x").await.unwrap();
        timeout(PATIENCE, first.read_exact(&mut echo))
            .await
            .expect("echoed")
            .unwrap();
        assert_eq!(&echo, b"x");
    }
    // No tunnel for it and no answer: the proxy has not accepted it, and it
    // waits in the kernel's queue for as long as the first holds the place.
    let stats = sim.stats();
    assert_eq!((stats.tunnels_opened, stats.tunnels_active), (1, 1));
    let mut unread = [0u8; 1];
    let nothing = second.try_read(&mut unread);
    assert!(
        matches!(&nothing, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{nothing:?}"
    );
    assert_eq!(accept_queue(proxy.addr), 1);

    drop(first);
    let mut replies = [0u8; 12];
    timeout(PATIENCE, second.read_exact(&mut replies))
        .await
        .expect("answered once the first left")
        .unwrap();
    assert_eq!(replies[..4], [5, 0, 5, 0], "{replies:?}");
    assert!(banner(&mut second).await.contains(WEB_1));
    assert_eq!(accept_queue(proxy.addr), 0);
    assert_eq!(sim.stats().tunnels_opened, 2);
}

#[tokio::test]
async fn a_non_loopback_listen_address_needs_authentication() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["serve", "--listen", "0.0.0.0:0"]);
    cmd.stdin(Stdio::null());
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_full_session_at_trace_level_logs_no_secret() {
    // Temporary credentials, so a session token is signed into every request.
    let (key, secret, token) = (
        "ASIATRACETEST0001",
        "trace-secret-Kp4Vw9",
        "trace-session-token-Qm7Hx2",
    );
    let extra = std::collections::HashMap::from([(
        key.to_owned(),
        eice_sim::sigv4::SimCredential::with_session_token(secret, token),
    )]);
    let aws = SimAws::start_with(World::demo(), true, extra)
        .await
        .unwrap();
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), aws.eice.ca_pem().unwrap()).unwrap();
    let ca_path = ca.path().display().to_string();
    let proxy = Proxy::start_with(
        aws,
        "[auth]\nusername = \"alice\"\npassword = \"proxy-pass-Zq9\"\n",
        &[
            ("RUST_LOG", "trace"),
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", token),
            ("AWS_CA_BUNDLE", &ca_path),
        ],
    )
    .await;
    let mut s = socks5(
        proxy.addr,
        Dest::Domain(WEB_1),
        22,
        Some(("alice", "proxy-pass-Zq9")),
        CONNECT,
    )
    .await
    .expect("connected");
    assert!(banner(&mut s).await.contains(WEB_1));
    s.write_all(b"bye").await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    let wrong = socks5(
        proxy.addr,
        Dest::Domain(WEB_1),
        22,
        Some(("alice", "wrong-pass-Xy7")),
        CONNECT,
    )
    .await;
    assert!(wrong.is_err());
    // HTTP CONNECT with Basic credentials, right and wrong.
    let answer = common::clients::http_connect(
        proxy.addr,
        &format!("{WEB_1}:22"),
        Some(("alice", "proxy-pass-Zq9")),
    )
    .await;
    assert_eq!(answer.status, 200);
    drop(answer);
    let answer = common::clients::http_connect(
        proxy.addr,
        &format!("{WEB_1}:22"),
        Some(("alice", "wrong-pass-Xy7")),
    )
    .await;
    assert_eq!(answer.status, 407);
    proxy.log_count("tunnel closed", 2).await;
    proxy.log_line("SOCKS5 authentication failed").await;

    let log = proxy.full_log();
    assert!(log.len() > 50, "trace logging is on: {} lines", log.len());
    for secret in [
        EXAMPLE_SECRET_ACCESS_KEY,
        secret,
        token,
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        "Signature=",
        "X-Amz-Credential",
        "openTunnel?",
        "proxy-pass-Zq9",
        "wrong-pass-Xy7",
        // The Basic credentials as they travel.
        "YWxpY2U6cHJveHktcGFzcy1acTk",
        "YWxpY2U6d3JvbmctcGFzcy1YeTc",
    ] {
        let hits: Vec<&String> = log.iter().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "{secret:?} is in the log: {hits:#?}");
    }
}
