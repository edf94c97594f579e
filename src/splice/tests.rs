//! The splice against an in-memory WebSocket peer playing the service.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::*;

type Ws = WebSocketStream<DuplexStream>;

/// Our side (client role) and the service's side (server role) of one WebSocket.
async fn ws_pair() -> (Ws, Ws) {
    let (a, b) = duplex(256 * 1024);
    let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
    let service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    (ours, service)
}

/// A deterministic pseudo-random payload.
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn bytes_cross_both_ways_and_client_eof_closes_normally() {
    let (ours, mut service) = ws_pair().await;
    let (client, proxy_side) = duplex(64 * 1024);
    let splice = tokio::spawn(splice(proxy_side, ours));

    let up = payload(300_000, 1);
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let up_copy = up.clone();
    let writer = tokio::spawn(async move {
        client_wr.write_all(&up_copy).await.unwrap();
        client_wr.shutdown().await.unwrap();
    });

    // The service echoes nothing until the client is done, then answers.
    let mut received = Vec::new();
    let close = loop {
        match service.next().await.unwrap().unwrap() {
            Message::Binary(data) => {
                assert!(data.len() <= MAX_FRAME_PAYLOAD);
                received.extend_from_slice(&data);
            }
            Message::Close(frame) => break frame,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(received, up, "every client byte arrives before the close");
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1000));
    writer.await.unwrap();

    // The service's close reply ends the splice and the client sees EOF.
    service.flush().await.unwrap();
    let finished = splice.await.unwrap();
    assert!(finished.result.is_ok(), "{:?}", finished.result);
    assert_eq!(finished.totals.up, up.len() as u64);
    let mut rest = Vec::new();
    client_rd.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

#[tokio::test]
async fn service_data_sent_after_our_close_is_still_delivered() {
    let (ours, mut service) = ws_pair().await;
    let (client, proxy_side) = duplex(64 * 1024);
    let splice = tokio::spawn(splice(proxy_side, ours));
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    client_wr.write_all(b"request").await.unwrap();
    client_wr.shutdown().await.unwrap();

    // Read the request frame but not yet the close that follows it, send the
    // answer, and only then read the close (which the library answers).
    let first = service.next().await.unwrap().unwrap();
    assert_eq!(first, Message::Binary(Bytes::from_static(b"request")));
    let answer = payload(500_000, 3);
    let service_task = tokio::spawn({
        let answer = answer.clone();
        async move {
            for chunk in answer.chunks(40_000) {
                service
                    .send(Message::Binary(Bytes::copy_from_slice(chunk)))
                    .await
                    .unwrap();
            }
            match service.next().await.unwrap().unwrap() {
                Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
                other => panic!("unexpected {other:?}"),
            }
            service.flush().await.unwrap();
        }
    });
    let mut got = Vec::new();
    client_rd.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, answer);
    service_task.await.unwrap();
    let finished = splice.await.unwrap();
    assert!(finished.result.is_ok(), "{:?}", finished.result);
    assert_eq!(
        finished.totals,
        Totals {
            up: 7,
            down: answer.len() as u64
        }
    );
}

