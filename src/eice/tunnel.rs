//! Opening a tunnel: credentials → presigned URL → TCP/TLS → WebSocket upgrade.
//!
//! The URL is signed at AWS's time ([`crate::clock`]): the skew learned from
//! EC2's answers, and from the `Date` of EICE's own. A URL refused (403) with
//! a `Date` that shows it was signed with a wrong clock is signed again at
//! the corrected time and tried once more, so a warm `serve` or a `connect`
//! from its route cache, which make no EC2 call to learn from, survive a
//! clock that jumped.
//!
//! A [`Connector`] is built once per process (TLS roots, settings, the
//! credential cache) and opens any number of tunnels concurrently. Each
//! [`Tunnel`] is a WebSocket that carries one TCP stream to one instance port;
//! hand it to [`crate::splice`] to join it to a socket, or wrap it in a
//! [`super::TunnelStream`] to read and write it like one.

use std::time::Duration;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::debug;

use super::TunnelRequest;
use super::TunnelSettings;
use super::dial;
pub use super::error::{CLOSE_INTERNAL_ERROR, CLOSE_NORMAL, ServiceError, TunnelError};
use super::handshake::Upgrade;
use super::keepalive::{self, Heartbeat};
use super::sign::{self, OPEN_TUNNEL_PATH};
use super::target::WsTarget;
use super::ws::WsStream;
use crate::clock::{Clock, NOTABLE_SKEW};
use crate::credentials::CredentialCache;
use crate::net::pool::Pool;
use crate::net::{self, Io, TlsSetupError, Transport};

/// The largest frame accepted from the service. Far above what it sends; a
/// bound so a broken peer cannot make us buffer without limit.
const MAX_INCOMING_FRAME: usize = 16 * 1024 * 1024;

/// The most payload one outgoing frame carries. The AWS CLI sends frames of
/// at most 65,000 bytes; we use the same size, which the service is known to
/// accept, rather than guess at a limit it does not document. Throughput comes
/// from pipelining frames (no wait for each send), not from larger ones.
pub const MAX_FRAME_PAYLOAD: usize = 65_000;

/// Opens tunnels.
pub struct Connector {
    /// TCP and TLS to the endpoint.
    transport: Transport,
    /// Ready connections to endpoints in recent use (none if the settings
    /// turn it off).
    pool: Pool,
    /// Where to connect and how long to wait.
    settings: TunnelSettings,
    /// Signing times, corrected by what AWS's answers say of its clock.
    clock: Clock,
}

impl Connector {
    /// A connector with TLS roots from the system, webpki and `settings.ca_bundle`.
    pub fn new(settings: TunnelSettings) -> Result<Connector, TlsSetupError> {
        let tls = net::client_config(settings.ca_bundle.as_deref())?;
        let transport = Transport::new(tls).with_proxies(settings.proxies.clone());
        Ok(Connector {
            pool: Pool::new(transport.clone(), settings.pool),
            transport,
            settings,
            clock: Clock::process(),
        })
    }

    /// The pool of ready connections (off unless the settings size it), so
    /// tests and diagnostics can read what it holds and did.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The same connector, signing by `clock` rather than the process's
    /// (tests, which run side by side in one process).
    pub fn with_clock(mut self, clock: Clock) -> Connector {
        self.clock = clock;
        self
    }

    /// Opens one tunnel, signing a fresh URL for it with `credentials`.
    pub async fn open(
        &self,
        request: &TunnelRequest,
        credentials: &CredentialCache,
    ) -> Result<Tunnel, TunnelError> {
        let target = WsTarget::for_endpoint(&request.endpoint, &self.settings)
            .map_err(TunnelError::Endpoint)?;
        let signed_with = self.clock.skew();
        let mut opened = self.open_once(request, &target, credentials).await;
        if let Err(TunnelError::Refused(e)) = &opened
            && e.status == 403
            && self.clock.skew().distance(signed_with) > NOTABLE_SKEW
        {
            // The refusal's Date shows the URL was signed with a clock that
            // AWS's disagrees with: the credentials may be fine.
            debug!(code = ?e.code, skew = %self.clock.skew(), "EICE refused the clock; signing again");
            opened = self.open_once(request, &target, credentials).await;
        }
        if let Err(TunnelError::Refused(e)) = &opened
            && e.status == 403
        {
            // The service may have rejected credentials that changed under us
            // (rotated keys, a new SSO session): ask the chain again next time.
            credentials.invalidate();
        }
        opened
    }

