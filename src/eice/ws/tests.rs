//! The framing against tungstenite's server role (what the simulated EICE
//! runs), and against raw bytes for what a well-behaved server never sends.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::*;

const MAX: usize = 16 * 1024 * 1024;

async fn pair() -> (WsStream<DuplexStream>, WebSocketStream<DuplexStream>) {
    let (a, b) = duplex(1 << 20);
    let service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
    (WsStream::client(a, Vec::new(), MAX), service)
}

/// Raw bytes as the service, for frames tungstenite would never send.
fn raw() -> (WsStream<DuplexStream>, DuplexStream) {
    let (a, b) = duplex(1 << 16);
    (WsStream::client(a, Vec::new(), MAX), b)
}

#[test]
fn masking_round_trips_at_every_length_and_alignment() {
    let mask = [0x12, 0x34, 0x56, 0x78];
    for len in 0..80 {
        let plain: Vec<u8> = (0..len as u8).collect();
        let mut masked = plain.clone();
        frame::apply_mask(&mut masked, mask);
        for (i, (m, p)) in masked.iter().zip(&plain).enumerate() {
            assert_eq!(*m, p ^ mask[i % 4], "len {len} byte {i}");
        }
    }
}

#[test]
fn mask_keys_are_fresh_across_batches() {
    let mut keys = frame::MaskKeys::new();
    // Several batches: the refill must give new keys, not the old ones again.
    let drawn: Vec<[u8; 4]> = (0..600).map(|_| keys.next().expect("a key")).collect();
    let distinct: std::collections::HashSet<_> = drawn.iter().collect();
    // 600 random 32-bit keys collide with odds near 1 in 20 000; 590 allows a few.
    assert!(
        distinct.len() >= 590,
        "only {} distinct keys",
        distinct.len()
    );
    assert_ne!(drawn[..64], drawn[64..128], "a refill repeated the batch");
}

#[tokio::test]
async fn data_both_ways_with_pings_answered_and_the_close_echoed() {
    let (mut ours, mut service) = pair().await;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    ours.send(Message::Binary(Bytes::from(big.clone())))
        .await
        .unwrap();
    // A shared payload is masked in a copy; the caller's bytes stay as they were.
    let shared = Bytes::from_static(b"shared payload");
    ours.send(Message::Binary(shared.clone())).await.unwrap();
    assert_eq!(&shared[..], b"shared payload");
    match service.next().await.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(data, big),
        other => panic!("{other:?}"),
    }
    match service.next().await.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(&data[..], b"shared payload"),
        other => panic!("{other:?}"),
    }

    service
        .send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    service
        .send(Message::Binary(Bytes::from(big.clone())))
        .await
        .unwrap();
    assert!(matches!(
        ours.next().await.unwrap().unwrap(),
        Message::Ping(_)
    ));
    match ours.next().await.unwrap().unwrap() {
        Message::Binary(data) => assert_eq!(data, big),
        other => panic!("{other:?}"),
    }
    match service.next().await.unwrap().unwrap() {
        Message::Pong(data) => assert_eq!(&data[..], b"p"),
        other => panic!("{other:?}"),
    }

    service
        .close(Some(CloseFrame {
            code: CloseCode::from(1011),
            reason: "Failed to connect".into(),
        }))
        .await
        .unwrap();
    match ours.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 1011);
            assert_eq!(frame.reason.as_str(), "Failed to connect");
        }
        other => panic!("{other:?}"),
    }
    assert!(ours.next().await.is_none());
    ours.flush().await.unwrap();
    // The service sees our echo, which completes its closing handshake.
    match service.next().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1011),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ours.send(Message::Binary(Bytes::from_static(b"late")))
            .await,
        Err(Error::Protocol(ProtocolError::SendAfterClosing))
    ));
}

#[tokio::test]
async fn our_close_then_theirs_ends_the_stream_cleanly() {
    let (mut ours, mut service) = pair().await;
    ours.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    })))
    .await
    .unwrap();
    match service.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("{other:?}"),
    }
    // tungstenite queued its reply; sending it completes the handshake.
    let _ = service.flush().await;
    match ours.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
        other => panic!("{other:?}"),
    }
    assert!(ours.next().await.is_none());
}