#[tokio::test]
async fn an_error_close_delivers_earlier_data_then_reports_the_reason() {
    let (ours, mut service) = ws_pair().await;
    let (client, proxy_side) = duplex(64 * 1024);
    let splice = tokio::spawn(splice(proxy_side, ours));

    service
        .send(Message::Binary(Bytes::from_static(b"last words")))
        .await
        .unwrap();
    service
        .send(Message::Close(Some(CloseFrame {
            code: 1008.into(),
            reason: "maximum tunnel duration reached".into(),
        })))
        .await
        .unwrap();
    let (mut client_rd, _client_wr) = tokio::io::split(client);
    let mut got = Vec::new();
    client_rd.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words", "data before the close, then EOF");
    let finished = splice.await.unwrap();
    match finished.result {
        Err(SpliceError::Tunnel(TunnelError::Closed { code, reason })) => {
            assert_eq!(code, 1008);
            assert_eq!(reason, "maximum tunnel duration reached");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_text_frame_is_a_protocol_error() {
    let (ours, mut service) = ws_pair().await;
    let (_client, proxy_side) = duplex(1024);
    let splice = tokio::spawn(splice(proxy_side, ours));
    service.send(Message::Text("hello".into())).await.unwrap();
    let finished = splice.await.unwrap();
    assert!(
        matches!(
            finished.result,
            Err(SpliceError::Tunnel(TunnelError::TextFrame))
        ),
        "{:?}",
        finished.result
    );
}

#[tokio::test]
async fn zero_length_frames_are_tolerated() {
    let (ours, mut service) = ws_pair().await;
    let (client, proxy_side) = duplex(1024);
    let splice = tokio::spawn(splice(proxy_side, ours));
    service.send(Message::Binary(Bytes::new())).await.unwrap();
    service
        .send(Message::Binary(Bytes::from_static(b"x")))
        .await
        .unwrap();
    service.close(None).await.unwrap();
    let (mut client_rd, _w) = tokio::io::split(client);
    let mut got = Vec::new();
    client_rd.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"x");
    assert!(splice.await.unwrap().result.is_ok());
}

/// Sums what it is told, and the largest chunk.
#[derive(Default)]
struct Tally {
    up: std::sync::atomic::AtomicU64,
    down: std::sync::atomic::AtomicU64,
    largest_up: std::sync::atomic::AtomicU64,
}

impl Observer for Tally {
    fn up(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.up.fetch_add(bytes, Relaxed);
        self.largest_up.fetch_max(bytes, Relaxed);
    }
    fn down(&self, bytes: u64) {
        self.down
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

#[tokio::test]
async fn the_observer_is_told_every_byte_early_data_included() {
    use std::sync::atomic::Ordering::Relaxed;
    let (ours, mut service) = ws_pair().await;
    let (client, proxy_side) = duplex(64 * 1024);
    let tally = std::sync::Arc::new(Tally::default());
    let watching = tally.clone();
    let splice = tokio::spawn(async move {
        let early = Bytes::from_static(b"SSH-2.0-banner\r\n");
        splice_after(proxy_side, ours, early, &*watching).await
    });
    let (mut client_rd, mut client_wr) = tokio::io::split(client);
    let up = payload(200_000, 5);
    let up_copy = up.clone();
    let writer = tokio::spawn(async move {
        client_wr.write_all(&up_copy).await.unwrap();
        client_wr.shutdown().await.unwrap();
    });
    // The service answers at once, then takes everything until our close.
    service
        .send(Message::Binary(Bytes::from_static(b"bye")))
        .await
        .unwrap();
    let mut received = 0;
    loop {
        match service.next().await.unwrap().unwrap() {
            Message::Binary(data) => received += data.len(),
            Message::Close(_) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(received, up.len());
    service.flush().await.unwrap();
    writer.await.unwrap();
    let mut got = Vec::new();
    client_rd.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"SSH-2.0-banner\r\nbye");

    let finished = splice.await.unwrap();
    assert_eq!(tally.up.load(Relaxed), finished.totals.up);
    assert_eq!(tally.down.load(Relaxed), finished.totals.down);
    assert_eq!(finished.totals.up, up.len() as u64);
    assert_eq!(finished.totals.down, got.len() as u64);
    assert!(tally.largest_up.load(Relaxed) <= MAX_FRAME_PAYLOAD as u64);
}

#[tokio::test]
async fn a_tunnel_whose_pings_go_unanswered_is_closed_with_the_reason() {
    use crate::eice::{Heartbeat, Keepalive};
    use std::time::Duration;
    let (ours, _service) = ws_pair().await;
    let keepalive = Keepalive {
        interval: Some(Duration::from_millis(20)),
        timeout: Duration::from_millis(100),
    };
    let (mut client, proxy_side) = duplex(64 * 1024);
    let splice = tokio::spawn(splice(proxy_side, Heartbeat::new(ours, keepalive)));
    // The service reads nothing and so answers no ping: the client is told
    // by the end of its stream, not left hanging.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), client.read_to_end(&mut rest))
        .await
        .expect("the client's connection is closed");
    assert_eq!(read.unwrap(), 0);
    drop(client);
    let finished = splice.await.unwrap();
    match finished.result {
        Err(SpliceError::Tunnel(TunnelError::Unanswered { after })) => {
            assert_eq!(after, Duration::from_millis(100));
        }
        other => panic!("expected an unanswered keepalive, got {other:?}"),
    }
}
