//! Tunnel behaviour after the 101: data both ways, the Close codes of every ending,
//! both half-close orders, pings, TLS and IPv6 targets.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::*;
use crate::ws::tests::{client_frame, read_server_frame};
use crate::ws::{Opcode, parse_close};

/// A one-connection target that runs `script` on the accepted stream.
async fn scripted_target<F, Fut>(script: F) -> SocketAddr
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        script(stream).await;
    });
    addr
}

/// Reads binary messages until `len` bytes arrived.
async fn read_binary(ws: &mut Client, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(data) => got.extend_from_slice(&data),
            Message::Ping(_) => {}
            other => panic!("expected data, got {other:?}"),
        }
    }
    got
}

/// Reads to the end, which lets tungstenite send its reply to the service's Close
/// (so the service stops lingering) and proves the service then hangs up.
pub(super) async fn finish(mut ws: Client) {
    while ws.next().await.is_some() {}
}

#[tokio::test]
async fn a_presigned_url_reaches_the_echo_target_and_round_trips_bytes() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        ws.send(Message::Binary(Bytes::from(sent.clone())))
            .await
            .unwrap();
        assert_eq!(read_binary(&mut ws, sent.len()).await, sent);
        ws.close(None).await.unwrap();
        assert_eq!(next_close(&mut ws).await.code, CloseCode::Normal);
        let stats = sim.wait_for(|s| s.tunnels_active == 0).await;
        assert_eq!(stats.tunnels_opened, 1);
        assert_eq!(
            (stats.bytes_from_client, stats.bytes_to_client),
            (200_000, 200_000)
        );
        assert_eq!(stats.close_codes_sent, [1000]);
    })
    .await;
}

#[tokio::test]
async fn max_tunnel_duration_closes_with_1008_and_the_reason() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let mut p = params("22");
        p.push(("maxTunnelDuration", "1".to_owned()));
        let mut ws = open(&sim, &p).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(u16::from(close.code), 1008);
        assert_eq!(
            close.reason.as_str(),
            "The tunnel was closed because it reached the maximum tunnel duration of 1 seconds."
        );
        finish(ws).await;
        assert_eq!(
            sim.wait_for(|s| s.tunnels_active == 0)
                .await
                .close_codes_sent,
            [1008]
        );
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_target_closes_with_1011_after_the_upgrade() {
    within(async {
        let closed_port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let sim = sim_with(closed_port, |_| {}).await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(u16::from(close.code), 1011);
        assert_eq!(
            close.reason.as_str(),
            "Failed to connect to 10.0.1.25:22: connection refused"
        );
        finish(ws).await;
        let mut ws = open(&sim, &params("3389")).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(u16::from(close.code), 1011);
        assert!(
            close
                .reason
                .starts_with("Failed to connect to 10.0.1.25:3389: "),
            "{}",
            close.reason
        );
        finish(ws).await;
        assert_eq!(
            sim.wait_for(|s| s.tunnels_active == 0)
                .await
                .close_codes_sent,
            [1011, 1011]
        );
    })
    .await;
}

#[tokio::test]
async fn client_close_half_closes_the_target_and_later_target_data_still_arrives() {
    within(async {
        let (seen_tx, seen_rx) = oneshot::channel();
        let target = scripted_target(|mut stream| async move {
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            let _ = seen_tx.send(received);
            stream
                .write_all(b"written after the client's Close")
                .await
                .unwrap();
            stream.shutdown().await.unwrap();
        })
        .await;
        let sim = sim_with(target, |_| {}).await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"hello")))
            .await
            .unwrap();
        ws.close(None).await.unwrap();
        assert_eq!(
            seen_rx.await.unwrap(),
            b"hello",
            "the target saw the data, then EOF"
        );
        let late = read_binary(&mut ws, 32).await;
        assert_eq!(late, b"written after the client's Close");
        assert_eq!(next_close(&mut ws).await.code, CloseCode::Normal);
    })
    .await;
}

/// Opens a tunnel by hand, for the cases tungstenite cannot play: it refuses to send
/// data after the server's Close, and never sends text or zero-length fragments.
async fn raw_open(sim: &EiceSim, params: &[(&str, String)]) -> TcpStream {
    let path = Signing::for_sim(sim).path(params);
    let mut tcp = TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        sim.addr()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "RFC 6455's sample accept key: {head}"
    );
    tcp
}

async fn server_frame(tcp: &mut TcpStream) -> (Opcode, Bytes) {
    let frame = read_server_frame(tcp).await.unwrap().expect("a frame");
    (frame.opcode, frame.payload)
}

