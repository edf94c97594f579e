//! SOCKS5 (RFC 1928) with optional username/password authentication
//! (RFC 1929), `CONNECT` only.
//!
//! The wire format is fast-socks5's; its staged API hands us the requested
//! address *before* anything is connected, so the reply to the client can be
//! the outcome of resolving the target and opening the tunnel. BIND and UDP
//! ASSOCIATE get reply 0x07: EICE carries TCP streams from us to the instance only.
//!
//! A wrong username or password is answered (after the hold its address has
//! earned, [`Gate`]) and the connection closed, as RFC 1929 requires: one
//! connection, one guess.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use fast_socks5::server::{
    AuthMethodSuccessState, PasswordAuthentication, Socks5ServerProtocol, SocksServerError, states,
};
use fast_socks5::util::target_addr::TargetAddr;
use fast_socks5::{ReplyError, Socks5Command};
use tokio::io::{AsyncRead, AsyncWrite};

use super::throttle::Gate;
use crate::config::ProxyAuth;
use crate::reply::Reply;
use crate::target::{Host, Target, TargetError};

/// A SOCKS5 client that has said where it wants to go and waits for the answer.
pub struct Request<T> {
    proto: Socks5ServerProtocol<T, states::CommandRead>,
    /// The parsed destination.
    pub target: Target,
}

/// Why a SOCKS5 handshake did not produce a request.
#[derive(Debug, thiserror::Error)]
pub enum Socks5Error {
    #[error("SOCKS5 handshake failed: {0}")]
    Handshake(#[from] SocksServerError),
    #[error("SOCKS5 {0} is not supported, only CONNECT (answered 0x07)")]
    Command(&'static str),
    #[error("bad SOCKS5 target: {0} (answered 0x04)")]
    Target(TargetError),
}

impl Socks5Error {
    /// True when the client was refused for its credentials.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            Socks5Error::Handshake(
                SocksServerError::AuthenticationRejected
                    | SocksServerError::AuthMethodUnacceptable(_)
            )
        )
    }
}

/// Runs the greeting, authentication and request phases on `io`, a wrong
/// password answered at once. Failures that the protocol can express have
/// already been answered when this returns.
pub async fn accept<T>(io: T, auth: Option<&ProxyAuth>) -> Result<Request<T>, Socks5Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let gate = auth.map(|auth| Gate::new(Arc::new(auth.clone())));
    accept_gated(io, gate.as_ref()).await
}

/// [`accept`], the credentials checked at `gate` (which may hold a wrong
/// password's answer).
pub async fn accept_gated<T>(io: T, gate: Option<&Gate>) -> Result<Request<T>, Socks5Error>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let proto = match gate {
        None => Socks5ServerProtocol::accept_no_auth(io).await?,
        Some(gate) => {
            let (user, pass, auth) = Socks5ServerProtocol::start(io)
                .negotiate_auth(&[PasswordAuthentication])
                .await?
                .read_username_password()
                .await?;
            if !gate.admit(&user, &pass).await {
                // `reject` answers and drops the stream: the connection closes.
                auth.reject().await?;
                return Err(SocksServerError::AuthenticationRejected.into());
            }
            auth.accept().await?.finish_auth()
        }
    };
    let (proto, command, address) = proto.read_command().await?;
    let command = match command {
        Socks5Command::TCPConnect => None,
        Socks5Command::TCPBind => Some("BIND"),
        Socks5Command::UDPAssociate => Some("UDP ASSOCIATE"),
    };
    if let Some(name) = command {
        let _ = proto.reply_error(&ReplyError::CommandNotSupported).await;
        return Err(Socks5Error::Command(name));
    }
    let target = match address {
        TargetAddr::Ip(addr) => Target {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        },
        TargetAddr::Domain(name, port) => match Host::parse(&name) {
            Ok(host) => Target { host, port },
            Err(e) => {
                let _ = proto.reply_error(&ReplyError::HostUnreachable).await;
                return Err(Socks5Error::Target(e));
            }
        },
    };
    Ok(Request { proto, target })
}

impl<T> Request<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// Tells the client the connection is up and returns its stream.
    pub async fn succeed(self) -> io::Result<T> {
        // BND.ADDR is meaningless through a tunnel; clients ignore it.
        let bound = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        self.proto
            .reply_success(bound)
            .await
            .map_err(io::Error::other)
    }

    /// Tells the client why not.
    pub async fn fail(self, reply: Reply) -> io::Result<()> {
        self.proto
            .reply_error(&reply_error(reply))
            .await
            .map_err(io::Error::other)
    }
}

/// Our outcome as fast-socks5's reply value (same codes, RFC 1928 §6).
fn reply_error(reply: Reply) -> ReplyError {
    match reply {
        Reply::GeneralFailure => ReplyError::GeneralFailure,
        Reply::NotAllowed => ReplyError::ConnectionNotAllowed,
        Reply::NetworkUnreachable => ReplyError::NetworkUnreachable,
        Reply::HostUnreachable => ReplyError::HostUnreachable,
        Reply::ConnectionRefused => ReplyError::ConnectionRefused,
        Reply::TimedOut => ReplyError::TtlExpired,
        Reply::CommandNotSupported => ReplyError::CommandNotSupported,
        Reply::AddressTypeNotSupported => ReplyError::AddressTypeNotSupported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_keeps_its_rfc_code() {
        for reply in Reply::ALL {
            assert_eq!(reply_error(reply).as_u8(), reply.socks_code(), "{reply:?}");
        }
    }
}
