//! Header-signed requests (the EC2 Query API's shape): AWS's published example
//! verifies with its known signature, and a form POST signed here by hand verifies
//! until its body, its declared hash or its age is tampered with.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue};

use super::super::*;

/// Signs `headers` (which must already hold `host`) the way an SDK would, adding
/// `x-amz-date` and `authorization`. Written from the spec for this test only.
fn sign_headers(
    method: &str,
    query: &str,
    headers: &mut HeaderMap,
    body: &[u8],
    secret: &str,
    now: SystemTime,
) {
    let amz_date = format_amz_date(now);
    headers.insert("x-amz-date", HeaderValue::from_str(&amz_date).unwrap());
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    let canonical_headers: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                normalize_header_value(headers[n.as_str()].to_str().unwrap()),
            )
        })
        .collect();
    let signed = names.join(";");
    let decoded = decode_query(query).unwrap();
    let canonical = canonical_request(&CanonicalParts {
        method,
        uri: "/",
        query: &canonical_query(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        headers: &canonical_headers,
        signed_headers: &signed,
        payload_hash: &sha256_hex(body),
    });
    let scope = credential_scope(&amz_date[..8], "us-east-1", "ec2");
    let key = signing_key(secret, &amz_date[..8], "us-east-1", "ec2");
    let signature = signature_hex(&key, &string_to_sign(&amz_date, &scope, &canonical));
    let value = format!(
        "{ALGORITHM} Credential=AKIDEXAMPLE/{scope}, SignedHeaders={signed}, Signature={signature}"
    );
    headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
}

const EXAMPLE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn example_credentials() -> HashMap<String, SimCredential> {
    HashMap::from([("AKIDEXAMPLE".to_owned(), SimCredential::new(EXAMPLE_SECRET))])
}

#[test]
fn the_published_aws_header_example_verifies() {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
    );
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    headers.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        ),
    );
    let query = "Action=ListUsers&Version=2010-05-08";
    let request = HeaderSignedRequest {
        method: "GET",
        path: "/",
        query,
        headers: &headers,
        body: b"",
    };
    let now = parse_amz_date("20150830T123600Z").unwrap();
    let expected = Expected {
        service: "iam",
        region: "us-east-1",
        now,
    };
    let verified = verify_header_auth(&request, &example_credentials(), &expected).unwrap();
    assert_eq!(verified.param("Action"), Some("ListUsers"));
}

#[test]
fn a_hand_signed_form_post_verifies_and_tampering_fails() {
    let now = SystemTime::now();
    let body = b"Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0";
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("127.0.0.1:4566"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    sign_headers("POST", "", &mut headers, body, EXAMPLE_SECRET, now);
    let expected = Expected {
        service: "ec2",
        region: "us-east-1",
        now,
    };
    let request = |body: &'static [u8], headers| HeaderSignedRequest {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body,
    };
    let creds = example_credentials();
    assert!(verify_header_auth(&request(body, &headers), &creds, &expected).is_ok());
    let tampered: &[u8] =
        b"Action=TerminateInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0";
    assert_eq!(
        verify_header_auth(&request(tampered, &headers), &creds, &expected),
        Err(SigV4Error::SignatureDoesNotMatch)
    );
    let mut declared = headers.clone();
    declared.insert(
        "x-amz-content-sha256",
        HeaderValue::from_str(&sha256_hex(body)).unwrap(),
    );
    assert_eq!(
        verify_header_auth(&request(tampered, &declared), &creds, &expected),
        Err(SigV4Error::ContentHashMismatch)
    );
    let later = Expected {
        now: now + Duration::from_secs(301),
        ..expected
    };
    assert!(matches!(
        verify_header_auth(&request(body, &headers), &creds, &later),
        Err(SigV4Error::Expired(_))
    ));
    let mut unsigned = headers.clone();
    unsigned.remove("authorization");
    assert_eq!(
        verify_header_auth(&request(body, &unsigned), &creds, &expected),
        Err(SigV4Error::MissingAuthentication)
    );
}

#[test]
fn the_reference_header_signer_reproduces_the_published_example() {
    let signed_at = parse_amz_date("20150830T123600Z").unwrap();
    let added = super::super::sign_headers(&HeaderSignInput {
        method: "GET",
        host: "iam.amazonaws.com",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body: b"",
        access_key_id: "AKIDEXAMPLE",
        secret: EXAMPLE_SECRET,
        session_token: None,
        region: "us-east-1",
        service: "iam",
        signed_at,
    });
    let authorization = &added.iter().find(|(n, _)| n == "authorization").unwrap().1;
    assert_eq!(
        authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, \
         Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    );
    let mut headers = HeaderMap::new();
    for (name, value) in &added {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    assert_eq!(
        claimed_scope(&headers),
        Some(ClaimedScope {
            region: "us-east-1".to_owned(),
            service: "iam".to_owned(),
        })
    );
    assert_eq!(claimed_scope(&HeaderMap::new()), None);
}
