//! What a failure tells the client.
//!
//! Every error the data path can meet is classified once, here, into a
//! [`Reply`]: the SOCKS5 reply code (RFC 1928 §6) and the HTTP status
//! (RFC 9110) that a proxy client receives. Keeping the table in one place
//! means SOCKS and HTTP CONNECT can never disagree about the same failure.
//!
//! | failure | SOCKS5 | HTTP |
//! | --- | --- | --- |
//! | port not allowed (and no hop), IAM denial (also of a key push), bad signature | 0x02 | 403 |
//! | a hop's host key changed, its login refused, its sshd forbids forwarding | 0x02 | 403 |
//! | a hop could not connect to the target | 0x05 | 502 |
//! | no usable endpoint in the VPC | 0x03 | 502 |
//! | instance, name or IP not found; instance not running | 0x04 | 404 |
//! | the endpoint cannot reach the instance's port | 0x05 | 502 |
//! | a timeout | 0x06 | 504 |
//! | IPv6 target behind an ipv4-only endpoint | 0x08 | 502 |
//! | anything else | 0x01 | 502 |

use crate::eice::TunnelError;
use crate::hop::HopError;
use crate::keys::PushError;
use crate::reply::Reply;
use crate::resolve::ResolveError;

/// Why a target could not be connected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "port {port} is not allowed: EICE accepts only ports {}; to reach any other port, add a \
         [[hop]] to the config file (an instance in the VPC running sshd, which the proxy reaches \
         over EICE and forwards through; README, \"Any port through an SSH hop\")",
        list(allowed)
    )]
    PortNotAllowed { port: u16, allowed: Vec<u16> },
    #[error(
        "port {port} of {target} is not one EICE accepts ({}), and no [[hop]] serves {vpc}: \
         add vpc = \"{vpc}\" to a [[hop]], or make one default = true",
        list(allowed)
    )]
    NoHop {
        target: String,
        port: u16,
        vpc: String,
        allowed: Vec<u16>,
    },
    #[error(
        "endpoint {endpoint} already carries {limit} tunnels from this proxy, the EICE quota per \
         endpoint; wait for one to close (limits.tunnels_per_endpoint if AWS raised your quota)"
    )]
    EndpointBusy { endpoint: String, limit: usize },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Boxed: the push error carries several strings, and `Error` travels in
    /// every `Result` of the data path.
    #[error(transparent)]
    KeyPush(Box<PushError>),
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    /// Boxed, as key push errors are.
    #[error(transparent)]
    Hop(Box<HopError>),
}

impl From<HopError> for Error {
    fn from(e: HopError) -> Error {
        Error::Hop(Box::new(e))
    }
}

impl From<PushError> for Error {
    fn from(e: PushError) -> Error {
        Error::KeyPush(Box::new(e))
    }
}

fn list(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    ports.join(" and ")
}

impl Error {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            Error::PortNotAllowed { .. } | Error::NoHop { .. } => Reply::NotAllowed,
            Error::EndpointBusy { .. } => Reply::GeneralFailure,
            Error::Resolve(e) => e.reply(),
            Error::KeyPush(e) => e.reply(),
            Error::Tunnel(e) => e.reply(),
            Error::Hop(e) => e.reply(),
        }
    }

    /// The endpoint that refused the tunnel, when the service answered.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Error::Tunnel(TunnelError::Refused(e)) => Some(&e.endpoint_id),
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
    fn a_refused_port_names_the_allowed_ones() {
        let e = Error::PortNotAllowed {
            port: 8080,
            allowed: vec![22, 3389],
        };
        assert!(
            e.to_string()
                .starts_with("port 8080 is not allowed: EICE accepts only ports 22 and 3389")
        );
        assert!(e.to_string().contains("add a [[hop]]"), "{e}");
        assert_eq!(e.reply().socks_code(), 0x02);
    }
}
