//! What a pool did: counted as it happens, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the pool did, for logs, metrics and tests.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) hits: AtomicU64,
    pub(super) misses: AtomicU64,
    pub(super) closed_idle: AtomicU64,
    pub(super) closed_at_take: AtomicU64,
    pub(super) expired: AtomicU64,
    pub(super) resent: AtomicU64,
    pub(super) dials: AtomicU64,
    pub(super) dial_failures: AtomicU64,
}

/// A snapshot of what a pool did since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Tunnels that got a pooled connection.
    pub hits: u64,
    /// Tunnels that found none ready and dialled.
    pub misses: u64,
    /// Pooled connections the server closed (or spoke on) while they waited.
    pub closed_idle: u64,
    /// Pooled connections found closed by the check as they were taken.
    pub closed_at_take: u64,
    /// Pooled connections closed by the pool after their idle time.
    pub expired: u64,
    /// Requests sent again on a fresh connection because the pooled one
    /// they went out on failed before any answer: a close no check saw.
    pub resent: u64,
    /// Background dials started to fill the pool.
    pub dials: u64,
    /// Those that failed or took too long (nothing was pooled for them).
    pub dial_failures: u64,
}

impl Counts {
    pub(super) fn snapshot(&self) -> PoolCounts {
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        PoolCounts {
            hits: get(&self.hits),
            misses: get(&self.misses),
            closed_idle: get(&self.closed_idle),
            closed_at_take: get(&self.closed_at_take),
            expired: get(&self.expired),
            resent: get(&self.resent),
            dials: get(&self.dials),
            dial_failures: get(&self.dial_failures),
        }
    }
}
