//! The tunnel's WebSocket framing (RFC 6455, client role), written for the
//! data path: each byte is touched as few times as a TLS relay touches it.
//!
//! tungstenite, which this replaces after the upgrade, copies each outgoing
//! frame into its write buffer and masks it there in a second pass, then
//! rustls copies it again into a record; incoming bytes are read into a
//! zero-filled buffer. Here an outgoing payload the caller owns (the splice's
//! read buffer) is masked in place and written with its header as one
//! vectored write, which rustls seals straight into a record (plain TCP: one
//! `writev`, no copy at all); incoming frames are read into uninitialised
//! memory sized to the frame (grown as its bytes arrive when it is larger
//! than [`READ_STEP`]) and handed on as [`Bytes`] without a copy.
//! Measured in `benches/e2e.rs` against the tungstenite build.
//!
//! It speaks tungstenite's `Message` and `Error`, so the keepalive, the
//! splice, [`super::TunnelStream`] and close-code handling
//! ([`super::tunnel::classify`]) are the same for both, and it is as strict:
//! reserved bits and opcodes, masked or oversized frames from the service,
//! fragmented or long control frames, continuation out of place, and a
//! connection that ends without a close frame are errors. Pings are answered
//! (only the latest, when answers wait on a full socket), a close is echoed
//! (a code not allowed on the wire becomes 1002, as in tungstenite), and
//! nothing but a close is sent after one.

mod frame;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Control, Data};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Utf8Bytes};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_util::io::poll_read_buf;

use frame::{Header, Kind, MAX_HEADER, MaskKeys, Outgoing};

/// Bytes read at a time while no frame header is known: a whole small frame
/// (an interactive keystroke, a ping) in one read, and little to move to
/// the front of the buffer when a read runs past a frame's end.
const READ_AHEAD: usize = 4096;

/// The most buffer reserved ahead of bytes that have arrived, while a
/// frame's payload is read: a header may claim up to the frame limit
/// (16 MiB) and then send nothing, so memory grows with what comes (at most
/// doubling what is held), never with what a header says. The step covers
/// a whole 64 KiB frame and the next header (the AWS CLI sends at most
/// 65,000 bytes a frame, the simulated service 64 KiB), so such a frame is
/// still read into one buffer sized to it, in as few reads as before.
const READ_STEP: usize = 128 * 1024;

/// A client WebSocket over `T`, after the upgrade.
pub struct WsStream<T> {
    io: T,
    /// Bytes from the service not yet handed on.
    rbuf: BytesMut,
    /// The frame whose payload is being read.
    header: Option<Header>,
    /// A fragmented data message is in progress: what its first frame was.
    fragmented: Option<Data>,
    /// Frames to write, in order; the front one may be partly written.
    out: VecDeque<Outgoing>,
    /// The answer to the latest ping, not yet started. A newer ping replaces
    /// it (as in tungstenite): a server that pings without reading our
    /// answers costs one pong, not one per ping.
    pong: Option<Outgoing>,
    /// We sent (or queued) a close frame: only a close may follow.
    sent_close: bool,
    /// The service's close frame arrived.
    received_close: bool,
    /// Reading is over: the stream yields `None`.
    ended: bool,
    /// The largest frame accepted from the service.
    max_frame: usize,
    /// Where each frame's mask key comes from.
    masks: MaskKeys,
}

/// No payloads in logs: only the state.
impl<T> fmt::Debug for WsStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsStream")
            .field("buffered_in", &self.rbuf.len())
            .field("frames_out", &self.out.len())
            .field("pong_owed", &self.pong.is_some())
            .field("sent_close", &self.sent_close)
            .field("received_close", &self.received_close)
            .finish_non_exhaustive()
    }
}

impl<T> WsStream<T> {
    /// The client side of an upgraded connection; `tail` is what was read
    /// past the 101 response, `max_frame` bounds an incoming frame.
    pub fn client(io: T, tail: Vec<u8>, max_frame: usize) -> WsStream<T> {
        WsStream {
            io,
            rbuf: BytesMut::from(&tail[..]),
            header: None,
            fragmented: None,
            out: VecDeque::new(),
            pong: None,
            sent_close: false,
            received_close: false,
            ended: false,
            max_frame,
            masks: MaskKeys::new(),
        }
    }

