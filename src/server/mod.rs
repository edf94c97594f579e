//! The proxy server: listeners that accept, limit and shut down together, and
//! a per-connection handler that strings the data path together —
//! sniff → handshake → resolve → sign and open → splice.
//!
//! Each listening port has a [`Front`]: the proxy's (SOCKS5 and HTTP CONNECT,
//! told apart by the first byte), or a forward's ([`forward`]: no handshake,
//! one fixed target). One accept loop serves every port, so they share the
//! connection limit, the connection ids and the shutdown.
//!
//! The shape follows tokio's mini-redis: a semaphore bounds concurrent
//! connections, a broadcast channel tells handlers still in their handshake to
//! stop, and an mpsc channel whose senders live as long as each connection
//! lets [`run`] wait for open tunnels, up to a grace period, at shutdown.
//! Each connection is counted by how it ended, and its tunnel is listed on the
//! status page, bytes counted as they move ([`crate::metrics`]).

mod cap;
#[cfg(unix)]
pub mod control;
mod forward;
mod join;

pub use forward::bind_forward;
use join::{client_gone, join, watcher};

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::time::timeout;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span, debug, error, info, info_span, warn};

use crate::error::Error;
use crate::inbound::http_connect::{self, Refusal, Rejection};
use crate::inbound::throttle::Gate;
use crate::inbound::{self, Protocol, socks5};
use crate::metrics::{Metrics, OpenConnection, Outcome};
pub use crate::proxy::{Opened, Proxy};
use crate::target::Target;

/// What a listening port serves.
#[derive(Debug, Clone)]
pub enum Front {
    /// SOCKS5 and HTTP CONNECT, told apart by the first byte.
    Proxy,
    /// Every connection to this one target, with no handshake
    /// (`eice-proxy forward`, `[[forward]]`).
    Forward(Target),
}

/// A bound port and what it serves.
pub struct Listener {
    pub socket: TcpListener,
    pub front: Front,
}

/// `serve`'s control socket, for `connect` ([`control`]); none on systems
/// without Unix sockets.
#[cfg(unix)]
pub type Control = control::ControlSocket;
/// `serve`'s control socket: none on systems without Unix sockets.
#[cfg(not(unix))]
pub enum Control {}

/// Accepts connections on every listener until `shutdown` resolves, then
/// stops accepting and lets open tunnels finish for the grace period before
/// returning.
pub async fn run(listeners: Vec<Listener>, proxy: Arc<Proxy>, shutdown: impl Future) {
    run_with_control(listeners, None, proxy, shutdown).await;
}

/// [`run`], with `serve`'s control socket beside the ports: its connections
/// share the ports' limit, ids and shutdown. The socket is removed on return.
pub async fn run_with_control(
    listeners: Vec<Listener>,
    control: Option<Control>,
    proxy: Arc<Proxy>,
    shutdown: impl Future,
) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let limit = Arc::new(Semaphore::new(proxy.settings.max_connections));
    let grace = proxy.settings.shutdown_grace;
    let ids = AtomicU64::new(1);
    let shared = Shared {
        proxy: &proxy,
        limit: &limit,
        notify_shutdown: &notify_shutdown,
        done: &done_tx,
        ids: &ids,
    };
    tokio::select! {
        () = accept_loop(&listeners, &shared) => {}
        () = control_loop(control.as_ref(), &shared) => {}
        _ = shutdown => {}
    }
    drop(listeners);
    drop(control);
    let open = proxy.settings.max_connections - limit.available_permits();
    info!(
        "shutting down: no new connections; {open} open connection(s) get {}s to finish",
        grace.as_secs()
    );
    drop(notify_shutdown);
    drop(done_tx);
    if timeout(grace, done_rx.recv()).await.is_err() {
        let open = proxy.settings.max_connections - limit.available_permits();
        warn!("grace period over: closing {open} connection(s)");
    }
}