    /// One presigned URL, at AWS's time, and one attempt to open it.
    async fn open_once(
        &self,
        request: &TunnelRequest,
        target: &WsTarget,
        credentials: &CredentialCache,
    ) -> Result<Tunnel, TunnelError> {
        let signing = credentials.get().await?;
        let url = sign::presign(request, target, &signing, self.clock.now())?;
        let after = self.settings.open_timeout;
        tokio::time::timeout(after, self.connect(request, target, url.expose()))
            .await
            .map_err(|_| {
                match self
                    .transport
                    .proxy_for(target.tls(), target.host(), target.port())
                {
                    Some(proxy) => TunnelError::ProxyTimeout {
                        proxy: proxy.to_string(),
                        after,
                    },
                    None => TunnelError::Timeout {
                        step: "opening the tunnel",
                        after,
                    },
                }
            })?
    }

    async fn connect(
        &self,
        request: &TunnelRequest,
        target: &WsTarget,
        url: &str,
    ) -> Result<Tunnel, TunnelError> {
        // With fixed addresses, the endpoint's own name is kept for TLS,
        // `Host` and the signature; only where the TCP connection goes is fixed.
        let destination = dial::destination(target, &self.settings);
        let path_and_query = &url[url
            .find(OPEN_TUNNEL_PATH)
            .expect("a presigned URL has the path")..];
        let (io, upgrade) = dial::upgrade(
            &self.pool,
            &destination,
            &target.authority(),
            path_and_query,
        )
        .await?;
        let timing = upgrade.timing();
        self.clock
            .learn(timing.date.as_deref(), timing.sent, timing.received);
        match upgrade {
            Upgrade::Switched {
                request_id, tail, ..
            } => {
                let ws = WsStream::client(io, tail, MAX_INCOMING_FRAME);
                Ok(Tunnel {
                    ws: Heartbeat::new(ws, self.settings.keepalive),
                    request_id,
                    early: Bytes::new(),
                })
            }
            Upgrade::Refused {
                status,
                request_id,
                body,
                ..
            } => Err(TunnelError::Refused(ServiceError::from_response(
                status,
                request_id,
                &body,
                &request.endpoint.id,
            ))),
        }
    }
}

/// An open tunnel: a WebSocket whose binary frames carry one TCP stream.
#[derive(Debug)]
pub struct Tunnel {
    /// The WebSocket, after a successful upgrade, pinged when quiet.
    pub ws: Heartbeat<WsStream<Io>>,
    /// `x-amzn-RequestId` of the upgrade, for logs and support cases.
    pub request_id: Option<String>,
    /// Data read by [`Tunnel::await_first_data`], owed to the client first.
    pub early: Bytes,
}

impl Tunnel {
    /// Sends `data`, which the client wrote before the tunnel opened, as one
    /// binary frame at once, without waiting for the instance's first bytes.
    pub async fn send_early(&mut self, data: Bytes) -> Result<(), TunnelError> {
        use futures_util::SinkExt;
        self.ws.send(Message::Binary(data)).await?;
        Ok(())
    }

