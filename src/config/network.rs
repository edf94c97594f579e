//! `[network]`: how connections to AWS are made: the corporate proxy, which
//! of an endpoint's names tunnels dial, and the pool of ready connections.

use std::time::Duration;

use serde::Deserialize;

use super::check;
use crate::net::pool::{self, PoolSettings};

/// `[network]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// The HTTP proxy every connection to AWS goes through
    /// (`http://[USER:PASSWORD@]HOST:PORT`), over `HTTPS_PROXY` and the
    /// rest; `"none"` (or `""`) goes direct whatever the environment says.
    pub proxy: Option<String>,
    /// The hosts that go direct, as `NO_PROXY` lists them, over `NO_PROXY`.
    pub no_proxy: Option<String>,
    /// Sends loopback destinations (a `ws://127.0.0.1` or `http://localhost`
    /// override) through the proxy too. Off: they go direct, since through a
    /// corporate proxy they would travel in clear text to the proxy's own
    /// loopback. For a debugging proxy on this machine, and the tests.
    pub proxy_loopback: bool,
    /// Which of each endpoint's names tunnels dial: `"ipv4"` (the default,
    /// as the AWS CLI) or `"dualstack"`, which an IPv6-only network needs.
    pub endpoint_dns: crate::eice::EndpointDns,
    /// Ready TLS connections `serve` and `forward` keep to each endpoint in
    /// recent use, so a tunnel costs the WebSocket upgrade alone; 0 turns
    /// the pool off.
    #[serde(deserialize_with = "check::pool_size")]
    pub pool: usize,
    /// Seconds a pooled connection may wait unused before it is closed.
    #[serde(deserialize_with = "check::positive_seconds")]
    pub pool_idle: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            proxy: None,
            no_proxy: None,
            proxy_loopback: false,
            endpoint_dns: crate::eice::EndpointDns::default(),
            pool: pool::DEFAULT_SIZE,
            pool_idle: pool::DEFAULT_IDLE,
        }
    }
}

impl NetworkConfig {
    /// The pool as configured, for a process that serves many tunnels.
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            size: self.pool,
            idle: self.pool_idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::time::Duration;

    #[test]
    fn the_pool_defaults_to_two_connections_for_twenty_seconds() {
        let pool = Config::parse("").unwrap().network.pool();
        assert_eq!((pool.size, pool.idle), (2, Duration::from_secs(20)));
        let pool = Config::parse("[network]\npool = 0\npool_idle = 2.5\n")
            .unwrap()
            .network
            .pool();
        assert_eq!((pool.size, pool.idle), (0, Duration::from_millis(2500)));
    }

    #[test]
    fn pool_values_out_of_range_name_the_key_and_line() {
        let err = Config::parse("[network]\npool = 9\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("0 (off) to 8"),
            "{err}"
        );
        let err = Config::parse("[network]\n\npool_idle = 0\n").unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("more than 0"),
            "{err}"
        );
    }
}
