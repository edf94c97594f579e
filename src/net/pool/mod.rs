//! A few ready connections (TCP and TLS done) to each endpoint in recent use,
//! so that a warm tunnel costs the WebSocket upgrade alone: no TCP handshake,
//! no TLS handshake on the way to the first byte.
//!
//! An endpoint is in recent use once a tunnel to it opened ([`Pool::used`]):
//! the pool then dials in the background until it holds
//! [`PoolSettings::size`] connections to it, and does so again after each one
//! is taken. Nothing else refills it, so an endpoint no longer used is
//! forgotten as its connections expire.
//!
//! Each pooled connection is watched by a task of its own ([`keep`]): it
//! reads, so a close from the server (EOF, a TLS `close_notify` or alert, a
//! reset, or any byte at all, since a server has nothing to say before a
//! request) ends it at once; and it closes the connection itself after
//! [`PoolSettings::idle`], before a load balancer or proxy on the way would.
//! At the moment of taking, the socket is asked once more without waiting
//! ([`check::still_open`]), so a connection closed an instant ago is not
//! handed out either. A connection can still die between that check and the
//! request reaching the server; the caller retries such a failure once on a
//! fresh connection (`eice::dial`).
//!
//! A connection is reusable only for exactly what it was dialled for: the
//! [`Destination`] (TLS or not, the name TLS verified, the port, the fixed
//! addresses if any) and the corporate proxy it goes through.

mod check;
mod counts;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tracing::debug;

pub use check::Closed;
use counts::Counts;
pub use counts::PoolCounts;

use super::proxy::ProxyUrl;
use super::{Io, Transport, TransportError};

/// Ready connections kept per endpoint by default (`[network] pool`): two
/// cover a login and the `scp` or second terminal that often follows it.
pub const DEFAULT_SIZE: usize = 2;

/// How long a pooled connection waits for a tunnel by default
/// (`[network] pool_idle`). Well under the idle limits found on the way to
/// AWS (a load balancer's 60 s default, the same or less on some corporate
/// proxies and NATs), so the pool closes its connections before any of them
/// does and a close racing a request is rare; long enough to span the gap
/// between one command and the next.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(20);

/// How long a background dial may take before it is given up.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

/// How large the pool is and how long its connections live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections kept ready per endpoint; 0 turns the pool off.
    pub size: usize,
    /// How long each may wait unused before the pool closes it.
    pub idle: Duration,
}

impl PoolSettings {
    /// No pool: every tunnel dials its own connection. What a process that
    /// opens one tunnel wants (`connect`), which would only waste a dial.
    pub const OFF: PoolSettings = PoolSettings {
        size: 0,
        idle: DEFAULT_IDLE,
    };
}

/// Where a connection goes; everything but the proxy that decides whether
/// one connection can serve another request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// TLS (`wss`) or not.
    pub tls: bool,
    /// The name dialled, and verified by TLS.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Addresses dialled instead of resolving `host` (never through a
    /// proxy); empty: DNS decides.
    pub addrs: Vec<SocketAddr>,
}

/// What a pooled connection was made for: a destination, and the proxy
/// (if any) its TCP connection is tunnelled through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    destination: Destination,
    proxy: Option<ProxyUrl>,
}

/// Ready connections by endpoint. Cheap to clone; the background work stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    transport: Transport,
    settings: PoolSettings,
    endpoints: Mutex<HashMap<Key, Entry>>,
    next_id: AtomicU64,
    counts: Counts,
}

/// One endpoint's ready connections and the dials under way to it.
#[derive(Default)]
struct Entry {
    ready: Vec<Ready>,
    dialling: usize,
}

/// A pooled connection, as the pool sees it: its watch task holds the socket.
struct Ready {
    id: u64,
    /// Asks the watch task for the connection; it answers on the sender given.
    handover: oneshot::Sender<oneshot::Sender<Option<Io>>>,
}

