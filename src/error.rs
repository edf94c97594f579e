//! The crate-wide error: every failure the data path can meet, and what it
//! tells the client.
//!
//! It gathers the domain errors (a route, a lookup, a key push, a tunnel, a
//! hop) near the top of the module graph; each of them says which [`Reply`]
//! its failure maps to (the SOCKS5 reply code and the HTTP status, one table
//! in [`crate::reply`]), and none of them holds this type, so none of their
//! modules needs this one. The mapping, failure by failure:
//!
//! | failure | SOCKS5 | HTTP |
//! | --- | --- | --- |
//! | port not allowed (and no hop), IAM denial (also of a key push), bad signature | 0x02 | 403 |
//! | a hop's host key changed, its login refused, its sshd forbids forwarding | 0x02 | 403 |
//! | the ssh-agent lacks the hop's key, or refuses to sign with it | 0x02 | 403 |
//! | a hop could not connect to the target | 0x05 | 502 |
//! | no usable endpoint in the VPC | 0x03 | 502 |
//! | instance, name or IP not found; instance not running | 0x04 | 404 |
//! | the endpoint cannot reach the instance's port (with the rule that blocks it) | 0x05 | 502 |
//! | a timeout | 0x06 | 504 |
//! | IPv6 target behind an ipv4-only endpoint | 0x08 | 502 |
//! | anything else | 0x01 | 502 |

use crate::agent::AgentError;
use crate::eice::TunnelError;
use crate::hop::{CarrierError, HopError};
use crate::keys::PushError;
use crate::metrics::Outcome;
use crate::reply::Reply;
use crate::resolve::{ResolveError, RouteError};
use crate::slots::Busy;

/// Why a target could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every tunnel of the endpoint in use, and no hop or free slot in time.
    #[error("{0}")]
    EndpointBusy(Box<Busy>),
    #[error(transparent)]
    Route(RouteError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Boxed: the push error carries several strings, and `Error` travels in
    /// every `Result` of the data path.
    #[error(transparent)]
    KeyPush(Box<PushError>),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    /// EICE could not reach the instance's port, and the path checks say
    /// why. Boxed, as key push errors are.
    #[error("{tunnel}; {hint}")]
    Unreachable {
        tunnel: Box<TunnelError>,
        hint: String,
    },
    /// Boxed, as key push errors are.
    #[error(transparent)]
    Hop(Box<HopError>),
    /// The ssh-agent could not give the key a `[[push_key]]` rule names.
    #[error("cannot push the key of a [[push_key]] rule: {0}")]
    Agent(Box<AgentError>),
}

impl From<AgentError> for Error {
    fn from(e: AgentError) -> Error {
        Error::Agent(Box::new(e))
    }
}

impl From<HopError> for Error {
    fn from(e: HopError) -> Error {
        Error::Hop(Box::new(e))
    }
}

/// A lookup that failed on the way to a route stays a resolve error, so its
/// AWS request id is found where every other lookup's is.
impl From<RouteError> for Error {
    fn from(e: RouteError) -> Error {
        match e {
            RouteError::Resolve(e) => Error::Resolve(e),
            other => Error::Route(other),
        }
    }
}

/// The proxy's failure to open a hop connection's tunnel, as the hop keeps it.
impl From<Error> for CarrierError {
    fn from(e: Error) -> CarrierError {
        let (reply, endpoint) = (e.reply(), e.endpoint().map(str::to_owned));
        let request_id = e.request_id().map(str::to_owned);
        CarrierError::new(e, reply, endpoint, request_id)
    }
}

impl From<PushError> for Error {
    fn from(e: PushError) -> Error {
        Error::KeyPush(Box::new(e))
    }
}

impl Error {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            Error::Route(e) => e.reply(),
            Error::EndpointBusy(_) => Reply::GeneralFailure,
            Error::Resolve(e) => e.reply(),
            Error::KeyPush(e) => e.reply(),
            Error::Tunnel(e) => e.reply(),
            Error::Unreachable { tunnel, .. } => tunnel.reply(),
            Error::Hop(e) => e.reply(),
            Error::Agent(_) => Reply::GeneralFailure,
        }
    }

    /// How the connection is counted in the metrics: a refusal by the reply
    /// the client was told, except a full endpoint, counted apart.
    pub fn outcome(&self) -> Outcome {
        match self {
            Error::EndpointBusy(_) => Outcome::EndpointBusy,
            e => Outcome::Refused(e.reply()),
        }
    }

    /// The endpoint that refused the tunnel, when the service answered.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Error::Tunnel(TunnelError::Refused(e)) => Some(&e.endpoint_id),
            Error::EndpointBusy(busy) => Some(&busy.endpoint),
            Error::Hop(e) => match e.as_ref() {
                HopError::Tunnel { source, .. } => source.endpoint(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The AWS request id behind the failure, when there is one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Resolve(ResolveError::Aws(e)) => e.request_id.as_deref(),
            Error::KeyPush(e) => e.request_id.as_deref(),
            Error::Tunnel(e) => e.request_id(),
            Error::Unreachable { tunnel, .. } => tunnel.request_id(),
            Error::Hop(e) => match e.as_ref() {
                HopError::Tunnel { source, .. } => source.request_id(),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_endpoint_and_a_refused_port_are_counted_apart() {
        let busy = Error::EndpointBusy(Box::new(Busy {
            endpoint: "eice-1".into(),
            limit: 20,
            vpc: "vpc-1".into(),
            waited: Some(crate::slots::Waited {
                waited: std::time::Duration::from_secs(20),
                in_line: 5,
            }),
        }));
        assert_eq!(busy.outcome().label(), "refused_endpoint_busy");
        let text = busy.to_string();
        assert!(
            text.starts_with("endpoint eice-1 already carries 20 tunnels from this proxy")
                && text.contains(
                    "none was freed in 20.0s of waiting in line (5 connections were waiting"
                )
                && text.contains("a [[hop]] for vpc-1 (vpc = \"vpc-1\") lifts the limit"),
            "{text}"
        );
        let port = Error::from(RouteError::PortNotAllowed {
            port: 80,
            allowed: vec![22],
        });
        assert_eq!(port.outcome().label(), "refused_not_allowed");
    }
}