#[tokio::test]
async fn fragments_arrive_as_they_come_and_misplaced_ones_are_errors() {
    let (mut ours, mut far) = raw();
    // Binary "ab" not final, then a ping between fragments, then "cd" final.
    far.write_all(&[0x02, 2, b'a', b'b', 0x89, 0, 0x80, 2, b'c', b'd'])
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        match ours.next().await.unwrap().unwrap() {
            Message::Binary(data) => got.extend_from_slice(&data),
            Message::Ping(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, b"abcd");
    // A continuation with no message started.
    far.write_all(&[0x80, 1, b'x']).await.unwrap();
    assert!(matches!(
        ours.next().await,
        Some(Err(Error::Protocol(ProtocolError::UnexpectedContinueFrame)))
    ));
    assert!(ours.next().await.is_none());
}

/// One frame `bytes` from the service, and the error it must cause.
async fn rejected(bytes: &[u8]) -> Error {
    let (mut ours, mut far) = raw();
    far.write_all(bytes).await.unwrap();
    loop {
        match ours.next().await {
            Some(Err(e)) => return e,
            // Frames before the bad one pass.
            Some(Ok(Message::Binary(_))) => {}
            other => panic!("{bytes:?} was accepted: {other:?}"),
        }
    }
}

#[tokio::test]
async fn what_a_server_must_not_send_is_rejected() {
    assert!(matches!(
        rejected(&[0xC2, 0]).await,
        Error::Protocol(ProtocolError::NonZeroReservedBits)
    ));
    assert!(matches!(
        rejected(&[0x82, 0x81, 1, 2, 3, 4, 5]).await,
        Error::Protocol(ProtocolError::MaskedFrameFromServer)
    ));
    assert!(matches!(
        rejected(&[0x83, 0]).await,
        Error::Protocol(ProtocolError::UnknownDataFrameType(3))
    ));
    assert!(matches!(
        rejected(&[0x8B, 0]).await,
        Error::Protocol(ProtocolError::UnknownControlFrameType(11))
    ));
    assert!(matches!(
        rejected(&[0x09, 0]).await,
        Error::Protocol(ProtocolError::FragmentedControlFrame)
    ));
    assert!(matches!(
        rejected(&[0x89, 126, 0, 126]).await,
        Error::Protocol(ProtocolError::ControlFrameTooBig)
    ));
    assert!(matches!(
        rejected(&[0x88, 1, 3]).await,
        Error::Protocol(ProtocolError::InvalidCloseSequence)
    ));
    let mut huge = vec![0x82, 127];
    huge.extend_from_slice(&(MAX as u64 + 1).to_be_bytes());
    assert!(matches!(
        rejected(&huge).await,
        Error::Capacity(
            tokio_tungstenite::tungstenite::error::CapacityError::MessageTooLong { .. }
        )
    ));
    // A second data message before the first one's last fragment.
    assert!(matches!(
        rejected(&[0x02, 1, b'a', 0x82, 1, b'b']).await,
        Error::Protocol(ProtocolError::ExpectedFragment(Data::Binary))
    ));
}

#[tokio::test]
async fn an_end_without_a_close_is_a_reset_and_a_bad_close_code_becomes_1002() {
    let (mut ours, far) = raw();
    drop(far);
    assert!(matches!(
        ours.next().await,
        Some(Err(Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake
        )))
    ));

    // 1005 may not be sent on the wire: reported (and echoed) as 1002.
    let (mut ours, mut far) = raw();
    far.write_all(&[0x88, 2, 0x03, 0xED]).await.unwrap();
    match ours.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1002),
        other => panic!("{other:?}"),
    }
    ours.flush().await.unwrap();
    let mut echo = [0u8; 2];
    far.read_exact(&mut echo).await.unwrap();
    assert_eq!(echo[0], 0x88, "a final close frame");
    assert_eq!(echo[1] & 0x80, 0x80, "masked, as a client's frames must be");
}

