//! Tests of the verifier: botocore's known-answer presigned URLs must verify, each
//! kind of tampering must fail with the check that names it, and header signatures
//! are tested in `header_auth`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::*;

mod header_auth;

const SERVICE: &str = "ec2-instance-connect";

/// One case of `tests/data/eice-presign.json` (only the fields the verifier needs).
#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    signing_name: String,
    endpoint_dns_name: String,
    signing_time_utc: String,
    expected_url: String,
}

#[derive(Debug, Deserialize)]
struct VectorFile {
    cases: Vec<Vector>,
}

fn vectors() -> Vec<Vector> {
    // The product's signer is checked against the same vectors (src/eice/sign.rs).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/eice-presign.json"
    );
    let text = std::fs::read_to_string(path).expect("read the presign vectors");
    let file: VectorFile = serde_json::from_str(&text).expect("parse the presign vectors");
    assert!(!file.cases.is_empty());
    file.cases
}

impl Vector {
    /// `2023-07-25T09:00:37Z` → the `SystemTime` it names.
    fn signing_time(&self) -> SystemTime {
        let compact: String = self
            .signing_time_utc
            .chars()
            .filter(|c| !"-:".contains(*c))
            .collect();
        parse_amz_date(&compact).expect("vector signing time")
    }

    fn credentials(&self) -> HashMap<String, SimCredential> {
        self.credentials_with_secret(&self.secret_access_key)
    }

    fn credentials_with_secret(&self, secret: &str) -> HashMap<String, SimCredential> {
        let credential = SimCredential {
            secret: secret.to_owned(),
            session_token: self.session_token.clone(),
            expires_at: None,
        };
        HashMap::from([(self.access_key_id.clone(), credential)])
    }

    /// (path, raw query) of the expected URL.
    fn path_and_query(&self) -> (&str, &str) {
        let prefix = format!("wss://{}", self.endpoint_dns_name);
        let rest = self
            .expected_url
            .strip_prefix(&prefix)
            .expect("URL starts with the host");
        rest.split_once('?').expect("URL has a query")
    }

    fn verify_query(
        &self,
        query: &str,
        region: &str,
        secret: &str,
        now: SystemTime,
    ) -> Result<Verified, SigV4Error> {
        let (path, _) = self.path_and_query();
        let request = PresignedRequest {
            method: "GET",
            path,
            query,
            host: &self.endpoint_dns_name,
        };
        let expected = Expected {
            service: &self.signing_name,
            region,
            now,
        };
        verify_presigned(&request, &self.credentials_with_secret(secret), &expected)
    }

    fn verify_at(&self, now: SystemTime) -> Result<Verified, SigV4Error> {
        let (_, query) = self.path_and_query();
        self.verify_query(query, &self.region, &self.secret_access_key, now)
    }
}

#[test]
fn every_vector_url_verifies_at_its_signing_time() {
    for vector in vectors() {
        let verified = vector
            .verify_at(vector.signing_time())
            .unwrap_or_else(|e| panic!("{}: {e:?}", vector.name));
        assert_eq!(verified.access_key_id, vector.access_key_id);
        assert!(
            verified.param("instanceConnectEndpointId").is_some(),
            "{}",
            vector.name
        );
        assert!(
            verified
                .params
                .iter()
                .all(|(k, _)| !k.starts_with("X-Amz-"))
        );
        let (_, query) = vector.path_and_query();
        assert!(
            vector
                .verify_query(
                    query,
                    &vector.region,
                    &vector.secret_access_key,
                    vector.signing_time() + Duration::from_secs(60)
                )
                .is_ok()
        );
    }
}