/// Lives as long as a connection, tunnel included: releases its place under
/// the connection limit and tells [`run`] when it is gone.
struct ConnectionGuard {
    _permit: OwnedSemaphorePermit,
    _done: mpsc::Sender<()>,
    /// Counts the connection in `eice_proxy_open_connections`.
    _open: OpenConnection,
}

/// A connection as the status page and the metrics know it.
#[derive(Clone)]
struct Conn {
    /// The id in the log's `conn{id=…}` span.
    id: u64,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
}

impl Conn {
    /// Counts how the connection ended (or, tunnelled, began).
    /// `None`: the first byte matched neither protocol.
    fn outcome(&self, protocol: Option<Protocol>, outcome: Outcome) {
        self.metrics
            .connection(protocol.map_or("unknown", Protocol::label), outcome);
    }
}

/// What every accept loop of one [`run`] shares.
struct Shared<'a> {
    proxy: &'a Arc<Proxy>,
    /// The connection limit, across ports and the control socket.
    limit: &'a Arc<Semaphore>,
    notify_shutdown: &'a broadcast::Sender<()>,
    done: &'a mpsc::Sender<()>,
    /// The next connection id.
    ids: &'a AtomicU64,
}

impl Shared<'_> {
    /// A place under the connection limit, waited for when there is none.
    async fn permit(&self) -> OwnedSemaphorePermit {
        match self.limit.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                warn!(
                    "connection limit reached ({} open): new connections wait",
                    self.proxy.settings.max_connections
                );
                self.limit
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        }
    }

    /// The guard of a connection accepted under `permit`.
    fn guard(&self, permit: OwnedSemaphorePermit) -> Arc<ConnectionGuard> {
        Arc::new(ConnectionGuard {
            _permit: permit,
            _done: self.done.clone(),
            _open: self.proxy.metrics().connection_opened(),
        })
    }
}

/// Accepts on the control socket, if there is one; else never returns.
async fn control_loop(control: Option<&Control>, shared: &Shared<'_>) {
    match control {
        #[cfg(unix)]
        Some(control) => control::accept_loop(control, shared).await,
        #[cfg(not(unix))]
        Some(never) => match *never {},
        None => std::future::pending().await,
    }
}

/// Takes a place under the connection limit, then the next connection on
/// any listener, so that clients beyond the limit wait in the kernel's
/// accept queues, whichever port they came to.
async fn accept_loop(listeners: &[Listener], shared: &Shared<'_>) {
    let (proxy, ids) = (shared.proxy, shared.ids);
    let mut turn = 0usize;
    loop {
        turn = turn.wrapping_add(1);
        let permit = shared.permit().await;
        let (accepted, front) = accept(listeners, turn).await;
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        crate::net::keep_alive(&socket);
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let guard = shared.guard(permit);
        let conn = Conn {
            id,
            peer,
            metrics: proxy.metrics().clone(),
        };
        let shutdown = shared.notify_shutdown.subscribe();
        // `target` is recorded once the client names it.
        let span = info_span!("conn", id, client = %peer, target = Empty);
        let proxy = proxy.clone();
        match front {
            Front::Proxy => {
                tokio::spawn(handle(proxy, socket, conn, shutdown, guard).instrument(span));
            }
            Front::Forward(target) => {
                let target = target.clone();
                tokio::spawn(
                    forward::handle(proxy, socket, target, conn, shutdown, guard).instrument(span),
                );
            }
        }
    }
}

/// The next connection on any of `listeners`, with the front it came to.
/// The scan starts at a different listener each `turn`, so that a busy port
/// cannot keep the others waiting.
async fn accept(
    listeners: &[Listener],
    turn: usize,
) -> (io::Result<(TcpStream, SocketAddr)>, &Front) {
    let n = listeners.len();
    poll_fn(|cx| {
        for i in 0..n {
            let listener = &listeners[(turn % n + i) % n];
            if let Poll::Ready(accepted) = listener.socket.poll_accept(cx) {
                return Poll::Ready((accepted, &listener.front));
            }
        }
        Poll::Pending
    })
    .await
}

