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

mod carrier;
mod hostfile;
mod known_hosts;

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::client::{self, Handle, Msg};
use russh::keys::Algorithm;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{AlgorithmKind, ChannelOpenFailure, ChannelStream, Preferred, cipher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Mutex, OwnedSemaphorePermit};
use tracing::{info, warn};

pub use carrier::CarrierError;
pub use known_hosts::{Expected, HostKeyError, HostKeys, Trust, fingerprint};

use crate::config::HopConfig;
use crate::config::expand_home;
use crate::eice::TunnelStream;
use crate::metrics::HopTunnel;
use crate::public_key::PublicKey;
use crate::reply::Reply;

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

/// Why a stream through a hop could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HopError {
    #[error("hop {hop}: cannot reach the hop instance: {source}")]
    Tunnel {
        hop: String,
        source: Box<CarrierError>,
    },
    #[error("hop {hop}: {source}")]
    HostKey { hop: String, source: HostKeyError },
    #[error("hop {hop}: {why}")]
    HostKeyRefused { hop: String, why: String },
    /// The key exchange found no host-key type both sides have: the server
    /// holds none of the types asked for (see [`HostKeys::expect`]).
    #[error(
        "hop {hop}: the hop's sshd has no host key of the types asked for ({}); it offers {}",
        ours.join(", "),
        theirs.join(", ")
    )]
    NoCommonHostKey {
        hop: String,
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    #[error(
        "hop {hop}: {instance} refused the key {key} for user {user}: {hint}",
        key = key.display()
    )]
    AuthFailed {
        hop: String,
        instance: String,
        user: String,
        key: PathBuf,
        hint: &'static str,
    },
    #[error("hop {hop}: cannot open a stream to {host}:{port}: {}", refusal(why))]
    ChannelRefused {
        hop: String,
        host: String,
        port: u16,
        why: ChannelOpenFailure,
    },
    #[error("hop {hop}: {step} took over {}s", after.as_secs())]
    Timeout {
        hop: String,
        step: &'static str,
        after: Duration,
    },
    #[error("hop {hop}: the SSH connection failed: {why}")]
    Ssh { hop: String, why: String },
}

/// The server's reason for refusing a channel, in words that say what to check.
fn refusal(why: &ChannelOpenFailure) -> String {
    match why {
        ChannelOpenFailure::AdministrativelyProhibited => {
            "the hop's sshd forbids forwarding (AllowTcpForwarding / PermitOpen in its sshd_config)"
                .into()
        }
        ChannelOpenFailure::ConnectFailed => {
            "the hop could not connect (nothing listens there, a security group or firewall \
             blocks it, or the name does not resolve in the VPC)"
                .into()
        }
        ChannelOpenFailure::ResourceShortage => "the hop's sshd is out of resources".into(),
        ChannelOpenFailure::UnknownChannelType => "the hop's sshd does not forward TCP".into(),
        ChannelOpenFailure::Other { code, reason } => format!("code {code}: {reason}"),
    }
}

impl HopError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            HopError::Tunnel { source, .. } => source.reply(),
            HopError::HostKey {
                source: HostKeyError::File { .. },
                ..
            } => Reply::GeneralFailure,
            HopError::HostKey { .. }
            | HopError::HostKeyRefused { .. }
            | HopError::NoCommonHostKey { .. }
            | HopError::AuthFailed { .. } => Reply::NotAllowed,
            HopError::ChannelRefused { why, .. } => match why {
                ChannelOpenFailure::AdministrativelyProhibited => Reply::NotAllowed,
                ChannelOpenFailure::ConnectFailed => Reply::ConnectionRefused,
                _ => Reply::GeneralFailure,
            },
            HopError::Timeout { .. } => Reply::TimedOut,
            HopError::Ssh { .. } => Reply::GeneralFailure,
        }
    }
}

/// russh reports its own failures through the handler's error type; the
/// hop's name is filled in by [`Hop::named`].
impl From<russh::Error> for HopError {
    fn from(e: russh::Error) -> HopError {
        match e {
            russh::Error::NoCommonAlgo {
                kind: AlgorithmKind::Key,
                ours,
                theirs,
            } => HopError::NoCommonHostKey {
                hop: String::new(),
                ours,
                theirs,
            },
            e => HopError::Ssh {
                hop: String::new(),
                why: e.to_string(),
            },
        }
    }
}