/// A service that pings and never reads our answers: the pongs that cannot
/// be written do not pile up. Each ping's pong replaces the one still owed,
/// so at most one waits and one is partly written, and the latest goes out.
#[tokio::test]
async fn a_server_that_pings_without_reading_is_owed_one_pong_at_a_time() {
    const PINGS: u32 = 4000;
    const PAYLOAD: usize = 122;
    let (mut ours, far) = raw();
    let (mut far_read, mut far_write) = tokio::io::split(far);
    // 122-byte pings: their pongs would fill the 64 KiB pipe eight times
    // over, and being 128 bytes they fill it exactly, so a pong also waits
    // whole (not partly written) when the next ping comes.
    let pinger = tokio::spawn(async move {
        for i in 0..PINGS {
            let mut ping = vec![0x89, PAYLOAD as u8];
            ping.extend_from_slice(&i.to_be_bytes());
            ping.resize(2 + PAYLOAD, b'.');
            far_write.write_all(&ping).await.unwrap();
        }
        far_write
    });
    for i in 0..PINGS {
        match ours.next().await.unwrap().unwrap() {
            Message::Ping(payload) => assert_eq!(payload[..4], i.to_be_bytes()),
            other => panic!("{other:?}"),
        }
        let held = ours.out.len() + usize::from(ours.pong.is_some());
        assert!(
            ours.out.len() <= 1 && held <= 2,
            "after ping {i}: {} frames queued and a pong owed: {}",
            ours.out.len(),
            ours.pong.is_some()
        );
    }
    let _far_write = pinger.await.unwrap();

    // The service reads at last: it gets what fitted in the pipe, then the
    // answer to the last ping.
    let mut got = Vec::new();
    let (flushed, read) = tokio::join!(
        async move {
            let flushed = ours.flush().await;
            drop(ours);
            flushed
        },
        far_read.read_to_end(&mut got)
    );
    flushed.unwrap();
    read.unwrap();
    const PONG: usize = 2 + 4 + PAYLOAD;
    assert_eq!(got.len() % PONG, 0, "whole pong frames only");
    let pongs = got.len() / PONG;
    assert!(
        pongs < PINGS as usize / 4,
        "{pongs} pongs for {PINGS} pings"
    );
    let last = &got[got.len() - PONG..];
    assert_eq!(
        &last[..2],
        &[0x8A, 0x80 | PAYLOAD as u8],
        "a masked final pong"
    );
    let mut payload = last[6..].to_vec();
    frame::apply_mask(&mut payload, last[2..6].try_into().unwrap());
    assert_eq!(payload[..4], (PINGS - 1).to_be_bytes(), "the latest ping's");
}

/// A header may claim a frame of up to the limit and then send a trickle:
/// the buffer grows with the bytes that come, not with the claim.
#[tokio::test]
async fn a_header_claiming_16_mib_reserves_a_step_until_the_bytes_come() {
    let (mut ours, mut far) = raw();
    let mut head = vec![0x82, 127];
    head.extend_from_slice(&(MAX as u64).to_be_bytes());
    far.write_all(&head).await.unwrap();
    far.write_all(b"abc").await.unwrap();
    // One poll reads the header and the three bytes, then waits.
    assert!(futures_util::FutureExt::now_or_never(ours.next()).is_none());
    assert_eq!(ours.header.map(|h| h.len), Some(MAX), "the header was read");
    assert_eq!(&ours.rbuf[..], b"abc");
    assert!(
        ours.rbuf.capacity() <= READ_STEP + READ_AHEAD,
        "{} bytes reserved for 3 that came",
        ours.rbuf.capacity()
    );

    // The rest comes: the frame is whole, its buffer grown step by step.
    let writer = tokio::spawn(async move {
        let rest: Vec<u8> = (3..MAX).map(|i| (i % 251) as u8).collect();
        far.write_all(&rest).await.unwrap();
        far
    });
    match ours.next().await.unwrap().unwrap() {
        Message::Binary(data) => {
            assert_eq!(data.len(), MAX);
            assert_eq!(&data[..3], b"abc");
            assert!((3..MAX).all(|i| data[i] == (i % 251) as u8));
        }
        other => panic!("{other:?}"),
    }
    writer.await.unwrap();
}
