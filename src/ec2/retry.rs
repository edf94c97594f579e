//! When a failed EC2 call is tried again, as the AWS SDKs' "standard" retry
//! mode decides it: which failures are worth another attempt, how long to
//! wait before it, and a retry quota that an outage drains, so that a
//! region in trouble is not answered with a storm of retries.
//!
//! Classification follows aws-sdk-rust's classifiers, in their order (a later
//! one overrides an earlier): the HTTP status (500, 502, 503 and 504 are
//! transient, no other), then the error code (the SDKs' throttling codes, and
//! the two transient ones), then the transport (a timeout or a broken
//! connection is transient). A 501 or a 507 is an answer, not a passing
//! failure, and is not retried; neither is an error code the lists leave out.
//!
//! The quota is the standard strategy's token bucket: 500 tokens; a retry
//! after a throttling error takes 5, after a transient one 10 (aws-sdk-rust
//! charges its timeout cost for every transient error; botocore charges it
//! for timeouts only and 5 for a 5xx); a call that succeeds gives back what
//! its last retry took, or 1 when it needed none. With the bucket empty, a
//! failure is final however many attempts are left.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::retry::{RetryConfig, RetryMode};

/// Error codes that mean "slow down": aws-runtime's `THROTTLING_ERRORS`.
pub const THROTTLING_CODES: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Error codes of a passing failure: aws-runtime's `TRANSIENT_ERRORS`.
pub const TRANSIENT_CODES: [&str; 2] = ["RequestTimeout", "RequestTimeoutException"];

/// HTTP statuses retried whatever the body says: aws-smithy-runtime's
/// `TRANSIENT_ERROR_STATUS_CODES`.
pub const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Why a failed attempt may be tried again: it decides what the retry costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// The service asked to slow down.
    Throttling,
    /// A passing failure: a 5xx of the list, a timeout, a broken connection.
    Transient,
}

/// How an answer with `status` and, when EC2 sent its error document, error
/// `code` is retried: `None` when it is final.
pub fn classify_answer(status: u16, code: Option<&str>) -> Option<RetryKind> {
    let by_code = code.and_then(|code| {
        if THROTTLING_CODES.contains(&code) {
            Some(RetryKind::Throttling)
        } else if TRANSIENT_CODES.contains(&code) {
            Some(RetryKind::Transient)
        } else {
            None
        }
    });
    // The code's verdict overrides the status's, as the SDK's error-code
    // classifier runs after its status classifier: a 503 RequestLimitExceeded
    // is throttling.
    by_code.or_else(|| {
        TRANSIENT_STATUSES
            .contains(&status)
            .then_some(RetryKind::Transient)
    })
}

/// How failed attempts are retried: the AWS SDKs' "standard" mode (three
/// attempts, exponential back-off with full jitter from one second, at most
/// twenty). `max_attempts` comes from the profile's `max_attempts` or
/// `AWS_MAX_ATTEMPTS`, as aws-config reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            max_attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl Retry {
    /// The SDK configuration's retry settings (the profile's `max_attempts`
    /// and `retry_mode`, or `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE`).
    ///
    /// `adaptive` mode adds to `standard` a client-side rate limiter that
    /// slows every call after throttling; the proxy's few cached calls have
    /// nothing to pace, so it retries as in `standard` mode and says so.
    pub fn from_sdk(config: &RetryConfig) -> Retry {
        if config.mode() == RetryMode::Adaptive {
            tracing::debug!(
                "retry_mode adaptive: EC2 calls are retried as in standard mode \
                 (no client-side rate limiting)"
            );
        }
        Retry {
            max_attempts: config.max_attempts().max(1),
            initial_backoff: config.initial_backoff(),
            max_backoff: config.max_backoff(),
        }
    }

    /// The pause before attempt `attempt + 1` (`attempt` counts from 1).
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        ceiling.mul_f64(jitter())
    }
}

/// A number in [0, 1), different on every call: enough randomness to keep
/// many clients from retrying in step, without a random-number crate.
fn jitter() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The bucket's size, and where it starts.
const QUOTA_CAPACITY: u32 = 500;
/// What a retry after throttling takes.
const RETRY_COST: u32 = 5;
/// What a retry after a transient failure takes.
const TRANSIENT_RETRY_COST: u32 = 10;
/// What a call that succeeded at once gives back.
const SUCCESS_REFUND: u32 = 1;

/// The retry quota of one region's client, shared by all its calls.
#[derive(Debug)]
pub(super) struct Quota {
    tokens: Mutex<u32>,
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            tokens: Mutex::new(QUOTA_CAPACITY),
        }
    }
}

impl Quota {
    /// Takes the cost of retrying after a failure of `kind`: the tokens
    /// taken, or `None` (and nothing taken) when too few are left.
    pub(super) fn acquire(&self, kind: RetryKind) -> Option<u32> {
        let cost = match kind {
            RetryKind::Throttling => RETRY_COST,
            RetryKind::Transient => TRANSIENT_RETRY_COST,
        };
        let mut tokens = self.tokens.lock().expect("retry quota lock");
        *tokens = tokens.checked_sub(cost)?;
        Some(cost)
    }

    /// A call succeeded: gives back what its last retry took (`None`: it
    /// needed none, and earns one token), up to the bucket's size.
    pub(super) fn succeeded(&self, last_retry: Option<u32>) {
        let refund = last_retry.unwrap_or(SUCCESS_REFUND);
        let mut tokens = self.tokens.lock().expect("retry quota lock");
        *tokens = (*tokens + refund).min(QUOTA_CAPACITY);
    }

