//! What the proxy is doing, for the person who runs it: counters and gauges
//! rendered in the Prometheus text format at `/metrics`, and the open tunnels
//! served as JSON at `/status` (printed as a table by `eice-proxy status`).
//!
//! One [`Metrics`] value is made with the [`Proxy`](crate::proxy::Proxy) and
//! shared by every connection. Per-connection updates (an outcome, a lookup, a
//! setup time) take a short lock; the data path only adds to relaxed atomics,
//! once per chunk (up to 64 KiB) each way, through a [`TunnelMeter`].
//!
//! Every label value is a `&'static str` written in this crate, never a string
//! from a client or from AWS, so the number of series stays bounded.
//!
//! It is fed plain values (labels, counts, the [`Reply`] a client was told),
//! not the domain types of the modules that count, so that all of them can
//! use it without it knowing them.

mod api_calls;
pub mod http;
mod prometheus;

pub use api_calls::{ApiOutcome, count_api_call};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::reply::Reply;
use crate::splice::Observer;

/// The shared counters, gauges and table of open tunnels.
pub struct Metrics {
    /// For the uptime on the status page.
    started: Instant,
    /// Seconds since the Unix epoch at start, for `eice_proxy_start_time_seconds`.
    started_unix: f64,
    /// Client connections by (protocol, outcome).
    connections: Counter<(&'static str, &'static str)>,
    /// Accepted connections not yet closed, tunnels included.
    open_connections: AtomicU64,
    /// Open tunnels and hop streams by connection id, for the status page and
    /// the open-tunnels and hop-streams gauges.
    tunnels: Mutex<BTreeMap<u64, Arc<LiveTunnel>>>,
    /// EICE tunnels under the hops' SSH connections: each carries any number
    /// of hop streams, and is one of the endpoint's 20.
    hop_tunnels: AtomicU64,
    /// Bytes through every tunnel, client → instance.
    bytes_up: AtomicU64,
    /// Bytes through every tunnel, instance → client.
    bytes_down: AtomicU64,
    /// Resolve + open time of the tunnels that opened.
    setup: Mutex<Histogram>,
    /// Resolver lookups by (kind, hit or miss).
    lookups: Counter<(&'static str, &'static str)>,
    /// Tunnels that opened, then ended with a tunnel error before the
    /// instance sent a byte (EICE could not reach its port): what `rdp`
    /// explains with `doctor` once its client gives up.
    unreached: AtomicU64,
}

/// How a client connection ended, as counted in `eice_proxy_connections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A tunnel opened and the client was joined to it.
    Tunnelled,
    /// A well-formed request for a target that could not be connected; the
    /// reason is what the client was told.
    Refused(Reply),
    /// Refused because the endpoint already carries its quota of tunnels.
    EndpointBusy,
    /// Wrong or missing credentials.
    AuthFailed,
    /// A request the proxy cannot serve as asked: not SOCKS5 or HTTP,
    /// malformed, BIND or UDP, a method other than CONNECT.
    BadRequest,
    /// The client did not finish its handshake in time.
    HandshakeTimeout,
    /// The client went away before a tunnel was joined.
    ClientLeft,
    /// The proxy shut down before the tunnel opened.
    Shutdown,
}

impl Outcome {
    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Tunnelled => "tunnelled",
            Outcome::Refused(reply) => match reply {
                Reply::NotAllowed => "refused_not_allowed",
                Reply::NetworkUnreachable => "refused_network_unreachable",
                Reply::HostUnreachable => "refused_host_unreachable",
                Reply::ConnectionRefused => "refused_connection_refused",
                Reply::TimedOut => "refused_timed_out",
                Reply::CommandNotSupported => "refused_command_not_supported",
                Reply::AddressTypeNotSupported => "refused_address_type_not_supported",
                Reply::GeneralFailure => "refused_general_failure",
            },
            Outcome::EndpointBusy => "refused_endpoint_busy",
            Outcome::AuthFailed => "auth_failed",
            Outcome::BadRequest => "bad_request",
            Outcome::HandshakeTimeout => "handshake_timeout",
            Outcome::ClientLeft => "client_left",
            Outcome::Shutdown => "shutdown",
        }
    }
}

