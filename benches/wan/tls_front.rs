//! HTTPS in front of the simulated EC2 API, which speaks plain HTTP.
//!
//! Every AWS API is HTTPS, and over a long link its TLS handshake is a round
//! trip of its own: the bench puts this terminator between the delay relay
//! and the simulator, so an API call costs what it costs against AWS.

use std::net::SocketAddr;

use eice_sim::tls::TestCa;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::peers::Server;

/// A running terminator; dropping it stops accepting.
pub struct TlsFront {
    pub server: Server,
    /// The CA its certificate (for 127.0.0.1) chains to, as PEM.
    pub ca_pem: String,
}

/// Starts a TLS server on 127.0.0.1 whose connections are carried, as
/// plaintext, to `upstream`.
pub async fn start(upstream: SocketAddr) -> anyhow::Result<TlsFront> {
    let ca = TestCa::generate()?;
    let acceptor = TlsAcceptor::from(ca.server_config());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Ok(TlsFront {
        server: Server::new(addr, task),
        ca_pem: ca.ca_pem().to_owned(),
    })
}