/// Serves one proxy-port connection from its first byte to its last. Shutdown
/// interrupts it only before its tunnel is open.
async fn handle(
    proxy: Arc<Proxy>,
    socket: TcpStream,
    conn: Conn,
    mut shutdown: broadcast::Receiver<()>,
    guard: Arc<ConnectionGuard>,
) {
    let handshake = proxy.settings.handshake;
    let protocol = match timeout(handshake, inbound::sniff(&socket)).await {
        Ok(Ok(protocol)) => protocol,
        Ok(Err(inbound::SniffError::Closed)) => {
            debug!("closed before the first byte");
            return conn.outcome(None, Outcome::ClientLeft);
        }
        Ok(Err(e)) => {
            info!("closing: {e}");
            return conn.outcome(None, Outcome::BadRequest);
        }
        Err(_) => {
            info!(
                "closing: the client sent nothing for {}s",
                handshake.as_secs()
            );
            return conn.outcome(None, Outcome::HandshakeTimeout);
        }
    };
    match protocol {
        // Only a forward port's or the control socket's handler counts as
        // these; no first byte does.
        Protocol::Forward | Protocol::Control => unreachable!("sniff never answers {protocol:?}"),
        Protocol::Socks5 => {
            let ready = tokio::select! {
                ready = socks5_until_open(&proxy, socket, &conn) => ready,
                _ = shutdown.recv() => {
                    debug!("closed by shutdown before the tunnel opened");
                    Err(Outcome::Shutdown)
                }
            };
            match ready {
                Ok((client, opened, target)) => {
                    conn.outcome(Some(protocol), Outcome::Tunnelled);
                    join(client, opened, &target, &proxy.settings, &conn, protocol).await;
                }
                Err(outcome) => conn.outcome(Some(protocol), outcome),
            }
        }
        Protocol::Http => {
            let gate = proxy.gate(conn.peer.ip());
            let http = serve_http(
                proxy.clone(),
                socket,
                gate,
                conn.clone(),
                guard.clone(),
                protocol,
            );
            let outcome = tokio::select! {
                outcome = http => outcome,
                _ = shutdown.recv() => {
                    debug!("closed by shutdown before the tunnel opened");
                    Outcome::Shutdown
                }
            };
            conn.outcome(Some(protocol), outcome);
        }
    }
    drop(guard);
}

/// The SOCKS5 handshake, the tunnel, and the reply: the client's stream and
/// its tunnel when both are ready, else how the connection ended.
async fn socks5_until_open(
    proxy: &Proxy,
    socket: TcpStream,
    conn: &Conn,
) -> Result<(TcpStream, Opened, Target), Outcome> {
    let handshake = proxy.settings.handshake;
    let gate = proxy.gate(conn.peer.ip());
    // A second handle on the socket, to see the client leave while its
    // tunnel is being opened (in line for a full endpoint, say).
    let watch = watcher(&socket);
    let request = match timeout(handshake, socks5::accept_gated(socket, gate.as_ref())).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) if e.is_auth_failure() => {
            warn!("SOCKS5 authentication failed: {e}");
            return Err(Outcome::AuthFailed);
        }
        Ok(Err(e)) => {
            info!("{e}");
            return Err(Outcome::BadRequest);
        }
        Err(_) => {
            info!(
                "closing: the SOCKS5 handshake took over {}s",
                handshake.as_secs()
            );
            return Err(Outcome::HandshakeTimeout);
        }
    };
    let target = request.target.clone();
    Span::current().record("target", display(&target));
    let opened = tokio::select! {
        opened = proxy.open(&target) => opened,
        () = client_gone(watch.as_ref()) => {
            info!("the client left before its tunnel opened (while waiting in line, if it was)");
            return Err(Outcome::ClientLeft);
        }
    };
    match opened {
        Ok(opened) => match request.succeed().await {
            Ok(client) => Ok((client, opened, target)),
            Err(e) => {
                debug!(error = %e, "the client left before the reply");
                Err(Outcome::ClientLeft)
            }
        },
        Err(e) => {
            refused(&e);
            let _ = request.fail(e.reply()).await;
            Err(e.outcome())
        }
    }
}