/// What the handler knows of a tunnel it has just opened.
#[derive(Debug, Clone)]
pub struct TunnelInfo {
    /// The connection id, as in the log's `conn{id=…}`.
    pub id: u64,
    /// The `protocol` label: `socks5`, `http` or `forward`.
    pub protocol: &'static str,
    pub client: SocketAddr,
    /// What the client asked for, as it asked.
    pub target: String,
    pub instance: Option<String>,
    pub endpoint: String,
    /// The hop it goes through: a channel on the hop's SSH connection, not
    /// an EICE tunnel of its own.
    pub hop: Option<String>,
}

/// An open tunnel, live.
struct LiveTunnel {
    info: TunnelInfo,
    opened: Instant,
    up: AtomicU64,
    down: AtomicU64,
}

impl Metrics {
    /// Everything at zero, the clock started.
    pub fn new() -> Metrics {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Metrics {
            started: Instant::now(),
            started_unix: since_epoch.as_secs_f64(),
            connections: Counter::new(),
            open_connections: AtomicU64::new(0),
            tunnels: Mutex::new(BTreeMap::new()),
            hop_tunnels: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            setup: Mutex::new(Histogram::default()),
            lookups: Counter::new(),
            unreached: AtomicU64::new(0),
        }
    }

    /// Counts a client connection until the returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.open_connections.fetch_add(1, Relaxed);
        OpenConnection(self.clone())
    }

    /// Counts how a client connection ended (or, for a tunnel, began);
    /// `protocol` is its label (`unknown` when the first byte matched neither).
    pub fn connection(&self, protocol: &'static str, outcome: Outcome) {
        self.connections.add((protocol, outcome.label()));
    }

    /// Counts a tunnel that ended with a tunnel error before the instance
    /// sent a byte.
    pub fn tunnel_unreached(&self) {
        self.unreached.fetch_add(1, Relaxed);
    }

    /// How many tunnels [`Metrics::tunnel_unreached`] counted.
    pub fn unreached(&self) -> u64 {
        self.unreached.load(Relaxed)
    }

    /// Records the time a tunnel took from the request to ready (resolve + open).
    pub fn tunnel_setup(&self, elapsed: Duration) {
        self.setup
            .lock()
            .expect("histogram lock")
            .observe(elapsed.as_secs_f64());
    }

    /// Counts the resolver's cache lookups, each a kind and whether the cache
    /// answered: `Some(true)` a hit, `Some(false)` a miss (the API answered),
    /// `None` no lookup at all (a `[[route]]` rule answered).
    pub fn lookups(&self, lookups: impl IntoIterator<Item = (&'static str, Option<bool>)>) {
        for (kind, hit) in lookups {
            match hit {
                Some(true) => self.lookups.add((kind, "hit")),
                Some(false) => self.lookups.add((kind, "miss")),
                None => {}
            }
        }
    }

    /// Lists a tunnel on the status page and counts its bytes until the
    /// returned meter is dropped.
    pub fn tunnel_opened(self: &Arc<Self>, info: TunnelInfo) -> TunnelMeter {
        let live = Arc::new(LiveTunnel {
            info,
            opened: Instant::now(),
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
        });
        self.tunnels
            .lock()
            .expect("tunnel table lock")
            .insert(live.info.id, live.clone());
        TunnelMeter {
            metrics: self.clone(),
            live,
        }
    }

    /// Counts the EICE tunnel under a hop's SSH connection in
    /// `eice_proxy_open_tunnels` until the returned guard is dropped.
    pub fn hop_tunnel_opened(self: &Arc<Self>) -> HopTunnel {
        self.hop_tunnels.fetch_add(1, Relaxed);
        HopTunnel(self.clone())
    }

    /// The open tunnels and the process's uptime, for `/status`.
    pub fn status(&self) -> Status {
        let now = Instant::now();
        let tunnels = self.tunnels.lock().expect("tunnel table lock");
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: now.duration_since(self.started).as_secs(),
            tunnels: tunnels
                .values()
                .map(|t| TunnelStatus {
                    id: t.info.id,
                    protocol: t.info.protocol.to_owned(),
                    client: t.info.client,
                    target: t.info.target.clone(),
                    instance: t.info.instance.clone(),
                    endpoint: t.info.endpoint.clone(),
                    hop: t.info.hop.clone(),
                    age_seconds: now.duration_since(t.opened).as_secs(),
                    bytes_up: t.up.load(Relaxed),
                    bytes_down: t.down.load(Relaxed),
                })
                .collect(),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        prometheus::render(self)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// A client connection, counted in `eice_proxy_open_connections` while it lives.
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Relaxed);
    }
}

