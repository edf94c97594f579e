//! Where a region's EC2 API answers: `ec2.<region>.amazonaws.com` and its
//! variants (FIPS, dual-stack, the other partitions' domains), or the URL the
//! user configured (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, or
//! `endpoint_url` in the profile), as the AWS SDKs choose it: by the EC2
//! endpoint rule set ([`resolve`]), proven on its published test cases.

use std::fmt;

use crate::partitions::partition;

/// What the EC2 endpoint rule set decides on: its four parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointParams<'a> {
    /// `Region`: the signing region.
    pub region: Option<&'a str>,
    /// `UseFIPS`: `use_fips_endpoint` / `AWS_USE_FIPS_ENDPOINT`.
    pub use_fips: bool,
    /// `UseDualStack`: `use_dualstack_endpoint` / `AWS_USE_DUALSTACK_ENDPOINT`.
    pub use_dual_stack: bool,
    /// `Endpoint`: the URL the user configured, if any.
    pub endpoint: Option<&'a str>,
}

/// A combination the rule set refuses, in its own words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(pub String);

/// The EC2 endpoint rule set (`endpoint-rule-set-1.json` of the EC2 service
/// model): the URL for `params`, or the rule set's error.
///
/// A configured URL is taken as it is, and is refused together with FIPS or
/// dual-stack rather than quietly preferred: the user asked for two things
/// of which one would be dropped. GovCloud's regular endpoint is FIPS
/// validated, so FIPS there keeps the regular name.
pub fn resolve(params: &EndpointParams<'_>) -> Result<String, EndpointError> {
    let refuse = |message: &str| Err(EndpointError(message.to_owned()));
    if let Some(endpoint) = params.endpoint {
        if params.use_fips {
            return refuse("Invalid Configuration: FIPS and custom endpoint are not supported");
        }
        if params.use_dual_stack {
            return refuse(
                "Invalid Configuration: Dualstack and custom endpoint are not supported",
            );
        }
        return Ok(endpoint.to_owned());
    }
    let Some(region) = params.region else {
        return refuse("Invalid Configuration: Missing Region");
    };
    let p = partition(region);
    match (params.use_fips, params.use_dual_stack) {
        (true, true) if p.supports_fips && p.supports_dual_stack => Ok(format!(
            "https://ec2-fips.{region}.{}",
            p.dual_stack_dns_suffix
        )),
        (true, true) => refuse(
            "FIPS and DualStack are enabled, but this partition does not support one or both",
        ),
        (true, false) if p.supports_fips && p.name == "aws-us-gov" => {
            Ok(format!("https://ec2.{region}.amazonaws.com"))
        }
        (true, false) if p.supports_fips => {
            Ok(format!("https://ec2-fips.{region}.{}", p.dns_suffix))
        }
        (true, false) => refuse("FIPS is enabled but this partition does not support FIPS"),
        (false, true) if p.supports_dual_stack => {
            Ok(format!("https://ec2.{region}.{}", p.dual_stack_dns_suffix))
        }
        (false, true) => {
            refuse("DualStack is enabled but this partition does not support DualStack")
        }
        (false, false) => Ok(format!("https://ec2.{region}.{}", p.dns_suffix)),
    }
}

/// An API address: scheme, host, port and base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    /// `https` (always, for AWS itself) or `http` (a loopback stand-in).
    pub tls: bool,
    /// A DNS name or an IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// Where requests are posted: `/` unless the URL says otherwise.
    pub path: String,
}

