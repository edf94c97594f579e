//! A connection from the moment its tunnel (or hop stream) is open to its
//! end: the splice, the status page's entry, the warnings before EICE's
//! maxTunnelDuration; and the watch on a client that may leave while its
//! tunnel is still being opened (in line for a full endpoint).

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tracing::{Instrument, Span, info, warn};

use super::{Conn, Opened, cap};
use crate::inbound::Protocol;
use crate::metrics::TunnelInfo;
use crate::target::Target;

/// Splices an accepted client onto its open tunnel (or hop channel) and
/// logs how it ended, warning before EICE's maxTunnelDuration will close a
/// tunnel of its own ([`cap::warnings`]). The connection is on the status
/// page, its bytes counted as they move, until it closes.
pub(super) async fn join<C: AsyncRead + AsyncWrite + Unpin>(
    client: C,
    opened: Opened,
    target: &Target,
    settings: &crate::proxy::Settings,
    conn: &Conn,
    protocol: Protocol,
) {
    let started = Instant::now();
    let (instance, endpoint, closes_at, via) = match &opened {
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
            let instance = resolution.instance.as_ref().map(|i| i.id.clone());
            let closes_at = started + settings.tunnel_lifetime;
            (instance, request.endpoint.id.clone(), Some(closes_at), None)
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
    let warnings = closes_at.map(|_| {
        let plan = cap::plan(settings.tunnel_lifetime, &settings.warn_before_cap);
        let (client, target) = (conn.peer, target.to_string());
        tokio::spawn(
            cap::warnings(plan, settings.tunnel_lifetime, client, target)
                .instrument(Span::current()),
        )
    });
    let meter = conn.metrics.tunnel_opened(TunnelInfo {
        id: conn.id,
        protocol: protocol.label(),
        client: conn.peer,
        target: target.to_string(),
        instance,
        endpoint,
        hop: via,
        closes_at,
    });
    let finished = opened.splice(client, &meter).await;
    if let Some(warnings) = warnings {
        warnings.abort();
    }
    drop(meter);
    let secs = started.elapsed().as_secs_f64();
    let (up, down) = (finished.totals.up, finished.totals.down);
    match finished.result {
        Ok(()) => info!(up, down, secs, "tunnel closed"),
        Err(e) => {
            if closes_at.is_some_and(|at| cap::ended_by_cap(&e, at, Instant::now())) {
                conn.metrics.capped();
            }
            if down == 0 && matches!(e, crate::splice::SpliceError::Tunnel(_)) {
                conn.metrics.tunnel_unreached();
            }
            warn!(up, down, secs, error = %e, "tunnel ended with an error");
        }
    }
}

/// A second handle on `socket` (the same connection, a duplicated
/// descriptor), to watch for the client's leaving while another part of the
/// handler owns the socket.
pub(super) fn watcher(socket: &TcpStream) -> Option<TcpStream> {
    let dup = socket2::SockRef::from(socket).try_clone().ok()?;
    let std = std::net::TcpStream::from(dup);
    std.set_nonblocking(true).ok()?;
    TcpStream::from_std(std).ok()
}

/// Resolves when the client has closed its connection (or it failed);
/// never, once the client has sent bytes (they are left unread for the
/// tunnel), or without a watcher.
pub(super) async fn client_gone(socket: Option<&TcpStream>) {
    let Some(socket) = socket else {
        return std::future::pending().await;
    };
    let mut byte = [0u8; 1];
    match socket.peek(&mut byte).await {
        Ok(0) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}
