//! What every connection shares: the policy (ports, per-endpoint tunnel
//! limits, timeouts), the resolver, the hops and the tunnel opener, and the
//! one function that turns a target into an open tunnel or hop channel.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

use crate::agent::{Agent, AgentError};
use crate::config::{Config, ProxyAuth, PushRule, RuleKey, expand_home, first_match};
use crate::diagnose::Hints;
use crate::eice::{Connector, Tunnel, TunnelError, TunnelStream};
use crate::error::Error;
use crate::hop::{Carrier, CarrierError, Hop, HopChannel, HostKeys};
use crate::inbound::throttle::{Gate, Throttle};
use crate::keys::KeyPusher;
use crate::metrics::Metrics;
use crate::public_key::PublicKey;
use crate::resolve::{HopRoute, Resolution, Resolver, Router, Way, cache_lookups};
use crate::splice::{Finished, Observer, splice_streams, splice_tunnel_observed};
use crate::target::Target;

/// Ports whose servers speak first (SSH's banner): before answering the
/// client, the proxy waits for the instance's first bytes, so that an instance
/// EICE cannot reach is reported as a refusal ([`Tunnel::await_first_data`]).
pub const SERVER_SPEAKS_FIRST: [u16; 1] = [22];

/// What a client wrote before its tunnel opened (`connect`'s stdin, read
/// while the tunnel is being opened): called once the tunnel is open, it
/// returns every byte so far, which go through the tunnel before the
/// instance's first bytes are waited for. The bytes are not consumed: a
/// tunnel opened again after a stale route sends them again.
pub type EarlyData<'a> = &'a (dyn Fn() -> Bytes + Sync);

