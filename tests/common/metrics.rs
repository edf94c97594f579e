//! The proxy's metrics and status pages, as a scraper sees them.

use std::net::SocketAddr;
use std::time::Duration;

use eice_proxy::metrics::Status;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::{PATIENCE, Proxy};

/// Metrics on an ephemeral loopback port; the log says which.
pub const METRICS: &str = "[metrics]\nlisten = \"127.0.0.1:0\"\n";

/// The metrics address, from the line `serve` logs at start.
pub async fn metrics_addr(proxy: &Proxy) -> SocketAddr {
    let line = proxy.log_line("/metrics, open tunnels at /status").await;
    let rest = line.split("http://").nth(1).expect("an http:// address");
    rest.split('/').next().unwrap().parse().unwrap()
}

/// `GET path` on the metrics address: the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = timeout(PATIENCE, exchange)
        .await
        .expect("an answer in time");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

/// The value of `series` (name and labels, exactly) on the page; 0 if absent.
pub fn sample(page: &str, series: &str) -> u64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.parse().unwrap())
}

/// Scrapes until `done` holds for the page, and returns that page. The proxy
/// counts a connection's end after the client has seen it, so tests wait for
/// the count rather than assume it.
pub async fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, page) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        if done(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `/status` page.
pub async fn status(addr: SocketAddr) -> Status {
    let (code, body) = get(addr, "/status").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}
