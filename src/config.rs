//! Settings: the config file of `serve`, and the environment knobs that
//! point the tunnel client elsewhere.
//!
//! The file is plain serde structs validated once at load, so a typo is an
//! error that names the key and line before the proxy accepts anything.
//!
//! Two variables matter for offline use and tests. `EICE_PROXY_ENDPOINT_URL`
//! replaces `wss://<endpoint DnsName>` for every endpoint (the simulated
//! service listens on 127.0.0.1); `AWS_CA_BUNDLE` adds a PEM bundle of trusted
//! roots, as every AWS SDK and the AWS CLI do. Both are read once, at start-up,
//! and validated then, so a typo is reported before the first connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use crate::eice::SERVICE_PORTS;

/// The variable that points every endpoint at another WebSocket URL.
pub const ENDPOINT_URL_ENV: &str = "EICE_PROXY_ENDPOINT_URL";

/// The variable naming extra trusted CA certificates (PEM), shared with the AWS CLI.
pub const CA_BUNDLE_ENV: &str = "AWS_CA_BUNDLE";

/// The variable that asks for FIPS endpoints, shared with every AWS SDK.
pub const USE_FIPS_ENV: &str = "AWS_USE_FIPS_ENDPOINT";

/// A setting that could not be accepted, with the words that say why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{ENDPOINT_URL_ENV}={url:?} is not usable: {why}")]
    EndpointUrl { url: String, why: String },
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("{name} must be {expected}, got {value:?}")]
    Value {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
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
    pub fn parse(url: &str) -> Result<EndpointOverride, ConfigError> {
        let bad = |why: &str| ConfigError::EndpointUrl {
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

/// `localhost`, 127.0.0.0/8 or ::1.
fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Everything the tunnel opener needs to know besides the request itself.
#[derive(Debug, Clone)]
pub struct TunnelSettings {
    /// Replaces `wss://<DnsName>` for every endpoint (tests, offline use).
    pub endpoint_override: Option<EndpointOverride>,
    /// Extra trusted roots, in addition to the system's and webpki's.
    pub ca_bundle: Option<PathBuf>,
    /// Use the endpoint's `FipsDnsName` instead of its `DnsName`.
    pub use_fips: bool,
    /// How long TCP connect, TLS and the WebSocket upgrade may take together.
    pub open_timeout: Duration,
}

impl Default for TunnelSettings {
    fn default() -> Self {
        TunnelSettings {
            endpoint_override: None,
            ca_bundle: None,
            use_fips: false,
            open_timeout: Duration::from_secs(15),
        }
    }
}

impl TunnelSettings {
    /// Defaults overlaid with `EICE_PROXY_ENDPOINT_URL`, `AWS_CA_BUNDLE` and
    /// `AWS_USE_FIPS_ENDPOINT` from the environment.
    pub fn from_env() -> Result<TunnelSettings, ConfigError> {
        let mut settings = TunnelSettings::default();
        if let Some(url) = non_empty_var(ENDPOINT_URL_ENV) {
            settings.endpoint_override = Some(EndpointOverride::parse(&url)?);
        }
        settings.ca_bundle = non_empty_var(CA_BUNDLE_ENV).map(PathBuf::from);
        if let Some(value) = non_empty_var(USE_FIPS_ENV) {
            settings.use_fips = parse_bool(USE_FIPS_ENV, &value)?;
        }
        Ok(settings)
    }
}

fn non_empty_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Value {
            name,
            expected: "true or false",
            value: value.to_owned(),
        }),
    }
}

/// The proxy's own settings, from `--config FILE` (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `serve` listens; loopback unless authentication is configured.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Sent as `maxTunnelDuration` (1–3600 s). An IAM policy with the
    /// `ec2-instance-connect:maxTunnelDuration` condition refuses requests
    /// without it or above its cap, so it is configurable; unset sends nothing.
    pub max_tunnel_duration: Option<u32>,
    /// Ports the proxy asks EICE for; others are refused before any AWS call.
    #[serde(default = "default_ports")]
    pub allowed_ports: Vec<u16>,
    /// Username and password SOCKS5 and HTTP clients must present.
    pub auth: Option<ProxyAuth>,
    /// How long answers from the EC2 API are reused.
    #[serde(default)]
    pub cache: CacheConfig,
    /// CIDRs pinned to a VPC or an endpoint, for overlapping VPC ranges.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteRule>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1080))
}

