//! The service → client half of a tunnel's WebSocket, shared by the tasks that send
//! on it (target data, pongs, pings, the Close).
//!
//! A mutex keeps frames whole when two tasks send at once; the `close_sent` flag under
//! the same lock enforces RFC 6455 §5.5.1 (nothing after our Close) without races.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout};

use super::super::Shared;
use crate::ws::{self, Opcode};

/// How long one send may wait (for the lock and the socket) before the client is
/// considered gone: a client that stops reading must not pin a tunnel forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The write side of the client connection, cloneable across tasks.
#[derive(Clone)]
pub(super) struct Outbound {
    inner: Arc<Mutex<Inner>>,
    shared: Arc<Shared>,
    /// When the tunnel last carried a frame that counts against its idle
    /// limit: any from the client, data to it.
    last_frame: Arc<std::sync::Mutex<Instant>>,
}

struct Inner {
    io: Box<dyn AsyncWrite + Send + Unpin>,
    /// Reused for every control frame, so each is one write of header + payload
    /// (data frames arrive framed in place: [`Outbound::data`]).
    buf: BytesMut,
    /// Set once our Close is on the wire; later frames are dropped.
    close_sent: bool,
}

impl Outbound {
    pub(super) fn new(io: Box<dyn AsyncWrite + Send + Unpin>, shared: Arc<Shared>) -> Self {
        let inner = Inner {
            io,
            buf: BytesMut::new(),
            close_sent: false,
        };
        Outbound {
            inner: Arc::new(Mutex::new(inner)),
            shared,
            last_frame: Arc::new(std::sync::Mutex::new(Instant::now())),
        }
    }

    /// Sends the `len` bytes of target data at `buf[ws::HEADER_ROOM..]` as one binary
    /// frame, its header written into the room before them (no copy of the data);
    /// `Ok(false)` when the tunnel already sent its Close and the data was dropped.
    pub(super) async fn data(&self, buf: &mut [u8], len: usize) -> io::Result<bool> {
        let start = ws::frame_in_place(buf, Opcode::Binary, len);
        let sent = self
            .send(Wire::Framed(&buf[start..ws::HEADER_ROOM + len]))
            .await?;
        if sent {
            self.touch();
            let len = len as u64;
            self.shared
                .stats
                .update(|stats| stats.bytes_to_client += len);
        }
        Ok(sent)
    }

    /// A keep-alive probe, as the real service sends.
    pub(super) async fn ping(&self) -> io::Result<()> {
        self.send(Wire::Encode(Opcode::Ping, b"")).await.map(drop)
    }

    /// Answers a client Ping with its payload.
    pub(super) async fn pong(&self, payload: &[u8]) -> io::Result<()> {
        self.send(Wire::Encode(Opcode::Pong, payload))
            .await
            .map(drop)
    }

    /// Sends our Close once; later calls do nothing. The code is recorded in the
    /// stats only when the frame was actually sent.
    pub(super) async fn close(&self, code: u16, reason: &str) -> io::Result<()> {
        let payload = ws::close_payload(code, reason);
        if self.send(Wire::Encode(Opcode::Close, &payload)).await? {
            self.shared
                .stats
                .update(|stats| stats.close_codes_sent.push(code));
        }
        Ok(())
    }

    /// Ends the connection's write side (TCP FIN, or TLS close_notify first).
    pub(super) async fn shutdown(&self) {
        let _ = timeout(WRITE_TIMEOUT, async {
            let mut inner = self.inner.lock().await;
            inner.io.shutdown().await
        })
        .await;
    }

    pub(super) fn count_from_client(&self, len: usize) {
        let len = len as u64;
        self.shared
            .stats
            .update(|stats| stats.bytes_from_client += len);
    }

    pub(super) fn count_pong(&self) {
        self.shared.stats.update(|stats| stats.pongs_received += 1);
    }

    /// Counts a client Ping; `false` when the service has gone deaf
    /// ([`super::super::EiceSim::stop_answering_pings`]) and must not answer.
    pub(super) fn ping_received(&self) -> bool {
        self.shared.stats.update(|stats| stats.pings_received += 1);
        !self.shared.deaf.load(Ordering::Relaxed)
    }

    pub(super) fn count_idle_close(&self) {
        self.shared.stats.update(|stats| stats.idle_closes += 1);
    }

    /// A frame went by: the tunnel is not idle.
    pub(super) fn touch(&self) {
        *self
            .last_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// When the tunnel last carried a frame ([`Outbound::touch`]).
    pub(super) fn last_frame(&self) -> Instant {
        *self
            .last_frame
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes one frame unless our Close went first; `Ok(true)` when written.
    async fn send(&self, wire: Wire<'_>) -> io::Result<bool> {
        let attempt = async {
            let mut guard = self.inner.lock().await;
            let Inner {
                io,
                buf,
                close_sent,
            } = &mut *guard;
            if *close_sent {
                return Ok(false);
            }
            let frame: &[u8] = match wire {
                Wire::Encode(opcode, payload) => {
                    *close_sent = opcode == Opcode::Close;
                    buf.clear();
                    ws::encode_frame(buf, opcode, payload, None);
                    buf
                }
                Wire::Framed(frame) => frame,
            };
            io.write_all(frame).await?;
            io.flush().await?;
            Ok(true)
        };
        timeout(WRITE_TIMEOUT, attempt).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client stopped reading",
            ))
        })
    }
}

/// A frame to send: one to encode (control frames), or data framed in place.
enum Wire<'a> {
    Encode(Opcode, &'a [u8]),
    /// A whole binary frame, header included.
    Framed(&'a [u8]),
}
