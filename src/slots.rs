//! EICE's quota of concurrent tunnels per endpoint (20), as this proxy
//! keeps it: a slot per tunnel, and a line for connections that find every
//! slot taken.
//!
//! The line is tokio's [`Semaphore`] queue: first come, first served per
//! endpoint, a slot given back goes to the head of the line at once (no
//! polling), and a waiter whose connection is dropped (the client gave up,
//! `queue_wait` passed) leaves the line as its future is dropped. Every
//! change is reported to the [`Metrics`] (tunnels in use, connections
//! waiting), so `/status` and `/metrics` show each endpoint's line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{Metrics, WaitEnd};

/// Every endpoint's slots.
pub struct Slots {
    /// Tunnels per endpoint (`[limits] tunnels_per_endpoint`).
    limit: usize,
    lines: Mutex<HashMap<String, Arc<Line>>>,
    metrics: Arc<Metrics>,
}

/// One endpoint's slots and the connections waiting for one.
struct Line {
    endpoint: String,
    semaphore: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// One of an endpoint's tunnel slots, held as long as its tunnel (or the
/// hop connection on it) lives.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    line: Arc<Line>,
    slots: Arc<Slots>,
}

/// A wait in line that ended without a slot: how long it lasted, and how
/// many connections were waiting then (this one included).
#[derive(Debug, Clone, Copy)]
pub struct Waited {
    pub waited: Duration,
    pub in_line: usize,
}

/// A connection refused because its endpoint's tunnels were all in use:
/// what the client and the log are told.
#[derive(Debug, Clone)]
pub struct Busy {
    pub endpoint: String,
    pub limit: usize,
    /// The target's VPC, which a `[[hop]]` would serve.
    pub vpc: String,
    /// The wait in line, when there was one (`None`: `when_full = "refuse"`).
    pub waited: Option<Waited>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Busy {
            endpoint,
            limit,
            vpc,
            ..
        } = self;
        write!(
            f,
            "endpoint {endpoint} already carries {limit} tunnels from this proxy, the EICE quota \
             per endpoint"
        )?;
        match self.waited {
            Some(w) => write!(
                f,
                ", and none was freed in {:.1}s of waiting in line ({} connection{} waiting, \
                 [limits] queue_wait)",
                w.waited.as_secs_f64(),
                w.in_line,
                if w.in_line == 1 { " was" } else { "s were" }
            )?,
            None => f.write_str(", and [limits] when_full = \"refuse\"")?,
        }
        write!(
            f,
            "; a [[hop]] for {vpc} (vpc = \"{vpc}\") lifts the limit: connections that find the \
             endpoint full go through its one SSH connection (limits.tunnels_per_endpoint if AWS \
             raised your quota)"
        )
    }
}

