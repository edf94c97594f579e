//! Presigning the `openTunnel` URL.
//!
//! EICE authenticates the WebSocket upgrade with SigV4 in the query string:
//! service `ec2-instance-connect`, the endpoint's region, a 60-second lifetime
//! and only the `host` header signed. A URL is signed per tunnel, just before
//! it is opened. A presigned URL is a bearer credential for one minute, so
//! [`PresignedUrl`] never prints itself in `Debug` output or logs.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::TunnelRequest;
use super::target::WsTarget;

/// The SigV4 signing name of the EICE data plane.
pub const SIGNING_NAME: &str = "ec2-instance-connect";

/// How long a presigned URL is valid (`X-Amz-Expires`), as the AWS CLI signs it.
pub const URL_LIFETIME: Duration = Duration::from_secs(60);

/// The path every tunnel is opened on.
pub const OPEN_TUNNEL_PATH: &str = "/openTunnel";

/// SigV4's URI encoding: everything but the unreserved characters of RFC 3986.
const AWS_QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The signer refused its input (in practice: a region or credential that
/// cannot be put into a request).
#[derive(Debug, thiserror::Error)]
#[error("could not sign the openTunnel request: {0}")]
pub struct SignError(String);

/// A signed `wss://…/openTunnel?…` URL. Its `Debug` form is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl(String);

impl PresignedUrl {
    /// The URL itself: hand it to the WebSocket client, never to a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresignedUrl(<redacted>)")
    }
}

/// Signs `request` for the WebSocket server `target` with `credentials` at
/// time `at`: AWS's time ([`crate::clock::Clock::now`]), since the service
/// refuses a URL more than 60 s older than its clock, or more than five
/// minutes ahead of it.
pub fn presign(
    request: &TunnelRequest,
    target: &WsTarget,
    credentials: &Credentials,
    at: SystemTime,
) -> Result<PresignedUrl, SignError> {
    let authority = target.authority();
    let unsigned = format!(
        "{}://{authority}{OPEN_TUNNEL_PATH}?{}",
        target.scheme(),
        tunnel_query(request)
    );

    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(URL_LIFETIME);
    let params = SigningParams::builder()
        .identity(&identity)
        .region(&request.endpoint.region)
        .name(SIGNING_NAME)
        .time(at)
        .settings(settings)
        .build()
        .map_err(|e| SignError(e.to_string()))?;
    let signable = SignableRequest::new(
        "GET",
        unsigned.as_str(),
        [("host", authority.as_str())].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params.into())
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();

    // The signature goes last, as botocore writes it, so the URL matches the
    // AWS CLI's byte for byte (the service does not care about order).
    let mut params = instructions.params().to_vec();
    params.sort_by_key(|(name, _)| *name == "X-Amz-Signature");
    let mut url = unsigned;
    for (name, value) in &params {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.extend(utf8_percent_encode(value, AWS_QUERY));
    }
    Ok(PresignedUrl(url))
}

/// The tunnel's own parameters, in the order the AWS CLI sends them.
fn tunnel_query(request: &TunnelRequest) -> String {
    let ip = request.private_ip.to_string();
    let mut query = format!(
        "instanceConnectEndpointId={}&remotePort={}&privateIpAddress={}",
        utf8_percent_encode(&request.endpoint.id, AWS_QUERY),
        request.port,
        utf8_percent_encode(&ip, AWS_QUERY),
    );
    if let Some(seconds) = request.max_tunnel_duration {
        query.push_str(&format!("&maxTunnelDuration={seconds}"));
    }
    query
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use serde::Deserialize;

    use super::*;
    use crate::eice::Endpoint;

    /// The known-answer file computed by botocore; kept in the repository so the
    /// test needs nothing outside a clone.
    const VECTORS: &str = include_str!("../../tests/data/eice-presign.json");

    #[derive(Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        region: String,
        signing_name: String,
        endpoint_dns_name: String,
        instance_connect_endpoint_id: String,
        remote_port: u16,
        private_ip_address: String,
        max_tunnel_duration: Option<u32>,
        signing_time_utc: String,
        expires_in_s: u64,
        expected_url: String,
    }

    fn query_pairs(url: &str) -> BTreeSet<(String, String)> {
        let query = url.split_once('?').expect("a query").1;
        query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').expect("key=value");
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                };
                (decode(k), decode(v))
            })
            .collect()
    }

    fn signature(url: &str) -> String {
        query_pairs(url)
            .into_iter()
            .find(|(k, _)| k == "X-Amz-Signature")
            .expect("a signature")
            .1
    }

    /// `2023-07-25T09:00:37Z` → SystemTime, without a date crate.
    fn parse_utc(text: &str) -> SystemTime {
        let n = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
        let (y, m, d) = (n(0..4), n(5..7), n(8..10));
        let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * m + 2) / 5 + d - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn sign_case(case: &Case) -> PresignedUrl {
        let request = TunnelRequest {
            endpoint: Arc::new(Endpoint {
                id: case.instance_connect_endpoint_id.clone(),
                region: case.region.clone(),
                dns_name: case.endpoint_dns_name.clone(),
                fips_dns_name: None,
                dualstack_dns_name: None,
                dualstack_fips_dns_name: None,
                use_fips: false,
            }),
            private_ip: case.private_ip_address.parse().unwrap(),
            port: case.remote_port,
            max_tunnel_duration: case.max_tunnel_duration,
        };
        let target = WsTarget::new(true, case.endpoint_dns_name.clone(), 443);
        let credentials = Credentials::new(
            &case.access_key_id,
            &case.secret_access_key,
            case.session_token.clone(),
            None,
            "vector",
        );
        presign(
            &request,
            &target,
            &credentials,
            parse_utc(&case.signing_time_utc),
        )
        .unwrap()
    }

    #[test]
    fn every_botocore_vector_is_reproduced() {
        let vectors: Vectors = serde_json::from_str(VECTORS).unwrap();
        assert!(vectors.cases.len() >= 4);
        for case in &vectors.cases {
            assert_eq!(case.signing_name, SIGNING_NAME, "{}", case.name);
            assert_eq!(case.expires_in_s, URL_LIFETIME.as_secs(), "{}", case.name);
            let url = sign_case(case);
            assert_eq!(
                signature(url.expose()),
                signature(&case.expected_url),
                "signature of {}",
                case.name
            );
            assert_eq!(
                query_pairs(url.expose()),
                query_pairs(&case.expected_url),
                "query of {}",
                case.name
            );
            assert_eq!(url.expose(), case.expected_url, "URL text of {}", case.name);
        }
    }

    #[test]
    fn ipv6_addresses_are_percent_encoded() {
        let request = TunnelRequest {
            endpoint: Arc::new(Endpoint {
                id: "eice-1".into(),
                region: "us-east-1".into(),
                dns_name: "h".into(),
                fips_dns_name: None,
                dualstack_dns_name: None,
                dualstack_fips_dns_name: None,
                use_fips: false,
            }),
            private_ip: "fd00::25".parse().unwrap(),
            port: 22,
            max_tunnel_duration: None,
        };
        assert!(tunnel_query(&request).ends_with("privateIpAddress=fd00%3A%3A25"));
    }

    #[test]
    fn debug_output_hides_the_url() {
        let url = PresignedUrl("wss://h/openTunnel?X-Amz-Signature=abc".into());
        assert!(!format!("{url:?}").contains("abc"));
    }
}
