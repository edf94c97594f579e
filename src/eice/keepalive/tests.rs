//! The heartbeat against an in-memory WebSocket peer playing the service:
//! one that answers (tungstenite pongs every ping it reads) and one that
//! has gone silent (reads nothing).

use futures_util::StreamExt;
use tokio::io::{DuplexStream, duplex};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::*;
use crate::eice::TunnelError;
use crate::eice::tunnel::classify;

type Ws = WebSocketStream<DuplexStream>;

/// Bounds every wait; the tests pass long before it unless something is broken.
const PATIENCE: Duration = Duration::from_secs(30);

async fn ws_pair() -> (Ws, Ws) {
    let (a, b) = duplex(64 * 1024);
    let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
    let service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    (ours, service)
}

fn every(interval_ms: u64, timeout_ms: u64) -> Keepalive {
    Keepalive {
        interval: Some(Duration::from_millis(interval_ms)),
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// Reads `ours` until it ends, passing on what it yields.
fn reader(mut ours: Heartbeat<Ws>) -> mpsc::UnboundedReceiver<Result<Message, String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = ours.next().await {
            let failed = item.is_err();
            let _ = tx.send(item.map_err(|e| e.to_string()));
            if failed {
                break;
            }
        }
    });
    rx
}

#[tokio::test]
async fn a_quiet_tunnel_is_pinged_and_answered_pings_keep_it_open() {
    let (ours, mut service) = ws_pair().await;
    // An answer may take 25 intervals: far more than tungstenite needs.
    let mut from_ours = reader(Heartbeat::new(ours, every(20, 500)));
    let mut pings = 0;
    timeout(PATIENCE, async {
        // 40 pings span 780 ms or more, past the 500 ms without an answer
        // that would end the tunnel: a dead one would stop pinging.
        while pings < 40 {
            match service.next().await.unwrap().unwrap() {
                Message::Ping(_) => pings += 1,
                other => panic!("only pings expected, got {other:?}"),
            }
        }
    })
    .await
    .expect("pings go on");
    let first = timeout(PATIENCE, from_ours.recv())
        .await
        .expect("an answer");
    assert!(
        matches!(first, Some(Ok(Message::Pong(_)))),
        "the service's pongs reach the reader: {first:?}"
    );
}

#[tokio::test]
async fn a_service_that_stops_answering_is_declared_dead_with_the_reason() {
    let (ours, service) = ws_pair().await;
    let mut ours = Heartbeat::new(ours, every(20, 150));
    let item = timeout(PATIENCE, ours.next())
        .await
        .expect("the silence is noticed");
    drop(service);
    match classify(item) {
        Err(error @ TunnelError::Unanswered { after }) => {
            assert_eq!(after, Duration::from_millis(150));
            assert!(error.to_string().contains("keepalive pings"), "{error}");
        }
        other => panic!("expected an unanswered keepalive, got {other:?}"),
    }
}

#[tokio::test]
async fn off_sends_no_pings_and_never_judges() {
    let (ours, _service) = ws_pair().await;
    let off = Keepalive {
        interval: None,
        ..Keepalive::default()
    };
    assert!(Heartbeat::new(ours, off).beat.is_none());
}
