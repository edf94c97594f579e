//! The connections a region's client keeps: each call takes a kept one
//! still open and ready, or makes a new one, and gives it back once its
//! answer was read whole.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::Query;
use crate::ec2::failure::Failure;
use crate::net::TransportError;

/// Connections kept open between calls, and for how long. AWS closes idle
/// connections after a while; one found closed is dropped, never used.
const IDLE_CONNECTIONS: usize = 4;
const IDLE_LIMIT: Duration = Duration::from_secs(20);

/// An idle connection and when it last finished a call.
pub(super) struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Query {
    /// Kept connections not known to be closed: what the next call may reuse.
    pub(in crate::ec2) fn kept_open(&self) -> usize {
        let idle = self.idle.lock().expect("EC2 connection pool lock");
        idle.iter().filter(|i| !i.sender.is_closed()).count()
    }

    /// A new HTTP/1.1 connection to the API.
    pub(super) async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let url = &self.settings.url;
        let io = tokio::time::timeout(
            self.settings.connect_timeout,
            self.transport.connect(url.tls, &url.host, url.port),
        )
        .await
        .map_err(|_| Failure::Transport {
            message: format!(
                "cannot connect to {url}{} within {} ms",
                self.transport
                    .proxy_for(url.tls, &url.host, url.port)
                    .map(|proxy| format!(" through the proxy {proxy}"))
                    .unwrap_or_default(),
                self.settings.connect_timeout.as_millis()
            ),
            retry: true,
        })?
        .map_err(|e| Failure::Transport {
            // A certificate refused now is refused on every attempt.
            retry: !matches!(
                e,
                TransportError::Tls { .. } | TransportError::ServerName(_)
            ),
            message: e.to_string(),
        })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::Transport {
                message: format!("HTTP set-up with {url} failed: {e}"),
                retry: true,
            })?;
        // The connection drives itself until either side closes it; its end
        // shows in the sender, which is then never reused.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// A kept connection still open and ready, if any. Readiness is waited
    /// for, not merely checked: right after an answer is read, hyper's
    /// connection task may not yet have said it wants the next request, and
    /// a connection dropped for that would cost a new TCP and TLS handshake
    /// for each call of a resolution.
    pub(super) async fn take_idle(&self) -> Option<SendRequest<Full<Bytes>>> {
        loop {
            let Idle { mut sender, since } =
                self.idle.lock().expect("EC2 connection pool lock").pop()?;
            if since.elapsed() < IDLE_LIMIT && !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Keeps a connection whose answer was read whole, for the next call.
    pub(super) fn keep(&self, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().expect("EC2 connection pool lock");
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}
