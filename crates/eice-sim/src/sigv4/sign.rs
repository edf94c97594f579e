//! A minimal reference signer for `Authorization`-header requests, for tests of the
//! simulator itself (the STS and EC2 Instance Connect APIs), and the one look at a
//! signature a multi-region, multi-service simulator takes before verifying it.
//!
//! Like [`super::presign_query`], it is built from the verifier's own primitives and
//! must never sign anything for the product.

use std::time::SystemTime;

use http::HeaderMap;

use super::checks::{AuthorizationHeader, header_value};
use super::{
    ALGORITHM, CanonicalParts, canonical_query, canonical_request, canonical_uri, credential_scope,
    decode_query, format_amz_date, normalize_header_value, sha256_hex, signature_hex, signing_key,
    string_to_sign,
};

/// Everything a header signature depends on.
#[derive(Debug, Clone, Copy)]
pub struct HeaderSignInput<'a> {
    /// HTTP method, e.g. `POST`.
    pub method: &'a str,
    /// The `Host` header the client will send (with `:port` when not the default).
    pub host: &'a str,
    /// The request path, e.g. `/`.
    pub path: &'a str,
    /// The raw query string (percent-encoded, no `?`), often empty.
    pub query: &'a str,
    /// More headers to sign besides `host` and `x-amz-date` (names in lower case),
    /// e.g. `content-type` and `x-amz-target`; the caller sends them too.
    pub headers: &'a [(&'a str, &'a str)],
    /// The request body.
    pub body: &'a [u8],
    /// The access key id that goes into the credential scope.
    pub access_key_id: &'a str,
    /// The secret the signature is made with.
    pub secret: &'a str,
    /// Sent as `x-amz-security-token` (and signed) for temporary credentials.
    pub session_token: Option<&'a str>,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The signing name of the credential scope, e.g. `sts`.
    pub service: &'a str,
    /// The signing time (`x-amz-date`).
    pub signed_at: SystemTime,
}

/// The headers to add to the request: `x-amz-date`, `x-amz-security-token` when
/// temporary, and `authorization`.
///
/// # Panics
///
/// If `query` is not valid percent-encoding: a test's own mistake.
pub fn sign_headers(input: &HeaderSignInput<'_>) -> Vec<(String, String)> {
    let params = decode_query(input.query).expect("a test's query string is well formed");
    let amz_date = format_amz_date(input.signed_at);
    let date = &amz_date[..8];
    let scope = credential_scope(date, input.region, input.service);
    let mut added = vec![("x-amz-date".to_owned(), amz_date.clone())];
    if let Some(token) = input.session_token {
        added.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    let mut signed: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), normalize_header_value(value)))
        .chain([("host".to_owned(), input.host.to_owned())])
        .chain(added.iter().cloned())
        .collect();
    signed.sort();
    let names: Vec<&str> = signed.iter().map(|(name, _)| name.as_str()).collect();
    let signed_headers = names.join(";");
    let canonical = canonical_request(&CanonicalParts {
        method: input.method,
        uri: &canonical_uri(input.path),
        query: &canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        headers: &signed,
        signed_headers: &signed_headers,
        payload_hash: &sha256_hex(input.body),
    });
    let key = signing_key(input.secret, date, input.region, input.service);
    let signature = signature_hex(&key, &string_to_sign(&amz_date, &scope, &canonical));
    added.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            input.access_key_id
        ),
    ));
    added
}

/// The region and service a request's `Authorization` header *claims*, read
/// without verifying anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedScope {
    /// The credential scope's region.
    pub region: String,
    /// The credential scope's service (signing name).
    pub service: String,
}

/// The scope a header-signed request claims, or `None` when it carries no readable
/// one. A simulator that stands for several regional endpoints or services at one
/// URL uses it to pick the one the caller meant, then verifies the signature
/// against exactly that region and service, so a lie gains nothing.
pub fn claimed_scope(headers: &HeaderMap) -> Option<ClaimedScope> {
    let value = header_value(headers, "authorization")?;
    let auth = AuthorizationHeader::parse(&value).ok()?;
    let mut parts = auth.credential.split('/');
    let (_key, _date) = (parts.next()?, parts.next()?);
    Some(ClaimedScope {
        region: parts.next()?.to_owned(),
        service: parts.next()?.to_owned(),
    })
}
