//! The proxy server: a [`Listener`] that accepts, limits and shuts down, and a
//! per-connection handler that strings the data path together —
//! sniff → handshake → resolve → sign and open → splice.
//!
//! The shape follows tokio's mini-redis: a semaphore bounds concurrent
//! connections, a broadcast channel tells handlers to stop, and an mpsc
//! channel whose senders live in the handlers lets `run` wait for all of them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::time::timeout;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::config::{Config, ProxyAuth};
use crate::eice::{Connector, Tunnel};
use crate::error::{Error, Reply};
use crate::inbound::http_connect::{self, Refusal};
use crate::inbound::{self, Protocol, socks5};
use crate::resolve::{Resolution, Resolver};
use crate::splice::splice_tunnel;
use crate::target::Target;

/// Connections served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client may take to say where it wants to go.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Ports whose servers speak first (SSH's banner): before answering the
/// client, the proxy waits this long for the instance's first bytes, so that an
/// instance EICE cannot reach is reported as a refusal ([`Tunnel::await_first_data`]).
pub const SERVER_SPEAKS_FIRST: [u16; 1] = [22];

/// The longest wait for a server-first instance's first bytes.
pub const FIRST_DATA_WAIT: Duration = Duration::from_secs(15);

/// Everything a connection needs, shared by all of them.
pub struct Proxy {
    /// Target → route, through caches.
    resolver: Resolver,
    /// Opens tunnels.
    connector: Connector,
    /// Ports asked of EICE; others are refused before any AWS call.
    allowed_ports: Vec<u16>,
    /// Credentials clients must present, when configured.
    auth: Option<Arc<ProxyAuth>>,
}

/// A tunnel, open, with the route that led to it.
pub struct Opened {
    pub tunnel: Tunnel,
    pub resolution: Resolution,
}

impl Proxy {
    /// A proxy with the policy of `config`.
    pub fn new(resolver: Resolver, connector: Connector, config: &Config) -> Proxy {
        Proxy {
            resolver,
            connector,
            allowed_ports: config.allowed_ports.clone(),
            auth: config.auth.clone().map(Arc::new),
        }
    }

    /// The resolver, for `eice-proxy resolve`.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Checks the port, resolves the target and opens its tunnel.
    pub async fn open(&self, target: &Target) -> Result<Opened, Error> {
        check_port(&self.allowed_ports, target.port)?;
        let resolution = self.resolver.resolve(target).await?;
        let opened = async {
            let mut tunnel = self.connector.open(resolution.tunnel()).await?;
            if SERVER_SPEAKS_FIRST.contains(&target.port) {
                tunnel.await_first_data(FIRST_DATA_WAIT).await?;
            }
            Ok(tunnel)
        };
        match opened.await {
            Ok(tunnel) => Ok(Opened { tunnel, resolution }),
            Err(e) => {
                self.resolver.forget(&resolution, &e).await;
                Err(Error::Tunnel(e))
            }
        }
    }
}

/// Refuses a port outside `allowed` before any AWS call is made.
pub fn check_port(allowed: &[u16], port: u16) -> Result<(), Error> {
    if allowed.contains(&port) {
        Ok(())
    } else {
        Err(Error::PortNotAllowed {
            port,
            allowed: allowed.to_vec(),
        })
    }
}

/// Accepts connections until shutdown, then waits for their handlers.
pub async fn run(listener: TcpListener, proxy: Arc<Proxy>, shutdown: impl Future) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let mut server = Listener {
        listener,
        proxy,
        limit: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        notify_shutdown,
        shutdown_complete_tx,
    };
    tokio::select! {
        () = server.accept_loop() => {}
        _ = shutdown => info!("shutting down"),
    }
    let Listener {
        notify_shutdown,
        shutdown_complete_tx,
        ..
    } = server;
    drop(notify_shutdown);
    drop(shutdown_complete_tx);
    let _ = shutdown_complete_rx.recv().await;
}

