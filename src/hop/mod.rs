//! The SSH hop: any port in a VPC through one SSH connection over one EICE
//! tunnel.
//!
//! EICE carries ports 22 and 3389 only, and at most 20 tunnels per endpoint.
//! A [`Hop`] holds one SSH connection (russh, over a [`crate::eice::TunnelStream`])
//! to an instance that runs sshd, and opens a `direct-tcpip` channel on it for
//! every stream the proxy sends its way: to a database, an internal web
//! service, any address or name the hop can reach. Every stream shares that
//! one connection and so one EICE tunnel.
//!
//! The connection is made on the first stream and kept: a dropped one (the
//! tunnel cut, keepalives unanswered) is made again on the next stream, and
//! one nearing EICE's maxTunnelDuration is replaced for new streams while
//! the old one carries its streams to their end. The hop's host key is
//! checked as OpenSSH checks it ([`known_hosts`]) before the user's key is
//! offered, and only the host-key types recorded for the hop are asked for.
//! The user's keys are offered as OpenSSH offers them, the ssh-agent's
//! included ([`identity`]).

mod carrier;
mod error;
mod hostfile;
mod identity;
mod known_hosts;

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::client::{self, Handle, Msg};
use russh::keys::{Algorithm, HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelStream, Preferred, cipher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Mutex;
use tracing::{info, warn};

pub use carrier::CarrierError;
pub use error::HopError;
use identity::{Identity, Offer, Offers};
pub use known_hosts::{Expected, HostKeyError, HostKeys, Trust, fingerprint};

use crate::agent::AgentError;
use crate::config::HopConfig;
use crate::eice::TunnelStream;
use crate::metrics::HopTunnel;
use crate::public_key::PublicKey;
use crate::slots::Slot;

/// How often an idle hop connection is probed, and how many probes may go
/// unanswered before it is given up (and made again on the next stream).
const KEEPALIVE: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// AES-GCM first: the CPU does it in hardware, where russh's default
/// ChaCha20-Poly1305 is software (measured: ~60% more throughput per hop
/// connection). The rest of russh's default order follows.
const CIPHERS: &[cipher::Name] = &[
    cipher::AES_256_GCM,
    cipher::CHACHA20_POLY1305,
    cipher::AES_256_CTR,
    cipher::AES_192_CTR,
    cipher::AES_128_CTR,
];

/// The EICE tunnel a hop connection runs over, as the proxy opened it.
pub struct Carrier {
    pub stream: TunnelStream,
    /// Holds one of the endpoint's tunnel slots for as long as the connection lives.
    pub slot: Slot,
    /// Counts the tunnel in `eice_proxy_open_tunnels` as long, too.
    pub counted: HopTunnel,
    /// The hop instance's id: the alias its host key is recorded under.
    pub instance: String,
    pub endpoint: String,
    pub request_id: Option<String>,
}

/// One hop from the config, with its connection.
pub struct Hop {
    pub config: HopConfig,
    /// The keys it logs in with: a file, the ssh-agent's, or both.
    identity: Identity,
    host_keys: HostKeys,
    /// A connection older than this takes no new streams.
    rotate_after: Duration,
    /// When EICE closes a connection's tunnel (its maxTunnelDuration).
    lifetime: Duration,
    /// Bounds making the connection (tunnel, SSH handshake, authentication)
    /// and opening a channel.
    step_timeout: Duration,
    current: Mutex<Option<Arc<Connection>>>,
    connections: AtomicU64,
}

/// One SSH connection to the hop.
pub struct Connection {
    handle: Handle<Client>,
    opened: Instant,
    /// Counts from 1 for each hop, for the logs.
    pub number: u64,
    pub instance: String,
    pub endpoint: String,
}

/// A stream to a target through a hop: read and written like a socket.
pub struct HopChannel {
    pub stream: ChannelStream<Msg>,
    /// The connection it runs on (kept for the logs and the status page).
    pub connection: Arc<Connection>,
}

impl Hop {
    /// The hop of `config`, with its key read now so that a missing or
    /// encrypted key is reported at start-up. EICE closes tunnels at
    /// `tunnel_lifetime`; connections are replaced for new streams at five
    /// sixths of it.
    pub fn new(
        config: HopConfig,
        host_keys: HostKeys,
        tunnel_lifetime: Duration,
        step_timeout: Duration,
    ) -> Result<Hop, String> {
        let identity = Identity::load(&config, config.push_key)?;
        Ok(Hop {
            config,
            identity,
            host_keys,
            rotate_after: tunnel_lifetime * 5 / 6,
            lifetime: tunnel_lifetime,
            step_timeout,
            current: Mutex::new(None),
            connections: AtomicU64::new(0),
        })
    }

    /// The hop's name in the config.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Where its host key is looked up, and whether it may be learned.
    pub fn host_keys(&self) -> &HostKeys {
        &self.host_keys
    }

    /// What it logs in with: a key file, the ssh-agent's keys, or both.
    pub fn identity(&self) -> String {
        self.identity.describe()
    }

    /// Opens a `direct-tcpip` channel to `host:port` on the hop's connection,
    /// making the connection with `connect` first if there is none (or the
    /// one there is has gone or grown old). A connection found dead when the
    /// channel is asked for is made again once.
    pub async fn channel<F, Fut>(
        &self,
        host: &str,
        port: u16,
        connect: F,
    ) -> Result<HopChannel, HopError>
    where
        F: Fn(Option<PublicKey>) -> Fut,
        Fut: Future<Output = Result<Carrier, CarrierError>>,
    {
        let mut retried = false;
        loop {
            let connection = self.connection(&connect).await?;
            let open =
                connection
                    .handle
                    .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0);
            match tokio::time::timeout(self.step_timeout, open).await {
                Ok(Ok(channel)) => {
                    // sshd leaves Nagle on for a forwarded channel: the
                    // target's first bytes wait behind the unacknowledged
                    // open confirmation until our delayed ACK (~40 ms). A
                    // keepalive now carries that ACK at once (measured: first
                    // byte p50 43 ms → 0.6 ms). It is an ignorable message.
                    let _ = connection.handle.send_keepalive(false).await;
                    return Ok(HopChannel {
                        stream: channel.into_stream(),
                        connection,
                    });
                }
                Ok(Err(russh::Error::ChannelOpenFailure(why))) => {
                    return Err(HopError::ChannelRefused {
                        hop: self.config.name.clone(),
                        host: host.to_owned(),
                        port,
                        why,
                    });
                }
                Ok(Err(e)) if !retried => {
                    warn!(
                        hop = %self.config.name,
                        connection = connection.number,
                        "the hop's SSH connection is gone ({e}); connecting again"
                    );
                    self.discard(&connection).await;
                    retried = true;
                }
                Ok(Err(e)) => return Err(self.ssh_error(e)),
                Err(_) => {
                    return Err(HopError::Timeout {
                        hop: self.config.name.clone(),
                        step: "opening a stream",
                        after: self.step_timeout,
                    });
                }
            }
        }
    }

    /// The connection new streams go to: the current one while it lives and
    /// is young enough, else a new one. One caller at a time makes it, so
    /// concurrent streams share it.
    async fn connection<F, Fut>(&self, connect: &F) -> Result<Arc<Connection>, HopError>
    where
        F: Fn(Option<PublicKey>) -> Fut,
        Fut: Future<Output = Result<Carrier, CarrierError>>,
    {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            match retire(c.handle.is_closed(), c.opened.elapsed(), self.rotate_after) {
                None => return Ok(Arc::clone(c)),
                Some(Retire::Closed) => info!(
                    hop = %self.config.name,
                    connection = c.number,
                    "the hop's SSH connection has closed; connecting again"
                ),
                Some(Retire::Old) => warn!(
                    hop = %self.config.name,
                    connection = c.number,
                    age_secs = c.opened.elapsed().as_secs(),
                    closes_in_secs = self.lifetime.saturating_sub(c.opened.elapsed()).as_secs(),
                    "replacing the hop's SSH connection before EICE's maxTunnelDuration ends it: \
                     new streams take a fresh one; streams still open on the old one go on until \
                     EICE closes its tunnel (in closes_in_secs), and are cut then: a TCP \
                     connection cannot move to another tunnel, so their clients must reconnect"
                ),
            }
        }
        let made = tokio::time::timeout(self.step_timeout * 2, self.connect(connect)).await;
        let connection = Arc::new(made.map_err(|_| HopError::Timeout {
            hop: self.config.name.clone(),
            step: "connecting (tunnel, SSH handshake, authentication)",
            after: self.step_timeout * 2,
        })??);
        *current = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Forgets `connection` if it is still the current one.
    async fn discard(&self, connection: &Arc<Connection>) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, connection)) {
            *current = None;
        }
    }

    /// Opens the tunnel, speaks SSH over it, checks the host key and logs in.
    async fn connect<F, Fut>(&self, connect: &F) -> Result<Connection, HopError>
    where
        F: Fn(Option<PublicKey>) -> Fut,
        Fut: Future<Output = Result<Carrier, CarrierError>>,
    {
        let name = &self.config.name;
        let mut offers = self
            .identity
            .offers()
            .await
            .map_err(|e| self.agent_error(e))?;
        // The key pushed is the one offered: the first (and, with a push, only) one.
        let push = if self.config.push_key {
            let key = offers.keys[0].public_key(offers.agent.as_ref());
            Some(key.map_err(|why| HopError::Ssh {
                hop: name.clone(),
                why,
            })?)
        } else {
            None
        };
        let transport = connect(push).await.map_err(|e| HopError::Tunnel {
            hop: name.clone(),
            source: Box::new(e),
        })?;
        let alias = transport.instance.clone();
        let host_key = |source| HopError::HostKey {
            hop: name.clone(),
            source,
        };
        let expected = self.host_keys.expect(&alias).map_err(host_key)?;
        let number = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let client = Client {
            hop: name.clone(),
            alias: transport.instance.clone(),
            host_keys: self.host_keys.clone(),
        };
        let carried = Carried {
            stream: transport.stream,
            _held: (transport.slot, transport.counted),
        };
        let ssh = Arc::new(ssh_config(expected.algorithms));
        let mut handle = client::connect_stream(ssh, carried, client)
            .await
            .map_err(|e| match (e, expected.pinned) {
                // The server holds none of the recorded types: to the user,
                // that is a changed host key, and it is refused as one.
                (HopError::NoCommonHostKey { theirs, .. }, Some(recorded)) => {
                    host_key(HostKeyError::Changed {
                        alias: alias.clone(),
                        offered: format!("offers only {} host keys", theirs.join(", ")),
                        recorded,
                    })
                }
                (e, _) => self.named(e),
            })?;
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| self.ssh_error(e))?
            .flatten();
        if !self.log_in(&mut handle, &mut offers, hash).await? {
            let keys: Vec<String> = offers.keys.iter().map(Offer::describe).collect();
            return Err(HopError::AuthFailed {
                hop: name.clone(),
                instance: transport.instance,
                user: self.config.os_user.clone(),
                keys: format!(
                    "the key{} {}",
                    if keys.len() == 1 { "" } else { "s" },
                    keys.join(", ")
                ),
                hint: if self.config.push_key {
                    "the key was pushed with EC2 Instance Connect, so check that the instance runs \
                     ec2-instance-connect (Amazon Linux, Ubuntu) and that os_user exists there"
                } else {
                    "add its .pub to the user's authorized_keys on the hop, or set push_key = true \
                     to push it with EC2 Instance Connect"
                },
            });
        }
        info!(
            hop = %name,
            connection = number,
            instance = %transport.instance,
            endpoint = %transport.endpoint,
            request_id = transport.request_id.as_deref(),
            "hop connected: its streams share this one SSH connection and EICE tunnel"
        );
        Ok(Connection {
            handle,
            opened: Instant::now(),
            number,
            instance: transport.instance,
            endpoint: transport.endpoint,
        })
    }

    /// Offers each key in turn until the server accepts one: `false` if it
    /// accepts none. Agent keys are signed by the agent.
    async fn log_in(
        &self,
        handle: &mut Handle<Client>,
        offers: &mut Offers,
        hash: Option<HashAlg>,
    ) -> Result<bool, HopError> {
        let user = &self.config.os_user;
        for offer in &offers.keys {
            let auth = match offer {
                Offer::File { key, .. } => {
                    let key = PrivateKeyWithHashAlg::new(Arc::clone(key), hash);
                    handle
                        .authenticate_publickey(user, key)
                        .await
                        .map_err(|e| self.ssh_error(e))?
                }
                Offer::Agent(key) => {
                    let agent = offers
                        .agent
                        .as_mut()
                        .expect("agent keys come with the agent that holds them");
                    let signed = handle
                        .authenticate_publickey_with(user, key.public.clone(), hash, agent.signer())
                        .await;
                    match signed {
                        Ok(auth) => auth,
                        Err(russh::AgentAuthError::Send(_)) => {
                            return Err(self.ssh_error(russh::Error::SendError));
                        }
                        Err(e) => return Err(self.agent_error(agent.sign_error(key, e))),
                    }
                }
            };
            if auth.success() {
                tracing::debug!(hop = %self.config.name, key = %offer.describe(), "logged in");
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn agent_error(&self, source: AgentError) -> HopError {
        HopError::Agent {
            hop: self.config.name.clone(),
            source,
        }
    }

    /// A russh failure, with the hop's name.
    fn ssh_error(&self, e: russh::Error) -> HopError {
        self.named(HopError::from(e))
    }

    fn named(&self, e: HopError) -> HopError {
        let hop = self.config.name.clone();
        match e {
            HopError::Ssh { why, .. } => HopError::Ssh { hop, why },
            HopError::NoCommonHostKey { ours, theirs, .. } => {
                HopError::NoCommonHostKey { hop, ours, theirs }
            }
            other => other,
        }
    }
}

/// The SSH client settings of one connection, asking for the host-key
/// `algorithms` recorded for the hop, or for any safe one when none is.
fn ssh_config(algorithms: Option<Vec<Algorithm>>) -> client::Config {
    let key = match algorithms {
        Some(recorded) => Cow::Owned(recorded),
        // russh's list less `ssh-rsa` (SHA-1 signatures), which OpenSSH no
        // longer accepts by default: a server must not be able to downgrade
        // the exchange to it.
        None => Preferred::DEFAULT
            .key
            .iter()
            .filter(|a| **a != Algorithm::Rsa { hash: None })
            .cloned()
            .collect(),
    };
    client::Config {
        keepalive_interval: Some(KEEPALIVE),
        keepalive_max: KEEPALIVE_MAX,
        // Wide windows keep a fast stream from waiting on window updates.
        window_size: 8 * 1024 * 1024,
        preferred: Preferred {
            cipher: Cow::Borrowed(CIPHERS),
            key,
            ..Preferred::default()
        },
        ..client::Config::default()
    }
}

/// Why a connection takes no new streams.
#[derive(Debug, PartialEq, Eq)]
enum Retire {
    /// It is gone: the tunnel was cut, or keepalives went unanswered.
    Closed,
    /// EICE will end it soon (its maxTunnelDuration); its streams may finish.
    Old,
}

/// Whether a connection `age` old (and `closed` or not) still takes new
/// streams: `None` if it does.
fn retire(closed: bool, age: Duration, rotate_after: Duration) -> Option<Retire> {
    if closed {
        Some(Retire::Closed)
    } else if age >= rotate_after {
        Some(Retire::Old)
    } else {
        None
    }
}

/// The russh event handler: it checks the host key; nothing else a
/// forwarding-only client needs.
struct Client {
    hop: String,
    /// The hop's instance id.
    alias: String,
    host_keys: HostKeys,
}

impl client::Handler for Client {
    type Error = HopError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, HopError> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Err(HopError::HostKeyRefused {
                hop: self.hop.clone(),
                why: "the hop presented a host certificate; only plain host keys are checked"
                    .into(),
            });
        };
        let trust = self
            .host_keys
            .check(&self.alias, key)
            .map_err(|source| HopError::HostKey {
                hop: self.hop.clone(),
                source,
            })?;
        match trust {
            Trust::Known(_) => {}
            Trust::Learned(file) => info!(
                hop = %self.hop,
                "permanently added the {} host key {} of {} to {} (trusted on first use)",
                key.algorithm(),
                fingerprint(key),
                self.alias,
                file.display()
            ),
        }
        Ok(true)
    }
}

