//! When EC2 does not accept a call's signature: a clock that is off, or
//! credentials that are wrong or expired. Told apart as the AWS SDKs tell
//! them apart, and each reported with what the user should fix.
//!
//! EC2 answers `AuthFailure` ("AWS was not able to validate the provided
//! access credentials") both for a key it does not know and for a signature
//! more than five minutes from its clock; only the `Date` of its answer says
//! which ([`crate::clock`]). With a skew above [`SKEW_THRESHOLD`], a refusal
//! with one of [`CLOCK_SKEW_CODES`] is the clock's fault and the call is sent
//! once more, signed at AWS's time. Otherwise it is the credentials', and the
//! error names them: which access key, from which source, never an IAM policy
//! (no policy grants anything to a key AWS does not accept). Expired ones are
//! dropped, so the next call asks the credential chain again.

use std::time::Duration;

use aws_credential_types::Credentials;

use crate::clock::{SKEW_THRESHOLD, Skew};
use crate::credentials::CredentialCache;

use super::AwsError;

/// The codes AWS may answer a signature from a wrong clock with: those the
/// SDKs retry on (the Rust SDK's list, with botocore's and Java's
/// `RequestExpired`, which EC2 sends for a signature older than 15 minutes).
const CLOCK_SKEW_CODES: [&str; 6] = [
    "AuthFailure",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "RequestExpired",
    "InvalidSignatureException",
    "AccessDeniedException",
];

/// The codes of a session token past its expiry: EC2's `RequestExpired`,
/// other services' `ExpiredToken` and `ExpiredTokenException`.
const EXPIRED_CODES: [&str; 3] = ["RequestExpired", "ExpiredToken", "ExpiredTokenException"];

/// Whether a refusal with `code` is the clock's fault, the clock being off by
/// `skew` by the answer's own `Date`: then the call is worth one more
/// attempt, signed at AWS's time.
pub(super) fn is_clock_skew(code: &str, skew: Skew) -> bool {
    CLOCK_SKEW_CODES.contains(&code) && skew.magnitude() > SKEW_THRESHOLD
}

/// Whether `code` says the credentials themselves were refused (an unknown,
/// deactivated or expired key or token, a wrong secret), not the caller's
/// permissions.
pub(super) fn rejects_credentials(code: &str) -> bool {
    EXPIRED_CODES.contains(&code)
        || matches!(
            code,
            "AuthFailure"
                | "SignatureDoesNotMatch"
                | "InvalidClientTokenId"
                | "UnrecognizedClientException"
        )
}

/// After a failed call: a refusal of the credentials names them (`signer`,
/// the ones its last attempt was signed with), and expired ones are dropped
/// so the next call asks the chain again.
/// `RequestExpired` only when its request was signed at AWS's time: when the
/// skew learned since (`misjudged`: by how much its signing time was off)
/// is over the threshold, it said the signature was old, not the token.
pub(super) fn after_failure(
    error: &mut AwsError,
    credentials: &CredentialCache,
    signer: Option<&Credentials>,
    misjudged: Duration,
) {
    let Some(code) = error.code.as_deref() else {
        return;
    };
    if !rejects_credentials(code) {
        return;
    }
    error.signer = signer.map(|signer| credentials.describe(signer));
    let skewed = code == "RequestExpired" && misjudged > SKEW_THRESHOLD;
    if EXPIRED_CODES.contains(&code) && !skewed {
        credentials.invalidate();
    }
}

/// What the user is told to do about refused credentials.
pub(super) fn hint(code: &str, signer: Option<&str>) -> String {
    let signer = signer.unwrap_or("the credentials in use");
    match code {
        "SignatureDoesNotMatch" => {
            format!("the secret key does not belong to {signer}: check the credentials in use")
        }
        "RequestExpired" | "ExpiredToken" | "ExpiredTokenException" => format!(
            "the session token of {signer} has expired: the next call fetches credentials again"
        ),
        _ => format!(
            "AWS does not accept {signer}: the key is unknown, deactivated or deleted, or \
             its session token does not go with it (aws sts get-caller-identity shows \
             which credentials work)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MINUTES: Skew = Skew::from_millis(600_000);
    const ONE_MINUTE: Skew = Skew::from_millis(-60_000);

    #[test]
    fn a_signature_refusal_is_the_clocks_fault_only_with_a_skew_over_four_minutes() {
        for code in CLOCK_SKEW_CODES {
            assert!(is_clock_skew(code, TEN_MINUTES), "{code}");
            assert!(
                is_clock_skew(code, Skew::from_millis(-600_000)),
                "{code}, behind"
            );
            assert!(!is_clock_skew(code, ONE_MINUTE), "{code}");
        }
        let four_minutes = Skew::from_millis(240_000);
        assert!(!is_clock_skew("AuthFailure", four_minutes));
        assert!(!is_clock_skew("UnauthorizedOperation", TEN_MINUTES));
        assert!(!is_clock_skew("InvalidInstanceID.NotFound", TEN_MINUTES));
    }

    #[test]
    fn permissions_are_not_credentials() {
        assert!(rejects_credentials("AuthFailure"));
        assert!(rejects_credentials("RequestExpired"));
        assert!(!rejects_credentials("UnauthorizedOperation"));
        assert!(!rejects_credentials("RequestLimitExceeded"));
    }
}