/// The accept loop's state.
struct Listener {
    listener: TcpListener,
    proxy: Arc<Proxy>,
    /// One permit per connection being served.
    limit: Arc<Semaphore>,
    /// Dropped (closed) to tell every handler to stop.
    notify_shutdown: broadcast::Sender<()>,
    /// Cloned into each handler; `run` waits until all clones are gone.
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Listener {
    async fn accept_loop(&mut self) {
        let ids = AtomicU64::new(1);
        loop {
            let permit = self
                .limit
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (socket, peer) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let id = ids.fetch_add(1, Ordering::Relaxed);
            let proxy = self.proxy.clone();
            let mut shutdown = self.notify_shutdown.subscribe();
            let done = self.shutdown_complete_tx.clone();
            tokio::spawn(
                async move {
                    tokio::select! {
                        () = handle(proxy, socket) => {}
                        _ = shutdown.recv() => debug!("closed by shutdown"),
                    }
                    drop(permit);
                    drop(done);
                }
                .instrument(info_span!("conn", id, client = %peer)),
            );
        }
    }
}

/// Serves one client connection from its first byte to its last.
async fn handle(proxy: Arc<Proxy>, socket: TcpStream) {
    let protocol = match timeout(HANDSHAKE_TIMEOUT, inbound::sniff(&socket)).await {
        Ok(Ok(protocol)) => protocol,
        Ok(Err(inbound::SniffError::Closed)) => return debug!("closed before the first byte"),
        Ok(Err(e)) => return info!("closing: {e}"),
        Err(_) => {
            return info!(
                "closing: the client sent nothing for {}s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
        }
    };
    match protocol {
        Protocol::Socks5 => serve_socks5(proxy, socket).await,
        Protocol::Http => serve_http(proxy, socket).await,
    }
}

async fn serve_socks5(proxy: Arc<Proxy>, socket: TcpStream) {
    let request = match timeout(
        HANDSHAKE_TIMEOUT,
        socks5::accept(socket, proxy.auth.as_deref()),
    )
    .await
    {
        Ok(Ok(request)) => request,
        Ok(Err(e)) if e.is_auth_failure() => return warn!("SOCKS5 authentication failed: {e}"),
        Ok(Err(e)) => return info!("{e}"),
        Err(_) => {
            return info!(
                "closing: the SOCKS5 handshake took over {}s",
                HANDSHAKE_TIMEOUT.as_secs()
            );
        }
    };
    let target = request.target.clone();
    match proxy.open(&target).await {
        Ok(opened) => match request.succeed().await {
            Ok(client) => join(client, opened, &target).await,
            Err(e) => debug!(error = %e, "the client left before the reply"),
        },
        Err(e) => {
            refused(&target, &e);
            let _ = request.fail(e.reply()).await;
        }
    }
}

async fn serve_http(proxy: Arc<Proxy>, socket: TcpStream) {
    let auth = proxy.auth.clone();
    let open = move |target: Target| {
        let proxy = proxy.clone();
        async move {
            proxy
                .open(&target)
                .await
                .map(|opened| (opened, target.clone()))
                .map_err(|e| {
                    refused(&target, &e);
                    Refusal {
                        reply: e.reply(),
                        message: e.to_string(),
                    }
                })
        }
    };
    let join_upgraded = |client: http_connect::Upgraded, (opened, target): (Opened, Target)| async move {
        join(client, opened, &target).await
    };
    if let Err(e) = http_connect::serve(socket, auth, HANDSHAKE_TIMEOUT, open, join_upgraded).await
    {
        debug!(error = %e, "HTTP connection ended");
    }
}

/// Splices an accepted client onto its open tunnel and logs how it ended.
async fn join<C: AsyncRead + AsyncWrite + Unpin>(client: C, opened: Opened, target: &Target) {
    let request = opened.resolution.tunnel();
    info!(
        %target,
        instance = opened.resolution.instance.as_ref().map(|i| i.id.as_str()),
        ip = %request.private_ip,
        endpoint = %request.endpoint.id,
        request_id = opened.tunnel.request_id.as_deref(),
        "tunnel open"
    );
    let started = Instant::now();
    let finished = splice_tunnel(client, opened.tunnel).await;
    let secs = started.elapsed().as_secs_f64();
    let (up, down) = (finished.totals.up, finished.totals.down);
    match finished.result {
        Ok(()) => info!(up, down, secs, "tunnel closed"),
        Err(e) => warn!(up, down, secs, error = %e, "tunnel ended with an error"),
    }
}

/// The one log line of a refused connection.
fn refused(target: &Target, error: &Error) {
    let reply: Reply = error.reply();
    warn!(
        %target,
        socks = reply.socks_code(),
        http = reply.http_status().as_u16(),
        request_id = error.request_id(),
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
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}