impl Slots {
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Arc<Slots> {
        Arc::new(Slots {
            limit,
            lines: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// How many tunnels an endpoint may carry.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A slot of `endpoint` if one is free now (never ahead of a connection
    /// already waiting for one).
    pub fn try_take(self: &Arc<Self>, endpoint: &str) -> Option<Slot> {
        let line = self.line(endpoint);
        let permit = line.semaphore.clone().try_acquire_owned().ok()?;
        Some(self.slot(line, permit))
    }

    /// A slot of `endpoint` if one is free now and `keep` more stay free
    /// after it: direct tunnels leave one for a hop's connection, so that
    /// overflowing onto the hop never waits for a slot of its own.
    pub fn try_take_keeping(self: &Arc<Self>, endpoint: &str, keep: usize) -> Option<Slot> {
        let slot = self.try_take(endpoint)?;
        // Taken first, checked after: two racing for the last slots may both
        // give theirs back (and overflow), never leave fewer than `keep`.
        (slot.line.semaphore.available_permits() >= keep).then_some(slot)
    }

    /// Waits in `endpoint`'s line for a slot, up to `patience`; returns it
    /// and how long the wait took. Dropping the future leaves the line.
    pub async fn wait(
        self: &Arc<Self>,
        endpoint: &str,
        patience: Duration,
    ) -> Result<(Slot, Duration), Waited> {
        let line = self.line(endpoint);
        let started = Instant::now();
        let mut place = InLine {
            line: &line,
            slots: self,
            started,
            end: WaitEnd::Left,
        };
        line.waiting.fetch_add(1, Ordering::SeqCst);
        self.report(&line);
        let acquired = tokio::time::timeout(patience, line.semaphore.clone().acquire_owned()).await;
        match acquired {
            Ok(permit) => {
                place.end = WaitEnd::Tunnel;
                drop(place);
                let permit = permit.expect("the semaphore is never closed");
                Ok((self.slot(line.clone(), permit), started.elapsed()))
            }
            Err(_) => {
                place.end = WaitEnd::TimedOut;
                let in_line = line.waiting.load(Ordering::SeqCst);
                drop(place);
                Err(Waited {
                    waited: started.elapsed(),
                    in_line,
                })
            }
        }
    }

    fn line(&self, endpoint: &str) -> Arc<Line> {
        self.lines
            .lock()
            .expect("endpoint lines lock")
            .entry(endpoint.to_owned())
            .or_insert_with(|| {
                Arc::new(Line {
                    endpoint: endpoint.to_owned(),
                    semaphore: Arc::new(Semaphore::new(self.limit)),
                    waiting: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    fn slot(self: &Arc<Self>, line: Arc<Line>, permit: OwnedSemaphorePermit) -> Slot {
        self.report(&line);
        Slot {
            permit: Some(permit),
            line,
            slots: self.clone(),
        }
    }

    /// Tells the metrics of `line`'s use now.
    fn report(&self, line: &Line) {
        let in_use = self.limit - line.semaphore.available_permits();
        let waiting = line.waiting.load(Ordering::SeqCst);
        self.metrics
            .endpoint_use(&line.endpoint, in_use, self.limit, waiting);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // The permit goes first (to the head of the line, if any), then the
        // counts are read.
        drop(self.permit.take());
        self.slots.report(&self.line);
    }
}

/// A connection's place in line: leaves it, counted, however the wait ends.
struct InLine<'a> {
    line: &'a Line,
    slots: &'a Slots,
    started: Instant,
    end: WaitEnd,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.line.waiting.fetch_sub(1, Ordering::SeqCst);
        self.slots.report(self.line);
        self.slots
            .metrics
            .endpoint_wait(self.started.elapsed(), self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_line_is_first_come_first_served_and_a_leaver_leaves_it() {
        let slots = Slots::new(1, Arc::new(Metrics::new()));
        let held = slots.try_take("eice-1").expect("a free slot");
        assert!(slots.try_take("eice-1").is_none());
        assert!(slots.try_take("eice-2").is_some(), "endpoints are apart");
        let long = Duration::from_secs(3600);
        let queue = |slots: &Arc<Slots>| {
            let slots = slots.clone();
            tokio::spawn(async move { slots.wait("eice-1", long).await.map(|(slot, _)| slot) })
        };
        let waiting = |n: usize| {
            let slots = slots.clone();
            async move {
                while slots.line("eice-1").waiting.load(Ordering::SeqCst) != n {
                    tokio::task::yield_now().await;
                }
            }
        };
        // The tasks join the line in the order they are spawned (one thread).
        let first = queue(&slots);
        waiting(1).await;
        let leaver = queue(&slots);
        waiting(2).await;
        let second = queue(&slots);
        waiting(3).await;
        leaver.abort();
        waiting(2).await;
        // The slot freed goes to the head of the line, not to a newcomer.
        drop(held);
        assert!(slots.try_take("eice-1").is_none());
        let first_slot = first.await.unwrap().expect("the first in line");
        assert!(!second.is_finished());
        assert_eq!(slots.metrics.status().endpoints[0].waiting, 1);
        drop(first_slot);
        let second_slot = second.await.unwrap().expect("the second in line");
        let status = slots.metrics.status();
        assert_eq!(
            (status.endpoints[0].tunnels, status.endpoints[0].waiting),
            (1, 0)
        );
        drop(second_slot);
        assert_eq!(slots.metrics.status().endpoints[0].tunnels, 0);
    }

    #[tokio::test]
    async fn a_slot_can_be_kept_free_for_a_hop() {
        let slots = Slots::new(2, Arc::new(Metrics::new()));
        let _direct = slots.try_take_keeping("eice-1", 1).expect("one of two");
        assert!(
            slots.try_take_keeping("eice-1", 1).is_none(),
            "the last is kept"
        );
        assert!(slots.try_take("eice-1").is_some(), "the hop takes it");
    }

    #[tokio::test]
    async fn a_wait_past_its_patience_says_how_many_waited() {
        let slots = Slots::new(1, Arc::new(Metrics::new()));
        let _held = slots.try_take("eice-1").unwrap();
        let Err(waited) = slots.wait("eice-1", Duration::ZERO).await else {
            panic!("no slot is free");
        };
        assert_eq!(waited.in_line, 1);
    }
}
