//! The answer a proxy client gets when its target cannot be connected, in
//! both protocols it may speak: the SOCKS5 reply code (RFC 1928 §6) and the
//! HTTP status (RFC 9110).
//!
//! It sits at the bottom of the module graph: every domain error (resolve,
//! key push, tunnel, hop) says which [`Reply`] its failure maps to, and the
//! crate-wide [`Error`](crate::error::Error) gathers them above. One table
//! here means SOCKS and HTTP CONNECT can never disagree about the same failure.

use http::StatusCode;

/// The outcome a proxy client is told about, independent of its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Forbidden by policy: a port EICE refuses, an IAM denial, a bad signature.
    NotAllowed,
    /// The target's network has no usable endpoint.
    NetworkUnreachable,
    /// No such instance or address.
    HostUnreachable,
    /// The endpoint could not reach the instance on that port.
    ConnectionRefused,
    /// A step ran out of time.
    TimedOut,
    /// The request named a command the proxy does not implement (SOCKS BIND, UDP).
    CommandNotSupported,
    /// The address family cannot be reached (IPv6 behind an ipv4-only endpoint).
    AddressTypeNotSupported,
    /// Anything else: service trouble, a protocol error.
    GeneralFailure,
}

impl Reply {
    /// Every outcome, in SOCKS5 code order (for tests and exhaustive checks).
    pub const ALL: [Reply; 8] = [
        Reply::GeneralFailure,
        Reply::NotAllowed,
        Reply::NetworkUnreachable,
        Reply::HostUnreachable,
        Reply::ConnectionRefused,
        Reply::TimedOut,
        Reply::CommandNotSupported,
        Reply::AddressTypeNotSupported,
    ];

    /// The SOCKS5 reply field (`REP`) for this outcome.
    pub fn socks_code(self) -> u8 {
        match self {
            Reply::GeneralFailure => 0x01,
            Reply::NotAllowed => 0x02,
            Reply::NetworkUnreachable => 0x03,
            Reply::HostUnreachable => 0x04,
            Reply::ConnectionRefused => 0x05,
            Reply::TimedOut => 0x06,
            Reply::CommandNotSupported => 0x07,
            Reply::AddressTypeNotSupported => 0x08,
        }
    }

    /// The HTTP status a `CONNECT` request gets for this outcome.
    pub fn http_status(self) -> StatusCode {
        match self {
            Reply::NotAllowed => StatusCode::FORBIDDEN,
            Reply::HostUnreachable => StatusCode::NOT_FOUND,
            Reply::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            Reply::CommandNotSupported => StatusCode::METHOD_NOT_ALLOWED,
            Reply::NetworkUnreachable
            | Reply::ConnectionRefused
            | Reply::AddressTypeNotSupported
            | Reply::GeneralFailure => StatusCode::BAD_GATEWAY,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks_codes_follow_rfc_1928() {
        let codes: Vec<u8> = Reply::ALL.iter().map(|r| r.socks_code()).collect();
        assert_eq!(codes, (1..=8).collect::<Vec<u8>>());
    }

    #[test]
    fn refusals_are_forbidden_and_failures_are_bad_gateway() {
        assert_eq!(Reply::NotAllowed.http_status(), StatusCode::FORBIDDEN);
        assert_eq!(Reply::HostUnreachable.http_status(), StatusCode::NOT_FOUND);
        assert_eq!(Reply::TimedOut.http_status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            Reply::ConnectionRefused.http_status(),
            StatusCode::BAD_GATEWAY
        );
    }
}