    /// Queues one frame.
    fn queue(&mut self, kind: Kind, payload: Bytes) -> Result<(), Error> {
        let frame = self.frame(kind, payload)?;
        self.out.push_back(frame);
        Ok(())
    }

    /// One frame to write, masking `payload` in place when no one else holds it.
    fn frame(&mut self, kind: Kind, payload: Bytes) -> Result<Outgoing, Error> {
        let mask = self.masks.next()?;
        let body = match payload.try_into_mut() {
            Ok(mut owned) => {
                frame::apply_mask(&mut owned, mask);
                owned
            }
            // Shared: masked in a copy, while the copy is still in cache.
            Err(shared) => {
                let mut copy = BytesMut::from(&shared[..]);
                frame::apply_mask(&mut copy, mask);
                copy
            }
        };
        Ok(Outgoing::new(kind, body, mask))
    }

    /// Queues our close frame (`None`: one without a code).
    fn queue_close(&mut self, close: Option<&CloseFrame>) -> Result<(), Error> {
        self.sent_close = true;
        let payload = close.map(frame::close_payload).unwrap_or_default();
        self.queue(Kind::Control(Control::Close), Bytes::from(payload))
    }

    /// What a complete frame means: a message to yield, or nothing.
    fn on_frame(&mut self, header: Header, payload: Bytes) -> Result<Option<Message>, Error> {
        match header.kind {
            Kind::Data(data) => {
                let kind = match (data, self.fragmented) {
                    (Data::Continue, None) => {
                        return Err(ProtocolError::UnexpectedContinueFrame.into());
                    }
                    (Data::Continue, Some(first)) => first,
                    (data, Some(_)) => return Err(ProtocolError::ExpectedFragment(data).into()),
                    (data, None) => data,
                };
                self.fragmented = if header.fin { None } else { Some(kind) };
                // A fragment is passed on as it comes: the tunnel is a byte
                // stream, and waiting for the whole message would only cost memory.
                match kind {
                    Data::Text => Utf8Bytes::try_from(payload)
                        .map(|text| Some(Message::Text(text)))
                        .map_err(|e| Error::Utf8(e.to_string())),
                    _ => Ok(Some(Message::Binary(payload))),
                }
            }
            Kind::Control(Control::Ping) => {
                if !self.sent_close {
                    self.pong = Some(self.frame(Kind::Control(Control::Pong), payload.clone())?);
                }
                Ok(Some(Message::Ping(payload)))
            }
            Kind::Control(Control::Pong) => Ok(Some(Message::Pong(payload))),
            Kind::Control(Control::Close) => {
                let close = parse_close(payload)?;
                self.received_close = true;
                self.ended = true;
                if self.sent_close {
                    return Ok(Some(Message::Close(close)));
                }
                let close = close.map(|frame| {
                    if frame.code.is_allowed() {
                        frame
                    } else {
                        CloseFrame {
                            code: CloseCode::Protocol,
                            reason: Utf8Bytes::from_static("Protocol violation"),
                        }
                    }
                });
                self.queue_close(close.as_ref())?;
                Ok(Some(Message::Close(close)))
            }
            Kind::Control(Control::Reserved(op)) => {
                Err(ProtocolError::UnknownControlFrameType(op).into())
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> WsStream<T> {
    /// Writes the owed pong and queued frames until none is left or the
    /// socket is full. A frame partly written is finished first; the pong
    /// goes ahead of frames not yet started, and once partly written it
    /// moves to the front of the queue, where no newer pong can replace it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            let front_started = self.out.front().is_some_and(Outgoing::started);
            if !front_started && let Some(pong) = &mut self.pong {
                let done = ready!(pong.poll_write(Pin::new(&mut self.io), cx))?;
                let pong = self.pong.take().expect("the pong just written");
                if !done {
                    self.out.push_front(pong);
                }
                continue;
            }
            let Some(front) = self.out.front_mut() else {
                return Poll::Ready(Ok(()));
            };
            if ready!(front.poll_write(Pin::new(&mut self.io), cx))? {
                self.out.pop_front();
            }
        }
    }

    /// The next message, or why there is none.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Message>, Error>> {
        loop {
            match self.header {
                Some(header) if self.rbuf.len() >= header.len => {
                    self.header = None;
                    let payload = self.rbuf.split_to(header.len).freeze();
                    if let Some(message) = self.on_frame(header, payload)? {
                        return Poll::Ready(Ok(Some(message)));
                    }
                    continue;
                }
                Some(_) => {}
                None => {
                    if let Some((header, size)) = frame::parse(&self.rbuf, self.max_frame)? {
                        self.rbuf.advance(size);
                        self.header = Some(header);
                        continue;
                    }
                }
            }
            // Read the rest of this frame and at most the next header, so
            // that little is left to move when the buffer is reused; but
            // reserve at most a step beyond what has arrived (READ_STEP).
            let want = match self.header {
                Some(header) => header.len - self.rbuf.len() + MAX_HEADER,
                None => READ_AHEAD,
            };
            let want = want.min(READ_STEP.max(self.rbuf.len()));
            self.rbuf.reserve(want);
            let mut limited = (&mut self.rbuf).limit(want);
            if ready!(poll_read_buf(Pin::new(&mut self.io), cx, &mut limited))? == 0 {
                return Poll::Ready(if self.received_close {
                    Ok(None)
                } else {
                    Err(ProtocolError::ResetWithoutClosingHandshake.into())
                });
            }
        }
    }
}

/// A close frame's payload: none, or a code and a UTF-8 reason.
fn parse_close(payload: Bytes) -> Result<Option<CloseFrame>, Error> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(ProtocolError::InvalidCloseSequence.into()),
        _ => {
            let code = CloseCode::from(u16::from_be_bytes([payload[0], payload[1]]));
            let reason =
                Utf8Bytes::try_from(payload.slice(2..)).map_err(|e| Error::Utf8(e.to_string()))?;
            Ok(Some(CloseFrame { code, reason }))
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for WsStream<T> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let polled = this.poll_message(cx);
        // Answers owed (a pong, the close reply) go out now, between frames;
        // a failing socket is left for the next read or write to report.
        if !this.out.is_empty() || this.pong.is_some() {
            let _ = this.poll_write_out(cx);
        }
        match ready!(polled) {
            Ok(Some(message)) => Poll::Ready(Some(Ok(message))),
            Ok(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsStream<T> {
    type Error = Error;

    /// Ready once every queued frame is in the socket (or TLS) buffer: the
    /// caller's next payload waits, which is the back-pressure.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_out(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        let this = self.get_mut();
        if this.sent_close {
            return match item {
                Message::Close(_) => Ok(()),
                _ => Err(ProtocolError::SendAfterClosing.into()),
            };
        }
        match item {
            Message::Binary(data) => this.queue(Kind::Data(Data::Binary), data),
            Message::Text(text) => this.queue(Kind::Data(Data::Text), text.into()),
            Message::Ping(data) | Message::Pong(data) if data.len() > 125 => {
                Err(ProtocolError::ControlFrameTooBig.into())
            }
            Message::Ping(data) => this.queue(Kind::Control(Control::Ping), data),
            Message::Pong(data) => this.queue(Kind::Control(Control::Pong), data),
            Message::Close(close) => this.queue_close(close.as_ref()),
            Message::Frame(_) => Err(Error::Io(io::Error::other(
                "raw frames are not sent on a tunnel",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Poll::Ready(ready!(Pin::new(&mut this.io).poll_flush(cx)).map_err(Error::Io))
    }

    /// Sends a close frame without a code unless one was sent, and flushes.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        if !this.sent_close {
            this.queue_close(None)?;
        }
        Pin::new(this).poll_flush(cx)
    }
}