    /// Tokens left.
    #[cfg(test)]
    pub(super) fn left(&self) -> u32 {
        *self.tokens.lock().expect("retry quota lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RetryKind::{Throttling, Transient};

    #[test]
    fn backoff_doubles_from_one_second_to_twenty_with_full_jitter() {
        let retry = Retry::default();
        // The ceiling of the pause after attempt n: 1 s, doubled each time, at most 20 s.
        let ceilings = [
            (1, 1),
            (2, 2),
            (3, 4),
            (4, 8),
            (5, 16),
            (6, 20),
            (7, 20),
            (40, 20),
        ];
        for (attempt, ceiling) in ceilings {
            let ceiling = Duration::from_secs(ceiling);
            let draws: Vec<Duration> = (0..64).map(|_| retry.backoff(attempt)).collect();
            // Full jitter: uniform below the ceiling, so 64 draws land in both
            // halves (all in one half has odds of 2^-63).
            assert!(
                draws.iter().all(|d| *d < ceiling),
                "attempt {attempt}: {draws:?} reach {ceiling:?}"
            );
            assert!(
                draws.iter().any(|d| *d >= ceiling / 2),
                "attempt {attempt}: {draws:?} all below half of {ceiling:?}"
            );
            assert!(
                draws.iter().any(|d| *d < ceiling / 2),
                "attempt {attempt}: {draws:?} all above half of {ceiling:?}"
            );
        }
        // Jitter differs between calls (equal twice in a row is vanishingly unlikely
        // for a 53-bit draw, three times impossible in practice).
        let draws: Vec<f64> = (0..3).map(|_| jitter()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        assert!(draws[0] != draws[1] || draws[1] != draws[2]);
    }

    #[test]
    fn every_throttling_code_of_the_sdks_is_throttling_whatever_the_status() {
        // The list, and aws-runtime's additions to it.
        for code in [
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottledException",
            "TooManyRequestsException",
            "ProvisionedThroughputExceededException",
            "TransactionInProgressException",
            "BandwidthLimitExceeded",
            "LimitExceededException",
            "RequestThrottled",
            "SlowDown",
            "PriorRequestNotComplete",
            "EC2ThrottledException",
        ] {
            for status in [400, 429, 500, 503] {
                assert_eq!(
                    classify_answer(status, Some(code)),
                    Some(Throttling),
                    "{status} {code}"
                );
            }
        }
        for code in ["RequestTimeout", "RequestTimeoutException"] {
            assert_eq!(classify_answer(400, Some(code)), Some(Transient), "{code}");
        }
    }

    #[test]
    fn only_500_502_503_504_are_transient_statuses() {
        for status in 100..600 {
            let expected = matches!(status, 500 | 502 | 503 | 504).then_some(Transient);
            assert_eq!(classify_answer(status, None), expected, "{status}");
            // An error code the lists leave out changes nothing.
            assert_eq!(
                classify_answer(status, Some("InternalError")),
                expected,
                "{status} InternalError"
            );
        }
    }

    #[test]
    fn refusals_and_look_alikes_are_final() {
        for (status, code) in [
            (403, "UnauthorizedOperation"),
            (401, "AuthFailure"),
            (400, "InvalidInstanceID.NotFound"),
            (400, "InvalidParameterValue"),
            (400, "DryRunOperation"),
            // Names that look like throttling but are not in the list.
            (400, "RequestLimitExceededException"),
            (400, "throttling"),
            (429, "TooManyRequests"),
            (501, "NotImplemented"),
        ] {
            assert_eq!(classify_answer(status, Some(code)), None, "{status} {code}");
        }
    }

    #[test]
    fn the_sdk_configurations_attempts_are_kept_and_adaptive_retries_as_standard() {
        let five = Retry::from_sdk(&RetryConfig::standard().with_max_attempts(5));
        assert_eq!(five.max_attempts, 5);
        let adaptive = RetryConfig::adaptive().with_max_attempts(2);
        assert_eq!(
            Retry::from_sdk(&adaptive),
            Retry {
                max_attempts: 2,
                ..Retry::default()
            }
        );
    }

    #[test]
    fn an_outage_drains_the_quota_and_successes_refill_it() {
        let quota = Quota::default();
        assert_eq!(quota.left(), 500);
        // 50 transient retries empty the bucket; the 51st is refused and takes nothing.
        for n in 0..50 {
            assert_eq!(quota.acquire(Transient), Some(10), "retry {n}");
        }
        assert_eq!(quota.acquire(Transient), None);
        assert_eq!(quota.acquire(Throttling), None);
        assert_eq!(quota.left(), 0);
        // A success at the first attempt earns one token; five make a throttling retry.
        for _ in 0..5 {
            quota.succeeded(None);
        }
        assert_eq!(quota.acquire(Throttling), Some(5));
        assert_eq!(quota.acquire(Throttling), None);
        // A success after a retry gives back what that retry took.
        quota.succeeded(Some(5));
        assert_eq!(quota.left(), 5);
        // Never past the bucket's size.
        let full = Quota::default();
        full.succeeded(Some(10));
        full.succeeded(None);
        assert_eq!(full.left(), 500);
    }
}
