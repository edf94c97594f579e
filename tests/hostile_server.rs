//! Servers on loopback that send sooner, more, or denser than expected: the
//! first WebSocket frames in the same read as the 101 answer, and EC2 answers
//! past the size cap or the XML node limit (refused at once, never retried).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use bytes::Bytes;
use common::request::tunnel_request;
use eice_proxy::credentials::CredentialCache;
use eice_proxy::ec2::{ApiUrl, Ec2, MAX_ANSWER, MAX_NODES, Retry, Settings};
use eice_proxy::eice::{Connector, EndpointOverride, TunnelSettings};
use eice_proxy::net::{self, Transport};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// How long a step may take before the test calls it lost: a bound on a
/// failure, never a wait a passing run depends on.
const LOST_AFTER: Duration = Duration::from_secs(30);

fn credentials() -> CredentialCache {
    CredentialCache::fixed(Credentials::new(
        "AKIAHOSTILETEST00001",
        "hostile/server/test/secret",
        None,
        None,
        "test",
    ))
}

/// Reads an HTTP request head from `socket`; returns it and the bytes read past it.
async fn read_head(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Some((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if socket.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// A header's value in a request head, by name in any case.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The 101 answer, the first frame and half of the next header reach the
/// client together; the rest of the second frame comes only once the first
/// has been read. Neither frame may be lost with the bytes of the upgrade.
#[tokio::test]
async fn frames_in_the_same_read_as_the_101_answer_are_kept() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let second: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let (first_read, wait_first) = oneshot::channel::<()>();
    let server = tokio::spawn({
        let second = second.clone();
        async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (head, _) = read_head(&mut socket).await.unwrap();
            let key = header(&head, "sec-websocket-key").unwrap();
            let mut burst = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            burst.extend_from_slice(&[0x82, 5]);
            burst.extend_from_slice(b"first");
            // The second frame's header is 0x82, 126, then a 16-bit length:
            // half of it goes with the first frame.
            burst.extend_from_slice(&[0x82, 126]);
            socket.write_all(&burst).await.unwrap();
            wait_first.await.unwrap();
            let mut rest = (second.len() as u16).to_be_bytes().to_vec();
            rest.extend_from_slice(&second);
            socket.write_all(&rest).await.unwrap();
            // Held open until the client is done, so no reset cuts it short.
            let _ = socket.read(&mut [0u8; 1]).await;
        }
    });

    let settings = TunnelSettings {
        endpoint_override: Some(EndpointOverride::parse(&format!("ws://{addr}")).unwrap()),
        ..TunnelSettings::default()
    };
    let connector = Connector::new(settings).unwrap();
    let request = tunnel_request("eice-0123456789abcdef0", "10.0.1.10");
    let mut tunnel = connector.open(&request, &credentials()).await.unwrap();
    let next = tokio::time::timeout(LOST_AFTER, tunnel.ws.next())
        .await
        .expect("the first frame, read with the 101 answer, was lost");
    match next.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(&data[..], b"first"),
        other => panic!("{other:?}"),
    }
    first_read.send(()).unwrap();
    let next = tokio::time::timeout(LOST_AFTER, tunnel.ws.next())
        .await
        .expect("the second frame never came whole");
    match next.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(data, Bytes::from(second)),
        other => panic!("{other:?}"),
    }
    drop(tunnel);
    server.await.unwrap();
}

/// An EC2 API on loopback that answers every request 200 with `body`,
/// counting the requests.
async fn ec2_answering(body: Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let (counted, body) = (Arc::clone(&requests), Arc::new(body));
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let (counted, body) = (Arc::clone(&counted), Arc::clone(&body));
            tokio::spawn(async move {
                while let Some((head, mut sent)) = read_head(&mut socket).await {
                    let length: usize = header(&head, "content-length").unwrap().parse().unwrap();
                    while sent.len() < length {
                        if socket.read_buf(&mut sent).await.unwrap_or(0) == 0 {
                            return;
                        }
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml;charset=UTF-8\r\n\
                         Content-Length: {}\r\n\r\n",
                        body.len()
                    );
                    // The client may hang up part-way: that is the point.
                    if socket.write_all(head.as_bytes()).await.is_err()
                        || socket.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, requests)
}

/// A client of `addr` that would retry three times, a millisecond apart.
fn ec2_client(addr: SocketAddr) -> Ec2 {
    let mut settings = Settings::new(
        ApiUrl::parse(&format!("http://{addr}")).unwrap(),
        "us-east-1",
    );
    settings.retry = Retry {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
    };
    Ec2::new(
        settings,
        Arc::new(credentials()),
        Transport::new(net::client_config(None).unwrap()),
    )
}

#[tokio::test]
async fn an_ec2_answer_over_the_size_cap_is_refused_once_and_not_retried() {
    let (addr, requests) = ec2_answering(vec![b' '; MAX_ANSWER + 1]).await;
    let e = ec2_client(addr).vpc_cidrs().await.unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(&format!("larger than {} MiB", MAX_ANSWER >> 20)),
        "{message}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1, "not retried: {message}");
}

#[tokio::test]
async fn an_ec2_answer_of_too_many_nodes_is_refused_once_and_not_retried() {
    let body = format!(
        "<DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">{}\
         </DescribeVpcsResponse>",
        "<a/>".repeat(MAX_NODES as usize)
    );
    assert!(
        body.len() < MAX_ANSWER,
        "within the size cap: the nodes are refused"
    );
    let (addr, requests) = ec2_answering(body.into_bytes()).await;
    let e = ec2_client(addr).vpc_cidrs().await.unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains(&format!("more than {MAX_NODES} XML nodes")),
        "{message}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 1, "not retried: {message}");
}
