//! What the simulated service has seen, for tests to assert on and to wait for.
//!
//! Counters live behind one mutex (the simulator is not a hot path) next to a watch
//! channel that ticks on every change, so a test can wait for "the tunnel ended"
//! instead of sleeping and hoping.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

/// A snapshot of the simulated service's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EiceStats {
    /// Upgrades completed (HTTP 101 sent and the connection handed to a tunnel).
    pub tunnels_opened: u64,
    /// Tunnels whose WebSocket is still being served.
    pub tunnels_active: u64,
    /// The `ErrorCode` of every refused request, in the order refused.
    pub rejected: Vec<String>,
    /// Payload bytes received from clients in binary and continuation frames.
    pub bytes_from_client: u64,
    /// Payload bytes sent to clients in binary frames.
    pub bytes_to_client: u64,
    /// Pong frames received (answers to the service's pings).
    pub pongs_received: u64,
    /// Ping frames received from clients (keepalives), answered or not.
    pub pings_received: u64,
    /// Tunnels closed because they were idle ([`super::EiceSimConfig::idle_timeout`]).
    pub idle_closes: u64,
    /// The code of every Close frame the service sent, in order.
    pub close_codes_sent: Vec<u16>,
    /// The `x-amzn-RequestId` of every answered request (refused or upgraded), in
    /// order, so a test can look for it in a client's log.
    pub request_ids: Vec<String>,
    /// The access key id of every accepted upgrade, in order: which credentials
    /// signed each tunnel.
    pub access_keys: Vec<String>,
    /// The `Host` of every accepted upgrade, in order: the name the client
    /// dialled and signed (an endpoint's IPv4 or dual-stack name, or the
    /// service's own loopback address).
    pub hosts: Vec<String>,
    /// TCP connections accepted, each numbered in this order from 1.
    pub connections_accepted: u64,
    /// The client address of every accepted connection, in that order: who
    /// dialled the service (through a proxy, the proxy's outgoing address).
    pub peers: Vec<SocketAddr>,
    /// For every accepted upgrade, in order (as `hosts`): the number of the
    /// connection that carried it.
    pub tunnel_connections: Vec<u64>,
    /// For every accepted upgrade, in order: the TLS server name (SNI) its
    /// connection asked for, `None` over plain ws.
    pub tunnel_sni: Vec<Option<String>>,
    /// Connections closed before any request, idle
    /// ([`super::EiceSimConfig::idle_connection_timeout`],
    /// [`super::EiceSim::close_idle_connections`]).
    pub idle_connections_closed: u64,
    /// Connections closed unanswered as their request arrived
    /// ([`super::EiceSim::drop_next_requests`]).
    pub requests_dropped: u64,
    /// Upgrade requests left unanswered ([`super::EiceSim::hang_next_upgrades`]).
    pub upgrades_hung: u64,
    /// Why each tunnel refused by security groups or network ACLs was refused
    /// (the [`crate::firewall::Blocked`] text, e.g. "no ingress rule of sg-… allows
    /// tcp 22 from …"), in order: the simulator's own verdict, to compare a
    /// client's diagnosis with.
    pub paths_blocked: Vec<String>,
    /// Tunnels each endpoint carries now (from the accepted upgrade until
    /// the tunnel is over for the client), by endpoint id.
    pub endpoint_tunnels: BTreeMap<String, u64>,
    /// The most tunnels each endpoint ever carried at once, by endpoint id:
    /// never more than the quota, which refuses the next.
    pub endpoint_peaks: BTreeMap<String, u64>,
}

/// The live counters plus the change signal.
pub(super) struct StatsCell {
    stats: Mutex<EiceStats>,
    version: watch::Sender<u64>,
}

impl StatsCell {
    pub(super) fn new() -> Self {
        StatsCell {
            stats: Mutex::new(EiceStats::default()),
            version: watch::Sender::new(0),
        }
    }

    /// Applies a change and wakes everyone waiting in [`StatsCell::wait_for`].
    pub(super) fn update(&self, change: impl FnOnce(&mut EiceStats)) {
        change(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
        self.version
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    pub(super) fn snapshot(&self) -> EiceStats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves with the first snapshot that satisfies `done`. Subscribing before
    /// the first check means no change can slip between check and wait.
    pub(super) async fn wait_for(&self, done: impl Fn(&EiceStats) -> bool) -> EiceStats {
        let mut changes = self.version.subscribe();
        loop {
            let snapshot = self.snapshot();
            if done(&snapshot) {
                return snapshot;
            }
            // The sender lives as long as `self`, so this only fails if it was dropped.
            if changes.changed().await.is_err() {
                return snapshot;
            }
        }
    }
}