/// Serves an HTTP client until its CONNECT is upgraded or it leaves, and says
/// how the connection went: the last CONNECT's result, else the last request
/// rejected before any AWS call, else how the connection ended.
/// `gate` checks the credentials (none on the control socket, whose
/// permissions are its authentication); `protocol` labels the tunnel.
async fn serve_http<S>(
    proxy: Arc<Proxy>,
    socket: S,
    gate: Option<Gate>,
    conn: Conn,
    guard: Arc<ConnectionGuard>,
    protocol: Protocol,
) -> Outcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let handshake = proxy.settings.handshake;
    let settings = proxy.settings.clone();
    let opened_outcome = Arc::new(Mutex::new(None));
    let last = opened_outcome.clone();
    let open = move |target: Target| {
        let (proxy, last) = (proxy.clone(), last.clone());
        async move {
            Span::current().record("target", display(&target));
            let result = proxy.open(&target).await;
            let outcome = match &result {
                Ok(_) => Outcome::Tunnelled,
                Err(e) => e.outcome(),
            };
            *last.lock().expect("outcome lock") = Some(outcome);
            result.map(|opened| (opened, target.clone())).map_err(|e| {
                refused(&e);
                Refusal {
                    reply: e.reply(),
                    message: e.to_string(),
                }
            })
        }
    };
    // The upgraded stream is spliced in a task of its own: it carries the
    // connection guard and the connection's span with it.
    let span = Span::current();
    let join_upgraded = move |client: http_connect::Upgraded,
                              (opened, target): (Opened, Target)| {
        let (guard, conn, settings) = (guard.clone(), conn.clone(), settings.clone());
        async move {
            join(client, opened, &target, &settings, &conn, protocol).await;
            drop(guard);
        }
        .instrument(span.clone())
    };
    let (result, rejection) =
        http_connect::serve_reporting(socket, gate, handshake, open, join_upgraded).await;
    let ended = match result {
        Err(e) if e.is_timeout() => {
            info!("closing: a bad or slow HTTP request: {e}");
            Outcome::HandshakeTimeout
        }
        Err(e) if e.is_parse() || e.is_parse_too_large() => {
            info!("closing: a bad or slow HTTP request: {e}");
            Outcome::BadRequest
        }
        Err(e) => {
            debug!(error = %e, "HTTP connection ended");
            Outcome::ClientLeft
        }
        Ok(()) => Outcome::ClientLeft,
    };
    let opened = *opened_outcome.lock().expect("outcome lock");
    opened
        .or(rejection.map(|r| match r {
            Rejection::Auth => Outcome::AuthFailed,
            Rejection::Method | Rejection::Target => Outcome::BadRequest,
        }))
        .unwrap_or(ended)
}

/// The one log line of a refused connection (its span names the target).
fn refused(error: &Error) {
    let reply = error.reply();
    warn!(
        socks = reply.socks_code(),
        http = reply.http_status().as_u16(),
        request_id = error.request_id(),
        endpoint = error.endpoint(),
        "refused: {error}"
    );
}

/// Binds `addr`, refusing a non-loopback address without authentication: the
/// proxy opens doors into VPCs with the user's AWS identity.
pub async fn bind(addr: SocketAddr, auth_configured: bool) -> anyhow::Result<TcpListener> {
    if !addr.ip().is_loopback() && !auth_configured {
        anyhow::bail!(
            "refusing to listen on {addr} without authentication: anyone who can reach it would use \
             your AWS identity; configure [auth] in the config file or listen on 127.0.0.1"
        );
    }
    listen(addr).await
}

/// Binds `addr`, the I/O error kept inside, so a caller can tell "in use"
/// from the rest.
async fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}