impl ApiUrl {
    /// Reads `http(s)://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<ApiUrl, String> {
        let bad = |why: &str| format!("bad EC2 endpoint URL {url:?}: {why}");
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("it must start with https:// or http://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if path.contains(['?', '#']) {
            return Err(bad("a query or fragment has no place in it"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after.strip_prefix(':') {
                Some(port) => (host, port.parse().map_err(|_| bad("bad port"))?),
                None if after.is_empty() => (host, default_port),
                None => return Err(bad("junk after the IPv6 address")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| bad("bad port"))?),
                None => (authority, default_port),
            }
        };
        if host.is_empty() || host.contains('@') {
            return Err(bad("no host, or credentials in it"));
        }
        Ok(ApiUrl {
            tls,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// The API the rule set chooses for `params` ([`resolve`]).
    pub fn resolve(params: &EndpointParams<'_>) -> Result<ApiUrl, EndpointError> {
        let url = resolve(params)?;
        ApiUrl::parse(&url).map_err(EndpointError)
    }

    /// `host[:port]`, as the `Host` header and the signature have it.
    pub fn authority(&self) -> String {
        crate::net::authority(self.tls, &self.host, self.port)
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One published case: its parameters and the URL or error expected.
    #[derive(serde::Deserialize)]
    struct Case {
        documentation: String,
        #[serde(default)]
        params: Params,
        expect: Expect,
    }

    #[derive(serde::Deserialize, Default)]
    #[serde(rename_all = "PascalCase")]
    struct Params {
        region: Option<String>,
        #[serde(rename = "UseFIPS", default)]
        use_fips: bool,
        #[serde(default)]
        use_dual_stack: bool,
        endpoint: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct Expect {
        endpoint: Option<ExpectedEndpoint>,
        error: Option<String>,
    }

    #[derive(serde::Deserialize)]
    struct ExpectedEndpoint {
        url: String,
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Cases {
        test_cases: Vec<Case>,
    }

    #[test]
    fn the_rule_sets_published_cases_all_pass() {
        let text = include_str!("../../tests/data/ec2-endpoint-rules-tests.json");
        let cases: Cases = serde_json::from_str(text).unwrap();
        assert_eq!(cases.test_cases.len(), 54);
        let failed: Vec<String> = cases
            .test_cases
            .iter()
            .filter_map(|case| {
                let p = &case.params;
                let got = resolve(&EndpointParams {
                    region: p.region.as_deref(),
                    use_fips: p.use_fips,
                    use_dual_stack: p.use_dual_stack,
                    endpoint: p.endpoint.as_deref(),
                });
                let expected = match (&case.expect.endpoint, &case.expect.error) {
                    (Some(e), None) => Ok(e.url.clone()),
                    (None, Some(error)) => Err(EndpointError(error.clone())),
                    _ => panic!("{}: expects neither or both", case.documentation),
                };
                (got != expected)
                    .then(|| format!("{}: got {got:?}, expected {expected:?}", case.documentation))
            })
            .collect();
        assert!(
            failed.is_empty(),
            "{} failed:\n{}",
            failed.len(),
            failed.join("\n")
        );
    }

    #[test]
    fn partitions_past_the_published_cases_get_their_own_suffixes() {
        let url = |region, fips, dual| {
            resolve(&EndpointParams {
                region: Some(region),
                use_fips: fips,
                use_dual_stack: dual,
                endpoint: None,
            })
            .unwrap()
        };
        assert_eq!(
            url("eusc-de-east-1", false, false),
            "https://ec2.eusc-de-east-1.amazonaws.eu"
        );
        assert_eq!(
            url("eusc-de-east-1", true, true),
            "https://ec2-fips.eusc-de-east-1.api.amazonwebservices.eu"
        );
        assert_eq!(
            url("us-iso-east-1", false, true),
            "https://ec2.us-iso-east-1.api.aws.ic.gov"
        );
        assert_eq!(
            url("us-isob-east-1", false, true),
            "https://ec2.us-isob-east-1.api.aws.scloud"
        );
        assert_eq!(
            url("us-isof-south-1", true, true),
            "https://ec2-fips.us-isof-south-1.api.aws.hci.ic.gov"
        );
        assert_eq!(
            url("eu-isoe-west-1", false, true),
            "https://ec2.eu-isoe-west-1.api.cloud-aws.adc-e.uk"
        );
        assert_eq!(
            url("us-gov-west-1", true, false),
            "https://ec2.us-gov-west-1.amazonaws.com"
        );
        let api = ApiUrl::resolve(&EndpointParams {
            region: Some("ap-south-1"),
            ..EndpointParams::default()
        })
        .unwrap();
        assert_eq!(api.to_string(), "https://ec2.ap-south-1.amazonaws.com/");
    }

    #[test]
    fn configured_urls_are_read_whole_or_refused() {
        let u = ApiUrl::parse("http://127.0.0.1:4566").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 4566, "/")
        );
        let u = ApiUrl::parse("https://[::1]:8443/ec2/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8443, "/ec2/")
        );
        assert_eq!(u.authority(), "[::1]:8443");
        let u = ApiUrl::parse("https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com").unwrap();
        assert_eq!(
            (u.port, u.authority().as_str()),
            (443, "vpce-1.ec2.eu-west-1.vpce.amazonaws.com")
        );
        for bad in [
            "ec2.example",
            "ftp://x",
            "https://",
            "https://h:port",
            "https://u@h/",
            "https://h/?a=1",
        ] {
            assert!(ApiUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
