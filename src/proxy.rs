//! What every connection shares: the policy (ports, per-endpoint tunnel
//! limits, timeouts), the resolver and the tunnel opener, and the one
//! function that turns a target into an open tunnel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::config::{Config, ProxyAuth};
use crate::eice::{Connector, Tunnel, TunnelError};
use crate::error::Error;
use crate::keys::{KeyPusher, PushRule, first_match};
use crate::metrics::Metrics;
use crate::resolve::{Resolution, Resolver};
use crate::target::Target;

/// Ports whose servers speak first (SSH's banner): before answering the
/// client, the proxy waits for the instance's first bytes, so that an instance
/// EICE cannot reach is reported as a refusal ([`Tunnel::await_first_data`]).
pub const SERVER_SPEAKS_FIRST: [u16; 1] = [22];

/// The proxy's shared state.
pub struct Proxy {
    /// Target → route, through caches.
    resolver: Resolver,
    /// Opens tunnels.
    connector: Connector,
    /// Pushes SSH keys before port-22 tunnels that a `[[push_key]]` rule covers.
    keys: KeyPusher,
    push_rules: Vec<PushRule>,
    /// Ports asked of EICE; others are refused before any AWS call.
    allowed_ports: Vec<u16>,
    /// Credentials clients must present, when configured.
    pub(crate) auth: Option<Arc<ProxyAuth>>,
    /// Open tunnels per endpoint, bounded by the service's quota.
    per_endpoint: Mutex<HashMap<String, Arc<Semaphore>>>,
    tunnels_per_endpoint: usize,
    /// Step timeouts and the duration EICE will close tunnels at.
    pub(crate) settings: Settings,
    /// Counters, gauges and open tunnels, for `/metrics` and `/status`.
    metrics: Arc<Metrics>,
}

/// The timeouts and durations a connection's steps obey.
#[derive(Debug, Clone)]
pub struct Settings {
    pub handshake: Duration,
    pub resolve: Duration,
    pub first_data: Duration,
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    /// When EICE will close each tunnel (the configured maxTunnelDuration, or
    /// the service's 3600 s), for the warning a minute before.
    pub tunnel_lifetime: Duration,
}

/// A tunnel, open, with the route that led to it.
pub struct Opened {
    pub tunnel: Tunnel,
    pub resolution: Resolution,
    /// Holds one of the endpoint's tunnel slots until the tunnel is dropped.
    pub slot: OwnedSemaphorePermit,
}

impl Proxy {
    /// A proxy with the policy of `config`.
    pub fn new(
        resolver: Resolver,
        connector: Connector,
        keys: KeyPusher,
        config: &Config,
    ) -> Proxy {
        let t = &config.timeouts;
        Proxy {
            resolver,
            connector,
            keys,
            push_rules: config.push_rules.clone(),
            allowed_ports: config.allowed_ports.clone(),
            auth: config.auth.clone().map(Arc::new),
            per_endpoint: Mutex::new(HashMap::new()),
            tunnels_per_endpoint: config.limits.tunnels_per_endpoint,
            settings: Settings {
                handshake: Duration::from_secs(t.handshake),
                resolve: Duration::from_secs(t.resolve),
                first_data: Duration::from_secs(t.first_data),
                shutdown_grace: Duration::from_secs(t.shutdown_grace),
                max_connections: config.limits.max_connections,
                tunnel_lifetime: Duration::from_secs(
                    config.max_tunnel_duration.unwrap_or(3600).into(),
                ),
            },
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// The proxy's counters and open tunnels, for the metrics endpoint.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The resolver, for `eice-proxy resolve`.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The key pusher, for `eice-proxy ssh`.
    pub fn keys(&self) -> &KeyPusher {
        &self.keys
    }

    /// Checks the port, resolves the target, takes a slot on its endpoint and
    /// opens the tunnel.
    pub async fn open(&self, target: &Target) -> Result<Opened, Error> {
        check_port(&self.allowed_ports, target.port)?;
        let started = Instant::now();
        let resolution = timeout(self.settings.resolve, self.resolver.resolve(target))
            .await
            .map_err(|_| {
                Error::Tunnel(TunnelError::Timeout {
                    step: "finding the route",
                    after: self.settings.resolve,
                })
            })??;
        self.metrics.lookups(&resolution.lookups);
        let slot = self.endpoint_slot(&resolution.endpoint.id)?;
        if target.port == 22 {
            self.push_key(&resolution).await?;
        }
        let opened = async {
            let mut tunnel = self
                .connector
                .open(resolution.tunnel(), &resolution.credentials)
                .await?;
            if SERVER_SPEAKS_FIRST.contains(&target.port) {
                tunnel.await_first_data(self.settings.first_data).await?;
            }
            Ok(tunnel)
        };
        match opened.await {
            Ok(tunnel) => {
                self.metrics.tunnel_setup(started.elapsed());
                Ok(Opened {
                    tunnel,
                    resolution,
                    slot,
                })
            }
            Err(e) => {
                self.resolver.forget(&resolution, &e).await;
                Err(Error::Tunnel(e))
            }
        }
    }

    /// Pushes the key of the first `[[push_key]]` rule covering the
    /// resolution's instance, if any.
    async fn push_key(&self, resolution: &Resolution) -> Result<(), Error> {
        if self.push_rules.is_empty() {
            return Ok(());
        }
        let Some(instance) = self.resolver.instance_of(resolution).await? else {
            return Ok(());
        };
        let ip = resolution.tunnel().private_ip;
        let Some(rule) = first_match(&self.push_rules, &instance.id, instance.name.as_deref(), ip)
        else {
            return Ok(());
        };
        self.keys
            .push(&resolution.scope, &instance, &rule.os_user, &rule.key)
            .await?;
        tracing::debug!(instance = %instance.id, os_user = %rule.os_user, "SSH key pushed");
        Ok(())
    }

    /// One of the endpoint's tunnel slots, or the error that says the quota is used up.
    fn endpoint_slot(&self, endpoint: &str) -> Result<OwnedSemaphorePermit, Error> {
        let semaphore = self
            .per_endpoint
            .lock()
            .expect("endpoint slots lock")
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.tunnels_per_endpoint)))
            .clone();
        semaphore
            .try_acquire_owned()
            .map_err(|_| Error::EndpointBusy {
                endpoint: endpoint.to_owned(),
                limit: self.tunnels_per_endpoint,
            })
    }
}

/// Refuses a port outside `allowed` before any AWS call is made.
pub fn check_port(allowed: &[u16], port: u16) -> Result<(), Error> {
    if allowed.contains(&port) {
        Ok(())
    } else {
        Err(Error::PortNotAllowed {
            port,
            allowed: allowed.to_vec(),
        })
    }
}
