//! The wss reference: a **TLS relay chain** client → relay → TLS → relay →
//! server. The same hops as the proxy's path over wss and the same crypto
//! (rustls with aws-lc-rs, the simulated EICE's server config, so the same
//! protocol version and cipher suite), but no WebSocket framing: what one
//! stream over wss could reach on this box if framing cost nothing.
//!
//! The near relay stands for the proxy (plain TCP in, TLS out), the far one
//! for the simulated EICE (TLS in, plain TCP out); both copy with the same
//! buffers as the plain chain's relays.

use std::io;
use std::net::SocketAddr;

use crate::peers::Server;
use eice_sim::tls::TestCa;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The two relays of a TLS chain; the near one is where clients connect.
pub struct TlsChain {
    pub near: Server,
    _far: Server,
}

/// Starts a TLS relay chain in front of `next`, each relay copying with
/// `buffer`-byte buffers each way.
pub async fn start_tls_chain(next: SocketAddr, buffer: usize) -> anyhow::Result<TlsChain> {
    let ca = TestCa::generate()?;
    let acceptor = TlsAcceptor::from(ca.server_config());
    let connector = TlsConnector::from(ca.client_config()?);
    let far = serve(move |inbound| {
        let acceptor = acceptor.clone();
        async move {
            let inbound = acceptor.accept(inbound).await?;
            let outbound = TcpStream::connect(next).await?;
            outbound.set_nodelay(true)?;
            relay(inbound, outbound, buffer).await
        }
    })
    .await?;
    let far_addr = far.addr;
    let near = serve(move |inbound| {
        let connector = connector.clone();
        async move {
            let outbound = TcpStream::connect(far_addr).await?;
            outbound.set_nodelay(true)?;
            let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
            let outbound = connector.connect(name, outbound).await?;
            relay(inbound, outbound, buffer).await
        }
    })
    .await?;
    Ok(TlsChain { near, _far: far })
}

/// An accept loop on 127.0.0.1 handing each connection to `each`.
async fn serve<F, Fut>(each: F) -> io::Result<Server>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = io::Result<()>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            if inbound.set_nodelay(true).is_ok() {
                tokio::spawn(each(inbound));
            }
        }
    });
    Ok(Server::new(addr, task))
}

/// Copies both ways until both sides are done, as the plain relays do.
async fn relay(
    mut a: impl AsyncRead + AsyncWrite + Unpin,
    mut b: impl AsyncRead + AsyncWrite + Unpin,
    buffer: usize,
) -> io::Result<()> {
    tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, buffer, buffer).await?;
    Ok(())
}
