//! The connection under a tunnel, and the upgrade sent on it: from the pool
//! of ready connections when it has one ([`crate::net::pool`]), else dialled.
//!
//! A pooled connection is checked as it is taken, but the server may still
//! close it while the request is on its way (a load balancer's idle limit
//! striking at that very moment). When it fails so, before any byte of an
//! answer, the request is sent once more on a fresh connection: the service
//! cannot have opened a tunnel for a request it never answered, and the user
//! must not see an error the pool caused.

use tracing::debug;

use super::handshake::{self, HandshakeError, Upgrade};
use super::settings::TunnelSettings;
use super::target::WsTarget;
use super::tunnel::TunnelError;
use crate::net::Io;
use crate::net::pool::{Destination, Pool};

/// Where a tunnel's connection goes: the target's name and port, at the
/// fixed addresses when the settings give some (and no override replaces
/// the endpoint).
pub(super) fn destination(target: &WsTarget, settings: &TunnelSettings) -> Destination {
    let addrs = if settings.endpoint_override.is_some() {
        Vec::new()
    } else {
        settings.endpoint_addrs.clone()
    };
    Destination {
        tls: target.tls(),
        host: target.host().to_owned(),
        port: target.port(),
        addrs,
    }
}

/// A connection to `destination` with the upgrade for `path_and_query` sent
/// and answered. After a switch, the destination counts as in recent use,
/// so the pool gets ready for the next tunnel.
pub(super) async fn upgrade(
    pool: &Pool,
    destination: &Destination,
    authority: &str,
    path_and_query: &str,
) -> Result<(Io, Upgrade), TunnelError> {
    let handshake_error = |e: HandshakeError| TunnelError::Handshake(e.to_string());
    let upgraded = match pool.take(destination).await {
        Some(mut io) => match handshake::upgrade(&mut io, authority, path_and_query).await {
            Ok(upgrade) => Some((io, upgrade)),
            Err(e) if e.unanswered() => {
                debug!(error = %e, "a pooled connection failed before any answer; dialling anew");
                pool.count_resend();
                None
            }
            Err(e) => return Err(handshake_error(e)),
        },
        None => None,
    };
    let (io, upgrade) = match upgraded {
        Some(upgraded) => upgraded,
        None => {
            let mut io = pool.dial(destination).await?;
            let upgrade = handshake::upgrade(&mut io, authority, path_and_query)
                .await
                .map_err(handshake_error)?;
            (io, upgrade)
        }
    };
    if matches!(upgrade, Upgrade::Switched { .. }) {
        pool.used(destination);
    }
    Ok((io, upgrade))
}
