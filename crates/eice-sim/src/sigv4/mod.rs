//! An independent SigV4 *verifier*, the simulator's check on the product's signer.
//!
//! The product signs with the aws-sigv4 crate; verifying with that same crate would
//! prove nothing, so this module implements the verification side from the SigV4
//! specification with `hmac` and `sha2` alone. It covers the two shapes the simulated
//! AWS receives: query-string presigned GETs (the EICE `openTunnel` URL) and requests
//! signed with an `Authorization` header (the EC2 Query, STS and EC2 Instance
//! Connect APIs).
//!
//! Each check that can fail has its own [`SigV4Error`] variant carrying the AWS error
//! code and message, so tests can tell a wrong region from a wrong secret.

mod amzdate;
mod canonical;
mod checks;
mod error;
mod presign;
mod sign;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

pub use amzdate::{format_amz_date, format_http_date, parse_amz_date};
pub use canonical::{
    ALGORITHM, CanonicalParts, EMPTY_PAYLOAD_SHA256, SCOPE_TERMINATOR, canonical_query,
    canonical_request, canonical_uri, credential_scope, decode_query, normalize_header_value,
    sha256_hex, signature_hex, signature_matches, signing_key, string_to_sign, uri_encode,
};
pub use error::SigV4Error;
pub use presign::{PresignInput, presign_query};
pub use sign::{ClaimedScope, HeaderSignInput, claimed_scope, sign_headers};

use checks::{
    AuthorizationHeader, QueryAuth, Scope, check_algorithm, check_header_window,
    check_presigned_window, check_session_token, check_signature, header_value, look_up,
    parse_date, parse_expires, payload_hash, signed_headers, verified,
};

/// How far a signing time may run ahead of the service's clock (and, for header
/// signatures, behind it): AWS allows five minutes of skew.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The longest `X-Amz-Expires` SigV4 allows: seven days.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// The query parameters that carry the signature itself; they are not returned in
/// [`Verified::params`], so callers see only the operation's own parameters (and the
/// session token never reaches their logs).
const AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
];

/// What the simulated AWS knows about one access key.
#[derive(Clone, PartialEq, Eq)]
pub struct SimCredential {
    /// The secret access key the signature must have been made with.
    pub secret: String,
    /// For temporary credentials: the token the request must carry
    /// (`X-Amz-Security-Token`); `None` for long-term keys, which must carry none.
    pub session_token: Option<String>,
    /// When temporary credentials stop working, by the service's clock; the
    /// service then refuses them as expired (`None`: they never do).
    pub expires_at: Option<SystemTime>,
}

impl SimCredential {
    /// A long-term key: a secret and no session token.
    pub fn new(secret: impl Into<String>) -> Self {
        SimCredential {
            secret: secret.into(),
            session_token: None,
            expires_at: None,
        }
    }

    /// Temporary credentials, which are only valid together with their token.
    pub fn with_session_token(secret: impl Into<String>, token: impl Into<String>) -> Self {
        SimCredential {
            secret: secret.into(),
            session_token: Some(token.into()),
            expires_at: None,
        }
    }

    /// The same credentials, refused as expired from `at` on (the service's
    /// clock): a session token that ran out.
    pub fn expiring_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Redacted, so a config dump or a failed assertion never prints a secret.
impl fmt::Debug for SimCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimCredential")
            .field("secret", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Finds the credential for an access key id; a map works, and so does a closure
/// when a test wants to count or vary look-ups.
pub trait CredentialLookup {
    /// The credential issued with `access_key_id`, if the simulated account has one.
    fn credential(&self, access_key_id: &str) -> Option<SimCredential>;
}

impl<S: BuildHasher> CredentialLookup for HashMap<String, SimCredential, S> {
    fn credential(&self, access_key_id: &str) -> Option<SimCredential> {
        self.get(access_key_id).cloned()
    }
}

impl<F: Fn(&str) -> Option<SimCredential>> CredentialLookup for F {
    fn credential(&self, access_key_id: &str) -> Option<SimCredential> {
        self(access_key_id)
    }
}

/// What the verifying service expects of every signature: its own signing name and
/// region, and its clock (which tests skew to produce expired URLs).
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The signing name, e.g. `ec2-instance-connect`.
    pub service: &'a str,
    /// The region the service runs in, e.g. `us-east-1`.
    pub region: &'a str,
    /// The service's "now".
    pub now: SystemTime,
}

/// A query-string presigned request as received.
#[derive(Debug, Clone, Copy)]
pub struct PresignedRequest<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The path exactly as in the request line, e.g. `/openTunnel`.
    pub path: &'a str,
    /// The raw query string exactly as received (still percent-encoded, no `?`).
    pub query: &'a str,
    /// The `Host` header value, which the signer signed.
    pub host: &'a str,
}

