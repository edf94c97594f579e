//! Where a region's EC2 API answers: `ec2.<region>.amazonaws.com` and its
//! variants (FIPS, dual-stack, the other partitions' domains), or the URL the
//! user configured (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, or
//! `endpoint_url` in the profile), as the AWS SDKs choose it.

use std::fmt;

use crate::aws_names::partition_domains;

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

    /// AWS's own EC2 endpoint for `region`.
    pub fn for_region(region: &str, fips: bool, dual_stack: bool) -> ApiUrl {
        let (domain, dual_stack_domain) = partition_domains(region);
        let name = match (fips, dual_stack) {
            // GovCloud's regular EC2 endpoint is already FIPS validated.
            (true, false) if region.starts_with("us-gov-") => format!("ec2.{region}.{domain}"),
            (true, false) => format!("ec2-fips.{region}.{domain}"),
            (true, true) => format!("ec2-fips.{region}.{dual_stack_domain}"),
            (false, true) => format!("ec2.{region}.{dual_stack_domain}"),
            (false, false) => format!("ec2.{region}.{domain}"),
        };
        ApiUrl {
            tls: true,
            host: name,
            port: 443,
            path: "/".into(),
        }
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

    #[test]
    fn regions_map_to_their_partitions_endpoints() {
        let host = |r, fips, ds| ApiUrl::for_region(r, fips, ds).host;
        assert_eq!(
            host("eu-west-1", false, false),
            "ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            host("us-east-1", true, false),
            "ec2-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(host("us-east-1", false, true), "ec2.us-east-1.api.aws");
        assert_eq!(host("us-east-2", true, true), "ec2-fips.us-east-2.api.aws");
        assert_eq!(
            host("us-gov-west-1", true, false),
            "ec2.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            host("cn-north-1", false, false),
            "ec2.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            ApiUrl::for_region("ap-south-1", false, false).to_string(),
            "https://ec2.ap-south-1.amazonaws.com/"
        );
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