#[test]
fn reference_presigner_reproduces_every_vector_url() {
    for vector in vectors() {
        let (path, query) = vector.path_and_query();
        let decoded = decode_query(query).unwrap();
        let params: Vec<(&str, &str)> = decoded
            .iter()
            .filter(|(k, _)| !k.starts_with("X-Amz-"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let ours = presign_query(&PresignInput {
            method: "GET",
            host: &vector.endpoint_dns_name,
            path,
            params: &params,
            access_key_id: &vector.access_key_id,
            secret: &vector.secret_access_key,
            session_token: vector.session_token.as_deref(),
            region: &vector.region,
            service: SERVICE,
            signed_at: vector.signing_time(),
            expires_secs: 60,
        });
        assert_eq!(ours, query, "{}", vector.name);
    }
}

#[test]
fn a_flipped_signature_digit_fails_as_signature_does_not_match() {
    for vector in vectors() {
        let (_, query) = vector.path_and_query();
        let last = query.chars().last().unwrap();
        let flipped = if last == '0' { '1' } else { '0' };
        let tampered = format!("{}{flipped}", &query[..query.len() - 1]);
        let err = vector
            .verify_query(
                &tampered,
                &vector.region,
                &vector.secret_access_key,
                vector.signing_time(),
            )
            .unwrap_err();
        assert_eq!(err, SigV4Error::SignatureDoesNotMatch, "{}", vector.name);
        assert_eq!(err.error_code(), "SignatureDoesNotMatch");
    }
}

#[test]
fn a_wrong_secret_fails_as_signature_does_not_match() {
    let vector = &vectors()[0];
    let (_, query) = vector.path_and_query();
    let err = vector
        .verify_query(
            query,
            &vector.region,
            "not-the-secret",
            vector.signing_time(),
        )
        .unwrap_err();
    assert_eq!(err, SigV4Error::SignatureDoesNotMatch);
}

#[test]
fn the_url_61_seconds_after_signing_is_expired() {
    for vector in vectors() {
        let now = vector.signing_time() + Duration::from_secs(61);
        let err = vector.verify_at(now).unwrap_err();
        let SigV4Error::Expired(_) = &err else {
            panic!("{}: {err:?}", vector.name)
        };
        let message = err.to_string();
        assert!(message.starts_with("Signature expired: "), "{message}");
        assert!(message.contains(&format_amz_date(now)), "{message}");
        assert!(
            message.contains(&format_amz_date(now - Duration::from_secs(1))),
            "{message}"
        );
        assert_eq!(err.error_code(), "InvalidSignatureException");
    }
}

#[test]
fn a_signing_time_over_five_minutes_ahead_is_not_yet_current() {
    let vector = &vectors()[0];
    let err = vector
        .verify_at(vector.signing_time() - Duration::from_secs(301))
        .unwrap_err();
    assert!(matches!(err, SigV4Error::NotYetCurrent(_)), "{err:?}");
    assert!(
        vector
            .verify_at(vector.signing_time() - Duration::from_secs(300))
            .is_ok()
    );
}

#[test]
fn a_wrong_region_fails_naming_the_region() {
    let vector = &vectors()[0];
    let (_, query) = vector.path_and_query();
    let err = vector
        .verify_query(
            query,
            "ap-south-1",
            &vector.secret_access_key,
            vector.signing_time(),
        )
        .unwrap_err();
    let expected = SigV4Error::WrongRegion {
        expected: "ap-south-1".into(),
        found: vector.region.clone(),
    };
    assert_eq!(err, expected);
    assert!(err.to_string().contains("region"));
}

#[test]
fn session_tokens_must_match_the_key() {
    let with_token = vectors()
        .into_iter()
        .find(|v| v.session_token.is_some())
        .unwrap();
    let (path, query) = with_token.path_and_query();
    let request = PresignedRequest {
        method: "GET",
        path,
        query,
        host: &with_token.endpoint_dns_name,
    };
    let expected = Expected {
        service: SERVICE,
        region: &with_token.region,
        now: with_token.signing_time(),
    };
    let long_term = HashMap::from([(
        with_token.access_key_id.clone(),
        SimCredential::new(&with_token.secret_access_key),
    )]);
    assert_eq!(
        verify_presigned(&request, &long_term, &expected),
        Err(SigV4Error::InvalidSecurityToken)
    );
    let other_token = |_: &str| {
        Some(SimCredential::with_session_token(
            &with_token.secret_access_key,
            "other",
        ))
    };
    let err = verify_presigned(&request, &other_token, &expected).unwrap_err();
    assert_eq!(err.error_code(), "UnrecognizedClientException");
    assert!(verify_presigned(&request, &with_token.credentials(), &expected).is_ok());
}

#[test]
fn unknown_keys_and_missing_parts_name_their_check() {
    let vector = &vectors()[0];
    let (path, query) = vector.path_and_query();
    let expected = Expected {
        service: SERVICE,
        region: &vector.region,
        now: vector.signing_time(),
    };
    let verify = |query: &str, creds: &HashMap<String, SimCredential>| {
        let request = PresignedRequest {
            method: "GET",
            path,
            query,
            host: &vector.endpoint_dns_name,
        };
        verify_presigned(&request, creds, &expected)
    };
    let err = verify(query, &HashMap::new()).unwrap_err();
    assert_eq!(err, SigV4Error::UnknownAccessKey("AKIDEXAMPLE".into()));
    assert_eq!(
        err.to_string(),
        "The security token included in the request is invalid."
    );
    let unsigned = query.split("&X-Amz-Signature=").next().unwrap();
    assert_eq!(
        verify(unsigned, &vector.credentials()),
        Err(SigV4Error::MissingQueryParameter("X-Amz-Signature"))
    );
    let err = verify("remotePort=22", &vector.credentials()).unwrap_err();
    assert_eq!(err.error_code(), "MissingAuthenticationToken");
    let bad_expiry = query.replace("X-Amz-Expires=60", "X-Amz-Expires=0");
    assert_eq!(
        verify(&bad_expiry, &vector.credentials()),
        Err(SigV4Error::InvalidExpires("0".into()))
    );
    let wrong_host = PresignedRequest {
        method: "GET",
        path,
        query,
        host: "127.0.0.1:443",
    };
    assert_eq!(
        verify_presigned(&wrong_host, &vector.credentials(), &expected),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
}
