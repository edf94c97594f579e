//! The simulated account's clock for lifetimes tests must cross without waiting,
//! such as a pushed SSH key's 60 seconds.
//!
//! It is real time plus an offset that only grows: [`SimClock::advance`] moves every
//! holder of a clone forward at once, so "the key expired" is a step a test takes,
//! not a sleep it hopes is long enough.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Real time shifted by a shared, growing offset. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    offset: Arc<Mutex<Duration>>,
}

impl SimClock {
    /// A clock that reads real time until advanced.
    pub fn new() -> SimClock {
        SimClock::default()
    }

    /// The simulated "now".
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves this clock, and every clone of it, `by` into the future.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_a_clone_moves_every_holder() {
        let clock = SimClock::new();
        let before = clock.now();
        clock.clone().advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after.duration_since(before).unwrap() >= Duration::from_secs(3600));
    }
}
