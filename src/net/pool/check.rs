//! Is a pooled connection still good? Asked of the socket itself, now,
//! without waiting: the last check before a connection is handed out.
//!
//! The background watch ([`super::keep`]) reads through tokio, whose idea of
//! readiness is only as fresh as the last turn of its event loop: a FIN or
//! an alert that arrived a moment ago may not be known to it yet. This check
//! makes the system calls itself (the socket is non-blocking), so whatever
//! the kernel holds for the socket is seen. Over TLS the bytes waiting are
//! run through rustls: a session ticket (TLS 1.3 servers send them after the
//! handshake) is harmless, while a `close_notify`, an alert or any
//! application data means the server is done with the connection, or
//! speaking out of turn; either way no upgrade request may be sent on it.

use std::io::{self, Read};
use std::mem::MaybeUninit;

use tokio::net::TcpStream;

use crate::net::{Io, ReadAhead};

/// Why a pooled connection may not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Closed {
    #[error("the server closed the connection")]
    Eof,
    #[error("the server ended TLS (close_notify)")]
    CloseNotify,
    #[error("the server sent bytes before any request")]
    UnexpectedData,
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("the connection failed: {0}")]
    Failed(String),
}

/// `Ok` when nothing has happened on `io` since it was pooled but what TLS
/// itself may send (session tickets): it may carry a request.
pub fn still_open(io: &mut Io) -> Result<(), Closed> {
    match io {
        Io::Plain(tcp) => peek(tcp),
        Io::Tls(tls) => {
            let (socket, conn) = tls.get_mut();
            // What rustls already holds: read by the watch, not yet seen.
            judge(conn.process_new_packets())?;
            loop {
                match conn.read_tls(&mut Raw(socket)) {
                    Ok(0) => return Err(Closed::Eof),
                    Ok(_) => judge(conn.process_new_packets())?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Closed::Failed(e.to_string())),
                }
            }
        }
    }
}

/// What rustls made of the bytes so far.
fn judge(state: Result<rustls::IoState, rustls::Error>) -> Result<(), Closed> {
    let state = state.map_err(|e| Closed::Tls(e.to_string()))?;
    if state.peer_has_closed() {
        return Err(Closed::CloseNotify);
    }
    if state.plaintext_bytes_to_read() > 0 {
        return Err(Closed::UnexpectedData);
    }
    Ok(())
}

/// A plain connection: any byte, EOF or error waiting is the end of it.
fn peek(tcp: &TcpStream) -> Result<(), Closed> {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(tcp).peek(&mut byte) {
        Ok(0) => Err(Closed::Eof),
        Ok(_) => Err(Closed::UnexpectedData),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(Closed::Failed(e.to_string())),
    }
}

/// Reads what the socket's read-ahead holds, then the socket with a system
/// call of its own, past tokio's readiness cache (tokio's sockets are
/// non-blocking, so an empty one says `WouldBlock`).
struct Raw<'a>(&'a mut ReadAhead);

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_now(buf)
    }
}
