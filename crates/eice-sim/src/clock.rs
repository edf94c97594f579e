//! The simulated account's clocks: for lifetimes tests must cross without
//! waiting, such as a pushed SSH key's 60 seconds, and for the time the
//! simulated services keep, which tests set apart from the client's.
//!
//! A clock is real time plus an offset that tests move: [`SimClock::advance`]
//! and [`SimClock::rewind`] move every holder of a clone at once, so "the key
//! expired" or "AWS's clock is ten minutes ahead of this machine's" is a step a
//! test takes, not a sleep it hopes is long enough. The services that keep
//! AWS's time verify signatures against it and send it as the `Date` of every
//! answer ([`SimClock::http_date`]), as AWS does.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use crate::sigv4::format_http_date;

/// Real time shifted by a shared offset. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    /// Milliseconds ahead of real time (behind when negative).
    offset_ms: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock that reads real time until moved.
    pub fn new() -> SimClock {
        SimClock::default()
    }

    /// A clock `secs` seconds ahead of real time (behind when negative).
    pub fn skewed(secs: i64) -> SimClock {
        let clock = SimClock::new();
        clock.offset_ms.store(secs * 1000, Ordering::Relaxed);
        clock
    }

    /// The simulated "now".
    pub fn now(&self) -> SystemTime {
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            SystemTime::now() + by
        } else {
            SystemTime::now() - by
        }
    }

    /// Moves this clock, and every clone of it, `by` into the future.
    pub fn advance(&self, by: Duration) {
        self.offset_ms.fetch_add(millis(by), Ordering::Relaxed);
    }

    /// Moves this clock, and every clone of it, `by` into the past.
    pub fn rewind(&self, by: Duration) {
        self.offset_ms.fetch_sub(millis(by), Ordering::Relaxed);
    }

    /// "now" as an HTTP `Date` header says it (`Sun, 06 Nov 1994 08:49:37 GMT`).
    pub fn http_date(&self) -> String {
        format_http_date(self.now())
    }
}

fn millis(by: Duration) -> i64 {
    i64::try_from(by.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::parse_amz_date;

    #[test]
    fn advancing_a_clone_moves_every_holder() {
        let clock = SimClock::new();
        let before = clock.now();
        clock.clone().advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after.duration_since(before).unwrap() >= Duration::from_secs(3600));
    }

    #[test]
    fn a_clock_can_run_behind_real_time() {
        let clock = SimClock::new();
        clock.rewind(Duration::from_secs(600));
        let behind = SystemTime::now().duration_since(clock.now()).unwrap();
        assert!(behind >= Duration::from_secs(599), "{behind:?}");
        let skewed = SimClock::skewed(-600);
        assert!(skewed.now() < SystemTime::now() - Duration::from_secs(599));
    }

    #[test]
    fn the_date_header_reads_the_simulated_time() {
        let epoch = parse_amz_date("19941106T084937Z").unwrap();
        assert_eq!(format_http_date(epoch), "Sun, 06 Nov 1994 08:49:37 GMT");
        let leap = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(format_http_date(leap), "Thu, 29 Feb 2024 23:59:59 GMT");
    }
}
