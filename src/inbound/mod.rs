//! Client-facing protocols on the one listening port.
//!
//! The first byte tells them apart without consuming it: `0x05` opens a SOCKS5
//! greeting (RFC 1928), an ASCII letter an HTTP request line (`CONNECT …`).
//! Anything else is closed with a log line that names what arrived, since a
//! SOCKS4 client or a TLS client pointed at the wrong port is a common mistake.
//!
//! Nothing here knows about EICE: each protocol yields a [`crate::target::Target`]
//! and gets back a [`crate::reply::Reply`] or a byte stream to hand over.
//!
//! With `[auth]`, both protocols check the client's credentials at the same
//! [`throttle::Gate`]: a wrong password closes the connection, and further
//! wrong ones from the same address are answered ever later.

pub mod http_connect;
pub mod socks5;
pub mod throttle;

use std::io;

use tokio::net::TcpStream;

/// How a client named its target: the protocol its first byte announced, or
/// none at all on a forward port, whose target is fixed in advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Socks5,
    Http,
    /// A forward port (`eice-proxy forward`, `[[forward]]`): never sniffed,
    /// the port itself names the target.
    Forward,
    /// `serve`'s control socket, where `connect` asks for its tunnel: HTTP
    /// CONNECT, counted apart so that `connect`'s tunnels can be told from
    /// other clients'.
    Control,
}

impl Protocol {
    /// The `protocol` label of the metrics and the status page.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Socks5 => "socks5",
            Protocol::Http => "http",
            Protocol::Forward => "forward",
            Protocol::Control => "control",
        }
    }
}

/// Why the first byte was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SniffError {
    #[error("the client closed the connection before sending anything")]
    Closed,
    #[error("a SOCKS4 client: only SOCKS5 is supported (use socks5h:// or nc -X 5)")]
    Socks4,
    #[error("a TLS client: this port speaks SOCKS5 and HTTP CONNECT, not TLS")]
    Tls,
    #[error("an unknown protocol (first byte 0x{0:02x}): this port speaks SOCKS5 and HTTP CONNECT")]
    Unknown(u8),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Classifies the first byte a client sent.
pub fn classify(first: u8) -> Result<Protocol, SniffError> {
    match first {
        0x05 => Ok(Protocol::Socks5),
        0x04 => Err(SniffError::Socks4),
        0x16 => Err(SniffError::Tls),
        b'A'..=b'Z' | b'a'..=b'z' => Ok(Protocol::Http),
        other => Err(SniffError::Unknown(other)),
    }
}

/// Waits for the client's first byte and classifies it, leaving it unread.
pub async fn sniff(socket: &TcpStream) -> Result<Protocol, SniffError> {
    let mut first = [0u8; 1];
    if socket.peek(&mut first).await? == 0 {
        return Err(SniffError::Closed);
    }
    classify(first[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_pick_the_protocol() {
        assert_eq!(classify(0x05).unwrap(), Protocol::Socks5);
        assert_eq!(classify(b'C').unwrap(), Protocol::Http);
        assert!(matches!(classify(0x04), Err(SniffError::Socks4)));
        assert!(matches!(classify(0x16), Err(SniffError::Tls)));
        assert!(matches!(classify(0x00), Err(SniffError::Unknown(0))));
    }

    #[test]
    fn each_protocol_has_its_own_label() {
        let all = [
            Protocol::Socks5,
            Protocol::Http,
            Protocol::Forward,
            Protocol::Control,
        ];
        assert_eq!(
            all.map(Protocol::label),
            ["socks5", "http", "forward", "control"]
        );
    }
}
