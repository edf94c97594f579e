//! Codec tests, plus the client-side helpers (masked frames out, unmasked frames
//! in) that the tunnel tests use to play a client tungstenite cannot imitate.

use super::*;

/// Reads a server (unmasked) frame, for tests that play the client.
pub(crate) async fn read_server_frame<R>(reader: &mut R) -> Result<Option<Frame>, FrameError>
where
    R: AsyncRead + Unpin,
{
    read_frame_from(reader, false).await
}

/// A masked client frame with the given FIN bit.
pub(crate) fn client_frame(opcode: Opcode, payload: &[u8], fin: bool) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(&mut buf, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]));
    if !fin {
        buf[0] &= 0x7F;
    }
    buf
}

async fn decode(bytes: &[u8]) -> Result<Option<Frame>, FrameError> {
    read_frame(&mut &bytes[..]).await
}

#[tokio::test]
async fn masked_frames_of_every_length_form_round_trip() {
    for len in [0usize, 1, 125, 126, 1000, 0xFFFF, 0x1_0000, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let bytes = client_frame(Opcode::Binary, &payload, true);
        let header = bytes.len() - len;
        assert_eq!(
            header,
            2 + 4
                + if len < 126 {
                    0
                } else if len <= 0xFFFF {
                    2
                } else {
                    8
                }
        );
        if len > 4 {
            assert_ne!(
                &bytes[header..header + 4],
                &payload[..4],
                "payload is masked"
            );
        }
        let frame = decode(&bytes).await.unwrap().unwrap();
        assert_eq!(
            frame,
            Frame {
                fin: true,
                opcode: Opcode::Binary,
                payload: payload.into()
            }
        );
    }
}

#[tokio::test]
async fn unmasked_server_frames_round_trip() {
    for len in [0usize, 125, 126, 0xFFFF, 0x1_0000] {
        let payload = vec![0xA5; len];
        // Data framed in place, as the tunnel sends it, equals the encoded frame.
        let mut room = vec![0u8; HEADER_ROOM];
        room.extend_from_slice(&payload);
        let start = frame_in_place(&mut room, Opcode::Binary, len);
        let out = room.split_off(start);
        let mut encoded = BytesMut::new();
        encode_frame(&mut encoded, Opcode::Binary, &payload, None);
        assert_eq!(out, encoded[..], "len {len}");
        assert_eq!(out[1] & 0x80, 0, "servers never mask");
        let frame = read_server_frame(&mut &out[..]).await.unwrap().unwrap();
        assert_eq!(frame.payload, payload);
    }
}

#[tokio::test]
async fn close_frames_carry_code_and_reason() {
    let payload = close_payload(1008, "tunnel reached its maximum duration");
    let bytes = client_frame(Opcode::Close, &payload, true);
    let frame = decode(&bytes).await.unwrap().unwrap();
    assert_eq!(frame.opcode, Opcode::Close);
    let parsed = parse_close(&frame.payload).unwrap();
    assert_eq!(
        parsed,
        (1008, "tunnel reached its maximum duration".to_owned())
    );
    assert_eq!(parse_close(&[]), None);
    let long = "é".repeat(100);
    let cut = close_payload(1011, &long);
    assert!(cut.len() <= 125);
    assert!(std::str::from_utf8(&cut[2..]).is_ok());
}

#[tokio::test]
async fn protocol_violations_are_refused() {
    let mut unmasked = BytesMut::new();
    encode_frame(&mut unmasked, Opcode::Binary, b"x", None);
    assert!(matches!(decode(&unmasked).await, Err(FrameError::Unmasked)));
    let big_ping = client_frame(Opcode::Ping, &[0; 126], true);
    assert!(matches!(
        decode(&big_ping).await,
        Err(FrameError::ControlTooLong(126))
    ));
    let split_ping = client_frame(Opcode::Ping, b"x", false);
    assert!(matches!(
        decode(&split_ping).await,
        Err(FrameError::FragmentedControl)
    ));
    let huge = [0x82, 0xFF, 0, 0, 0, 0, 0x01, 0, 0, 1];
    let err = decode(&huge).await.unwrap_err();
    assert!(matches!(err, FrameError::TooLarge(_)) && err.close_code() == 1009);
    let reserved = [0xC2, 0x80, 0, 0, 0, 0];
    assert!(matches!(
        decode(&reserved).await,
        Err(FrameError::ReservedBits)
    ));
    assert!(matches!(
        decode(&[0x83, 0x80]).await,
        Err(FrameError::UnknownOpcode(3))
    ));
    assert!(decode(&[]).await.unwrap().is_none());
    assert!(matches!(decode(&[0x82]).await, Err(FrameError::Io(_))));
}

#[tokio::test]
async fn fragments_keep_their_fin_bit_and_opcode() {
    let mut bytes = client_frame(Opcode::Binary, b"ab", false);
    bytes.extend_from_slice(&client_frame(Opcode::Continuation, b"cd", true));
    let mut reader = &bytes[..];
    let first = read_frame(&mut reader).await.unwrap().unwrap();
    let second = read_frame(&mut reader).await.unwrap().unwrap();
    assert!(!first.fin && first.opcode == Opcode::Binary);
    assert!(second.fin && second.opcode == Opcode::Continuation && second.payload == "cd");
}
