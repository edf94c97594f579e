//! The individual SigV4 checks behind [`super::verify_presigned`] and
//! [`super::verify_header_auth`]: parsing the signature components, the credential
//! scope, the validity window, the signed headers, the key, the token and the
//! signature itself. Each returns the [`SigV4Error`] variant that names it.

use std::time::{Duration, SystemTime};

use super::{
    ALGORITHM, AUTH_PARAMS, CredentialLookup, Expected, MAX_CLOCK_SKEW, MAX_EXPIRES_SECS,
    SCOPE_TERMINATOR, SigV4Error, SimCredential, Verified, credential_scope, format_amz_date,
    normalize_header_value, parse_amz_date, sha256_hex, signature_matches, signing_key,
    string_to_sign,
};

/// The parsed `Credential` value `AKID/yyyymmdd/region/service/aws4_request`.
pub(super) struct Scope<'a> {
    pub(super) access_key_id: &'a str,
    pub(super) date: &'a str,
    pub(super) region: &'a str,
    pub(super) service: &'a str,
}

impl<'a> Scope<'a> {
    /// Parses a credential and checks it against the request date and the service.
    pub(super) fn parse(
        credential: &'a str,
        amz_date: &str,
        expected: &Expected<'_>,
    ) -> Result<Self, SigV4Error> {
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = parts[..] else {
            return Err(SigV4Error::Malformed(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'."
            )));
        };
        let request_date = amz_date.get(..8).unwrap_or(amz_date);
        if date != request_date {
            return Err(SigV4Error::ScopeDateMismatch {
                scope_date: date.to_owned(),
                request_date: request_date.to_owned(),
            });
        }
        if region != expected.region {
            return Err(SigV4Error::WrongRegion {
                expected: expected.region.to_owned(),
                found: region.to_owned(),
            });
        }
        if service != expected.service {
            return Err(SigV4Error::WrongService {
                expected: expected.service.to_owned(),
                found: service.to_owned(),
            });
        }
        if terminator != SCOPE_TERMINATOR {
            return Err(SigV4Error::WrongTerminator(terminator.to_owned()));
        }
        Ok(Scope {
            access_key_id,
            date,
            region,
            service,
        })
    }
}

/// The `X-Amz-*` parameters of a presigned URL, each present at most once.
pub(super) struct QueryAuth<'a> {
    pub(super) algorithm: &'a str,
    pub(super) credential: &'a str,
    pub(super) date: &'a str,
    pub(super) expires: &'a str,
    pub(super) signed_headers: &'a str,
    pub(super) signature: &'a str,
    pub(super) security_token: Option<&'a str>,
}

impl<'a> QueryAuth<'a> {
    pub(super) fn from_params(params: &'a [(String, String)]) -> Result<Self, SigV4Error> {
        let single = |name: &'static str| -> Result<Option<&'a str>, SigV4Error> {
            let mut values = params.iter().filter(|(key, _)| key == name);
            let first = values.next().map(|(_, value)| value.as_str());
            match values.next() {
                Some(_) => Err(SigV4Error::Malformed(format!(
                    "The query-string parameter '{name}' appears more than once."
                ))),
                None => Ok(first),
            }
        };
        let required =
            |name: &'static str| single(name)?.ok_or(SigV4Error::MissingQueryParameter(name));
        let Some(algorithm) = single("X-Amz-Algorithm")? else {
            let any_auth = params
                .iter()
                .any(|(key, _)| AUTH_PARAMS.contains(&key.as_str()));
            return Err(if any_auth {
                SigV4Error::MissingQueryParameter("X-Amz-Algorithm")
            } else {
                SigV4Error::MissingAuthentication
            });
        };
        Ok(QueryAuth {
            algorithm,
            credential: required("X-Amz-Credential")?,
            date: required("X-Amz-Date")?,
            expires: required("X-Amz-Expires")?,
            signed_headers: required("X-Amz-SignedHeaders")?,
            signature: required("X-Amz-Signature")?,
            security_token: single("X-Amz-Security-Token")?,
        })
    }
}

/// The three parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
pub(super) struct AuthorizationHeader<'a> {
    pub(super) credential: &'a str,
    pub(super) signed_headers: &'a str,
    pub(super) signature: &'a str,
}

impl<'a> AuthorizationHeader<'a> {
    pub(super) fn parse(value: &'a str) -> Result<Self, SigV4Error> {
        let (algorithm, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        check_algorithm(algorithm)?;
        let parts: Vec<(&str, &str)> = rest
            .split(',')
            .filter_map(|part| part.trim().split_once('='))
            .collect();
        let find = |name: &'static str| {
            parts
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
                .ok_or(SigV4Error::MissingAuthorizationPart(name))
        };
        Ok(AuthorizationHeader {
            credential: find("Credential")?,
            signed_headers: find("SignedHeaders")?,
            signature: find("Signature")?,
        })
    }
}

pub(super) fn verified(access_key_id: &str, params: &[(String, String)]) -> Verified {
    let params = params
        .iter()
        .filter(|(key, _)| !AUTH_PARAMS.contains(&key.as_str()))
        .cloned()
        .collect();
    Verified {
        access_key_id: access_key_id.to_owned(),
        params,
    }
}

