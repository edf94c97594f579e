//! AWS's time, as this machine should sign with it.
//!
//! SigV4 signatures carry their signing time, and AWS refuses one more than
//! five minutes from its own clock (a presigned `openTunnel` URL: more than its
//! 60 seconds old). A laptop after sleep, WSL2 or a VM restored from a snapshot
//! can be off by more than that. The AWS SDKs correct for it, and so does this
//! module, the same way: every answer from AWS carries a `Date` header, the
//! offset between it and the middle of the request's round trip is the clock
//! skew, and requests are signed at "now + skew". The EC2 client and the
//! tunnel opener both learn from and sign with the one [`Clock::process`], so
//! what one learns the other uses. The first time the skew is notable, the log
//! says by how much, once: the user should fix the clock, and meanwhile it works.
//!
//! Nothing here depends on any other module of the crate.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A skew above which an authentication failure is taken to be the clock's
/// fault and retried once signed at AWS's time: the SDKs' threshold (AWS itself
/// allows five minutes).
pub const SKEW_THRESHOLD: Duration = Duration::from_secs(4 * 60);

/// A skew the user is warned of, and a correction worth a new presigned URL:
/// half the URL's 60-second life, far above what the `Date` header's
/// one-second resolution and half a round trip can err by.
pub const NOTABLE_SKEW: Duration = Duration::from_secs(30);

/// How a process hands what it learned to the processes it starts
/// (`eice-proxy ssh` to its ProxyCommand, `eice-proxy connect`): they then
/// sign right the first time, and do not warn again of what was said.
pub const INHERITED_SKEW_ENV: &str = "EICE_PROXY_AWS_CLOCK_SKEW_MS";

/// An answer slower than this says too little about when it was written: its
/// `Date` is not used (as the SDKs do).
const MAX_TRUSTED_ROUND_TRIP: Duration = Duration::from_secs(15 * 60);

/// AWS's clock minus this machine's, in milliseconds: positive when this
/// machine is behind. Signed, since the clock can be off either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skew(i64);

impl Skew {
    /// A skew of `ms` milliseconds (AWS ahead when positive).
    pub const fn from_millis(ms: i64) -> Skew {
        Skew(ms)
    }

    /// The skew in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// How far off the clock is, whichever way.
    pub fn magnitude(self) -> Duration {
        Duration::from_millis(self.0.unsigned_abs())
    }

    /// `server − midpoint`: how far AWS's clock is ahead of this one.
    fn between(server: SystemTime, midpoint: SystemTime) -> Skew {
        match server.duration_since(midpoint) {
            Ok(ahead) => Skew(ahead.as_millis() as i64),
            Err(behind) => Skew(-(behind.duration().as_millis() as i64)),
        }
    }

    /// `time` moved by this skew: a local time as AWS's clock reads it.
    pub fn apply(self, time: SystemTime) -> SystemTime {
        let by = self.magnitude();
        let moved = if self.0 >= 0 {
            time.checked_add(by)
        } else {
            time.checked_sub(by)
        };
        moved.unwrap_or(time)
    }

    /// How far apart two skews are.
    pub fn distance(self, other: Skew) -> Duration {
        Duration::from_millis(self.0.abs_diff(other.0))
    }
}

/// "10 min 2 s behind AWS's", "45 s ahead of AWS's".
impl fmt::Display for Skew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.magnitude().as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            write!(f, "{h} h {m} min")?;
        } else if m > 0 {
            write!(f, "{m} min {s} s")?;
        } else {
            write!(f, "{s} s")?;
        }
        f.write_str(if self.0 >= 0 {
            " behind AWS's"
        } else {
            " ahead of AWS's"
        })
    }
}

/// The skew learned so far, shared by every clone.
#[derive(Debug, Default)]
struct Learned {
    skew_ms: AtomicI64,
    /// Whether the log has said the clock is off (it says so once).
    warned: AtomicBool,
}

/// Where signing times come from: this machine's clock corrected by the skew
/// learned from AWS's answers. Clones share what is learned.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<Learned>);

impl Clock {
    /// The process's clock, which every AWS client of the process shares:
    /// AWS keeps one time, so a skew learned from EC2 holds for EICE too.
    pub fn process() -> Clock {
        static PROCESS: OnceLock<Clock> = OnceLock::new();
        PROCESS
            .get_or_init(|| Clock::inherited(std::env::var(INHERITED_SKEW_ENV).ok().as_deref()))
            .clone()
    }

    /// A clock that starts from the skew a parent process handed down
    /// ([`Clock::hand_down`]), already warned of.
    fn inherited(value: Option<&str>) -> Clock {
        let clock = Clock::default();
        if let Some(ms) = value.and_then(|v| v.trim().parse::<i64>().ok()) {
            clock.0.skew_ms.store(ms, Ordering::Relaxed);
            clock.0.warned.store(true, Ordering::Relaxed);
        }
        clock
    }

    /// The variable that hands the skew learned so far to a child process,
    /// when it is notable (a child learns a small one for itself).
    pub fn hand_down(&self) -> Option<(&'static str, String)> {
        let skew = self.skew();
        (skew.magnitude() > NOTABLE_SKEW).then(|| (INHERITED_SKEW_ENV, skew.0.to_string()))
    }

    /// A clock of its own, which learns apart from the process's (for tests,
    /// which run side by side in one process).
    pub fn own() -> Clock {
        Clock::default()
    }

    /// The skew learned last (zero until an answer carried a `Date`).
    pub fn skew(&self) -> Skew {
        Skew(self.0.skew_ms.load(Ordering::Relaxed))
    }

    /// The time to sign at: now, as AWS's clock reads it.
    pub fn now(&self) -> SystemTime {
        self.skew().apply(SystemTime::now())
    }