fn default_ports() -> Vec<u16> {
    SERVICE_PORTS.to_vec()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: default_listen(),
            max_tunnel_duration: None,
            allowed_ports: default_ports(),
            auth: None,
            cache: CacheConfig::default(),
            routes: Vec::new(),
        }
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parses and validates TOML text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(seconds) = self.max_tunnel_duration
            && !(1..=3600).contains(&seconds)
        {
            return Err(format!(
                "max_tunnel_duration must be 1 to 3600 seconds, got {seconds}"
            ));
        }
        if self.allowed_ports.contains(&0) {
            return Err("allowed_ports cannot contain 0".into());
        }
        for route in &self.routes {
            if route.vpc.is_none() && route.endpoint.is_none() {
                return Err(format!(
                    "[[route]] for {} needs vpc = \"vpc-…\" or endpoint = \"eice-…\"",
                    route.cidr
                ));
            }
        }
        Ok(())
    }
}

/// Cache lifetimes in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Instance id or Name tag → address, VPC, subnet.
    pub instance_ttl: u64,
    /// The table of VPC CIDR blocks used to place a bare IP.
    pub vpc_ttl: u64,
    /// A VPC's usable endpoints.
    pub endpoint_ttl: u64,
    /// "Not found" answers, kept short so a new instance is seen soon.
    pub negative_ttl: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            instance_ttl: 300,
            vpc_ttl: 900,
            endpoint_ttl: 300,
            negative_ttl: 20,
        }
    }
}

/// `[[route]]`: addresses in `cidr` go through this VPC's endpoint, or this endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    pub cidr: IpNet,
    pub vpc: Option<String>,
    pub endpoint: Option<String>,
}

/// Proxy credentials. `Debug` never shows the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyAuth {
    pub username: String,
    pub password: String,
}

impl ProxyAuth {
    /// Compares both fields in time independent of where they differ.
    pub fn check(&self, username: &str, password: &str) -> bool {
        constant_time_eq(self.username.as_bytes(), username.as_bytes())
            & constant_time_eq(self.password.as_bytes(), password.as_bytes())
    }
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
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
    fn an_empty_file_gives_the_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1080");
        assert_eq!(c.allowed_ports, vec![22, 3389]);
    }

    #[test]
    fn routes_and_auth_are_read() {
        let c = Config::parse(
            "max_tunnel_duration = 600\n[auth]\nusername = \"u\"\npassword = \"p\"\n\
             [[route]]\ncidr = \"10.0.0.0/16\"\nvpc = \"vpc-1\"\n",
        )
        .unwrap();
        assert_eq!(c.max_tunnel_duration, Some(600));
        assert_eq!(c.routes[0].vpc.as_deref(), Some("vpc-1"));
        let auth = c.auth.unwrap();
        assert!(auth.check("u", "p") && !auth.check("u", "q") && !auth.check("u", "pp"));
        assert!(!format!("{auth:?}").contains("\"p\""));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_line() {
        let err = Config::parse("listen = \"127.0.0.1:1080\"\nlisen_typo = 1\n").unwrap_err();
        assert!(
            err.contains("lisen_typo") && err.contains("line 2"),
            "{err}"
        );
        let err = Config::parse("max_tunnel_duration = 7200\n").unwrap_err();
        assert!(err.contains("max_tunnel_duration"), "{err}");
        let err = Config::parse("[[route]]\ncidr = \"10.0.0.0/16\"\n").unwrap_err();
        assert!(err.contains("needs vpc"), "{err}");
    }

    #[test]
    fn booleans_are_read_like_the_aws_sdks_do() {
        assert!(parse_bool("X", "TRUE").unwrap());
        assert!(!parse_bool("X", "false").unwrap());
        assert!(parse_bool("X", "maybe").is_err());
    }
}
