//! One client connection up to its first request: numbered as accepted, TLS
//! when configured, closed when idle as a load balancer in front of the real
//! service would, then handed to hyper for HTTP/1.1 with upgrades.
//!
//! A client that keeps connections ready for later tunnels (TCP and TLS done,
//! no request yet) must cope with the service closing them: after an idle
//! limit ([`super::EiceSimConfig::idle_connection_timeout`]), all at once on
//! a test's word ([`EiceSim::close_idle_connections`]), or just as a request
//! arrives ([`EiceSim::drop_next_requests`]). Each is counted, and every
//! upgrade records the number of the connection that carried it
//! ([`super::EiceStats::tunnel_connections`]), so a test can tell a tunnel
//! that rode a ready connection from one that dialled its own.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::debug;

use super::{EiceSim, HANDSHAKE_TIMEOUT, Shared, handshake};

/// One client connection, as its requests see it.
#[derive(Debug, Clone)]
pub(super) struct Conn {
    pub(super) peer: SocketAddr,
    /// 1 for the first connection accepted, and so on.
    pub(super) number: u64,
    /// The TLS server name the client asked for (SNI), if any.
    pub(super) sni: Option<String>,
    /// [`EiceSim::close_idle_connections`] calls before it was accepted:
    /// a call after that closes it even if made before it was ready to hear.
    closes_seen: u64,
}

/// The knobs over connections that have not sent a request yet.
pub(super) struct IdleConns {
    /// Close idle connections after this long; `None`: never.
    timeout: Mutex<Option<Duration>>,
    /// Bumped by [`EiceSim::close_idle_connections`].
    close_now: watch::Sender<u64>,
    /// Connections to close, unanswered, as their first request arrives.
    drop_next: AtomicUsize,
}

impl IdleConns {
    pub(super) fn new(timeout: Option<Duration>) -> IdleConns {
        IdleConns {
            timeout: Mutex::new(timeout),
            close_now: watch::Sender::new(0),
            drop_next: AtomicUsize::new(0),
        }
    }

    fn timeout(&self) -> Option<Duration> {
        *self.timeout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take_drop(&self) -> bool {
        self.drop_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl EiceSim {
    /// Closes every connection that has not sent a request yet, now (TLS
    /// `close_notify` and FIN), as a load balancer's idle timeout does;
    /// [`super::EiceStats::idle_connections_closed`] counts them.
    pub fn close_idle_connections(&self) {
        self.shared.idle_conns.close_now.send_modify(|n| *n += 1);
    }

    /// Sets the idle limit of connections before their first request
    /// ([`super::EiceSimConfig::idle_connection_timeout`]), for connections
    /// accepted from now on.
    pub fn set_idle_connection_timeout(&self, idle: Option<Duration>) {
        *self
            .shared
            .idle_conns
            .timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = idle;
    }

    /// Closes the next `times` connections the moment their first request
    /// arrives, unanswered, as when an idle limit strikes just as a client
    /// sends; [`super::EiceStats::requests_dropped`] counts them.
    pub fn drop_next_requests(&self, times: usize) {
        self.shared
            .idle_conns
            .drop_next
            .fetch_add(times, Ordering::Relaxed);
    }
}

/// One client connection: TLS when configured, then HTTP/1.1 with upgrades.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = accepted(&shared, peer);
    let Some(acceptor) = acceptor else {
        return serve_http(stream, conn, shared).await;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            conn.sni = tls.get_ref().1.server_name().map(str::to_owned);
            serve_http(tls, conn, shared).await
        }
        Ok(Err(error)) => debug!(%peer, %error, "simulated EICE TLS handshake failed"),
        Err(_) => debug!(%peer, "simulated EICE TLS handshake timed out"),
    }
}

async fn serve_http<IO>(io: IO, conn: Conn, shared: Arc<Shared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(io) = first_request(io, &conn, &shared).await else {
        return;
    };
    let peer = conn.peer;
    let service =
        service_fn(move |request| handshake::handle(request, conn.clone(), Arc::clone(&shared)));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    let connection = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    if let Err(error) = connection.await {
        debug!(%peer, %error, "simulated EICE connection ended with an error");
    }
}

/// Counts a new connection from `peer` and numbers it.
pub(super) fn accepted(shared: &Shared, peer: SocketAddr) -> Conn {
    // Before it is counted, so a test that saw it counted and then asked
    // for idle connections to close has it closed.
    let closes_seen = *shared.idle_conns.close_now.borrow();
    let mut number = 0;
    shared.stats.update(|stats| {
        stats.connections_accepted += 1;
        stats.peers.push(peer);
        number = stats.connections_accepted;
    });
    Conn {
        peer,
        number,
        sni: None,
        closes_seen,
    }
}

/// Waits for the connection's first request bytes, closing it instead when
/// it stays idle too long or a test says so; returns the connection ready for
/// HTTP, the bytes already read put back in front.
pub(super) async fn first_request<IO>(
    mut io: IO,
    conn: &Conn,
    shared: &Shared,
) -> Option<Prefixed<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let idle = &shared.idle_conns;
    let mut close_now = idle.close_now.subscribe();
    if *close_now.borrow_and_update() != conn.closes_seen {
        close_now.mark_changed();
    }
    let limit = idle.timeout();
    let expired = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let mut first = vec![0; 4096];
    let why = tokio::select! {
        read = io.read(&mut first) => match read {
            Ok(0) | Err(_) => return None, // the client left first
            Ok(n) => {
                first.truncate(n);
                if !idle.take_drop() {
                    return Some(Prefixed { prefix: first, io });
                }
                shared.stats.update(|stats| stats.requests_dropped += 1);
                debug!(peer = %conn.peer, conn = conn.number, "request dropped unanswered, as armed");
                return None;
            }
        },
        _ = close_now.changed() => "closed on request",
        () = expired => "idle limit",
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), io.shutdown()).await;
    shared
        .stats
        .update(|stats| stats.idle_connections_closed += 1);
    debug!(peer = %conn.peer, conn = conn.number, why, "idle connection closed before any request");
    None
}

/// A connection with bytes already read from it put back in front.
pub(super) struct Prefixed<IO> {
    prefix: Vec<u8>,
    io: IO,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prefixed_bytes_come_first() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b" world").await.unwrap();
        drop(client);
        let mut io = Prefixed {
            prefix: b"hello".to_vec(),
            io: server,
        };
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "hello world");
    }
}
