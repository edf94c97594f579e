//! `[timeouts]`, `[limits]` and `[cache]`: how long each step may take, how
//! much runs at once, and how long answers are kept.

use std::time::Duration;

use serde::Deserialize;

use super::check;

/// `[timeouts]`, in seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// A client must name its target within this (SOCKS5 greeting and
    /// request, or the CONNECT request head); slow or silent clients are dropped.
    #[serde(deserialize_with = "check::positive")]
    pub handshake: u64,
    /// Finding the route (EC2 API calls, with the SDK's retries).
    #[serde(deserialize_with = "check::positive")]
    pub resolve: u64,
    /// TCP, TLS and the WebSocket upgrade to EICE.
    #[serde(deserialize_with = "check::positive")]
    pub open: u64,
    /// For servers that speak first (port 22): the wait for their first bytes.
    #[serde(deserialize_with = "check::positive")]
    pub first_data: u64,
    /// After SIGINT/SIGTERM, how long open tunnels may go on before they are closed.
    pub shutdown_grace: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: 10,
            resolve: 30,
            open: 15,
            first_data: 15,
            shutdown_grace: 30,
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Client connections served at once; more wait in the accept queue.
    #[serde(deserialize_with = "check::positive")]
    pub max_connections: usize,
    /// Open tunnels per endpoint. EICE allows 20 concurrent connections per
    /// endpoint; refusing the 21st here gives a clear error instead of the
    /// service's.
    #[serde(deserialize_with = "check::positive")]
    pub tunnels_per_endpoint: usize,
    /// What a connection does when its endpoint's tunnels are all in use:
    /// go through a hop, wait in line, or be refused. Unset: through the hop
    /// serving the target's VPC where there is one, else wait.
    pub when_full: Option<WhenFull>,
    /// How long a connection waits in line for a tunnel of a full endpoint
    /// (seconds, fractions allowed; 0 refuses at once): long enough for a
    /// finished Ansible task's ssh master to close, short enough for ssh's
    /// ConnectTimeout.
    #[serde(deserialize_with = "check::seconds")]
    pub queue_wait: Duration,
    /// How long before EICE's maxTunnelDuration ends a tunnel its client is
    /// warned in the log (seconds, each a warning). A warning further before
    /// the end than the whole duration comes at once, with the time left.
    pub warn_before_cap: Vec<u64>,
}

/// `[limits] when_full`: where a connection goes when its endpoint already
/// carries every tunnel EICE allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Through the `[[hop]]` serving the target's VPC (its `vpc`, `cidrs` or
    /// `default`): a stream on the hop's one SSH connection. Without such a
    /// hop, the connection waits.
    Hop,
    /// In line, first come first served per endpoint, for `queue_wait`.
    Wait,
    /// Refused at once.
    Refuse,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            tunnels_per_endpoint: 20,
            when_full: None,
            queue_wait: Duration::from_secs(20),
            warn_before_cap: vec![300, 60],
        }
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
    /// Whether `connect` and `ssh` keep their answers on disk for the next
    /// login (the route cache: one file per profile and region in
    /// `$XDG_CACHE_HOME/eice-proxy`), so that a login in a series of them
    /// (ssh, scp, Ansible) makes no EC2 API call. `serve` keeps its own.
    pub disk: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            instance_ttl: 300,
            vpc_ttl: 900,
            endpoint_ttl: 300,
            negative_ttl: 20,
            disk: true,
        }
    }
}
