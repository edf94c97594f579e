//! EICE ends every tunnel at its maxTunnelDuration (at most an hour), and
//! no TCP connection survives that: it cannot move to another tunnel. So
//! the person whose session it is gets told before, in the log: by default
//! five minutes before and again one minute before (`[limits]
//! warn_before_cap`), naming the client, the target and the time left; the
//! status page shows each tunnel's time left, and the tunnels EICE did end
//! this way are counted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::warn;

use crate::eice::TunnelError;
use crate::splice::SpliceError;

/// How long before our own reckoning of a tunnel's end EICE may close it
/// at its cap: its clock starts at the upgrade, ours once the tunnel is
/// handed over, a round trip or so later.
const CAP_SLACK: Duration = Duration::from_secs(5);

/// When each warning comes, counted from the tunnel's start, and the time
/// left it announces: one per `before`, latest last. A warning asked for
/// further before the end than the whole `lifetime` comes at once, once,
/// announcing the whole lifetime (a cap of 2 minutes warns at its start,
/// then a minute before).
pub(super) fn plan(lifetime: Duration, before: &[Duration]) -> Vec<(Duration, Duration)> {
    let mut lefts: Vec<Duration> = before.iter().map(|b| (*b).min(lifetime)).collect();
    lefts.sort_unstable_by(|a, b| b.cmp(a));
    lefts.dedup();
    lefts
        .into_iter()
        .map(|left| (lifetime - left, left))
        .collect()
}

/// Logs each planned warning at its time; aborted when the tunnel closes.
pub(super) async fn warnings(
    plan: Vec<(Duration, Duration)>,
    lifetime: Duration,
    client: SocketAddr,
    target: String,
) {
    let start = tokio::time::Instant::now();
    for (at, left) in plan {
        tokio::time::sleep_until(start + at).await;
        warn!(
            %client,
            %target,
            left_secs = left.as_secs(),
            "EICE will close this tunnel in {}s, when it reaches its maximum duration of {}s: \
             the session of {client} to {target} ends then; reconnect, or go through a hop \
             (README, \"Sessions longer than an hour\")",
            left.as_secs(),
            lifetime.as_secs()
        );
    }
}

/// Whether a tunnel that was to close at `closes_at` ended, `now`, because
/// EICE closed it at its maxTunnelDuration: a close frame (any code but a
/// normal 1000, since the service documents none for this) whose reason
/// speaks of the duration, or that came when the cap was due.
pub(super) fn ended_by_cap(error: &SpliceError, closes_at: Instant, now: Instant) -> bool {
    match error {
        SpliceError::Tunnel(TunnelError::Closed { code, reason }) if *code != 1000 => {
            reason.to_ascii_lowercase().contains("duration") || now + CAP_SLACK >= closes_at
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(pairs: &[(u64, u64)]) -> Vec<(Duration, Duration)> {
        pairs
            .iter()
            .map(|(a, l)| (Duration::from_secs(*a), Duration::from_secs(*l)))
            .collect()
    }

    #[test]
    fn warnings_come_five_minutes_and_one_minute_before_and_at_once_for_short_caps() {
        let default = [Duration::from_secs(300), Duration::from_secs(60)];
        let hour = Duration::from_secs(3600);
        assert_eq!(plan(hour, &default), secs(&[(3300, 300), (3540, 60)]));
        // A 2-minute cap: at its start (2 minutes left), then a minute before.
        let two = Duration::from_secs(120);
        assert_eq!(plan(two, &default), secs(&[(0, 120), (60, 60)]));
        // A 30-second cap: one warning, at once.
        let short = Duration::from_secs(30);
        assert_eq!(plan(short, &default), secs(&[(0, 30)]));
    }

    #[test]
    fn a_close_that_names_the_duration_or_comes_at_the_cap_counts_whatever_its_code() {
        let closed = |code, reason: &str| {
            SpliceError::Tunnel(TunnelError::Closed {
                code,
                reason: reason.into(),
            })
        };
        let now = Instant::now();
        let later = now + Duration::from_secs(600);
        let capped =
            "The tunnel was closed because it reached the maximum tunnel duration of 4 seconds.";
        // The reason says so: any abnormal code, even long before our clock.
        for code in [1008, 1011, 4000] {
            assert!(ended_by_cap(&closed(code, capped), later, now), "{code}");
        }
        // The reason says nothing: it counts when it came at the cap.
        let idle = "The tunnel was closed because it was idle";
        assert!(!ended_by_cap(&closed(1008, idle), later, now));
        assert!(ended_by_cap(
            &closed(1011, ""),
            now + Duration::from_secs(2),
            now
        ));
        // A normal close, or an error that is no close, is never the cap.
        assert!(!ended_by_cap(&closed(1000, capped), now, now));
        assert!(!ended_by_cap(
            &SpliceError::Tunnel(TunnelError::Dropped),
            now,
            now
        ));
    }
}
