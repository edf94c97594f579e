//! A minimal reference presigner, for tests of the simulator itself.
//!
//! The simulator's own tests need correctly signed URLs without depending on the
//! product's signer (that is what the simulator is there to check). This builds them
//! from the same primitives the verifier uses; the known-answer vectors in
//! `tests/data/eice-presign.json` (computed by botocore) keep both honest. The
//! product must never sign with this.

use std::time::SystemTime;

use super::{
    ALGORITHM, CanonicalParts, EMPTY_PAYLOAD_SHA256, canonical_query, canonical_request,
    canonical_uri, credential_scope, format_amz_date, signature_hex, signing_key, string_to_sign,
    uri_encode,
};

/// Everything a query-string presignature depends on.
#[derive(Debug, Clone, Copy)]
pub struct PresignInput<'a> {
    /// HTTP method, `GET` for `openTunnel`.
    pub method: &'a str,
    /// The `Host` header the client will send (with `:port` when not the default).
    pub host: &'a str,
    /// The request path, e.g. `/openTunnel`.
    pub path: &'a str,
    /// The operation's parameters, decoded, in the order they should appear.
    pub params: &'a [(&'a str, &'a str)],
    /// The access key id that goes into the credential scope.
    pub access_key_id: &'a str,
    /// The secret the signature is made with.
    pub secret: &'a str,
    /// Sent as `X-Amz-Security-Token` (and signed) for temporary credentials.
    pub session_token: Option<&'a str>,
    /// The region of the credential scope.
    pub region: &'a str,
    /// The signing name of the credential scope.
    pub service: &'a str,
    /// The signing time (`X-Amz-Date`).
    pub signed_at: SystemTime,
    /// `X-Amz-Expires`, in seconds.
    pub expires_secs: u64,
}

/// The presigned query string (no leading `?`): the operation's parameters, then the
/// `X-Amz-*` parameters in the order botocore emits them, `X-Amz-Signature` last.
pub fn presign_query(input: &PresignInput<'_>) -> String {
    let amz_date = format_amz_date(input.signed_at);
    let date = &amz_date[..8];
    let scope = credential_scope(date, input.region, input.service);
    let credential = format!("{}/{scope}", input.access_key_id);
    let expires = input.expires_secs.to_string();
    let mut params: Vec<(&str, &str)> = input.params.to_vec();
    params.extend([
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", "host"),
    ]);
    if let Some(token) = input.session_token {
        params.push(("X-Amz-Security-Token", token));
    }
    let headers = [("host".to_owned(), input.host.to_owned())];
    let canonical = canonical_request(&CanonicalParts {
        method: input.method,
        uri: &canonical_uri(input.path),
        query: &canonical_query(params.iter().copied()),
        headers: &headers,
        signed_headers: "host",
        payload_hash: EMPTY_PAYLOAD_SHA256,
    });
    let key = signing_key(input.secret, date, input.region, input.service);
    let signature = signature_hex(&key, &string_to_sign(&amz_date, &scope, &canonical));
    let mut query: Vec<String> = params
        .iter()
        .map(|(key, value)| format!("{}={}", uri_encode(key), uri_encode(value)))
        .collect();
    query.push(format!("X-Amz-Signature={signature}"));
    query.join("&")
}
