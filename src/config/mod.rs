//! Settings: the config file of `serve`, every table of it (`[[hop]]`,
//! `[[push_key]]`, `[[rdp]]`, `[[route]]`, `[[forward]]` alike).
//!
//! The file is plain serde structs validated once at load, so a typo is an
//! error that names the key and line before the proxy accepts anything. The
//! environment knobs that point the tunnel client elsewhere
//! (`EICE_PROXY_ENDPOINT_URL`, `AWS_CA_BUNDLE`) belong to the client:
//! [`crate::eice::settings`].

mod auth;
mod check;
mod covers;
mod forward;
mod hop;
mod keepalive;
mod limits;
mod locate;
mod network;
mod push_key;
mod rdp;
mod ssh;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

pub use auth::{AuthConfig, ProxyAuth};
pub use check::region_name;
pub use covers::{Covers, Rule, first_match};
pub use forward::{ForwardRule, local_addr};
pub use hop::HopConfig;
pub use keepalive::KeepaliveConfig;
pub use limits::{CacheConfig, Limits, Timeouts};
pub use locate::{CONFIG_ENV, default_path, expand_home, home_dir, xdg_dir};
pub use network::NetworkConfig;
pub use push_key::{DEFAULT_OS_USER, PushKeyConfig, PushRule, RuleKey};
pub use rdp::{RdpConfig, RdpRule};
pub use ssh::{SshConfig, StrictHostKeyChecking};

use ipnet::IpNet;
use serde::Deserialize;

use crate::eice::SERVICE_PORTS;

/// A setting that could not be accepted, with the words that say why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
}

/// The proxy's own settings, from `--config FILE` (every key optional).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where `serve` listens; loopback unless authentication is configured.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// `[[forward]]`: more ports `serve` listens on, each forwarding every
    /// connection to one target.
    #[serde(default, rename = "forward")]
    pub forwards: Vec<ForwardRule>,
    /// Sent as `maxTunnelDuration` (1–3600 s). An IAM policy with the
    /// `ec2-instance-connect:maxTunnelDuration` condition refuses requests
    /// without it or above its cap, so it is configurable; unset sends nothing.
    #[serde(default, deserialize_with = "check::tunnel_duration")]
    pub max_tunnel_duration: Option<u32>,
    /// Ports the proxy asks EICE for; others are refused before any AWS call.
    #[serde(default = "default_ports", deserialize_with = "check::ports")]
    pub allowed_ports: Vec<u16>,
    /// Regions searched for instances, names and VPCs, all at once. Empty
    /// means the profile's region (`AWS_REGION`, `~/.aws/config`).
    #[serde(default, deserialize_with = "check::regions")]
    pub regions: Vec<String>,
    /// The AWS profile for every region without its own; unset means the
    /// standard chain (`AWS_PROFILE`, else the default profile).
    pub profile: Option<String>,
    /// Region → profile, for accounts or roles that differ by region.
    #[serde(default, deserialize_with = "check::region_profiles")]
    pub region_profiles: BTreeMap<String, String>,
    /// `[auth]` as written; [`Config::auth`] holds it loaded.
    #[serde(rename = "auth")]
    pub auth_config: Option<AuthConfig>,
    /// Username and password SOCKS5 and HTTP clients must present.
    #[serde(skip)]
    pub auth: Option<ProxyAuth>,
    /// How long each step may take.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// `[keepalive]`: WebSocket pings that keep idle tunnels open.
    #[serde(default)]
    pub keepalive: KeepaliveConfig,
    /// How much the proxy takes on at once.
    #[serde(default)]
    pub limits: Limits,
    /// How long answers from the EC2 API are reused.
    #[serde(default)]
    pub cache: CacheConfig,
    /// CIDRs pinned to a VPC or an endpoint, for overlapping VPC ranges.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteRule>,
    /// `[[push_key]]` as written; [`Config::push_rules`] holds them loaded.
    #[serde(default, rename = "push_key")]
    pub push_key_config: Vec<PushKeyConfig>,
    /// Which connections to port 22 push which key for which OS user.
    #[serde(skip)]
    pub push_rules: Vec<PushRule>,
    /// `[[rdp]]` as written; [`Config::rdp_rules`] holds them loaded.
    #[serde(default, rename = "rdp")]
    pub rdp_config: Vec<RdpConfig>,
    /// Which launch key decrypts which Windows instances' passwords.
    #[serde(skip)]
    pub rdp_rules: Vec<RdpRule>,
    /// Instances that carry traffic to ports EICE refuses, over SSH.
    #[serde(default, rename = "hop")]
    pub hops: Vec<HopConfig>,
    /// `[ssh]`: defaults of `eice-proxy ssh`, and the hops' known_hosts file.
    #[serde(default)]
    pub ssh: SshConfig,
    /// The local metrics and status endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[network]`: the corporate proxy, over the environment's, which of
    /// an endpoint's names to dial, and the pool of ready connections.
    #[serde(default)]
    pub network: NetworkConfig,
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
            forwards: Vec::new(),
            max_tunnel_duration: None,
            allowed_ports: default_ports(),
            regions: Vec::new(),
            profile: None,
            region_profiles: BTreeMap::new(),
            auth_config: None,
            auth: None,
            timeouts: Timeouts::default(),
            keepalive: KeepaliveConfig::default(),
            limits: Limits::default(),
            cache: CacheConfig::default(),
            routes: Vec::new(),
            push_key_config: Vec::new(),
            push_rules: Vec::new(),
            rdp_config: Vec::new(),
            rdp_rules: Vec::new(),
            hops: Vec::new(),
            ssh: SshConfig::default(),
            metrics: MetricsConfig::default(),
            network: NetworkConfig::default(),
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
        // Every check runs while deserializing (see `check`), so that toml
        // puts the key and its line into the message.
        let mut config: Config = toml::from_str(text).map_err(|e| one_line(&e.to_string()))?;
        config.auth = config
            .auth_config
            .as_ref()
            .map(AuthConfig::load)
            .transpose()?;
        config.push_rules = config
            .push_key_config
            .iter()
            .map(PushKeyConfig::load)
            .collect::<Result<_, _>>()?;
        config.rdp_rules = config
            .rdp_config
            .iter()
            .map(RdpConfig::load)
            .collect::<Result<_, _>>()?;
        hop::check(&config.hops, &config.routes)?;
        Ok(config)
    }

    /// The profile used in `region`: its own, else the file's, else the chain's.
    pub fn profile_for(&self, region: &str) -> Option<&str> {
        self.region_profiles
            .get(region)
            .or(self.profile.as_ref())
            .map(String::as_str)
    }
}

