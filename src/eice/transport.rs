//! The connection a tunnel's WebSocket runs on: TCP, then TLS unless a
//! loopback `ws://` override says otherwise.
//!
//! Trust is the union of webpki's roots, the system store and `AWS_CA_BUNDLE`,
//! so the tool works on a laptop behind a corporate TLS inspector as the AWS
//! CLI does. TCP_NODELAY is set because interactive SSH keystrokes are small
//! writes that Nagle's algorithm would hold back.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::Endpoint;
use super::TunnelSettings;

/// Where a tunnel's WebSocket connects, and the `host` that gets signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    tls: bool,
    host: String,
    port: u16,
}

impl WsTarget {
    /// A target from its parts; `host` is a DNS name or an IP (no brackets).
    pub fn new(tls: bool, host: String, port: u16) -> WsTarget {
        WsTarget { tls, host, port }
    }

    /// The endpoint's own address (`wss://DnsName`, or `FipsDnsName` when FIPS
    /// is asked for), unless the settings override every endpoint.
    pub fn for_endpoint(
        endpoint: &Endpoint,
        settings: &TunnelSettings,
    ) -> Result<WsTarget, String> {
        if let Some(o) = &settings.endpoint_override {
            return Ok(WsTarget::new(o.tls, o.host.clone(), o.port));
        }
        let host = if settings.use_fips {
            endpoint.fips_dns_name.clone().ok_or_else(|| {
                format!(
                    "FIPS endpoints were requested (AWS_USE_FIPS_ENDPOINT=true) but endpoint {} \
                     has no FipsDnsName in {}",
                    endpoint.id, endpoint.region
                )
            })?
        } else {
            endpoint.dns_name.clone()
        };
        Ok(WsTarget::new(true, host, 443))
    }

    /// `wss` or `ws`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "wss" } else { "ws" }
    }

    /// `host[:port]` as it appears in the URL and the `Host` header: the port
    /// only when it is not the scheme's default, IPv6 in brackets.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The byte stream under the WebSocket.
#[derive(Debug)]
pub enum EiceIo {
    /// `ws://` to a loopback override (tests, offline use).
    Plain(TcpStream),
    /// `wss://`, the normal case.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why the connection under the WebSocket could not be made.
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
}

/// Makes TCP (and TLS) connections to EICE with one shared TLS configuration.
#[derive(Clone)]
pub struct Transport {
    tls: TlsConnector,
}

impl Transport {
    /// A transport trusting `tls`'s roots.
    pub fn new(tls: Arc<ClientConfig>) -> Transport {
        Transport {
            tls: TlsConnector::from(tls),
        }
    }

    /// Connects to `target`, with TLS when its scheme asks for it.
    pub async fn connect(&self, target: &WsTarget) -> Result<EiceIo, TransportError> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|error| TransportError::Connect {
                host: target.host.clone(),
                port: target.port,
                error,
            })?;
        // Best effort: a socket that refuses the option still works, only slower.
        let _ = tcp.set_nodelay(true);
        if !target.tls {
            return Ok(EiceIo::Plain(tcp));
        }
        let name = server_name(&target.host)?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|error| TransportError::Tls {
                host: target.host.clone(),
                error,
            })?;
        Ok(EiceIo::Tls(Box::new(tls)))
    }
}

/// What to do about a certificate rustls refused. The refusal happens in
/// the handshake, so the presigned URL was never sent.
fn certificate_hint(e: &io::Error) -> &'static str {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => {
            " (the endpoint's certificate is not trusted, so no request was sent; behind a \
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

/// The client TLS configuration: webpki roots, the system's roots and the
/// certificates of `ca_bundle`, HTTP/1.1 ALPN (the upgrade is HTTP/1.1).
pub fn client_config(ca_bundle: Option<&Path>) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Unreadable system certificates are skipped, not fatal: webpki's roots remain.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
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
            roots.add(cert).map_err(|e| bundle_error(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Seed the random generator now: its first use costs ~30 ms, which would
    // otherwise land on the first tunnel's time to first byte.
    let _ = provider.secure_random.fill(&mut [0u8; 32]);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

impl AsyncRead for EiceIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EiceIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            EiceIo::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for EiceIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            EiceIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            EiceIo::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            EiceIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            EiceIo::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            EiceIo::Plain(s) => s.is_write_vectored(),
            EiceIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EiceIo::Plain(s) => Pin::new(s).poll_flush(cx),
            EiceIo::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            EiceIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            EiceIo::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_omits_default_ports_and_brackets_ipv6() {
        assert_eq!(
            WsTarget::new(true, "h.example".into(), 443).authority(),
            "h.example"
        );
        assert_eq!(
            WsTarget::new(false, "127.0.0.1".into(), 8080).authority(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            WsTarget::new(true, "::1".into(), 9443).authority(),
            "[::1]:9443"
        );
    }

    #[test]
    fn fips_without_a_fips_name_is_a_clear_error() {
        let endpoint = Endpoint {
            id: "eice-1".into(),
            region: "us-east-1".into(),
            dns_name: "eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com".into(),
            fips_dns_name: None,
        };
        let settings = TunnelSettings {
            use_fips: true,
            ..TunnelSettings::default()
        };
        let err = WsTarget::for_endpoint(&endpoint, &settings).unwrap_err();
        assert!(err.contains("no FipsDnsName"), "{err}");
    }

    #[test]
    fn a_missing_ca_bundle_names_the_file() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