#[tokio::test]
async fn target_eof_sends_close_1000_and_client_data_still_reaches_the_target() {
    within(async {
        let (seen_tx, seen_rx) = oneshot::channel();
        let target = scripted_target(|mut stream| async move {
            stream.write_all(b"bye").await.unwrap();
            stream.shutdown().await.unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            let _ = seen_tx.send(received);
        })
        .await;
        let sim = sim_with(target, |_| {}).await;
        let mut tcp = raw_open(&sim, &params("22")).await;
        assert_eq!(
            server_frame(&mut tcp).await,
            (Opcode::Binary, Bytes::from_static(b"bye"))
        );
        let (opcode, payload) = server_frame(&mut tcp).await;
        assert_eq!(
            (opcode, parse_close(&payload)),
            (Opcode::Close, Some((1000, String::new())))
        );
        for frame in [
            client_frame(Opcode::Binary, b"after ", false),
            client_frame(Opcode::Continuation, b"", false),
            client_frame(Opcode::Continuation, b"close", true),
            client_frame(Opcode::Binary, b"", true),
            client_frame(Opcode::Close, &1000u16.to_be_bytes(), true),
        ] {
            tcp.write_all(&frame).await.unwrap();
        }
        assert_eq!(seen_rx.await.unwrap(), b"after close");
        assert!(
            read_server_frame(&mut tcp).await.unwrap().is_none(),
            "then the service hangs up"
        );
        sim.wait_for(|s| s.tunnels_active == 0).await;
    })
    .await;
}

#[tokio::test]
async fn a_text_frame_closes_with_1003_and_pings_are_answered() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let mut tcp = raw_open(&sim, &params("22")).await;
        tcp.write_all(&client_frame(Opcode::Ping, b"are you there", true))
            .await
            .unwrap();
        assert_eq!(
            server_frame(&mut tcp).await,
            (Opcode::Pong, Bytes::from_static(b"are you there"))
        );
        tcp.write_all(&client_frame(Opcode::Text, b"ls -l", true))
            .await
            .unwrap();
        let (opcode, payload) = server_frame(&mut tcp).await;
        let (code, reason) = parse_close(&payload).unwrap();
        assert_eq!((opcode, code), (Opcode::Close, 1003));
        assert!(reason.contains("only binary frames"), "{reason}");
        tcp.write_all(&client_frame(Opcode::Close, &1000u16.to_be_bytes(), true))
            .await
            .unwrap();
        assert!(read_server_frame(&mut tcp).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_service_pings_and_counts_pongs() {
    within(async {
        let sim = sim_with(echo_target().await, |c| {
            c.ping_interval = Some(Duration::from_millis(20))
        })
        .await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        // tungstenite answers pings while it is being read.
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        let stats = sim.wait_for(|s| s.pongs_received >= 2).await;
        assert!(stats.pongs_received >= 2);
        reader.abort();
    })
    .await;
}

#[tokio::test]
async fn wss_with_the_test_ca_round_trips() {
    within(async {
        let sim = sim_with(echo_target().await, |c| c.tls = true).await;
        assert!(sim.url().starts_with("wss://127.0.0.1:"));
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(sim.ca_pem().unwrap().as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = TcpStream::connect(sim.addr()).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let signing = Signing {
            host: format!("localhost:{}", sim.addr().port()),
            ..Signing::for_sim(&sim)
        };
        let url = format!(
            "wss://localhost:{}{}",
            sim.addr().port(),
            signing.path(&params("22"))
        );
        let (mut ws, _) = client_async(url, tls).await.unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"over tls")))
            .await
            .unwrap();
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(data) => assert_eq!(data, "over tls"),
            other => panic!("expected data, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn an_ipv6_private_address_arrives_percent_encoded_and_routes() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        sim.add_target("[fd00:ec2::25]:22".parse().unwrap(), echo_target().await);
        let mut p = params("22");
        p.retain(|(k, _)| *k != "privateIpAddress");
        p.push(("privateIpAddress", "fd00:ec2::25".to_owned()));
        let path = Signing::for_sim(&sim).path(&p);
        assert!(
            path.contains("privateIpAddress=fd00%3Aec2%3A%3A25"),
            "{path}"
        );
        let mut ws = open_path(&sim, &path).await.unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"v6")))
            .await
            .unwrap();
        assert_eq!(read_binary(&mut ws, 2).await, b"v6");
    })
    .await;
}
