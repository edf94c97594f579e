//! Guessing the proxy's password: each connection gets one wrong guess and
//! is closed, SOCKS5 and HTTP CONNECT alike; each further wrong guess from
//! the same address is answered later, while the right password is answered
//! at once, whatever is being held.

mod common;

use base64::Engine as _;
use common::clients::{banner, hello};
use common::{PATIENCE, Proxy};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const AUTH: &str = "[auth]\nusername = \"alice\"\npassword = \"down-the-rabbit-hole\"\n";
const RIGHT: (&str, &str) = ("alice", "down-the-rabbit-hole");

/// `CONNECT web-1:22`, with Basic credentials if given.
fn connect(credentials: Option<(&str, &str)>) -> String {
    let mut request = format!("CONNECT {WEB_1}:22 HTTP/1.1\r\nHost: {WEB_1}:22\r\n");
    if let Some((user, password)) = credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request += &format!("Proxy-Authorization: Basic {token}\r\n");
    }
    request + "\r\n"
}

/// One HTTP answer on `s`: its status and head (the body, if any, is read
/// too, so that the stream stands after it).
async fn answer(s: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(PATIENCE, s.read(&mut byte))
            .await
            .expect("an answer in time")
            .unwrap();
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.unwrap();
    (status, head)
}

/// What the proxy sends next: nothing when it closes (a reset counts as
/// closed), else the first bytes of whatever it says.
async fn next(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 1024];
    match timeout(PATIENCE, s.read(&mut buf))
        .await
        .expect("an answer or a close in time")
    {
        Ok(n) => buf.truncate(n),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
            buf.clear();
        }
    }
    buf
}

/// The RFC 1929 sub-negotiation for `user` and `password`.
fn userpass(user: &str, password: &str) -> Vec<u8> {
    let mut msg = vec![1, user.len() as u8];
    msg.extend_from_slice(user.as_bytes());
    msg.push(password.len() as u8);
    msg.extend_from_slice(password.as_bytes());
    msg
}

/// A SOCKS5 greeting offering username/password, answered.
async fn socks5_greeted(proxy: &Proxy) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[5, 1, 2]).await.unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.unwrap();
    assert_eq!(choice, [5, 2]);
    s
}

#[tokio::test]
async fn a_wrong_http_password_closes_the_connection_before_a_second_try() {
    let proxy = Proxy::start(World::demo(), AUTH).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(connect(Some(("alice", "guess-1"))).as_bytes())
        .await
        .unwrap();
    let (status, head) = answer(&mut s).await;
    assert_eq!(status, 407, "{head}");
    assert!(head.contains("connection: close"), "{head}");
    // The second try on the same connection, even with the right password,
    // is never answered: the connection is closed.
    let _ = s.write_all(connect(Some(RIGHT)).as_bytes()).await;
    let more = next(&mut s).await;
    assert!(
        more.is_empty(),
        "a second try was answered: {}",
        String::from_utf8_lossy(&more)
    );
    proxy.log_line("wrong Proxy-Authorization: closing").await;
}

#[tokio::test]
async fn a_challenge_without_credentials_keeps_the_connection_for_them() {
    let proxy = Proxy::start(World::demo(), AUTH).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(connect(None).as_bytes()).await.unwrap();
    let (status, head) = answer(&mut s).await;
    assert_eq!(status, 407, "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // As a browser does: the credentials, on the same connection.
    s.write_all(connect(Some(RIGHT)).as_bytes()).await.unwrap();
    let (status, head) = answer(&mut s).await;
    assert_eq!(status, 200, "{head}");
    assert!(banner(&mut s).await.contains(WEB_1));
}

#[tokio::test]
async fn a_wrong_socks5_password_closes_the_connection_before_a_second_try() {
    let proxy = Proxy::start(World::demo(), AUTH).await;
    let mut s = socks5_greeted(&proxy).await;
    s.write_all(&userpass("alice", "guess-1")).await.unwrap();
    let mut status = [0u8; 2];
    s.read_exact(&mut status).await.unwrap();
    assert_eq!(status[0], 1);
    assert_ne!(status[1], 0, "a wrong password was accepted");
    let _ = s.write_all(&userpass(RIGHT.0, RIGHT.1)).await;
    let more = next(&mut s).await;
    assert!(more.is_empty(), "a second try was answered: {more:?}");
}

#[tokio::test]
async fn further_wrong_passwords_wait_and_the_right_one_never_does() {
    let proxy = Proxy::start(World::demo(), AUTH).await;
    // Failure 1, over SOCKS5: answered at once.
    let mut s = socks5_greeted(&proxy).await;
    s.write_all(&userpass("alice", "guess-1")).await.unwrap();
    let mut status = [0u8; 2];
    s.read_exact(&mut status).await.unwrap();
    assert_ne!(status[1], 0);
    proxy.log_line("answering in 0s").await;
    // Failure 2, over HTTP: the same address, so held (1 s).
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(connect(Some(("alice", "guess-2"))).as_bytes())
        .await
        .unwrap();
    assert_eq!(answer(&mut s).await.0, 407);
    proxy.log_line("answering in 1s").await;

    // Failure 3 is held for 2 s: while it is, the right password opens a
    // tunnel, and only then is the wrong one told.
    let mut held = TcpStream::connect(proxy.addr).await.unwrap();
    held.write_all(connect(Some(("alice", "guess-3"))).as_bytes())
        .await
        .unwrap();
    proxy.log_line("answering in 2s").await;
    let mut right = TcpStream::connect(proxy.addr).await.unwrap();
    right
        .write_all(connect(Some(RIGHT)).as_bytes())
        .await
        .unwrap();
    assert_eq!(answer(&mut right).await.0, 200);
    assert!(hello(&mut right, 22).await.contains(WEB_1));
    let mut peek = [0u8; 1];
    let early = held.try_read(&mut peek);
    assert!(
        early
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the wrong password was answered before the right one: {early:?}"
    );
    let (status, head) = answer(&mut held).await;
    assert_eq!(status, 407, "{head}");
    assert!(next(&mut held).await.is_empty());

    // The right password forgot the failures: the next one is told at once.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(connect(Some(("alice", "guess-4"))).as_bytes())
        .await
        .unwrap();
    assert_eq!(answer(&mut s).await.0, 407);
    proxy.log_count("wrong proxy credentials", 4).await;
    let log = proxy.full_log();
    let last = log
        .iter()
        .rfind(|l| l.contains("wrong proxy credentials"))
        .unwrap();
    assert!(last.contains("answering in 0s"), "{last}");
}

#[tokio::test]
async fn no_log_level_shows_a_socks5_password_in_any_form() {
    let aws = eice_sim::account::SimAws::start(World::demo(), false)
        .await
        .unwrap();
    let proxy = Proxy::start_with(aws, AUTH, &[("RUST_LOG", "trace")]).await;
    let guess = "guess-Qx7";
    let mut s = socks5_greeted(&proxy).await;
    s.write_all(&userpass("alice", guess)).await.unwrap();
    let mut status = [0u8; 2];
    s.read_exact(&mut status).await.unwrap();
    assert_ne!(status[1], 0);
    proxy.log_line("SOCKS5 authentication failed").await;
    // As text, and as the byte list a library's debug line would print.
    let bytes = format!("{:?}", guess.as_bytes());
    let bytes = bytes.trim_matches(['[', ']']);
    for line in proxy.full_log() {
        assert!(
            !line.contains(guess) && !line.contains(bytes),
            "the password is in the log: {line}"
        );
    }
}
