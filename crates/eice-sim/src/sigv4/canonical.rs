//! The SigV4 building blocks: AWS URI encoding, the canonical query and request,
//! the string to sign, the signing-key chain and the signature itself.
//!
//! Written from the SigV4 specification so that the simulator checks the product's
//! signer (aws-sigv4) with a second, independent implementation. The functions are
//! public so that tests can sign requests of their own with the same primitives.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::SigV4Error;

/// The only algorithm SigV4 defines (`X-Amz-Algorithm` and the `Authorization` prefix).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Hex SHA-256 of the empty string: the payload hash of a presigned GET.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The last element of every credential scope.
pub const SCOPE_TERMINATOR: &str = "aws4_request";

/// Everything except the RFC 3986 unreserved characters is percent-encoded.
const AWS_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Path encoding keeps the segment separators.
const AWS_PATH: &AsciiSet = &AWS_QUERY.remove(b'/');

type HmacSha256 = Hmac<Sha256>;

/// Percent-encodes a query key or value by the AWS rules: `A-Za-z0-9-_.~` kept,
/// every other byte of the UTF-8 form as `%XX` with upper-case hex (a space is
/// `%20`, never `+`).
pub fn uri_encode(text: &str) -> String {
    utf8_percent_encode(text, AWS_QUERY).to_string()
}

/// The canonical URI of a path as received on the wire.
///
/// Services other than S3 encode the already-encoded path once more, so a `%2F` in
/// the request line becomes `%252F` here; plain paths such as `/openTunnel` are
/// unchanged. An empty path is `/`.
pub fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    utf8_percent_encode(raw_path, AWS_PATH).to_string()
}

/// Splits a raw query string into percent-decoded `(key, value)` pairs in order.
///
/// `+` is kept as a literal plus: SigV4 signers encode a space as `%20`, so a bare
/// `+` can only have been meant as itself. Empty pieces (`a=1&&b=2`) are skipped and
/// a key without `=` has an empty value, as signers treat them.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, SigV4Error> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode_component(key)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(text: &str) -> Result<String, SigV4Error> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| {
            SigV4Error::Malformed("The query string is not valid percent-encoded UTF-8.".into())
        })
}

/// The canonical query string of decoded parameters: each key and value encoded
/// with [`uri_encode`], sorted by encoded key then encoded value, joined with `&`.
pub fn canonical_query<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut encoded: Vec<(String, String)> = params
        .into_iter()
        .map(|(key, value)| (uri_encode(key), uri_encode(value)))
        .collect();
    encoded.sort();
    let pairs: Vec<String> = encoded
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.join("&")
}

/// Normalises a header value for the canonical headers: trimmed, with each run of
/// spaces folded into one, so that reformatting by a proxy cannot break a signature.
pub fn normalize_header_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The pieces of a canonical request, each already in canonical form.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalParts<'a> {
    /// Upper-case HTTP method.
    pub method: &'a str,
    /// From [`canonical_uri`].
    pub uri: &'a str,
    /// From [`canonical_query`].
    pub query: &'a str,
    /// `(lower-case name, normalised value)` in the order of `signed_headers`.
    pub headers: &'a [(String, String)],
    /// The `;`-joined lower-case names, sorted.
    pub signed_headers: &'a str,
    /// Hex SHA-256 of the payload (or what `x-amz-content-sha256` declares).
    pub payload_hash: &'a str,
}

/// Joins the parts into the canonical request text that gets hashed.
pub fn canonical_request(parts: &CanonicalParts<'_>) -> String {
    let headers: String = parts
        .headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method, parts.uri, parts.query, headers, parts.signed_headers, parts.payload_hash
    )
}

/// Hex SHA-256, the digest SigV4 uses for payloads and canonical requests.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The credential scope `yyyymmdd/region/service/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{SCOPE_TERMINATOR}")
}

/// `AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hex sha256(canonical request)}`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hashed = sha256_hex(canonical_request.as_bytes());
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{hashed}")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key: HMAC chain over `"AWS4" + secret`, date, region, service and
/// `aws4_request`. Scoping the key this way is what lets AWS refuse a signature made
/// for another day, region or service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, SCOPE_TERMINATOR.as_bytes())
}

/// The lower-case hex signature of a string to sign.
pub fn signature_hex(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// Whether `provided` (lower-case hex) is the signature of `string_to_sign`.
///
/// The comparison runs in constant time (`Mac::verify_slice`), so response timing
/// says nothing about how many leading bytes of a forged signature were right.
pub fn signature_matches(key: &[u8; 32], string_to_sign: &str, provided: &str) -> bool {
    let well_formed = provided.len() == 64
        && provided
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let Some(provided) = well_formed.then(|| hex::decode(provided).ok()).flatten() else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_encode_keeps_only_unreserved_characters() {
        assert_eq!(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(uri_encode("a b+c/d=e:f"), "a%20b%2Bc%2Fd%3De%3Af");
        assert_eq!(uri_encode("fd00::5"), "fd00%3A%3A5");
        assert_eq!(uri_encode("é"), "%C3%A9");
    }

    #[test]
    fn canonical_query_sorts_by_encoded_key_then_value() {
        let params = [("b", "2"), ("a", "z"), ("a", "y"), ("A", "x")];
        assert_eq!(canonical_query(params), "A=x&a=y&a=z&b=2");
    }

    #[test]
    fn decode_query_handles_missing_values_and_empty_pieces() {
        let decoded = decode_query("a=1&&flag&ip=fd00%3A%3A5&plus=a+b").unwrap();
        let expected = [("a", "1"), ("flag", ""), ("ip", "fd00::5"), ("plus", "a+b")];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(decoded, expected);
        assert!(decode_query("bad=%FF").is_err());
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(normalize_header_value("  a   b  c "), "a b c");
    }

    #[test]
    fn signature_matches_refuses_malformed_hex() {
        let key = signing_key("secret", "20230725", "us-east-1", "svc");
        let good = signature_hex(&key, "text");
        assert!(signature_matches(&key, "text", &good));
        assert!(!signature_matches(&key, "text", &good.to_uppercase()));
        assert!(!signature_matches(&key, "text", &good[..62]));
        assert!(!signature_matches(&key, "other", &good));
    }
}