    /// Learns the skew from an answer's `Date` header (`date`), for a request
    /// sent at `sent` and answered at `received` (both by this machine's
    /// clock), as the SDKs do: AWS is taken to have written the date halfway
    /// through the round trip. Every answer replaces what was learned before,
    /// so a clock put right is followed at once. Returns the skew, or `None`
    /// when the answer says nothing usable (no date, one that is not an HTTP
    /// date, or a round trip too slow to trust).
    pub fn learn(
        &self,
        date: Option<&str>,
        sent: SystemTime,
        received: SystemTime,
    ) -> Option<Skew> {
        let server = parse_http_date(date?)?;
        let round_trip = received.duration_since(sent).unwrap_or_default();
        if round_trip > MAX_TRUSTED_ROUND_TRIP {
            return None;
        }
        let skew = Skew::between(server, sent + round_trip / 2);
        self.0.skew_ms.store(skew.0, Ordering::Relaxed);
        if skew.magnitude() > NOTABLE_SKEW && !self.0.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "this machine's clock is {skew} (the Date of AWS's answers says so): \
                 eice-proxy signs with AWS's time meanwhile, but set the clock right (NTP)"
            );
        }
        Some(skew)
    }
}

/// Equal when they share what they learn.
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Clock {}

/// An HTTP date in the one form HTTP/1.1 servers send (RFC 9110's
/// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`), as AWS does.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    let mut parts = text.trim().split(' ');
    let (_weekday, day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some() || zone != "GMT" || day.len() != 2 || year.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let number = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<i64>().ok())
            .flatten()
    };
    let (day, year) = (number(day)?, number(year)?);
    let mut hms = time
        .split(':')
        .map(|t| (t.len() == 2).then(|| number(t)).flatten());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (the year shifted to
/// start in March, so each 400-year era is 146,097 days).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn http_dates_parse_to_their_unix_seconds() {
        // RFC 9110's own example, and a leap day.
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(at(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(at(1_709_251_199))
        );
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_skew_is_the_date_minus_the_round_trips_midpoint_either_way() {
        let clock = Clock::own();
        let sent = at(1_000_000);
        let received = sent + Duration::from_secs(2);
        // AWS 10 minutes ahead, its date written 1 s into the round trip.
        let ahead = "Mon, 12 Jan 1970 13:56:41 GMT"; // 1_000_000 + 1 + 600
        assert_eq!(
            clock.learn(Some(ahead), sent, received),
            Some(Skew(600_000))
        );
        assert_eq!(clock.skew(), Skew(600_000));
        let signed = clock.now();
        let expected = SystemTime::now() + Duration::from_secs(600);
        assert!(signed <= expected && expected - Duration::from_secs(5) < signed);
        // Then AWS 10 minutes behind: the new answer replaces the old skew.
        let behind = "Mon, 12 Jan 1970 13:36:41 GMT"; // 1_000_000 + 1 - 600
        assert_eq!(
            clock.learn(Some(behind), sent, received),
            Some(Skew(-600_000))
        );
        assert_eq!(
            Skew(-600_000).apply(at(1_000_000)),
            at(1_000_000 - 600),
            "signed 10 minutes earlier"
        );
    }

    #[test]
    fn answers_without_a_usable_date_teach_nothing() {
        let clock = Clock::own();
        let sent = at(1_000_000);
        assert_eq!(clock.learn(None, sent, sent), None);
        assert_eq!(clock.learn(Some("yesterday"), sent, sent), None);
        let slow = sent + MAX_TRUSTED_ROUND_TRIP + Duration::from_secs(1);
        assert_eq!(
            clock.learn(Some("Mon, 12 Jan 1970 13:56:41 GMT"), sent, slow),
            None
        );
        assert_eq!(clock.skew(), Skew(0));
    }

    #[test]
    fn clocks_share_what_they_learn_only_with_their_clones() {
        let clock = Clock::own();
        let clone = clock.clone();
        let sent = at(1_000_000);
        clone.learn(Some("Mon, 12 Jan 1970 13:56:41 GMT"), sent, sent);
        assert_eq!(clock.skew(), clone.skew());
        assert_eq!(clock, clone);
        assert_ne!(clock, Clock::own());
        assert_eq!(Clock::own().skew(), Skew(0));
        assert_eq!(Clock::process(), Clock::process());
    }

    #[test]
    fn a_notable_skew_is_handed_to_a_child_which_starts_from_it_and_stays_quiet() {
        let parent = Clock::own();
        assert_eq!(parent.hand_down(), None, "nothing learned");
        let sent = at(1_000_000);
        parent.learn(Some("Mon, 12 Jan 1970 13:56:41 GMT"), sent, sent);
        let (name, value) = parent.hand_down().unwrap();
        assert_eq!((name, value.as_str()), (INHERITED_SKEW_ENV, "601000"));
        let child = Clock::inherited(Some(&value));
        assert_eq!(child.skew(), parent.skew());
        assert!(child.0.warned.load(Ordering::Relaxed), "the parent warned");
        assert_eq!(Clock::inherited(Some("nonsense")).skew(), Skew(0));
        assert_eq!(Clock::inherited(None).skew(), Skew(0));
    }

    #[test]
    fn a_skew_reads_as_how_far_and_which_way() {
        assert_eq!(Skew(602_000).to_string(), "10 min 2 s behind AWS's");
        assert_eq!(Skew(-45_000).to_string(), "45 s ahead of AWS's");
        assert_eq!(Skew(-7_380_000).to_string(), "2 h 3 min ahead of AWS's");
        assert_eq!(Skew(600_000).distance(Skew(-600_000)).as_secs(), 1200);
    }
}
