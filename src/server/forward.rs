//! A forward port: every connection goes to the one target the port was
//! opened for (`eice-proxy forward`, `[[forward]]`), for clients that speak
//! no SOCKS. There is no handshake, so there is no reply either: a refused
//! connection is logged once and closed, and the client sees it end.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tracing::field::display;
use tracing::{Span, debug, info, warn};

use super::{Conn, ConnectionGuard, Front, Listener, Proxy, join, listen};
use crate::config::ForwardRule;
use crate::error::Error;
use crate::inbound::Protocol;
use crate::metrics::Outcome;
use crate::target::Target;

/// Binds `rule`'s port. A forward asks for no credentials (there is no
/// handshake to carry them, so `[auth]` cannot apply), and anyone who reached
/// it would open tunnels with the user's AWS identity: a non-loopback address
/// is refused unless the rule says `allow_remote`.
pub async fn bind_forward(rule: &ForwardRule) -> anyhow::Result<Listener> {
    let (addr, target) = (rule.listen, &rule.target);
    if !addr.ip().is_loopback() && !rule.allow_remote {
        anyhow::bail!(
            "refusing to forward {addr} to {target}: a forward port asks for no credentials, so \
             anyone who can reach it would use your AWS identity; listen on 127.0.0.1, or pass \
             --allow-remote (allow_remote = true in [[forward]]) if that is what you want"
        );
    }
    Ok(Listener {
        socket: listen(addr).await?,
        front: Front::Forward(target.clone()),
    })
}

/// Serves one connection to a forward port: opens the tunnel to `target`
/// and joins the client to it. Shutdown interrupts it only before its tunnel
/// is open.
pub(super) async fn handle(
    proxy: Arc<Proxy>,
    socket: TcpStream,
    target: Target,
    conn: Conn,
    mut shutdown: broadcast::Receiver<()>,
    guard: Arc<ConnectionGuard>,
) {
    Span::current().record("target", display(&target));
    let opened = tokio::select! {
        opened = proxy.open(&target) => opened,
        () = super::client_gone(Some(&socket)) => {
            info!("the client left before its tunnel opened (while waiting in line, if it was)");
            return conn.outcome(Some(Protocol::Forward), Outcome::ClientLeft);
        }
        _ = shutdown.recv() => {
            debug!("closed by shutdown before the tunnel opened");
            return conn.outcome(Some(Protocol::Forward), Outcome::Shutdown);
        }
    };
    match opened {
        Ok(opened) => {
            conn.outcome(Some(Protocol::Forward), Outcome::Tunnelled);
            join(
                socket,
                opened,
                &target,
                &proxy.settings,
                &conn,
                Protocol::Forward,
            )
            .await;
        }
        Err(e) => {
            refused(&e);
            conn.outcome(Some(Protocol::Forward), e.outcome());
        }
    }
    drop(guard);
}

/// The one log line of a refused forward connection. Unlike a proxy
/// client's, it names no SOCKS or HTTP reply: none is sent.
fn refused(error: &Error) {
    warn!(
        request_id = error.request_id(),
        endpoint = error.endpoint(),
        "refused: {error}"
    );
}
