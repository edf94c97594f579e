//! Why a SigV4 check failed, in the words and error codes AWS uses.
//!
//! Each variant is one check, so tests can assert on *which* check refused a request,
//! and each maps to the `ErrorCode` AWS would send, so the product's error handling is
//! exercised with realistic bodies.

/// One failed SigV4 check. `Display` is the `Message` AWS would send;
/// [`SigV4Error::error_code`] is the `ErrorCode`. Every variant is answered with HTTP 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Nothing in the request looks like a SigV4 signature at all.
    #[error("Missing Authentication Token")]
    MissingAuthentication,
    /// A presigned URL lacks one of the `X-Amz-*` parameters SigV4 requires.
    #[error(
        "AWS query-string parameters must include '{0}'. Re-examine the query-string parameters."
    )]
    MissingQueryParameter(&'static str),
    /// An `Authorization` header lacks `Credential`, `SignedHeaders` or `Signature`.
    #[error("Authorization header requires '{0}' parameter.")]
    MissingAuthorizationPart(&'static str),
    /// A header-signed request has no `x-amz-date` header.
    #[error("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")]
    MissingDateHeader,
    /// A signature component is present but unparseable (bad date, duplicate
    /// parameter, bad percent-encoding, credential without five parts...).
    #[error("{0}")]
    Malformed(String),
    /// An algorithm other than `AWS4-HMAC-SHA256`.
    #[error("Unsupported AWS 'algorithm': '{0}'.")]
    UnsupportedAlgorithm(String),
    /// The credential scope names another region than the one this service is in:
    /// the classic mistake of signing for the profile's region, not the endpoint's.
    #[error(
        "Credential should be scoped to a valid region, not '{found}'. This endpoint is in '{expected}'."
    )]
    WrongRegion {
        /// The region the service is in.
        expected: String,
        /// The region in the credential scope.
        found: String,
    },
    /// The credential scope names another service (signing name).
    #[error("Credential should be scoped to correct service: '{expected}', not '{found}'.")]
    WrongService {
        /// The service's signing name.
        expected: String,
        /// The service in the credential scope.
        found: String,
    },
    /// The scope's date is not the day of `X-Amz-Date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_date}', from 'X-Amz-Date'."
    )]
    ScopeDateMismatch {
        /// The `yyyymmdd` in the credential scope.
        scope_date: String,
        /// The day part of `X-Amz-Date`.
        request_date: String,
    },
    /// The scope does not end in `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request', not '{0}'.")]
    WrongTerminator(String),
    /// `X-Amz-Expires` is not a whole number in 1..=604800.
    #[error("X-Amz-Expires must be a whole number of seconds from 1 to 604800, not '{0}'.")]
    InvalidExpires(String),
    /// The signature's validity ended before the service's "now"; the text names both.
    #[error("Signature expired: {0}")]
    Expired(String),
    /// The signing time is more than five minutes ahead of the service's clock.
    #[error("Signature not yet current: {0}")]
    NotYetCurrent(String),
    /// `host` is not among the signed headers, so the signature could be replayed
    /// against another endpoint.
    #[error("'Host' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// A header listed in `SignedHeaders` is absent from the request.
    #[error("The header '{0}' is listed in SignedHeaders but is not in the request.")]
    SignedHeaderMissing(String),
    /// No secret is known for the access key id (kept for logs; not a secret).
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey(String),
    /// The session token is missing, unexpected, or not the one issued with the key.
    #[error("The security token included in the request is invalid.")]
    InvalidSecurityToken,
    /// The session token is the one issued with the key, but it has expired.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// `x-amz-content-sha256` does not match the body actually received.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentHashMismatch,
    /// Everything parsed, but the signature is not the one the secret produces.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
    )]
    SignatureDoesNotMatch,
}

impl SigV4Error {
    /// The AWS `ErrorCode` for this failure, as the real service would name it.
    pub fn error_code(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            MissingAuthentication => "MissingAuthenticationToken",
            MissingQueryParameter(_)
            | MissingAuthorizationPart(_)
            | MissingDateHeader
            | Malformed(_)
            | UnsupportedAlgorithm(_)
            | HostNotSigned
            | SignedHeaderMissing(_) => "IncompleteSignature",
            WrongRegion { .. }
            | WrongService { .. }
            | ScopeDateMismatch { .. }
            | WrongTerminator(_)
            | InvalidExpires(_)
            | Expired(_)
            | NotYetCurrent(_) => "InvalidSignatureException",
            UnknownAccessKey(_) | InvalidSecurityToken => "UnrecognizedClientException",
            ExpiredToken => "ExpiredTokenException",
            ContentHashMismatch => "XAmzContentSHA256Mismatch",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
        }
    }

    /// The HTTP status AWS answers every authentication failure with.
    pub fn http_status(&self) -> u16 {
        403
    }
}
