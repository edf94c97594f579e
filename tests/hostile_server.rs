//! Servers on loopback that send sooner, more, or denser than expected: the
//! first WebSocket frames in the same read as the 101 answer.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use bytes::Bytes;
use eice_proxy::credentials::CredentialCache;
use eice_proxy::eice::{Connector, Endpoint, EndpointOverride, TunnelRequest, TunnelSettings};
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
    let request = TunnelRequest {
        endpoint: Arc::new(Endpoint {
            id: "eice-0123456789abcdef0".into(),
            region: "us-east-1".into(),
            dns_name:
                "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"
                    .into(),
            fips_dns_name: None,
            dualstack_dns_name: None,
            dualstack_fips_dns_name: None,
        }),
        private_ip: "10.0.1.10".parse().unwrap(),
        port: 22,
        max_tunnel_duration: None,
    };
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