/// A request signed with an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSignedRequest<'a> {
    /// The HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The path exactly as in the request line.
    pub path: &'a str,
    /// The raw query string (often empty for the EC2 Query API's form POSTs).
    pub query: &'a str,
    /// All request headers; the signed ones are read from here.
    pub headers: &'a http::HeaderMap,
    /// The request body, whose hash is part of the signature.
    pub body: &'a [u8],
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Who signed it.
    pub access_key_id: String,
    /// The decoded query parameters in the order received, without the `X-Amz-*`
    /// signature parameters.
    pub params: Vec<(String, String)>,
}

impl Verified {
    /// The first value of a parameter, as services read single-valued parameters.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Verifies a query-string presigned request (the EICE `openTunnel` URL).
///
/// Checks, in order: the algorithm, `X-Amz-Date`, the credential scope (day, region,
/// service, terminator), `X-Amz-Expires`, the validity window against `expected.now`,
/// that `host` is signed, the access key, the session token, and finally the
/// signature over the canonical request (every parameter but `X-Amz-Signature`,
/// `host:{host}`, the empty payload's hash).
pub fn verify_presigned(
    request: &PresignedRequest<'_>,
    credentials: &dyn CredentialLookup,
    expected: &Expected<'_>,
) -> Result<Verified, SigV4Error> {
    let params = decode_query(request.query)?;
    let auth = QueryAuth::from_params(&params)?;
    check_algorithm(auth.algorithm)?;
    let signed_at = parse_date(auth.date)?;
    let scope = Scope::parse(auth.credential, auth.date, expected)?;
    let expires = parse_expires(auth.expires)?;
    check_presigned_window(signed_at, expires, expected.now)?;
    let headers = signed_headers(auth.signed_headers, |name| {
        (name == "host").then(|| request.host.to_owned())
    })?;
    let credential = look_up(credentials, scope.access_key_id)?;
    check_session_token(&credential, auth.security_token, expected.now)?;
    let query = canonical_query(
        params
            .iter()
            .filter(|(key, _)| key != "X-Amz-Signature")
            .map(|(key, value)| (key.as_str(), value.as_str())),
    );
    let canonical = canonical_request(&CanonicalParts {
        method: request.method,
        uri: &canonical_uri(request.path),
        query: &query,
        headers: &headers,
        signed_headers: auth.signed_headers,
        payload_hash: EMPTY_PAYLOAD_SHA256,
    });
    check_signature(&credential, &scope, auth.date, &canonical, auth.signature)?;
    Ok(verified(scope.access_key_id, &params))
}

/// Verifies a request signed with an `Authorization: AWS4-HMAC-SHA256 ...` header.
///
/// The date comes from `x-amz-date` and must be within five minutes of
/// `expected.now` either way; the payload hash is `x-amz-content-sha256` when sent
/// (and must then match the body), else the SHA-256 of the body.
pub fn verify_header_auth(
    request: &HeaderSignedRequest<'_>,
    credentials: &dyn CredentialLookup,
    expected: &Expected<'_>,
) -> Result<Verified, SigV4Error> {
    let lookup = |name: &str| header_value(request.headers, name);
    let authorization = lookup("authorization").ok_or(SigV4Error::MissingAuthentication)?;
    let auth = AuthorizationHeader::parse(&authorization)?;
    let amz_date = lookup("x-amz-date").ok_or(SigV4Error::MissingDateHeader)?;
    let signed_at = parse_date(&amz_date)?;
    let scope = Scope::parse(auth.credential, &amz_date, expected)?;
    check_header_window(signed_at, expected.now)?;
    let headers = signed_headers(auth.signed_headers, lookup)?;
    let payload_hash = payload_hash(lookup("x-amz-content-sha256"), request.body)?;
    let credential = look_up(credentials, scope.access_key_id)?;
    check_session_token(
        &credential,
        lookup("x-amz-security-token").as_deref(),
        expected.now,
    )?;
    let params = decode_query(request.query)?;
    let query = canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let canonical = canonical_request(&CanonicalParts {
        method: request.method,
        uri: &canonical_uri(request.path),
        query: &query,
        headers: &headers,
        signed_headers: auth.signed_headers,
        payload_hash: &payload_hash,
    });
    check_signature(&credential, &scope, &amz_date, &canonical, auth.signature)?;
    Ok(verified(scope.access_key_id, &params))
}
