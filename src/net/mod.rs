//! TCP and TLS connections to AWS: the EICE WebSocket and the EC2 API both
//! run on them.
//!
//! Trust is the union of webpki's roots, the system store and `AWS_CA_BUNDLE`,
//! so the tool works on a laptop behind a corporate TLS inspector as the AWS
//! CLI does. TCP_NODELAY is set because interactive SSH keystrokes are small
//! writes, and API requests small messages, that Nagle's algorithm would hold back.
//! TCP keepalive is on ([`keep_alive`]), so a peer that vanished is noticed.
//!
//! Behind a corporate proxy ([`proxy`]: `HTTPS_PROXY`, `NO_PROXY`, `[network]`),
//! the TCP connection is a `CONNECT` tunnel through it, and TLS runs end to
//! end inside, to the endpoint's own name: the proxy resolves it. Direct,
//! a name with both IPv6 and IPv4 addresses (an endpoint's dual-stack name)
//! is connected to by [`happy_eyeballs`], whichever family answers first.
//! [`pool`] keeps a few such connections ready for the next tunnels. Under
//! TLS the socket is read in large gulps ([`ReadAhead`]), not in the 4 KiB
//! steps rustls asks for.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub use roots::warm as warm_roots;

pub mod happy_eyeballs;
pub mod pool;
pub mod proxy;
mod read_ahead;
mod roots;
pub mod sdk;

use proxy::{Proxies, ProxyError, ProxyUrl};
pub use read_ahead::ReadAhead;

/// A connection to AWS: under a tunnel's WebSocket, or carrying API calls.
#[derive(Debug)]
pub enum Io {
    /// `ws://` or `http://` to a loopback override (tests, offline use).
    Plain(TcpStream),
    /// `wss://` or `https://`, the normal case.
    Tls(Box<TlsStream<ReadAhead>>),
}

/// Why a connection to AWS could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    // The io::Error is in the words rather than a `source`, so that a
    // printed error chain does not say it twice.
    #[error("cannot connect to {host}:{port}: {error}")]
    Connect {
        host: String,
        port: u16,
        error: io::Error,
    },
    #[error("TLS handshake with {host} failed: {error}{}", certificate_hint(error))]
    Tls { host: String, error: io::Error },
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    #[error("cannot connect to the proxy {proxy} for {host}:{port}: {error}")]
    ProxyConnect {
        proxy: String,
        host: String,
        port: u16,
        error: io::Error,
    },
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// Makes TCP (and TLS) connections to AWS with one shared TLS configuration,
/// through a corporate proxy where one is configured.
#[derive(Clone)]
pub struct Transport {
    tls: TlsConnector,
    proxies: Arc<Proxies>,
}

impl Transport {
    /// A transport trusting `tls`'s roots, connecting directly.
    pub fn new(tls: Arc<ClientConfig>) -> Transport {
        Transport {
            tls: TlsConnector::from(tls),
            proxies: Arc::new(Proxies::default()),
        }
    }

    /// The same transport, through `proxies` where they apply.
    pub fn with_proxies(mut self, proxies: Proxies) -> Transport {
        self.proxies = Arc::new(proxies);
        self
    }

    /// The proxy a connection to `host:port` would go through.
    pub fn proxy_for(&self, tls: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        self.proxies.for_host(tls, host, port)
    }

    /// A TCP connection to `host:port`: direct (every address of the name
    /// raced, [`happy_eyeballs`]), or a `CONNECT` tunnel through the proxy that
    /// applies to it, which then resolves the name itself.
    async fn tcp(&self, tls: bool, host: &str, port: u16) -> Result<TcpStream, TransportError> {
        let Some(proxy) = self.proxy_for(tls, host, port) else {
            let connect_error = |error| TransportError::Connect {
                host: host.to_owned(),
                port,
                error,
            };
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(connect_error)?;
            return dial(addrs).await.map_err(connect_error);
        };
        let tcp = TcpStream::connect((proxy.host.as_str(), proxy.port))
            .await
            .map_err(|error| TransportError::ProxyConnect {
                proxy: proxy.to_string(),
                host: host.to_owned(),
                port,
                error,
            })?;
        // Before the CONNECT exchange, which is a round trip of its own.
        let _ = tcp.set_nodelay(true);
        Ok(proxy.connect(tcp, host, port).await?)
    }

    /// Connects to `host:port` (a DNS name or an IP without brackets), with
    /// TLS when `tls` says so.
    pub async fn connect(&self, tls: bool, host: &str, port: u16) -> Result<Io, TransportError> {
        let tcp = self.tcp(tls, host, port).await?;
        self.finish(tcp, tls, host).await
    }

    /// Connects to whichever of `addrs` answers first, never through a
    /// proxy, and speaks to it as `host` (TLS's server name): for a name
    /// given its addresses instead of resolving it (`EICE_PROXY_ENDPOINT_ADDRS`).
    /// `port` only names the connection in errors.
    pub async fn connect_at(
        &self,
        tls: bool,
        host: &str,
        port: u16,
        addrs: &[SocketAddr],
    ) -> Result<Io, TransportError> {
        let tcp = dial(addrs.iter().copied())
            .await
            .map_err(|error| TransportError::Connect {
                host: host.to_owned(),
                port,
                error,
            })?;
        self.finish(tcp, tls, host).await
    }

