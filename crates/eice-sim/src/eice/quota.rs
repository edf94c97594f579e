//! The service quota of 20 concurrent connections per endpoint, enforced.
//!
//! AWS documents the quota ("Maximum number of concurrent connections per EC2
//! Instance Connect Endpoint: 20") but not what the service answers past it.
//! The simulator refuses the upgrade of a 21st concurrent tunnel with HTTP 429
//! and the `ErrorCode` `ServiceQuotaExceededException`, the code other AWS
//! services give for a quota reached: 429 because the condition passes (a
//! client that tries again once a tunnel has closed gets through), and a
//! refusal before the upgrade because the service knows its count before it
//! opens anything. A client must not depend on these exact words; it must
//! only never need them (eice-proxy counts its own tunnels and waits, or
//! overflows onto a hop, before the service would refuse).
//!
//! A tunnel holds its place from the moment its upgrade is accepted until it
//! is over for the client: the service has sent its Close, or read the
//! client's, or the connection is gone. So a client that opens a new tunnel
//! once it has seen the old one's Close is never refused for the old one.
//! Each endpoint's peak is kept, for tests to assert "never more than 20".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::Shared;

/// The `ErrorCode` of a tunnel refused because its endpoint is full.
pub const QUOTA_EXCEEDED: &str = "ServiceQuotaExceededException";

/// Tunnels open now per endpoint, bounded by the quota.
pub(super) struct Quota {
    limit: AtomicU64,
    open: Mutex<HashMap<String, u64>>,
}

impl Quota {
    pub(super) fn new(limit: usize) -> Quota {
        Quota {
            limit: AtomicU64::new(limit as u64),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The limit, for the refusal's message.
    pub(super) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Raises (or lowers) the limit for the tunnels opened from now on.
    pub(super) fn set_limit(&self, limit: usize) {
        self.limit.store(limit as u64, Ordering::Relaxed);
    }
}

/// One tunnel's place under its endpoint's quota; given back once, at
/// [`Place::release`] or when dropped.
pub(super) struct Place {
    shared: Arc<Shared>,
    endpoint: String,
    held: bool,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Place({}, held: {})", self.endpoint, self.held)
    }
}

/// Takes a place for a tunnel through `endpoint`, or `None` when the
/// endpoint already carries its quota; the count and the peak go to the stats.
pub(super) fn take(shared: &Arc<Shared>, endpoint: &str) -> Option<Place> {
    let now = {
        let mut open = shared
            .quota
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(endpoint.to_owned()).or_insert(0);
        if *count >= shared.quota.limit() {
            return None;
        }
        *count += 1;
        *count
    };
    shared.stats.update(|stats| {
        stats.endpoint_tunnels.insert(endpoint.to_owned(), now);
        let peak = stats.endpoint_peaks.entry(endpoint.to_owned()).or_insert(0);
        *peak = (*peak).max(now);
    });
    Some(Place {
        shared: Arc::clone(shared),
        endpoint: endpoint.to_owned(),
        held: true,
    })
}

impl Place {
    /// Gives the place back: the tunnel is over for the client.
    pub(super) fn release(&mut self) {
        if !std::mem::take(&mut self.held) {
            return;
        }
        let now = {
            let mut open = self
                .shared
                .quota
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = open.entry(self.endpoint.clone()).or_insert(1);
            *count -= 1;
            *count
        };
        let endpoint = self.endpoint.clone();
        self.shared.stats.update(|stats| {
            stats.endpoint_tunnels.insert(endpoint, now);
        });
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.release();
    }
}
