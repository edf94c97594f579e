//! What the tunnel client needs to know besides each request, owned here so
//! the client depends on no config of the proxy: [`TunnelSettings`], from the
//! environment knobs read once at start-up.
//!
//! `EICE_PROXY_ENDPOINT_URL` replaces `wss://<endpoint DnsName>` for every
//! endpoint (the simulated service listens on 127.0.0.1); `AWS_CA_BUNDLE` adds
//! a PEM bundle of trusted roots, as every AWS SDK and the AWS CLI do;
//! `EICE_PROXY_ENDPOINT_ADDRS` dials fixed addresses for every endpoint's own
//! name (the simulated service on loopback, by the names it publishes). The
//! config file adds `[network] endpoint_dns`, which of an endpoint's names to
//! dial ([`EndpointDns`]). A typo is reported before the first connection.

use super::keepalive::Keepalive;
use crate::net::is_loopback_host;
use crate::net::pool::PoolSettings;
use crate::net::proxy::{Proxies, ProxyError};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An environment knob that could not be accepted, with the words that say why.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{ENDPOINT_URL_ENV}={url:?} is not usable: {why}")]
    EndpointUrl { url: String, why: String },
    #[error("{name} must be {expected}, got {value:?}")]
    Value {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error(transparent)]
    Proxy(#[from] ProxyError),
}

/// The variable that points every endpoint at another WebSocket URL.
pub const ENDPOINT_URL_ENV: &str = "EICE_PROXY_ENDPOINT_URL";

/// The variable naming extra trusted CA certificates (PEM), shared with the AWS CLI.
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// The variable giving the addresses every endpoint's name is dialled at.
pub const ENDPOINT_ADDRS_ENV: &str = "EICE_PROXY_ENDPOINT_ADDRS";

/// Which of an endpoint's published names a tunnel dials (and signs):
/// `[network] endpoint_dns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointDns {
    /// `DnsName` (`PublicDnsNames.Ipv4`): IPv4 addresses only. The default,
    /// as every endpoint has one and the AWS CLI dials it.
    #[default]
    Ipv4,
    /// `PublicDnsNames.Dualstack.DnsName`: IPv6 and IPv4 addresses, raced
    /// (Happy Eyeballs); the one an IPv6-only client can reach.
    Dualstack,
}

impl fmt::Display for EndpointDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndpointDns::Ipv4 => "ipv4",
            EndpointDns::Dualstack => "dualstack",
        })
    }
}

/// Where WebSocket connections go instead of the endpoint's own DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOverride {
    /// `true` for `wss://` (TLS), `false` for `ws://`, which only loopback may use.
    pub tls: bool,
    /// The host as written in the URL, without brackets for IPv6.
    pub host: String,
    /// The TCP port, defaulted from the scheme.
    pub port: u16,
}