impl Pool {
    /// A pool that dials with `transport`.
    pub fn new(transport: Transport, settings: PoolSettings) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                transport,
                settings,
                endpoints: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                counts: Counts::default(),
            }),
        }
    }

    /// A connection from the pool, checked just now, if one is ready.
    pub async fn take(&self, destination: &Destination) -> Option<Io> {
        if self.shared.settings.size == 0 {
            return None;
        }
        let key = self.shared.key(destination);
        loop {
            let Some(ready) = self.shared.lock_entry(&key, |entry| entry.ready.pop()) else {
                self.shared.counts.misses.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            let (answer, answered) = oneshot::channel();
            if ready.handover.send(answer).is_err() {
                continue; // its watch ended just now: closed or expired
            }
            if let Ok(Some(io)) = answered.await {
                self.shared.counts.hits.fetch_add(1, Ordering::Relaxed);
                debug!(host = %destination.host, id = ready.id, "using a pooled connection");
                return Some(io);
            }
        }
    }

    /// A new connection, dialled now.
    pub async fn dial(&self, destination: &Destination) -> Result<Io, TransportError> {
        self.shared.transport.dial(destination).await
    }

    /// Marks `destination` in recent use: dials in the background until the
    /// pool holds its share of ready connections to it.
    pub fn used(&self, destination: &Destination) {
        let size = self.shared.settings.size;
        if size == 0 {
            return;
        }
        let key = self.shared.key(destination);
        let wanted = self.shared.lock_entry(&key, |entry| {
            let wanted = size.saturating_sub(entry.ready.len() + entry.dialling);
            entry.dialling += wanted;
            Some(wanted)
        });
        for _ in 0..wanted.unwrap_or(0) {
            tokio::spawn(refill(Arc::downgrade(&self.shared), key.clone()));
        }
    }

    /// Connections ready now, over every endpoint.
    pub fn ready(&self) -> usize {
        let endpoints = self.shared.endpoints();
        endpoints.values().map(|e| e.ready.len()).sum()
    }

    /// Connections ready or being dialled, over every endpoint.
    pub fn pending(&self) -> usize {
        let endpoints = self.shared.endpoints();
        endpoints.values().map(|e| e.ready.len() + e.dialling).sum()
    }

    /// What the pool did so far.
    pub fn counts(&self) -> PoolCounts {
        self.shared.counts.snapshot()
    }

    /// Counts a request sent again on a fresh connection after the pooled
    /// one it went out on failed before any answer (`eice::dial`).
    pub fn count_resend(&self) {
        self.shared.counts.resent.fetch_add(1, Ordering::Relaxed);
    }
}

impl Shared {
    fn key(&self, destination: &Destination) -> Key {
        // Fixed addresses are dialled directly, never through a proxy.
        let proxy = destination
            .addrs
            .is_empty()
            .then(|| {
                self.transport
                    .proxy_for(destination.tls, &destination.host, destination.port)
            })
            .flatten()
            .cloned();
        Key {
            destination: destination.clone(),
            proxy,
        }
    }

