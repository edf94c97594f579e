//! A small server-side WebSocket frame codec (RFC 6455 §5).
//!
//! Hand-written rather than tungstenite's server because the simulated service must
//! keep sending the instance's data *after* the client's Close (a half-close, which
//! §5.5.1 allows): tungstenite answers a peer's Close at once and then refuses to
//! send data frames. Reading and writing frames directly leaves that choice to
//! the tunnel.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest frame accepted from a client: far above anything a real client sends
/// (the AWS CLI sends at most 65 000 bytes), low enough that a bogus length cannot
/// make the simulator allocate gigabytes.
pub(crate) const MAX_FRAME_LEN: u64 = 16 << 20;

/// Control frames carry at most 125 bytes (§5.5), so a Close reason at most 123.
const MAX_CONTROL_LEN: u64 = 125;

/// The frame types of RFC 6455 §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    /// The rest of a fragmented message.
    Continuation,
    /// UTF-8 text, which EICE does not accept.
    Text,
    /// Tunnel data.
    Binary,
    /// End of the conversation in one direction; code + reason.
    Close,
    /// Liveness probe; must be answered with a Pong carrying the same payload.
    Ping,
    /// Answer to a Ping.
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// One frame as read, payload already unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// Whether this is the last frame of its message.
    pub(crate) fin: bool,
    /// What the payload is.
    pub(crate) opcode: Opcode,
    /// The unmasked payload.
    pub(crate) payload: Bytes,
}

/// A frame that breaks RFC 6455 (or the simulator's size cap), or the stream failing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The connection failed or ended inside a frame.
    #[error("reading a frame failed: {0}")]
    Io(#[from] std::io::Error),
    /// §5.1: a server must close the connection on an unmasked client frame.
    #[error("client frames must be masked")]
    Unmasked,
    /// No extension was negotiated, so RSV1-3 must be zero.
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    /// §5.5: control frames carry at most 125 bytes.
    #[error("control frame of {0} bytes exceeds 125")]
    ControlTooLong(u64),
    /// §5.5: control frames must not be fragmented.
    #[error("control frames must not be fragmented")]
    FragmentedControl,
    /// Over [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes exceeds the 16 MiB limit")]
    TooLarge(u64),
}

impl FrameError {
    /// The Close code that tells the client what it did wrong: 1009 (too big) for an
    /// oversized frame, 1002 (protocol error) otherwise.
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            FrameError::TooLarge(_) => 1009,
            _ => 1002,
        }
    }
}

/// Reads one client frame. `Ok(None)` is a clean end of stream before a frame began;
/// an end of stream inside a frame is an error.
pub(crate) async fn read_frame<R>(reader: &mut R) -> Result<Option<Frame>, FrameError>
where
    R: AsyncRead + Unpin,
{
    read_frame_from(reader, true).await
}