/// The EICE tunnel a hop connection runs over, as the proxy opened it.
pub struct Carrier {
    pub stream: TunnelStream,
    /// Holds one of the endpoint's tunnel slots for as long as the connection lives.
    pub slot: OwnedSemaphorePermit,
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
    key: Arc<PrivateKey>,
    key_path: PathBuf,
    /// The key's public half, pushed when `push_key` is set.
    pub public_key: PublicKey,
    host_keys: HostKeys,
    /// A connection older than this takes no new streams.
    rotate_after: Duration,
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
        let key_path = match &config.key {
            Some(path) => expand_home(path),
            None => default_key().ok_or_else(|| {
                format!(
                    "[[hop]] {}: no key given and neither ~/.ssh/id_ed25519 nor ~/.ssh/id_rsa exists; \
                     set key = \"~/.ssh/…\"",
                    config.name
                )
            })?,
        };
        let key = russh::keys::load_secret_key(&key_path, None).map_err(|e| {
            format!(
                "[[hop]] {}: cannot use the key {}: {e} (an encrypted key is not supported; \
                 use one without a passphrase, kept for this hop)",
                config.name,
                key_path.display()
            )
        })?;
        let line = key
            .public_key()
            .to_openssh()
            .map_err(|e| format!("[[hop]] {}: {e}", config.name))?;
        let public_key = PublicKey::parse(&line, &key_path.with_extension("pub"))
            .map_err(|e| format!("[[hop]] {}: {e}", config.name))?;
        Ok(Hop {
            config,
            key: Arc::new(key),
            key_path,
            public_key,
            host_keys,
            rotate_after: tunnel_lifetime * 5 / 6,
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

    /// The private key it logs in with.
    pub fn key_path(&self) -> &std::path::Path {
        &self.key_path
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
        F: Fn() -> Fut,
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
        F: Fn() -> Fut,
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
                Some(Retire::Old) => info!(
                    hop = %self.config.name,
                    connection = c.number,
                    age_secs = c.opened.elapsed().as_secs(),
                    "replacing the hop's SSH connection before EICE's maxTunnelDuration ends it: \
                     new streams take a fresh one, open streams finish on the old"
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
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Carrier, CarrierError>>,
    {
        let name = &self.config.name;
        let transport = connect().await.map_err(|e| HopError::Tunnel {
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
        let key = PrivateKeyWithHashAlg::new(Arc::clone(&self.key), hash);
        let auth = handle
            .authenticate_publickey(&self.config.os_user, key)
            .await
            .map_err(|e| self.ssh_error(e))?;
        if !auth.success() {
            return Err(HopError::AuthFailed {
                hop: name.clone(),
                instance: transport.instance,
                user: self.config.os_user.clone(),
                key: self.key_path.clone(),
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

/// `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`, as `eice-proxy ssh` picks.
fn default_key() -> Option<PathBuf> {
    let ssh = PathBuf::from(std::env::var_os("HOME")?).join(".ssh");
    ["id_ed25519", "id_rsa"]
        .iter()
        .map(|name| ssh.join(name))
        .find(|path| path.exists())
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
    _held: (OwnedSemaphorePermit, HopTunnel),
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

    #[test]
    fn a_failed_host_key_negotiation_is_its_own_refusal() {
        let e = HopError::from(russh::Error::NoCommonAlgo {
            kind: AlgorithmKind::Key,
            ours: vec!["ssh-ed25519".into()],
            theirs: vec!["ecdsa-sha2-nistp256".into()],
        });
        assert!(matches!(e, HopError::NoCommonHostKey { .. }), "{e}");
        assert_eq!(e.reply(), Reply::NotAllowed);
        let cipher = HopError::from(russh::Error::NoCommonAlgo {
            kind: AlgorithmKind::Cipher,
            ours: vec![],
            theirs: vec![],
        });
        assert!(matches!(cipher, HopError::Ssh { .. }), "{cipher}");
    }

    #[test]
    fn channel_refusals_map_to_replies_that_say_what_to_check() {
        let refused = |why| HopError::ChannelRefused {
            hop: "prod".into(),
            host: "db.internal".into(),
            port: 5432,
            why,
        };
        let e = refused(ChannelOpenFailure::AdministrativelyProhibited);
        assert_eq!(e.reply(), Reply::NotAllowed);
        assert!(e.to_string().contains("AllowTcpForwarding"), "{e}");
        let e = refused(ChannelOpenFailure::ConnectFailed);
        assert_eq!(e.reply(), Reply::ConnectionRefused);
        assert!(
            e.to_string().starts_with(
                "hop prod: cannot open a stream to db.internal:5432: the hop could not connect"
            ),
            "{e}"
        );
    }
}
