//! The race driven by hand: each address's attempt succeeds, fails or hangs
//! as scripted, and the attempt delay either never elapses or elapses at the
//! first poll, so every outcome is decided by the order of events and never
//! by a clock.

use super::*;
use futures_util::FutureExt;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Clone, Copy)]
enum Script {
    Connects,
    Refused,
    Hangs,
}

/// Records which addresses were tried, in order, and which attempts were
/// dropped while still running.
#[derive(Default)]
struct Log {
    tried: Vec<SocketAddr>,
    dropped: Vec<SocketAddr>,
}

/// Pushes its address into `dropped` when an unfinished attempt is dropped.
struct DropGuard(SocketAddr, Rc<RefCell<Log>>, bool);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.2 {
            self.1.borrow_mut().dropped.push(self.0);
        }
    }
}

fn v6(n: u16) -> SocketAddr {
    SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, n], 443))
}

fn v4(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, n], 443))
}

/// What a race returns here: the "connection" (the address it was made
/// to) and the winning address, or every failure.
type Outcome = Result<(SocketAddr, SocketAddr), AllFailed>;

/// Runs the race over `addrs` with each address behaving as `script` says;
/// `delay_elapses` chooses between a delay that never ends and one that has
/// already ended. `None` when the race is still undecided after every
/// attempt has done what it can without a clock.
fn run(
    addrs: &[SocketAddr],
    script: &[(SocketAddr, Script)],
    delay_elapses: bool,
) -> (Option<Outcome>, Rc<RefCell<Log>>) {
    let script: HashMap<SocketAddr, Script> = script.iter().copied().collect();
    let log = Rc::new(RefCell::new(Log::default()));
    let connect = |addr: SocketAddr| {
        log.borrow_mut().tried.push(addr);
        let behaviour = script[&addr];
        let guard = DropGuard(addr, Rc::clone(&log), false);
        async move {
            // Moved in whole, so that it lives (and drops) with the attempt.
            let mut guard = guard;
            let result = match behaviour {
                Script::Connects => Ok(addr),
                Script::Refused => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
                Script::Hangs => std::future::pending().await,
            };
            guard.2 = true;
            result
        }
    };
    let delay = || {
        if delay_elapses {
            std::future::ready(()).left_future()
        } else {
            std::future::pending().right_future()
        }
    };
    let outcome = race(addrs, connect, delay).now_or_never();
    (outcome, log)
}

#[test]
fn families_are_interleaved_ipv6_first_without_duplicates() {
    let ordered = interleave([v4(1), v4(2), v6(1), v6(2), v4(3), v4(1)]);
    assert_eq!(ordered, [v6(1), v4(1), v6(2), v4(2), v4(3)]);
    assert_eq!(interleave([v4(1)]), [v4(1)]);
}

#[test]
fn ipv6_that_answers_at_once_wins_and_ipv4_is_never_tried() {
    let addrs = [v6(1), v4(1)];
    let script = [(v6(1), Script::Connects), (v4(1), Script::Connects)];
    let (outcome, log) = run(&addrs, &script, false);
    let (conn, winner) = outcome.unwrap().unwrap();
    assert_eq!((conn, winner), (v6(1), v6(1)));
    assert_eq!(log.borrow().tried, [v6(1)]);
}

#[test]
fn a_refused_attempt_starts_the_next_without_waiting_for_the_delay() {
    let addrs = [v6(1), v4(1)];
    let script = [(v6(1), Script::Refused), (v4(1), Script::Connects)];
    // The delay never elapses: only the failure can have started IPv4.
    let (outcome, log) = run(&addrs, &script, false);
    assert_eq!(outcome.unwrap().unwrap().1, v4(1));
    assert_eq!(log.borrow().tried, [v6(1), v4(1)]);
}

#[test]
fn a_hanging_attempt_is_left_alone_until_the_delay_elapses() {
    let addrs = [v6(1), v4(1)];
    let script = [(v6(1), Script::Hangs), (v4(1), Script::Connects)];
    let (outcome, log) = run(&addrs, &script, false);
    assert!(outcome.is_none(), "decided before the delay elapsed");
    assert_eq!(log.borrow().tried, [v6(1)]);
}

#[test]
fn after_the_delay_the_next_family_races_and_the_loser_is_dropped() {
    let addrs = [v6(1), v4(1)];
    let script = [(v6(1), Script::Hangs), (v4(1), Script::Connects)];
    let (outcome, log) = run(&addrs, &script, true);
    assert_eq!(outcome.unwrap().unwrap().1, v4(1));
    let log = log.borrow();
    assert_eq!(log.tried, [v6(1), v4(1)]);
    assert_eq!(
        log.dropped,
        [v6(1)],
        "the hanging IPv6 attempt outlived the race"
    );
}

#[test]
fn when_every_address_fails_each_reason_is_kept() {
    let addrs = [v6(1), v4(1)];
    let script = [(v6(1), Script::Refused), (v4(1), Script::Refused)];
    let (outcome, _) = run(&addrs, &script, false);
    let failed = outcome.unwrap().unwrap_err();
    assert_eq!(failed.0.len(), 2);
    let error = failed.into_io_error();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    let text = error.to_string();
    assert!(
        text.contains("[2001:db8::1]:443") && text.contains("192.0.2.1:443"),
        "{text}"
    );
}

#[test]
fn a_single_address_fails_with_its_own_error() {
    let (outcome, _) = run(&[v4(1)], &[(v4(1), Script::Refused)], true);
    let error = outcome.unwrap().unwrap_err().into_io_error();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert!(!error.to_string().contains("192.0.2.1"), "{error}");
}

#[test]
fn no_address_is_an_error_not_a_hang() {
    let (outcome, _) = run(&[], &[], false);
    let error = outcome.unwrap().unwrap_err().into_io_error();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
}

#[test]
fn the_delay_is_rfc_8305s_recommendation() {
    assert_eq!(ATTEMPT_DELAY, Duration::from_millis(250));
}
