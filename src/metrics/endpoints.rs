//! Each endpoint's share of the EICE quota: its tunnels in use out of the
//! limit, the connections waiting in line for one, how long they waited,
//! the connections sent through a hop because it was full, and the tunnels
//! EICE ended at their maxTunnelDuration.
//!
//! These series carry the endpoint id as a label: the one label value that
//! comes from AWS. It is bounded (the endpoints this proxy has used, a few
//! per VPC) and its shape checked where it came in ([`crate::aws_names`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Counter, Histogram, Metrics};

/// Upper bounds of the wait-time buckets, in seconds: a slot freed by a
/// finished ssh session comes in well under a second; `queue_wait` is 20 s
/// by default.
pub(super) const WAIT_BUCKETS: [f64; 8] = [0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0];

/// How a wait in line ended, as counted in `eice_proxy_endpoint_waits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// A slot was freed for it.
    Tunnel,
    /// `queue_wait` passed first: refused.
    TimedOut,
    /// The client went away (or the proxy shut down) first.
    Left,
}

impl WaitEnd {
    fn label(self) -> &'static str {
        match self {
            WaitEnd::Tunnel => "tunnel",
            WaitEnd::TimedOut => "timed_out",
            WaitEnd::Left => "left",
        }
    }
}

/// The quota's counts, kept by the [`Metrics`].
pub(super) struct Quota {
    /// Per endpoint id: its use now.
    pub(super) endpoints: Mutex<BTreeMap<String, EndpointStatus>>,
    pub(super) waits: Counter<&'static str>,
    pub(super) wait_seconds: Mutex<Histogram>,
    /// Connections sent through a hop because their endpoint was full.
    pub(super) overflow: AtomicU64,
    /// Tunnels EICE closed at their maxTunnelDuration.
    pub(super) capped: AtomicU64,
}

impl Quota {
    pub(super) fn new() -> Quota {
        Quota {
            endpoints: Mutex::new(BTreeMap::new()),
            waits: Counter::new(),
            wait_seconds: Mutex::new(Histogram::new(&WAIT_BUCKETS)),
            overflow: AtomicU64::new(0),
            capped: AtomicU64::new(0),
        }
    }
}

/// One endpoint on the status page: how much of its quota is in use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStatus {
    pub endpoint: String,
    /// Its tunnels open now (a hop's connection counts as one).
    pub tunnels: u64,
    /// How many it may carry (`[limits] tunnels_per_endpoint`, EICE's 20).
    pub limit: u64,
    /// Connections waiting in line for one of its tunnels.
    pub waiting: u64,
}

impl Metrics {
    /// Records an endpoint's use: `tunnels` of `limit` in use, `waiting` in line.
    pub fn endpoint_use(&self, endpoint: &str, tunnels: usize, limit: usize, waiting: usize) {
        let mut endpoints = self.quota.endpoints.lock().expect("endpoints lock");
        let entry = endpoints.entry(endpoint.to_owned()).or_default();
        *entry = EndpointStatus {
            endpoint: endpoint.to_owned(),
            tunnels: tunnels as u64,
            limit: limit as u64,
            waiting: waiting as u64,
        };
    }

    /// Counts a wait in line that ended, and how long it took.
    pub fn endpoint_wait(&self, waited: Duration, end: WaitEnd) {
        self.quota.waits.add(end.label());
        self.quota
            .wait_seconds
            .lock()
            .expect("histogram lock")
            .observe(waited.as_secs_f64());
    }

    /// Counts a connection sent through a hop because its endpoint was full.
    pub fn overflowed(&self) {
        self.quota.overflow.fetch_add(1, Relaxed);
    }

    /// Counts a tunnel EICE closed at its maxTunnelDuration.
    pub fn capped(&self) {
        self.quota.capped.fetch_add(1, Relaxed);
    }

    /// Every endpoint used so far, for `/status`.
    pub(super) fn endpoint_statuses(&self) -> Vec<EndpointStatus> {
        let endpoints = self.quota.endpoints.lock().expect("endpoints lock");
        endpoints.values().cloned().collect()
    }
}