pub(super) fn check_algorithm(algorithm: &str) -> Result<(), SigV4Error> {
    if algorithm == ALGORITHM {
        Ok(())
    } else {
        Err(SigV4Error::UnsupportedAlgorithm(algorithm.to_owned()))
    }
}

pub(super) fn parse_date(amz_date: &str) -> Result<SystemTime, SigV4Error> {
    parse_amz_date(amz_date).ok_or_else(|| {
        SigV4Error::Malformed(format!(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", not '{amz_date}'."
        ))
    })
}

pub(super) fn parse_expires(text: &str) -> Result<u64, SigV4Error> {
    match text.parse::<u64>() {
        Ok(secs @ 1..=MAX_EXPIRES_SECS) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(secs),
        _ => Err(SigV4Error::InvalidExpires(text.to_owned())),
    }
}

/// A presigned URL is valid from (at most five minutes before) its signing time
/// until signing time + `X-Amz-Expires`, inclusive.
pub(super) fn check_presigned_window(
    signed_at: SystemTime,
    expires: u64,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    check_not_ahead(signed_at, now)?;
    let expires_at = signed_at + Duration::from_secs(expires);
    if expires_at < now {
        return Err(SigV4Error::Expired(format!(
            "{} is now earlier than {} (signed at {} with X-Amz-Expires={expires}).",
            format_amz_date(expires_at),
            format_amz_date(now),
            format_amz_date(signed_at),
        )));
    }
    Ok(())
}

/// A header signature is valid within five minutes of its signing time either way.
pub(super) fn check_header_window(
    signed_at: SystemTime,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    check_not_ahead(signed_at, now)?;
    let earliest = now.checked_sub(MAX_CLOCK_SKEW).unwrap_or(now);
    if signed_at < earliest {
        return Err(SigV4Error::Expired(format!(
            "{} is now earlier than {} ({} - 5 min.)",
            format_amz_date(signed_at),
            format_amz_date(earliest),
            format_amz_date(now),
        )));
    }
    Ok(())
}

fn check_not_ahead(signed_at: SystemTime, now: SystemTime) -> Result<(), SigV4Error> {
    let latest = now + MAX_CLOCK_SKEW;
    if signed_at > latest {
        return Err(SigV4Error::NotYetCurrent(format!(
            "{} is still later than {} ({} + 5 min.)",
            format_amz_date(signed_at),
            format_amz_date(latest),
            format_amz_date(now),
        )));
    }
    Ok(())
}

/// The canonical headers for a `SignedHeaders` list: `host` must be among them, and
/// each listed header must be present (its values joined with `,` and normalised).
pub(super) fn signed_headers(
    list: &str,
    value_of: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, SigV4Error> {
    let names: Vec<&str> = list.split(';').collect();
    if !names.contains(&"host") {
        return Err(SigV4Error::HostNotSigned);
    }
    names
        .into_iter()
        .map(|name| {
            let value =
                value_of(name).ok_or_else(|| SigV4Error::SignedHeaderMissing(name.to_owned()))?;
            Ok((name.to_owned(), normalize_header_value(&value)))
        })
        .collect()
}

/// All values of a header joined with `,` (as SigV4 canonicalises repeated headers);
/// `None` when absent or not visible ASCII.
pub(super) fn header_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    let values: Option<Vec<&str>> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().ok())
        .collect();
    let values = values?;
    (!values.is_empty()).then(|| {
        values
            .iter()
            .map(|v| normalize_header_value(v))
            .collect::<Vec<_>>()
            .join(",")
    })
}

pub(super) fn payload_hash(declared: Option<String>, body: &[u8]) -> Result<String, SigV4Error> {
    let actual = sha256_hex(body);
    match declared {
        Some(declared) if !declared.eq_ignore_ascii_case(&actual) => {
            Err(SigV4Error::ContentHashMismatch)
        }
        Some(declared) => Ok(declared),
        None => Ok(actual),
    }
}

pub(super) fn look_up(
    credentials: &dyn CredentialLookup,
    access_key_id: &str,
) -> Result<SimCredential, SigV4Error> {
    credentials
        .credential(access_key_id)
        .ok_or_else(|| SigV4Error::UnknownAccessKey(access_key_id.to_owned()))
}

/// Temporary keys are only valid with their own token, and only until they
/// expire; long-term keys with none.
pub(super) fn check_session_token(
    credential: &SimCredential,
    provided: Option<&str>,
    now: SystemTime,
) -> Result<(), SigV4Error> {
    if credential.session_token.as_deref() != provided {
        return Err(SigV4Error::InvalidSecurityToken);
    }
    if credential.expires_at.is_some_and(|at| at <= now) {
        return Err(SigV4Error::ExpiredToken);
    }
    Ok(())
}

pub(super) fn check_signature(
    credential: &SimCredential,
    scope: &Scope<'_>,
    amz_date: &str,
    canonical: &str,
    provided: &str,
) -> Result<(), SigV4Error> {
    let scope_text = credential_scope(scope.date, scope.region, scope.service);
    let to_sign = string_to_sign(amz_date, &scope_text, canonical);
    let key = signing_key(&credential.secret, scope.date, scope.region, scope.service);
    if signature_matches(&key, &to_sign, provided) {
        Ok(())
    } else {
        Err(SigV4Error::SignatureDoesNotMatch)
    }
}
