//! An open tunnel as a plain byte stream (`AsyncRead + AsyncWrite`).
//!
//! The proxy itself splices sockets onto tunnels ([`crate::splice`]), which
//! avoids a copy. Code that wants to *speak* over a tunnel — an SSH client
//! running over EICE, a test — needs a stream instead; this is it. Writes
//! become binary frames, reads return frame payloads in order, shutdown sends
//! Close 1000 while reads go on until the service closes (half-close).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{self, Message};

use super::keepalive::Heartbeat;
use super::tunnel::{Incoming, MAX_FRAME_PAYLOAD, Tunnel, classify, normal_close};
use super::ws::WsStream;
use crate::net::Io;

/// A tunnel read and written like a socket.
#[derive(Debug)]
pub struct TunnelStream<S = Heartbeat<WsStream<Io>>> {
    /// The WebSocket carrying the stream.
    ws: S,
    /// The unread rest of the last frame.
    pending: Bytes,
    /// The service closed: reads return EOF.
    read_done: bool,
    /// We sent Close: writes fail.
    write_closed: bool,
}

/// The stream starts with the data [`Tunnel::await_first_data`] read, if any.
impl From<Tunnel> for TunnelStream {
    fn from(tunnel: Tunnel) -> Self {
        TunnelStream {
            pending: tunnel.early,
            ..TunnelStream::new(tunnel.ws)
        }
    }
}

impl<S> TunnelStream<S> {
    /// Wraps any WebSocket-like stream of messages.
    pub fn new(ws: S) -> TunnelStream<S> {
        TunnelStream {
            ws,
            pending: Bytes::new(),
            read_done: false,
            write_closed: false,
        }
    }
}

fn to_io(error: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(error)
}

impl<S> AsyncRead for TunnelStream<S>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            if this.read_done {
                return Poll::Ready(Ok(()));
            }
            let item = ready!(Pin::new(&mut this.ws).poll_next(cx));
            match classify(item) {
                Ok(Incoming::Data(data)) => this.pending = data,
                Ok(Incoming::Control) => {}
                Ok(Incoming::End) => this.read_done = true,
                Err(e) => {
                    this.read_done = true;
                    return Poll::Ready(Err(to_io(e)));
                }
            }
        }
    }
}

impl<S> AsyncWrite for TunnelStream<S>
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(to_io)?;
        let n = buf.len().min(MAX_FRAME_PAYLOAD);
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .map_err(to_io)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(to_io)?;
            Pin::new(&mut this.ws)
                .start_send(normal_close())
                .map_err(to_io)?;
            this.write_closed = true;
        }
        match ready!(Pin::new(&mut this.ws).poll_flush(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(to_io(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

    use super::*;

    #[tokio::test]
    async fn writes_become_frames_and_frames_become_reads() {
        let (a, b) = duplex(1 << 20);
        let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        let mut service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        let mut stream = TunnelStream::new(ours);

        let big = vec![7u8; MAX_FRAME_PAYLOAD + 10];
        stream.write_all(&big).await.unwrap();
        stream.flush().await.unwrap();
        let mut got = Vec::new();
        while got.len() < big.len() {
            match service.next().await.unwrap().unwrap() {
                Message::Binary(data) => got.extend_from_slice(&data),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, big);

        service
            .send(Message::Binary(Bytes::from_static(b"hello ")))
            .await
            .unwrap();
        service
            .send(Message::Binary(Bytes::from_static(b"world")))
            .await
            .unwrap();
        service.close(None).await.unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello world");
    }

    #[tokio::test]
    async fn an_error_close_is_a_read_error_with_the_reason() {
        let (a, b) = duplex(1 << 16);
        let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        let mut service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        let mut stream = TunnelStream::new(ours);
        service
            .close(Some(CloseFrame {
                code: 1011.into(),
                reason: "Failed to connect to 10.0.1.25:22".into(),
            }))
            .await
            .unwrap();
        let err = stream.read_u8().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("Failed to connect to 10.0.1.25:22"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn shutdown_sends_a_normal_close_and_forbids_more_writes() {
        let (a, b) = duplex(1 << 16);
        let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        let mut service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        let mut stream = TunnelStream::new(ours);
        stream.shutdown().await.unwrap();
        match service.next().await.unwrap().unwrap() {
            Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1000),
            other => panic!("{other:?}"),
        }
        assert!(stream.write_all(b"late").await.is_err());
    }

    #[tokio::test]
    async fn a_read_fails_with_the_reason_when_pings_go_unanswered() {
        use crate::eice::{Heartbeat, Keepalive};
        use std::time::Duration;
        let (a, b) = duplex(1 << 16);
        let ours = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        // The service is alive but reads nothing, so never answers a ping.
        let _service = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        let keepalive = Keepalive {
            interval: Some(Duration::from_millis(20)),
            timeout: Duration::from_millis(100),
        };
        let mut stream = TunnelStream::new(Heartbeat::new(ours, keepalive));
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_u8())
            .await
            .expect("the silence is noticed");
        let err = read.unwrap_err();
        assert!(err.to_string().contains("keepalive pings"), "{err}");
    }
}