/// toml's multi-line message (position, the line quoted, a caret, the
/// reason) folded onto one line for the log.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| {
            let quoted = l
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .starts_with(" |");
            !l.is_empty() && !l.starts_with('|') && !quoted && !l.chars().all(|c| c == '^')
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// `[[route]]`: addresses in `cidr` go through this VPC's endpoint, or this
/// endpoint, looked up in this region with this profile. Routes place bare IP
/// addresses (and private DNS names); instance ids and names carry their own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "check::RawRoute")]
pub struct RouteRule {
    pub cidr: IpNet,
    pub vpc: Option<String>,
    pub endpoint: Option<String>,
    /// The region to look in (default: the first of `regions`).
    pub region: Option<String>,
    /// The profile to use (default: the region's).
    pub profile: Option<String>,
    /// `via = "hop"`: these addresses are reached through a hop's SSH
    /// connection, whatever the port.
    pub via: Option<Via>,
}

/// How a `[[route]]` reaches its addresses, when not straight through EICE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Through the `[[hop]]` of this name, or the default (or only) hop.
    Hop(Option<String>),
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `serve` answers `GET /metrics` and `GET /status`: a loopback
    /// address (anything else is refused at start). Unset, nothing is served.
    pub listen: Option<SocketAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err =
            Config::parse("listen = \"127.0.0.1:1\"\nmax_tunnel_duration = 7200\n").unwrap_err();
        assert_eq!(
            err,
            "TOML parse error at line 2, column 23: max_tunnel_duration must be 1 to 3600 \
             seconds (EICE's limits), got 7200"
        );
        let err = Config::parse("\n[[route]]\ncidr = \"10.0.0.0/16\"\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("needs at least one of vpc"),
            "{err}"
        );
        let err = Config::parse("[keepalive]\ninterval = 1\ntimeout = 0\n").unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("more than 0"),
            "{err}"
        );
        let err = Config::parse("[timeouts]\nopen = 0\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("at least 1"),
            "{err}"
        );
        let err = Config::parse("regions = [\"us-east1\"]\n").unwrap_err();
        assert!(
            err.contains("line 1") && err.contains("not an AWS region"),
            "{err}"
        );
        let err = Config::parse("allowed_ports = [22, 70000]\n").unwrap_err();
        assert!(err.contains("70000 is not a port"), "{err}");
    }

    #[test]
    fn strict_host_key_checking_takes_openssh_s_safe_values_under_either_name() {
        let strict = |text: &str| Config::parse(text).map(|c| c.ssh.strict_host_key_checking);
        assert_eq!(strict(""), Ok(StrictHostKeyChecking::AcceptNew));
        assert_eq!(
            strict("[ssh]\nstrict_host_key_checking = \"yes\"\n"),
            Ok(StrictHostKeyChecking::Yes)
        );
        assert_eq!(
            strict("[ssh]\nStrictHostKeyChecking = \"accept-new\"\n"),
            Ok(StrictHostKeyChecking::AcceptNew)
        );
        let err = strict("[ssh]\nstrict_host_key_checking = \"no\"\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("would let a changed host key through"),
            "{err}"
        );
        let err = strict("[ssh]\nStrictHostKeyChecking = \"ask\"\n").unwrap_err();
        assert!(err.contains("no terminal"), "{err}");
    }
}