/// The tunnel under a connection, holding the endpoint slot (and its count
/// in the metrics) until the connection's session ends and drops it.
struct Carried {
    stream: TunnelStream,
    _held: (Slot, HopTunnel),
}

impl AsyncRead for Carried {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Carried {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_takes_streams_until_it_closes_or_nears_the_tunnel_limit() {
        // maxTunnelDuration 3600 s: new streams move to a fresh connection at 50 minutes.
        let rotate_after = Duration::from_secs(3600) * 5 / 6;
        assert_eq!(rotate_after, Duration::from_secs(3000));
        assert_eq!(retire(false, Duration::from_secs(2999), rotate_after), None);
        assert_eq!(
            retire(false, Duration::from_secs(3000), rotate_after),
            Some(Retire::Old)
        );
        assert_eq!(
            retire(true, Duration::from_secs(1), rotate_after),
            Some(Retire::Closed)
        );
    }

    #[test]
    fn host_key_types_offered_are_the_recorded_ones_else_all_but_sha1_rsa() {
        let names = |c: client::Config| -> Vec<String> {
            c.preferred.key.iter().map(|a| a.to_string()).collect()
        };
        let any = names(ssh_config(None));
        assert!(any.contains(&"ssh-ed25519".to_owned()), "{any:?}");
        assert!(any.contains(&"rsa-sha2-512".to_owned()), "{any:?}");
        assert!(!any.contains(&"ssh-rsa".to_owned()), "no SHA-1: {any:?}");
        assert_eq!(
            names(ssh_config(Some(vec![Algorithm::Ed25519]))),
            ["ssh-ed25519"]
        );
    }
}