/// The proxy's shared state.
pub struct Proxy {
    /// Target → route, through caches.
    resolver: Resolver,
    /// Opens tunnels.
    connector: Connector,
    /// Pushes SSH keys before port-22 tunnels that a `[[push_key]]` rule covers.
    keys: KeyPusher,
    push_rules: Vec<PushRule>,
    /// Which way each target goes: EICE, or a hop.
    router: Router,
    /// The `[[hop]]`s, in config order (a [`HopRoute`] names one by index).
    hops: Vec<Hop>,
    /// Credentials clients must present, when configured.
    pub(crate) auth: Option<Arc<ProxyAuth>>,
    /// Which client addresses presented wrong ones, to answer them later.
    failures: Arc<Throttle>,
    /// Open tunnels per endpoint, bounded by the service's quota.
    per_endpoint: Mutex<HashMap<String, Arc<Semaphore>>>,
    tunnels_per_endpoint: usize,
    /// Step timeouts and the duration EICE will close tunnels at.
    pub(crate) settings: Settings,
    /// Counters, gauges and open tunnels, for `/metrics` and `/status`.
    metrics: Arc<Metrics>,
    /// What blocks a path EICE called unreachable, checked at most once a minute.
    hints: Hints,
    /// Whether a tunnel that shows its cached route stale is opened once
    /// more after a fresh lookup (`connect`, whose cache outlives it).
    retry_stale: bool,
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

/// A target, connected: an EICE tunnel, or a channel through a hop.
pub enum Opened {
    Tunnel {
        tunnel: Tunnel,
        resolution: Resolution,
        /// Holds one of the endpoint's tunnel slots until the tunnel is dropped.
        slot: OwnedSemaphorePermit,
    },
    Hop {
        channel: HopChannel,
        route: HopRoute,
        /// The hop's name.
        hop: String,
    },
}

impl Opened {
    /// Copies between `client` and the tunnel or channel until both
    /// directions end, telling `observer` of the bytes as they move.
    pub async fn splice<C, O>(self, client: C, observer: O) -> Finished
    where
        C: AsyncRead + AsyncWrite + Unpin,
        O: Observer + Unpin,
    {
        match self {
            Opened::Tunnel { tunnel, slot, .. } => {
                let finished = splice_tunnel_observed(client, tunnel, observer).await;
                drop(slot);
                finished
            }
            Opened::Hop { channel, .. } => splice_streams(client, channel.stream, observer).await,
        }
    }
}

impl Proxy {
    /// A proxy with the policy of `config`. Fails when a hop's key cannot be
    /// read, or there is no private place for the hops' host keys.
    pub fn new(
        resolver: Resolver,
        connector: Connector,
        keys: KeyPusher,
        config: &Config,
    ) -> anyhow::Result<Proxy> {
        let t = &config.timeouts;
        let tunnel_lifetime =
            Duration::from_secs(config.max_tunnel_duration.unwrap_or(3600).into());
        // Only hops read host keys: without one, no file is needed (and a
        // process with no home directory still runs).
        let hops = if config.hops.is_empty() {
            Vec::new()
        } else {
            let host_keys = HostKeys::new(
                config.ssh.known_hosts.as_deref().map(expand_home),
                config.ssh.strict_host_key_checking,
            )?;
            config
                .hops
                .iter()
                .map(|h| {
                    Hop::new(
                        h.clone(),
                        host_keys.clone(),
                        tunnel_lifetime,
                        Duration::from_secs(t.open),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?
        };
        Ok(Proxy {
            resolver,
            router: Router::new(config),
            hops,
            connector,
            keys,
            push_rules: config.push_rules.clone(),
            auth: config.auth.clone().map(Arc::new),
            failures: Arc::new(Throttle::new()),
            per_endpoint: Mutex::new(HashMap::new()),
            tunnels_per_endpoint: config.limits.tunnels_per_endpoint,
            settings: Settings {
                handshake: Duration::from_secs(t.handshake),
                resolve: Duration::from_secs(t.resolve),
                first_data: Duration::from_secs(t.first_data),
                shutdown_grace: Duration::from_secs(t.shutdown_grace),
                max_connections: config.limits.max_connections,
                tunnel_lifetime,
            },
            metrics: Arc::new(Metrics::new()),
            hints: Hints::default(),
            retry_stale: false,
        })
    }

    /// The same proxy, trying once more with fresh lookups when a tunnel
    /// fails in a way that shows its cached route stale (the endpoint is
    /// gone, the instance could not be reached), so that an out-of-date
    /// route cache costs one failed attempt, never a failed login.
    pub fn retrying_stale_routes(mut self) -> Proxy {
        self.retry_stale = true;
        self
    }

    /// Where `client` presents its credentials, when any are required.
    pub(crate) fn gate(&self, client: IpAddr) -> Option<Gate> {
        let auth = self.auth.clone()?;
        Some(Gate::new(auth).throttled(self.failures.clone(), client))
    }

    /// The proxy's counters and open tunnels, for the metrics endpoint.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The resolver, for `eice-proxy resolve`.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// How `target` would be reached, for `eice-proxy resolve`.
    pub async fn way(&self, target: &Target) -> Result<Way, Error> {
        Ok(self.router.way(&self.resolver, target).await?)
    }

    /// The configured hops, for `eice-proxy doctor`.
    pub fn hops(&self) -> &[Hop] {
        &self.hops
    }

    /// Where `hop`'s SSH connection goes: its instance's port 22, resolved,
    /// and the instance id (the alias its host key is recorded under).
    pub async fn locate_hop(&self, hop: &Hop) -> Result<(Resolution, String), Error> {
        let target = Target {
            host: hop.config.instance.clone(),
            port: 22,
        };
        let resolution = self.resolver.resolve(&target).await?;
        let instance = resolution
            .instance
            .as_ref()
            .map_or_else(|| target.host.to_string(), |i| i.id.clone());
        Ok((resolution, instance))
    }

    /// The name of the hop a route goes through.
    pub fn hop_name(&self, route: &HopRoute) -> &str {
        self.hops[route.hop].name()
    }

    /// The hop a route goes through.
    pub fn hop_of(&self, route: &HopRoute) -> &Hop {
        &self.hops[route.hop]
    }

    /// The key pusher, for `eice-proxy ssh`.
    pub fn keys(&self) -> &KeyPusher {
        &self.keys
    }

    /// Decides how `target` is reached ([`Router::way`]) and connects it:
    /// an EICE tunnel of its own, or a channel on its hop's SSH connection.
    pub async fn open(&self, target: &Target) -> Result<Opened, Error> {
        Ok(self.open_early(target, None).await?.0)
    }

    /// [`Proxy::open`] for a client that may have written before its tunnel
    /// opened (`connect`): its `early` bytes go through the tunnel as soon as
    /// it is open, so that the instance's answer to them (an SSH server's
    /// key exchange follows the client's banner) need not wait for the
    /// instance's first bytes to come back first (the time EICE takes to
    /// reach the instance, and the instance to speak, is no longer added to
    /// the login). Returns how many of them were sent (none through a hop).
    pub async fn open_early(
        &self,
        target: &Target,
        early: Option<EarlyData<'_>>,
    ) -> Result<(Opened, usize), Error> {
        let started = Instant::now();
        let mut sent = 0;
        let way = timeout(
            self.settings.resolve,
            self.router.way(&self.resolver, target),
        )
        .await
        .map_err(|_| self.resolve_timeout())??;
        let opened = match way {
            Way::Direct(resolution) => {
                self.metrics.lookups(cache_lookups(&resolution.lookups));
                let (tunnel, slot, resolution, early_sent) =
                    self.open_direct(target, resolution, early).await?;
                sent = early_sent;
                Opened::Tunnel {
                    tunnel,
                    resolution,
                    slot,
                }
            }
            Way::Hop(route) => {
                self.metrics.lookups(cache_lookups(&route.lookups));
                let hop = &self.hops[route.hop];
                let channel = hop
                    .channel(&route.host, route.port, |push| async {
                        self.connect_hop(hop, push)
                            .await
                            .map_err(CarrierError::from)
                    })
                    .await?;
                Opened::Hop {
                    channel,
                    route,
                    hop: hop.name().to_owned(),
                }
            }
        };
        self.metrics.tunnel_setup(started.elapsed());
        Ok((opened, sent))
    }

    /// The tunnel of a direct route; when it shows the cached answers that
    /// made the route stale, and this proxy retries, once more after a fresh
    /// lookup. Returns the resolution the tunnel was opened with.
    async fn open_direct(
        &self,
        target: &Target,
        resolution: Resolution,
        early: Option<EarlyData<'_>>,
    ) -> Result<(Tunnel, OwnedSemaphorePermit, Resolution, usize), Error> {
        let e = match self.attempt_tunnel(&resolution, None, early).await {
            Ok((tunnel, slot, sent)) => return Ok((tunnel, slot, resolution, sent)),
            Err((e, true)) if self.retry_stale => e,
            Err((e, _)) => return Err(self.explain(&resolution, e).await),
        };
        tracing::info!(
            endpoint = %resolution.endpoint.id,
            ip = %resolution.tunnel().private_ip,
            "the cached route to {target} was stale ({e}); looking it up again"
        );
        let fresh = timeout(self.settings.resolve, self.resolver.resolve(target))
            .await
            .map_err(|_| self.resolve_timeout())??;
        self.metrics.lookups(cache_lookups(&fresh.lookups));
        let (tunnel, slot, sent) = self.open_tunnel(&fresh, None, early).await?;
        Ok((tunnel, slot, fresh, sent))
    }

    /// The tunnel under a hop's SSH connection: to the hop instance's port
    /// 22, with `push` (the key it will log in with) pushed first when the
    /// hop says so.
    async fn connect_hop(&self, hop: &Hop, push: Option<PublicKey>) -> Result<Carrier, Error> {
        let (resolution, instance) = timeout(self.settings.resolve, self.locate_hop(hop))
            .await
            .map_err(|_| self.resolve_timeout())??;
        self.metrics.lookups(cache_lookups(&resolution.lookups));
        let push = push.as_ref().map(|key| (hop.config.os_user.as_str(), key));
        let (tunnel, slot, _) = self.open_tunnel(&resolution, push, None).await?;
        Ok(Carrier {
            request_id: tunnel.request_id.clone(),
            stream: TunnelStream::from(tunnel),
            slot,
            counted: self.metrics.hop_tunnel_opened(),
            instance,
            endpoint: resolution.endpoint.id.clone(),
        })
    }

    fn resolve_timeout(&self) -> Error {
        Error::Tunnel(TunnelError::Timeout {
            step: "finding the route",
            after: self.settings.resolve,
        })
    }

    /// Takes a slot on the resolution's endpoint, pushes a key for port 22
    /// (`push`, else a `[[push_key]]` rule's), opens the tunnel and sends the
    /// client's `early` bytes; returns how many were sent. A failure that
    /// shows cached answers stale makes the resolver forget them.
    async fn open_tunnel(
        &self,
        resolution: &Resolution,
        push: Option<(&str, &PublicKey)>,
        early: Option<EarlyData<'_>>,
    ) -> Result<(Tunnel, OwnedSemaphorePermit, usize), Error> {
        match self.attempt_tunnel(resolution, push, early).await {
            Ok(opened) => Ok(opened),
            Err((e, _)) => Err(self.explain(resolution, e).await),
        }
    }

    /// [`Proxy::open_tunnel`] without the explanation of a refusal: the
    /// error, and whether it showed the cached answers of the route stale
    /// (they are forgotten), so a fresh lookup may do better.
    async fn attempt_tunnel(
        &self,
        resolution: &Resolution,
        push: Option<(&str, &PublicKey)>,
        early: Option<EarlyData<'_>>,
    ) -> Result<(Tunnel, OwnedSemaphorePermit, usize), (Error, bool)> {
        let port = resolution.tunnel().port;
        let slot = self
            .endpoint_slot(&resolution.endpoint.id)
            .map_err(|e| (e, false))?;
        if port == 22 {
            self.push_key(resolution, push)
                .await
                .map_err(|e| (e, false))?;
        }
        let opened = async {
            let mut tunnel = self
                .connector
                .open(resolution.tunnel(), &resolution.credentials)
                .await?;
            let early = early.map(|early| early()).unwrap_or_default();
            let sent = early.len();
            if sent > 0 {
                tunnel.send_early(early).await?;
            }
            if SERVER_SPEAKS_FIRST.contains(&port) {
                tunnel.await_first_data(self.settings.first_data).await?;
            }
            Ok((tunnel, sent))
        };
        match opened.await {
            Ok((tunnel, sent)) => Ok((tunnel, slot, sent)),
            Err(e) => {
                let stale = self.resolver.forget(resolution, &e).await;
                Err((Error::Tunnel(e), stale))
            }
        }
    }

    /// A failed tunnel's error, with what blocks the path when EICE could
    /// not reach the instance.
    async fn explain(&self, resolution: &Resolution, error: Error) -> Error {
        match error {
            Error::Tunnel(e) if e.is_unreachable() => match self.unreachable_hint(resolution).await
            {
                Some(hint) => Error::Unreachable {
                    tunnel: Box::new(e),
                    hint: hint.to_string(),
                },
                None => Error::Tunnel(e),
            },
            other => other,
        }
    }

    /// What blocks the path of a tunnel EICE closed as unreachable, from the
    /// path checks ([`crate::diagnose`]); `None` when the instance behind an
    /// address cannot be found.
    async fn unreachable_hint(&self, resolution: &Resolution) -> Option<Arc<String>> {
        let ec2 = self.resolver.ec2_of(&resolution.scope)?;
        let instance = self.resolver.instance_of(resolution).await.ok()??;
        let request = resolution.tunnel();
        let hint = self.hints.hint(
            ec2,
            &resolution.scope.region,
            &resolution.endpoint,
            &instance,
            request.private_ip,
            request.port,
        );
        Some(hint.await)
    }

    /// Pushes `key` for `os_user`, when given, else the key of the first
    /// `[[push_key]]` rule covering the resolution's instance, if any.
    async fn push_key(
        &self,
        resolution: &Resolution,
        key: Option<(&str, &PublicKey)>,
    ) -> Result<(), Error> {
        if key.is_none() && self.push_rules.is_empty() {
            return Ok(());
        }
        let Some(instance) = self.resolver.instance_of(resolution).await? else {
            return Ok(());
        };
        let ip = resolution.tunnel().private_ip;
        let from_agent;
        let (os_user, key) = match key {
            Some(given) => given,
            None => match first_match(&self.push_rules, &instance, ip) {
                Some(rule) => match &rule.key {
                    RuleKey::File(key) => (rule.os_user.as_str(), key),
                    RuleKey::Agent(name) => {
                        from_agent = agent_key(name).await?;
                        (rule.os_user.as_str(), &from_agent)
                    }
                },
                None => return Ok(()),
            },
        };
        self.keys
            .push(&resolution.scope, &instance, os_user, key)
            .await?;
        tracing::debug!(instance = %instance.id, os_user, "SSH key pushed");
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

/// The public half of the ssh-agent's key `name` (comment or fingerprint),
/// asked of the agent at each push so a key added after start-up is found.
async fn agent_key(name: &str) -> Result<PublicKey, AgentError> {
    let mut agent = Agent::from_env().await?;
    let key = agent.named(name).await?;
    key.to_public_key(agent.socket())
}
