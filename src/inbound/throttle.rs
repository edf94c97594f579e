//! Slows down proxy-password guessing: a wrong password is answered later
//! the more often its client's address has been wrong lately, and a right
//! one at once, always.
//!
//! The first failure from an address is answered at once (a typo costs
//! nothing); each further one waits twice as long as the last, from
//! [`FIRST_HOLD`] up to [`MAX_HOLD`]. A right password forgets the address's
//! failures; so do [`FORGET_AFTER`] without one. Because holding an answer
//! would not slow a client that opens many connections at once, an address
//! with [`MAX_HELD`] answers already held gets its next attempts refused
//! without being checked, which tells it nothing about the password tried.
//!
//! The table is bounded: at [`CAPACITY`] addresses, a new one replaces the
//! address whose last failure is oldest. An IPv6 client counts by its /64,
//! the block one host is usually given, so that it cannot start afresh with
//! each of its addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::warn;

use crate::config::ProxyAuth;

/// The wait before answering an address's second failure; each further
/// failure waits twice as long as the one before.
pub const FIRST_HOLD: Duration = Duration::from_secs(1);

/// The longest an answer waits. Below the default handshake timeout (10 s),
/// so that a SOCKS5 client is told, not timed out.
pub const MAX_HOLD: Duration = Duration::from_secs(8);

/// Answers one address may have held at once; beyond, its attempts are
/// refused unchecked until one is released.
pub const MAX_HELD: u32 = 4;

/// Without a failure for this long, an address starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// Addresses remembered at most.
pub const CAPACITY: usize = 4096;

/// What a failing address has earned.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Failures since the last success (or since it was forgotten).
    failures: u32,
    /// Answers being held now.
    held: u32,
    /// When the last failure happened.
    last: Instant,
}

/// What became of one attempt.
#[derive(Debug)]
pub enum Verdict {
    /// The credentials were right.
    Admitted,
    /// Wrong: answer when the hold is over. The answer counts as held until
    /// this is dropped.
    Refused(Held),
    /// Not checked: the address already has [`MAX_HELD`] answers held.
    Unchecked,
}

/// A wrong attempt's answer, held.
#[derive(Debug)]
pub struct Held {
    /// How long the answer waits.
    pub hold: Duration,
    /// The address's failures so far, this one included.
    pub failures: u32,
    throttle: Arc<Throttle>,
    source: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.throttle.release(self.source);
    }
}

/// The failures of each client address: shared by every connection, SOCKS5
/// and HTTP alike.
#[derive(Debug, Default)]
pub struct Throttle {
    sources: Mutex<HashMap<IpAddr, Record>>,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle::default()
    }

    /// Records an attempt from `client` at `now` whose credentials were
    /// `right`, and says what to do with it.
    pub fn attempt(self: &Arc<Self>, client: IpAddr, now: Instant, right: bool) -> Verdict {
        let source = source(client);
        let mut sources = self.sources.lock().expect("throttle lock");
        if let Some(record) = sources.get_mut(&source) {
            if record.held >= MAX_HELD {
                return Verdict::Unchecked;
            }
            if right {
                // Failures still held release into nothing: see `release`.
                sources.remove(&source);
                return Verdict::Admitted;
            }
            if record.held == 0 && now.duration_since(record.last) > FORGET_AFTER {
                record.failures = 0;
            }
        } else if right {
            return Verdict::Admitted;
        } else if sources.len() >= CAPACITY {
            evict(&mut sources);
        }
        let record = sources.entry(source).or_insert(Record {
            failures: 0,
            held: 0,
            last: now,
        });
        record.failures = record.failures.saturating_add(1);
        record.held += 1;
        record.last = now;
        Verdict::Refused(Held {
            hold: hold(record.failures),
            failures: record.failures,
            throttle: Arc::clone(self),
            source,
        })
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.sources.lock().expect("throttle lock").len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One held answer of `source` has been given. Its record may be gone
    /// (a success, or evicted): then there is nothing to release.
    fn release(&self, source: IpAddr) {
        if let Some(record) = self.sources.lock().expect("throttle lock").get_mut(&source) {
            record.held = record.held.saturating_sub(1);
        }
    }
}

/// The wait for an address's `failures`-th failure: none for the first.
fn hold(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(2).min(16);
    match failures {
        0 | 1 => Duration::ZERO,
        _ => FIRST_HOLD.saturating_mul(1 << doublings).min(MAX_HOLD),
    }
}

/// The address failures are counted under: IPv4 (an IPv4-mapped IPv6 one
/// too) as it is, IPv6 by its /64.
fn source(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Makes room: forgets the address whose last failure is oldest.
fn evict(sources: &mut HashMap<IpAddr, Record>) {
    if let Some(oldest) = sources
        .iter()
        .min_by_key(|(_, record)| record.last)
        .map(|(source, _)| *source)
    {
        sources.remove(&oldest);
    }
}

/// The credentials a client must present, and the throttle its failures
/// count in: what SOCKS5 and HTTP CONNECT ask before anything else.
#[derive(Debug, Clone)]
pub struct Gate {
    auth: Arc<ProxyAuth>,
    /// The shared table and this client's address; none: failures are
    /// answered at once (a parser under test, a fuzz target).
    throttle: Option<(Arc<Throttle>, IpAddr)>,
}

impl Gate {
    /// A gate that answers failures at once.
    pub fn new(auth: Arc<ProxyAuth>) -> Gate {
        Gate {
            auth,
            throttle: None,
        }
    }

    /// The same gate, holding `client`'s failures as `throttle` says.
    pub fn throttled(self, throttle: Arc<Throttle>, client: IpAddr) -> Gate {
        Gate {
            throttle: Some((throttle, client)),
            ..self
        }
    }

    /// Whether `username` and `password` are right. A wrong pair returns
    /// only once its hold is over; a right one at once.
    pub async fn admit(&self, username: &str, password: &str) -> bool {
        let right = self.auth.check(username, password);
        self.settle(right).await
    }

    /// Credentials that could not even be read (a bad `Proxy-Authorization`):
    /// a failure like a wrong password.
    pub async fn refuse(&self) {
        self.settle(false).await;
    }

    async fn settle(&self, right: bool) -> bool {
        let Some((throttle, client)) = &self.throttle else {
            return right;
        };
        match throttle.attempt(*client, Instant::now(), right) {
            Verdict::Admitted => true,
            Verdict::Unchecked => {
                warn!(
                    "proxy credentials not checked: {MAX_HELD} failures from this address are \
                     still being answered"
                );
                false
            }
            Verdict::Refused(held) => {
                warn!(
                    failures = held.failures,
                    "wrong proxy credentials: answering in {}s",
                    held.hold.as_secs()
                );
                tokio::time::sleep(held.hold).await;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