/// The tunnel under a hop's SSH connection, counted while it lives.
pub struct HopTunnel(Arc<Metrics>);

impl Drop for HopTunnel {
    fn drop(&mut self) {
        self.0.hop_tunnels.fetch_sub(1, Relaxed);
    }
}

/// An open tunnel's entry on the status page and its byte counters; the
/// splice reports to it as bytes move, and dropping it closes the entry.
pub struct TunnelMeter {
    metrics: Arc<Metrics>,
    live: Arc<LiveTunnel>,
}

impl Observer for TunnelMeter {
    fn up(&self, bytes: u64) {
        self.live.up.fetch_add(bytes, Relaxed);
        self.metrics.bytes_up.fetch_add(bytes, Relaxed);
    }

    fn down(&self, bytes: u64) {
        self.live.down.fetch_add(bytes, Relaxed);
        self.metrics.bytes_down.fetch_add(bytes, Relaxed);
    }
}

impl Drop for TunnelMeter {
    fn drop(&mut self) {
        self.metrics
            .tunnels
            .lock()
            .expect("tunnel table lock")
            .remove(&self.live.info.id);
    }
}

/// `/status`: what `eice-proxy status` fetches and prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_seconds: u64,
    /// Open tunnels, oldest connection first.
    pub tunnels: Vec<TunnelStatus>,
}

/// One open tunnel on the status page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TunnelStatus {
    /// The connection id, as in the log's `conn{id=…}`.
    pub id: u64,
    /// `socks5`, `http` or `forward`.
    pub protocol: String,
    pub client: SocketAddr,
    pub target: String,
    pub instance: Option<String>,
    pub endpoint: String,
    /// The hop a stream goes through; `None` for a tunnel of its own.
    #[serde(default)]
    pub hop: Option<String>,
    pub age_seconds: u64,
    /// Bytes so far, client → instance.
    pub bytes_up: u64,
    /// Bytes so far, instance → client.
    pub bytes_down: u64,
}

/// A counter with labels. Updated a few times per connection, never per
/// chunk, so a lock costs nothing that matters.
struct Counter<K> {
    values: Mutex<BTreeMap<K, u64>>,
}

impl<K: Ord + Copy> Counter<K> {
    const fn new() -> Counter<K> {
        Counter {
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn add(&self, key: K) {
        *self
            .values
            .lock()
            .expect("counter lock")
            .entry(key)
            .or_insert(0) += 1;
    }

    /// Every labelled value, in label order (a stable page).
    fn snapshot(&self) -> Vec<(K, u64)> {
        let values = self.values.lock().expect("counter lock");
        values.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

/// Upper bounds of the setup-time buckets, in seconds: a warm target opens in
/// tens of milliseconds, a cold one waits for EC2 calls, TLS and the banner,
/// and 30 s is past every default step timeout.
const SETUP_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Observations per bucket (not cumulative; the page adds them up).
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; SETUP_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = SETUP_BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

#[cfg(test)]
mod tests;
