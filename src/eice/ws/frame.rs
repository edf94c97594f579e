//! RFC 6455 frames for the client role: parsing the service's (unmasked)
//! headers strictly, and writing our (masked) frames.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWrite;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data};
use tokio_tungstenite::tungstenite::{self, Error};

/// The longest header: 2 bytes, 8 of extended length, 4 of mask.
pub(super) const MAX_HEADER: usize = 14;

/// The most payload a control frame may carry (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Data(Data),
    Control(Control),
}

impl Kind {
    fn opcode(self) -> u8 {
        match self {
            Kind::Data(Data::Continue) => 0x0,
            Kind::Data(Data::Text) => 0x1,
            Kind::Data(Data::Binary) => 0x2,
            Kind::Data(Data::Reserved(op)) | Kind::Control(Control::Reserved(op)) => op,
            Kind::Control(Control::Close) => 0x8,
            Kind::Control(Control::Ping) => 0x9,
            Kind::Control(Control::Pong) => 0xA,
        }
    }
}

/// A parsed header of a frame from the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) fin: bool,
    pub(super) kind: Kind,
    pub(super) len: usize,
}

/// Parses the header at the start of `buf`: `Ok(None)` until all of it is
/// there, else the header and its length in bytes. Rejects what tungstenite
/// rejects in a client: reserved bits, reserved opcodes, masked frames,
/// fragmented or oversized control frames, frames over `max_frame`.
pub(super) fn parse(buf: &[u8], max_frame: usize) -> Result<Option<(Header, usize)>, Error> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    if first & 0x70 != 0 {
        return Err(ProtocolError::NonZeroReservedBits.into());
    }
    let kind = match first & 0x0F {
        0x0 => Kind::Data(Data::Continue),
        0x1 => Kind::Data(Data::Text),
        0x2 => Kind::Data(Data::Binary),
        op @ 0x3..=0x7 => return Err(ProtocolError::UnknownDataFrameType(op).into()),
        0x8 => Kind::Control(Control::Close),
        0x9 => Kind::Control(Control::Ping),
        0xA => Kind::Control(Control::Pong),
        op => return Err(ProtocolError::UnknownControlFrameType(op).into()),
    };
    if second & 0x80 != 0 {
        return Err(ProtocolError::MaskedFrameFromServer.into());
    }
    let (len, size) = match second & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if let Kind::Control(_) = kind {
        if !fin {
            return Err(ProtocolError::FragmentedControlFrame.into());
        }
        if len > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlFrameTooBig.into());
        }
    }
    if len > max_frame as u64 {
        return Err(Error::Capacity(CapacityError::MessageTooLong {
            size: usize::try_from(len).unwrap_or(usize::MAX),
            max_size: max_frame,
        }));
    }
    let len = usize::try_from(len).expect("bounded by max_frame");
    Ok(Some((Header { fin, kind, len }, size)))
}

/// A final, masked frame header for `len` bytes of `kind` into `out`;
/// returns its length.
fn write_header(out: &mut [u8; MAX_HEADER], kind: Kind, len: usize, mask: [u8; 4]) -> usize {
    out[0] = 0x80 | kind.opcode();
    let at = if len < 126 {
        out[1] = 0x80 | len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 0x80 | 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 0x80 | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    out[at..at + 4].copy_from_slice(&mask);
    at + 4
}

/// One frame to write: its header, then its masked payload.
pub(super) struct Outgoing {
    /// The header, of which `head_len` bytes are used and `head_at` written.
    head: [u8; MAX_HEADER],
    head_len: usize,
    head_at: usize,
    /// The masked payload still to write.
    body: BytesMut,
}

impl Outgoing {
    /// A final frame of `kind` carrying `body`, already masked with `mask`.
    pub(super) fn new(kind: Kind, body: BytesMut, mask: [u8; 4]) -> Outgoing {
        let mut head = [0u8; MAX_HEADER];
        let head_len = write_header(&mut head, kind, body.len(), mask);
        Outgoing {
            head,
            head_len,
            head_at: 0,
            body,
        }
    }

    /// Whether some of it is written: then it must be finished before any
    /// other frame.
    pub(super) fn started(&self) -> bool {
        self.head_at > 0
    }

    /// Writes as much of the frame as `to` takes; `true` once all of it is out.
    pub(super) fn poll_write<T: AsyncWrite>(
        &mut self,
        to: Pin<&mut T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<bool, Error>> {
        let head = &self.head[self.head_at..self.head_len];
        let bufs = [IoSlice::new(head), IoSlice::new(&self.body)];
        let written = ready!(to.poll_write_vectored(cx, &bufs))?;
        if written == 0 {
            return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
        }
        let from_head = written.min(head.len());
        self.head_at += from_head;
        self.body.advance(written - from_head);
        Poll::Ready(Ok(self.head_at == self.head_len && self.body.is_empty()))
    }
}

/// How many mask keys one draw from the generator yields.
const KEYS_PER_DRAW: usize = 64;

/// Mask keys for one connection, drawn from the secure generator in batches.
///
/// RFC 6455 §5.3 wants each key unpredictable, so that a client's payload
/// cannot be chosen to look like another protocol to proxies on the way;
/// aws-lc's generator is the one TLS already uses. One draw per frame made its
/// per-call work (reseed checks, jitter entropy) show in the data path's
/// profile; one draw per 64 frames gives keys from the same generator, each
/// used once and never shown to anyone before its frame goes out.
pub(super) struct MaskKeys {
    /// On the heap, and only once a frame is sent: a tunnel stays small.
    pool: Vec<u8>,
    /// The next unused key's offset in `pool`; `pool.len()` when used up.
    next: usize,
}

impl MaskKeys {
    /// An empty pool: the first key draws a batch.
    pub(super) fn new() -> MaskKeys {
        MaskKeys {
            pool: Vec::new(),
            next: 0,
        }
    }

    /// A fresh key, never handed out before.
    pub(super) fn next(&mut self) -> Result<[u8; 4], Error> {
        if self.next == self.pool.len() {
            self.pool.resize(4 * KEYS_PER_DRAW, 0);
            // Still "used up" if the draw fails: a failed draw never hands out zeros.
            self.next = self.pool.len();
            SystemRandom::new().fill(&mut self.pool).map_err(|_| {
                Error::Io(std::io::Error::other("no random bytes for a frame mask"))
            })?;
            self.next = 0;
        }
        let key = self.pool[self.next..self.next + 4]
            .try_into()
            .expect("four bytes");
        // Wiped once taken, so a key is in memory only until its frame is built.
        self.pool[self.next..self.next + 4].fill(0);
        self.next += 4;
        Ok(key)
    }
}

/// XORs `buf` with `mask` in place, sixteen bytes at a time (one SSE2
/// register: every x86-64 has it, so the compiler uses it without a
/// target feature): masking was 5% of the proxy's CPU on an upload, in
/// eight-byte steps.
pub(super) fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let wide = u128::from_ne_bytes(std::array::from_fn(|i| mask[i % 4]));
    let mut chunks = buf.chunks_exact_mut(16);
    for chunk in &mut chunks {
        let word = u128::from_ne_bytes((&*chunk).try_into().expect("16 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// The close frame's payload: a code, then a UTF-8 reason.
pub(super) fn close_payload(frame: &tungstenite::protocol::CloseFrame) -> Vec<u8> {
    let mut payload = u16::from(frame.code).to_be_bytes().to_vec();
    payload.extend_from_slice(frame.reason.as_bytes());
    payload
}