    /// Waits up to `within` for the instance's first bytes.
    ///
    /// EICE completes the upgrade before it connects to the instance, and
    /// reports an unreachable instance with a close frame a moment later
    /// ([`TunnelError::NotReached`], whatever its code). For a
    /// protocol whose server speaks first (SSH's banner), waiting for that first
    /// data tells "connected" from "refused" before the proxy client is
    /// answered, so it gets a refusal code instead of a success and a hang-up.
    /// The wait costs nothing: such a client can do nothing before the banner.
    /// Silence until `within` is taken as success.
    pub async fn await_first_data(&mut self, within: Duration) -> Result<(), TunnelError> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Ok(item) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Ok(());
            };
            let incoming = classify(item).map_err(|e| match e {
                TunnelError::Closed { code, reason } => TunnelError::NotReached { code, reason },
                other => other,
            })?;
            match incoming {
                Incoming::Data(data) if !data.is_empty() => {
                    self.early = data;
                    return Ok(());
                }
                Incoming::Data(_) | Incoming::Control => {}
                Incoming::End => {
                    return Err(TunnelError::Closed {
                        code: CLOSE_NORMAL,
                        reason: "the instance closed the connection before sending anything".into(),
                    });
                }
            }
        }
    }
}

/// What one message from the service means for the byte stream.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Bytes from the instance (possibly none: zero-length frames are legal).
    Data(Bytes),
    /// A ping or pong: nothing for the stream (the library answers pings).
    Control,
    /// The service closed the tunnel normally.
    End,
}

/// Classifies what the WebSocket yielded. The one place that decides which
/// close codes are errors, for both the splice and the stream view.
pub(crate) fn classify(
    item: Option<Result<Message, tungstenite::Error>>,
) -> Result<Incoming, TunnelError> {
    match item {
        Some(Ok(Message::Binary(data))) => Ok(Incoming::Data(data)),
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(Incoming::Control),
        Some(Ok(Message::Text(_))) => Err(TunnelError::TextFrame),
        // No status code (1005) is how the AWS CLI's own close arrives: a normal end.
        Some(Ok(Message::Close(None))) => Ok(Incoming::End),
        Some(Ok(Message::Close(Some(frame)))) => {
            let code = u16::from(frame.code);
            if code == CLOSE_NORMAL {
                Ok(Incoming::End)
            } else {
                Err(TunnelError::Closed {
                    code,
                    reason: frame.reason.to_string(),
                })
            }
        }
        Some(Err(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        )))
        | None => Err(TunnelError::Dropped),
        Some(Err(tungstenite::Error::Io(e))) => match keepalive::unanswered(&e) {
            Some(silence) => Err(TunnelError::Unanswered {
                after: silence.after,
            }),
            None => Err(TunnelError::WebSocket(tungstenite::Error::Io(e))),
        },
        Some(Err(e)) => Err(TunnelError::WebSocket(e)),
    }
}

/// The close frame that ends our side of a tunnel normally.
pub(crate) fn normal_close() -> Message {
    Message::Close(Some(tungstenite::protocol::CloseFrame {
        code: CLOSE_NORMAL.into(),
        reason: "".into(),
    }))
}

/// How long the closing handshake may take once both sides are done.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;

    fn close(code: u16, reason: &str) -> Option<Result<Message, tungstenite::Error>> {
        Some(Ok(Message::Close(Some(CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }))))
    }

    #[test]
    fn only_a_normal_close_ends_cleanly() {
        assert!(matches!(classify(close(1000, "")), Ok(Incoming::End)));
        assert!(matches!(
            classify(Some(Ok(Message::Close(None)))),
            Ok(Incoming::End)
        ));
        match classify(close(1008, "maximum tunnel duration")) {
            Err(TunnelError::Closed { code, reason }) => {
                assert_eq!(code, 1008);
                assert_eq!(reason, "maximum tunnel duration");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_frames_and_silent_ends_are_errors() {
        assert!(matches!(
            classify(Some(Ok(Message::Text("hi".into())))),
            Err(TunnelError::TextFrame)
        ));
        assert!(matches!(classify(None), Err(TunnelError::Dropped)));
        assert!(matches!(
            classify(Some(Ok(Message::Ping(Bytes::new())))),
            Ok(Incoming::Control)
        ));
    }
}