    /// TCP_NODELAY, then TLS to `host` when `tls` says so.
    async fn finish(&self, tcp: TcpStream, tls: bool, host: &str) -> Result<Io, TransportError> {
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = tcp.set_nodelay(true);
        keep_alive(&tcp);
        if !tls {
            return Ok(Io::Plain(tcp));
        }
        let name = server_name(host)?;
        let tls = self
            .tls
            .connect(name, ReadAhead::new(tcp))
            .await
            .map_err(|error| TransportError::Tls {
                host: host.to_owned(),
                error,
            })?;
        Ok(Io::Tls(Box::new(tls)))
    }
}

/// After this long without a packet, TCP starts probing the peer.
const TCP_KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Time between unanswered probes.
const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Unanswered probes before the kernel gives the connection up.
const TCP_KEEPALIVE_PROBES: u32 = 3;

/// Turns on TCP keepalive: a peer that vanished (a laptop put to sleep, a
/// NAT that forgot the mapping) is noticed in about a minute, not the hours
/// TCP otherwise waits, and its resources freed. The WebSocket pings of
/// [`crate::eice::keepalive`] keep tunnels alive; this also covers the
/// clients' sockets and connections that carry no WebSocket. Best effort, as
/// `TCP_NODELAY`: a socket that refuses it still works.
pub fn keep_alive(tcp: &TcpStream) {
    let params = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE_IDLE)
        .with_interval(TCP_KEEPALIVE_INTERVAL)
        .with_retries(TCP_KEEPALIVE_PROBES);
    let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&params);
}

/// A TCP connection to one of `addrs`, IPv6 and IPv4 interleaved and raced
/// (RFC 8305): the first to connect wins, the others are closed.
async fn dial(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<TcpStream> {
    let ordered = happy_eyeballs::interleave(addrs);
    // Each attempt is logged as it starts and if it fails, so the debug log
    // shows the order the race tried the families in (tests/dualstack.rs reads it).
    let attempt = |addr: SocketAddr| async move {
        tracing::debug!(%addr, "dialling");
        let result = TcpStream::connect(addr).await;
        if let Err(error) = &result {
            tracing::debug!(%addr, %error, "no connection");
        }
        result
    };
    let (tcp, addr) = happy_eyeballs::race(&ordered, attempt, || {
        tokio::time::sleep(happy_eyeballs::ATTEMPT_DELAY)
    })
    .await
    .map_err(happy_eyeballs::AllFailed::into_io_error)?;
    if ordered.len() > 1 {
        tracing::debug!(%addr, of = ordered.len(), "connected to the first address to answer");
    }
    Ok(tcp)
}

/// Whether `host` names this machine's loopback: `localhost`, 127.0.0.0/8,
/// `::1` (an IPv4-mapped loopback too), brackets and a final dot allowed.
/// Only the name is looked at, never resolved: a loopback override is given
/// as one of these, and what the proxy would resolve is not ours to know.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `host[:port]` as a URL and the `Host` header (and so a signature) have
/// it: the port only when it is not the scheme's default, IPv6 in brackets.
pub fn authority(tls: bool, host: &str, port: u16) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let default_port = if tls { 443 } else { 80 };
    if port == default_port {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// What to do about a certificate rustls refused. The refusal happens in
/// the handshake, so no request (no presigned URL, no signed API call) was sent.
fn certificate_hint(e: &io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => {
            " (the server's certificate is not trusted, so no request was sent; behind a \
             TLS-inspecting proxy, point AWS_CA_BUNDLE at a PEM file of its CA)"
        }
        _ => "",
    }
}

fn server_name(host: &str) -> Result<ServerName<'static>, TransportError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(|_| TransportError::ServerName(host.to_owned()))
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the CA bundle {path} (AWS_CA_BUNDLE): {why}")]
    CaBundle { path: String, why: String },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Seeds the TLS library's random generator. Built as this repository
/// builds it (`AWS_LC_SYS_NO_JITTER_ENTROPY`, .cargo/config.toml) that is a
/// getrandom call; a build that kept aws-lc's CPU-jitter source gathers
/// entropy on its first use, about 30 ms of one core's work (70 ms on a
/// loaded machine). So `main` starts it on a thread of its own at once, and
/// for `connect`, a new process per login, it runs beside reading the
/// config, the credentials and the route cache instead of before the first
/// handshake. Any later call waits for that one to finish, and is then free.
pub fn seed_random() {
    let _ = aws_lc_rs::rand::fill(&mut [0u8; 32]);
}

/// The client TLS configuration: webpki roots, the system's roots and the
/// certificates of `ca_bundle`, HTTP/1.1 ALPN (the upgrade and the EC2
/// Query API are both HTTP/1.1).
pub fn client_config(ca_bundle: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut extra = rustls::RootCertStore::empty();
    if let Some(path) = ca_bundle {
        let bundle_error = |why: String| TlsSetupError::CaBundle {
            path: path.display().to_string(),
            why,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bundle_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bundle_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(bundle_error("it holds no PEM certificate".into()));
        }
        for cert in certs {
            extra.add(cert).map_err(|e| bundle_error(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Seeded here at the latest (see [`seed_random`]), so that the cost
    // never lands on the first tunnel's time to first byte.
    seed_random();
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(roots::Roots::new(extra, provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests;