/// Reads a frame, requiring a mask (server side) or forbidding one (client side, only
/// for tests that play the client).
async fn read_frame_from<R>(reader: &mut R, masked: bool) -> Result<Option<Frame>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut head = [0u8; 2];
    match reader.read(&mut head[..1]).await? {
        0 => return Ok(None),
        _ => reader.read_exact(&mut head[1..]).await?,
    };
    let (fin, opcode) = parse_first_byte(head[0])?;
    if (head[1] & 0x80 != 0) != masked {
        return Err(FrameError::Unmasked);
    }
    let len = read_length(reader, head[1] & 0x7F).await?;
    check_length(opcode, fin, len)?;
    let mut key = [0u8; 4];
    if masked {
        reader.read_exact(&mut key).await?;
    }
    let len = usize::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    // Read into spare capacity: no zero-filling of memory about to be overwritten.
    let mut payload = BytesMut::with_capacity(len);
    while payload.len() < len {
        let want = len - payload.len();
        if reader.read_buf(&mut (&mut payload).limit(want)).await? == 0 {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    apply_mask(&mut payload, key);
    Ok(Some(Frame {
        fin,
        opcode,
        payload: payload.freeze(),
    }))
}

fn parse_first_byte(byte: u8) -> Result<(bool, Opcode), FrameError> {
    if byte & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = Opcode::from_bits(byte & 0x0F).ok_or(FrameError::UnknownOpcode(byte & 0x0F))?;
    Ok((byte & 0x80 != 0, opcode))
}

/// The 7-bit length, or the 16- or 64-bit extended length it announces (126 / 127).
async fn read_length<R>(reader: &mut R, short: u8) -> Result<u64, FrameError>
where
    R: AsyncRead + Unpin,
{
    Ok(match short {
        126 => u64::from(reader.read_u16().await?),
        127 => reader.read_u64().await?,
        n => u64::from(n),
    })
}

fn check_length(opcode: Opcode, fin: bool, len: u64) -> Result<(), FrameError> {
    if opcode.is_control() && len > MAX_CONTROL_LEN {
        return Err(FrameError::ControlTooLong(len));
    }
    if opcode.is_control() && !fin {
        return Err(FrameError::FragmentedControl);
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    Ok(())
}

/// XOR with the 4-byte key (§5.3); an all-zero key is the identity, for unmasked frames.
///
/// Eight bytes at a time: the simulated service sits in every benchmark's
/// path, and a byte-wise loop made it, not the proxy, the bottleneck.
fn apply_mask(payload: &mut [u8], key: [u8; 4]) {
    if key == [0; 4] {
        return;
    }
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes((&*chunk).try_into().expect("eight bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The tail starts at a multiple of 8, so the key lines up again at key[0].
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Appends one final (FIN) frame to `buf`: unmasked when `mask` is `None`, as a
/// server must send; masked for tests that play the client.
pub(crate) fn encode_frame(
    buf: &mut BytesMut,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    buf.reserve(payload.len() + 14);
    let (header, head_len) = header(opcode, payload.len(), mask.is_some());
    buf.put_slice(&header[..head_len]);
    let start = buf.len();
    if let Some(key) = mask {
        buf.put_slice(&key);
    }
    buf.put_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut buf[start + 4..], key);
    }
}

/// Room for the longest header a server writes (2 bytes, 8 of extended length),
/// left in front of a payload that [`frame_in_place`] frames.
pub(crate) const HEADER_ROOM: usize = 10;

/// Writes the unmasked FIN header for the `len` bytes at `buf[HEADER_ROOM..]` just
/// before them, and returns where the frame begins: data read straight into a
/// buffer becomes a frame without being copied (the target → client path).
pub(crate) fn frame_in_place(buf: &mut [u8], opcode: Opcode, len: usize) -> usize {
    let (header, head_len) = header(opcode, len, false);
    let start = HEADER_ROOM - head_len;
    buf[start..HEADER_ROOM].copy_from_slice(&header[..head_len]);
    start
}

/// A FIN frame header without its mask key, and its length.
fn header(opcode: Opcode, len: usize, masked: bool) -> ([u8; HEADER_ROOM], usize) {
    let mut header = [0u8; HEADER_ROOM];
    header[0] = 0x80 | opcode.bits();
    let mask_bit = if masked { 0x80 } else { 0 };
    let head_len = match len {
        0..=125 => {
            header[1] = mask_bit | len as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = mask_bit | 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = mask_bit | 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    (header, head_len)
}

/// A Close payload: the code, then the reason cut to the 123 bytes a control frame
/// leaves for it (at a character boundary, so it stays valid UTF-8).
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_LEN as usize - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// The code and reason of a Close payload; `None` for an empty payload (which the
/// peer reports as 1005, "no status received"). Undecodable reasons are replaced
/// lossily: the simulator only logs them.
pub(crate) fn parse_close(payload: &[u8]) -> Option<(u16, String)> {
    let (code, reason) = payload.split_first_chunk::<2>()?;
    Some((
        u16::from_be_bytes(*code),
        String::from_utf8_lossy(reason).into_owned(),
    ))
}

#[cfg(test)]
pub(crate) mod tests;
