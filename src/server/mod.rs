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

mod forward;

pub use forward::bind_forward;

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::time::timeout;
use tracing::field::{Empty, display};
use tracing::{Instrument, Span, debug, error, info, info_span, warn};

use crate::error::Error;
use crate::inbound::http_connect::{self, Refusal, Rejection};
use crate::inbound::{self, Protocol, socks5};
use crate::metrics::{Metrics, OpenConnection, Outcome, TunnelInfo};
pub use crate::proxy::{Opened, Proxy};
use crate::target::Target;

/// How long before EICE closes a tunnel (maxTunnelDuration) the log warns.
const DURATION_WARNING: Duration = Duration::from_secs(60);

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

/// Accepts connections on every listener until `shutdown` resolves, then
/// stops accepting and lets open tunnels finish for the grace period before
/// returning.
pub async fn run(listeners: Vec<Listener>, proxy: Arc<Proxy>, shutdown: impl Future) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let limit = Arc::new(Semaphore::new(proxy.settings.max_connections));
    let grace = proxy.settings.shutdown_grace;
    tokio::select! {
        () = accept_loop(&listeners, &proxy, &limit, &notify_shutdown, &done_tx) => {}
        _ = shutdown => {}
    }
    drop(listeners);
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

/// Takes a place under the connection limit, then the next connection on
/// any listener, so that clients beyond the limit wait in the kernel's
/// accept queues, whichever port they came to.
async fn accept_loop(
    listeners: &[Listener],
    proxy: &Arc<Proxy>,
    limit: &Arc<Semaphore>,
    notify_shutdown: &broadcast::Sender<()>,
    done: &mpsc::Sender<()>,
) {
    let ids = AtomicU64::new(1);
    let mut turn = 0usize;
    loop {
        turn = turn.wrapping_add(1);
        let permit = match limit.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                warn!(
                    "connection limit reached ({} open): new connections wait",
                    proxy.settings.max_connections
                );
                limit
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
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
        let guard = Arc::new(ConnectionGuard {
            _permit: permit,
            _done: done.clone(),
            _open: proxy.metrics().connection_opened(),
        });
        let conn = Conn {
            id,
            peer,
            metrics: proxy.metrics().clone(),
        };
        let shutdown = notify_shutdown.subscribe();
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
        // Only a forward port's handler counts as Forward; no first byte does.
        Protocol::Forward => unreachable!("sniff never answers Forward"),
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
                    let lifetime = proxy.settings.tunnel_lifetime;
                    join(client, opened, &target, lifetime, &conn, protocol).await;
                }
                Err(outcome) => conn.outcome(Some(protocol), outcome),
            }
        }
        Protocol::Http => {
            let outcome = tokio::select! {
                outcome = serve_http(proxy.clone(), socket, conn.clone(), guard.clone()) => outcome,
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
    match proxy.open(&target).await {
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
async fn serve_http(
    proxy: Arc<Proxy>,
    socket: TcpStream,
    conn: Conn,
    guard: Arc<ConnectionGuard>,
) -> Outcome {
    let (gate, handshake) = (proxy.gate(conn.peer.ip()), proxy.settings.handshake);
    let lifetime = proxy.settings.tunnel_lifetime;
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
        let (guard, conn) = (guard.clone(), conn.clone());
        async move {
            join(client, opened, &target, lifetime, &conn, Protocol::Http).await;
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

/// Splices an accepted client onto its open tunnel (or hop channel) and
/// logs how it ended, warning a minute before EICE's maxTunnelDuration will
/// close a tunnel of its own. The connection is on the status page, its bytes
/// counted as they move, until it closes.
async fn join<C: AsyncRead + AsyncWrite + Unpin>(
    client: C,
    opened: Opened,
    target: &Target,
    lifetime: Duration,
    conn: &Conn,
    protocol: Protocol,
) {
    let (instance, endpoint, warning, via) = match &opened {
        Opened::Tunnel {
            tunnel, resolution, ..
        } => {
            let request = resolution.tunnel();
            info!(
                instance = resolution.instance.as_ref().map(|i| i.id.as_str()),
                ip = %request.private_ip,
                endpoint = %request.endpoint.id,
                request_id = tunnel.request_id.as_deref(),
                "tunnel open"
            );
            let warning = tokio::spawn(
                async move {
                    tokio::time::sleep(lifetime.saturating_sub(DURATION_WARNING)).await;
                    warn!(
                        "EICE will close this tunnel in {}s, when it reaches its maximum duration of {}s",
                        lifetime.min(DURATION_WARNING).as_secs(),
                        lifetime.as_secs()
                    );
                }
                .instrument(Span::current()),
            );
            let instance = resolution.instance.as_ref().map(|i| i.id.clone());
            (instance, request.endpoint.id.clone(), Some(warning), None)
        }
        Opened::Hop {
            channel,
            route,
            hop,
        } => {
            let connection = &channel.connection;
            info!(
                hop = %hop,
                via = %connection.instance,
                connection = connection.number,
                endpoint = %connection.endpoint,
                to = %format_args!("{}:{}", route.host, route.port),
                why = %route.why,
                "stream open through the hop"
            );
            let instance = route
                .resolution
                .as_ref()
                .and_then(|r| r.instance.as_ref())
                .map(|i| i.id.clone());
            let endpoint = format!("{} (hop {hop})", connection.endpoint);
            (instance, endpoint, None, Some(hop.clone()))
        }
    };
    let meter = conn.metrics.tunnel_opened(TunnelInfo {
        id: conn.id,
        protocol: protocol.label(),
        client: conn.peer,
        target: target.to_string(),
        instance,
        endpoint,
        hop: via,
    });
    let started = Instant::now();
    let finished = opened.splice(client, &meter).await;
    if let Some(warning) = warning {
        warning.abort();
    }
    drop(meter);
    let secs = started.elapsed().as_secs_f64();
    let (up, down) = (finished.totals.up, finished.totals.down);
    match finished.result {
        Ok(()) => info!(up, down, secs, "tunnel closed"),
        Err(e) => {
            if down == 0 && matches!(e, crate::splice::SpliceError::Tunnel(_)) {
                conn.metrics.tunnel_unreached();
            }
            warn!(up, down, secs, error = %e, "tunnel ended with an error");
        }
    }
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