impl EndpointOverride {
    /// Parses `ws://host[:port]` or `wss://host[:port]`.
    ///
    /// Plain `ws://` is accepted only for a loopback host: the URL carries a
    /// signature that grants a tunnel into a VPC, so it never crosses a network
    /// in clear text.
    pub fn parse(url: &str) -> Result<EndpointOverride, SettingsError> {
        let bad = |why: &str| SettingsError::EndpointUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(bad("the scheme must be ws:// or wss://")),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad(
                "give only scheme, host and port; the path is always /openTunnel",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if !tls && !is_loopback_host(host) {
            return Err(bad(
                "plain ws:// is allowed only for a loopback host; use wss://",
            ));
        }
        Ok(EndpointOverride {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

/// Everything the tunnel opener needs to know besides the request itself.
#[derive(Debug, Clone)]
pub struct TunnelSettings {
    /// Replaces `wss://<DnsName>` for every endpoint (tests, offline use).
    pub endpoint_override: Option<EndpointOverride>,
    /// Extra trusted roots, in addition to the system's and webpki's.
    pub ca_bundle: Option<PathBuf>,
    /// Which of the endpoint's names is dialled and signed.
    pub endpoint_dns: EndpointDns,
    /// Where the endpoint's name is dialled instead of resolving it (raced
    /// like a name's addresses); the URL, `Host`, signature and TLS name stay
    /// the endpoint's own name. Empty: DNS decides.
    pub endpoint_addrs: Vec<SocketAddr>,
    /// How long TCP connect, TLS and the WebSocket upgrade may take together.
    pub open_timeout: Duration,
    /// The corporate proxy each connection goes through, if any
    /// (`HTTPS_PROXY`, `NO_PROXY`, …).
    pub proxies: Proxies,
    /// WebSocket pings on every tunnel, and when a silent one is given up.
    pub keepalive: Keepalive,
    /// Ready connections kept to endpoints in recent use; off by default,
    /// as a process that opens one tunnel has no use for them.
    pub pool: PoolSettings,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        TunnelSettings {
            endpoint_override: None,
            ca_bundle: None,
            endpoint_dns: EndpointDns::default(),
            endpoint_addrs: Vec::new(),
            open_timeout: Duration::from_secs(15),
            proxies: Proxies::default(),
            keepalive: Keepalive::default(),
            pool: PoolSettings::OFF,
        }
    }
}

impl TunnelSettings {
    /// Defaults overlaid with `EICE_PROXY_ENDPOINT_URL`,
    /// `EICE_PROXY_ENDPOINT_ADDRS`, `AWS_CA_BUNDLE` and the proxy variables
    /// from the environment. (FIPS is not among them: it is the AWS
    /// configuration's, read with the profile, for the EC2 API and the
    /// tunnels alike.)
    pub fn from_env() -> Result<TunnelSettings, SettingsError> {
        let mut settings = TunnelSettings::default();
        if let Some(url) = non_empty_var(ENDPOINT_URL_ENV) {
            settings.endpoint_override = Some(EndpointOverride::parse(&url)?);
        }
        if let Some(list) = non_empty_var(ENDPOINT_ADDRS_ENV) {
            settings.endpoint_addrs = parse_addrs(&list)?;
        }
        settings.ca_bundle = non_empty_var(CA_BUNDLE_ENV).map(PathBuf::from);
        settings.proxies = Proxies::from_env(non_empty_var)?;
        Ok(settings)
    }
}

/// `IP:PORT[,IP:PORT…]`, IPv6 in brackets.
fn parse_addrs(list: &str) -> Result<Vec<SocketAddr>, SettingsError> {
    list.split(',')
        .map(|item| {
            item.trim().parse().map_err(|_| SettingsError::Value {
                name: ENDPOINT_ADDRS_ENV,
                expected: "a comma-separated list of IP:PORT ([IPv6]:PORT)",
                value: list.to_owned(),
            })
        })
        .collect()
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ws_override_is_accepted_with_its_port() {
        let o = EndpointOverride::parse("ws://127.0.0.1:8443").unwrap();
        assert_eq!((o.tls, o.host.as_str(), o.port), (false, "127.0.0.1", 8443));
        let o = EndpointOverride::parse("ws://[::1]:9000/").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 9000));
    }

    #[test]
    fn wss_override_defaults_to_port_443() {
        let o = EndpointOverride::parse("wss://eice.example.test").unwrap();
        assert_eq!((o.tls, o.port), (true, 443));
    }

    #[test]
    fn clear_text_to_a_remote_host_is_refused() {
        let err = EndpointOverride::parse("ws://10.0.0.5:80").unwrap_err();
        assert!(
            err.to_string().contains("only for a loopback host"),
            "{err}"
        );
    }

    #[test]
    fn other_schemes_and_paths_are_refused() {
        assert!(EndpointOverride::parse("https://127.0.0.1").is_err());
        assert!(EndpointOverride::parse("ws://127.0.0.1/openTunnel").is_err());
    }

    #[test]
    fn endpoint_addrs_are_ip_and_port_pairs() {
        let addrs = parse_addrs("[::1]:8443, 127.0.0.1:8443").unwrap();
        assert_eq!(addrs[0], "[::1]:8443".parse().unwrap());
        assert_eq!(addrs[1], "127.0.0.1:8443".parse().unwrap());
        let err = parse_addrs("localhost:8443").unwrap_err();
        assert!(err.to_string().contains(ENDPOINT_ADDRS_ENV), "{err}");
    }
}