    fn endpoints(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the entry of `key` (made if missing), and forgets
    /// the entry once it holds nothing, so endpoints no longer used cost nothing.
    fn lock_entry<T>(&self, key: &Key, change: impl FnOnce(&mut Entry) -> Option<T>) -> Option<T> {
        let mut endpoints = self.endpoints();
        let entry = endpoints.entry(key.clone()).or_default();
        let result = change(entry);
        if entry.ready.is_empty() && entry.dialling == 0 {
            endpoints.remove(key);
        }
        result
    }
}

impl Transport {
    /// A new connection to `destination`: at its fixed addresses if it has
    /// any, else by name (through a proxy where one applies).
    pub async fn dial(&self, destination: &Destination) -> Result<Io, TransportError> {
        let Destination {
            tls,
            host,
            port,
            addrs,
        } = destination;
        if addrs.is_empty() {
            self.connect(*tls, host, *port).await
        } else {
            self.connect_at(*tls, host, *port, addrs).await
        }
    }
}

/// Dials one connection for `key` and hands it to a watch task.
async fn refill(shared: Weak<Shared>, key: Key) {
    let Some(transport) = shared.upgrade().map(|s| s.transport.clone()) else {
        return;
    };
    let host = key.destination.host.clone();
    count(&shared, |c| &c.dials);
    let dialled = tokio::time::timeout(DIAL_TIMEOUT, transport.dial(&key.destination)).await;
    let Some(pool) = shared.upgrade() else {
        return;
    };
    let io = match dialled {
        Ok(Ok(io)) => Some(io),
        Ok(Err(error)) => {
            debug!(%host, %error, "a pool connection could not be dialled");
            None
        }
        Err(_) => {
            debug!(%host, "a pool connection took too long to dial");
            None
        }
    };
    if io.is_none() {
        pool.counts.dial_failures.fetch_add(1, Ordering::Relaxed);
    }
    let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
    let idle = pool.settings.idle;
    let handover = pool.lock_entry(&key, |entry| {
        entry.dialling -= 1;
        let (handover, asked) = oneshot::channel();
        io.is_some()
            .then(|| entry.ready.push(Ready { id, handover }));
        Some(asked)
    });
    if let (Some(io), Some(asked)) = (io, handover) {
        debug!(%host, id, "dialled a pool connection");
        tokio::spawn(keep(shared, key, id, io, asked, idle));
    }
}

/// How a pooled connection's wait ended.
enum End {
    /// A tunnel asked for it.
    Asked(oneshot::Sender<Option<Io>>),
    /// The pool is gone.
    Dropped,
    /// The server closed it, or said something.
    Closed(Closed),
    /// It waited its whole idle time.
    Expired,
}

/// Holds one pooled connection until it is asked for, closed by the server,
/// or idle too long.
async fn keep(
    shared: Weak<Shared>,
    key: Key,
    id: u64,
    mut io: Io,
    asked: oneshot::Receiver<oneshot::Sender<Option<Io>>>,
    idle: Duration,
) {
    let host = &key.destination.host;
    let mut byte = [0u8; 1];
    // Biased: when a request and a close arrive together, the request's
    // check (which sees the close too) decides.
    let end = tokio::select! {
        biased;
        asked = asked => asked.map_or(End::Dropped, End::Asked),
        read = io.read(&mut byte) => End::Closed(match read {
            Ok(0) => Closed::Eof,
            Ok(_) => Closed::UnexpectedData,
            Err(e) => Closed::Failed(e.to_string()),
        }),
        () = tokio::time::sleep(idle) => End::Expired,
    };
    match end {
        End::Asked(answer) => match check::still_open(&mut io) {
            // If the taker gave up meanwhile, the connection is dropped.
            Ok(()) => drop(answer.send(Some(io))),
            Err(why) => {
                debug!(%host, id, %why, "pooled connection found closed when taken");
                count(&shared, |c| &c.closed_at_take);
                let _ = answer.send(None);
            }
        },
        End::Dropped => {}
        End::Closed(why) => {
            debug!(%host, id, %why, "pooled connection closed while idle");
            count(&shared, |c| &c.closed_idle);
            forget(&shared, &key, id);
        }
        End::Expired => {
            debug!(%host, id, after = ?idle, "pooled connection expired unused");
            count(&shared, |c| &c.expired);
            forget(&shared, &key, id);
            // A polite close (TLS close_notify, FIN), but never a wait on it.
            let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
        }
    }
}

fn count(shared: &Weak<Shared>, which: impl Fn(&Counts) -> &AtomicU64) {
    if let Some(shared) = shared.upgrade() {
        which(&shared.counts).fetch_add(1, Ordering::Relaxed);
    }
}

/// Takes connection `id` out of the pool (a taker may have got it first).
fn forget(shared: &Weak<Shared>, key: &Key, id: u64) {
    if let Some(shared) = shared.upgrade() {
        shared.lock_entry(key, |entry| {
            entry.ready.retain(|r| r.id != id);
            Some(())
        });
    }
}
