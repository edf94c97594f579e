//! Happy Eyeballs (RFC 8305, the connection part): when a name resolves to
//! both IPv6 and IPv4 addresses, race them rather than wait out each in turn.
//!
//! On an IPv6-only network the IPv4 addresses of a dual-stack name fail at
//! once (no route); on a network whose IPv6 is broken (a black hole, the
//! common case) the IPv6 attempt would hang until the OS gives up, minutes
//! later. Starting the next address after [`ATTEMPT_DELAY`], or as soon as
//! the one before it fails, makes both cases cost at most a quarter second.
//!
//! The race is generic over how a connection is made and how the delay is
//! waited for, so its unit tests drive both by hand, with no real time.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// RFC 8305 §5's recommended "Connection Attempt Delay": how long one attempt
/// has before the next address is tried beside it.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// RFC 8305 §4: the resolved addresses with the families interleaved, IPv6
/// first, each family keeping the resolver's order (which already reflects
/// RFC 6724's preferences). Duplicates are dropped.
pub fn interleave(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
    let mut v6 = Vec::new();
    let mut v4 = Vec::new();
    for addr in addrs {
        let family = if addr.is_ipv6() { &mut v6 } else { &mut v4 };
        if !family.contains(&addr) {
            family.push(addr);
        }
    }
    let mut out = Vec::with_capacity(v6.len() + v4.len());
    let (mut v6, mut v4) = (v6.into_iter(), v4.into_iter());
    loop {
        match (v6.next(), v4.next()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Every attempt failed: each address with its error, in the order tried.
#[derive(Debug)]
pub struct AllFailed(pub Vec<(SocketAddr, io::Error)>);

impl AllFailed {
    /// One `io::Error` for the caller's message: the only error as it is, or
    /// every address with its own reason, since on a dual-stack name the
    /// IPv6 and IPv4 failures usually differ and both matter.
    pub fn into_io_error(self) -> io::Error {
        let mut errors = self.0;
        if errors.len() == 1 {
            return errors.remove(0).1;
        }
        if errors.is_empty() {
            return io::Error::new(io::ErrorKind::NotFound, "the name has no address");
        }
        let kind = errors[0].1.kind();
        let text: Vec<String> = errors
            .iter()
            .map(|(addr, error)| format!("{addr}: {error}"))
            .collect();
        io::Error::new(kind, text.join("; "))
    }
}

/// Connects to the first of `addrs` (already in the order to try, see
/// [`interleave`]) that answers. The first attempt starts at once; each next
/// one starts when `delay()` resolves or as soon as an attempt fails,
/// whichever comes first. The first connection made wins; the attempts still
/// running are dropped, which closes their sockets.
pub async fn race<T, C, CF, D, DF>(
    addrs: &[SocketAddr],
    mut connect: C,
    mut delay: D,
) -> Result<(T, SocketAddr), AllFailed>
where
    C: FnMut(SocketAddr) -> CF,
    CF: Future<Output = io::Result<T>>,
    D: FnMut() -> DF,
    DF: Future<Output = ()>,
{
    let mut pending = addrs.iter().copied().peekable();
    let mut running = FuturesUnordered::new();
    let mut failed = Vec::new();
    let attempt = |addr: SocketAddr, connect: &mut C| {
        let fut = connect(addr);
        async move { (addr, fut.await) }
    };
    let Some(first) = pending.next() else {
        return Err(AllFailed(failed));
    };
    running.push(attempt(first, &mut connect));
    let mut timer = Box::pin(delay());
    loop {
        let more = pending.peek().is_some();
        tokio::select! {
            biased;
            Some((addr, result)) = running.next() => match result {
                Ok(conn) => return Ok((conn, addr)),
                Err(error) => {
                    failed.push((addr, error));
                    if let Some(next) = pending.next() {
                        running.push(attempt(next, &mut connect));
                        timer = Box::pin(delay());
                    } else if running.is_empty() {
                        return Err(AllFailed(failed));
                    }
                }
            },
            () = &mut timer, if more => {
                if let Some(next) = pending.next() {
                    running.push(attempt(next, &mut connect));
                }
                timer = Box::pin(delay());
            }
        }
    }
}

#[cfg(test)]
mod tests;
