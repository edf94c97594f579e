//! The simulated EC2 Instance Connect Endpoint: `GET /openTunnel` WebSockets on
//! 127.0.0.1 in front of local TCP listeners that stand for instances.
//!
//! It behaves like the real service where the proxy can tell the difference: SigV4
//! presigned URLs are verified (by [`super::sigv4`], independently of the product's
//! signer), refused requests get AWS-shaped JSON errors with `x-amzn-RequestId`,
//! an unreachable instance is a Close 1011 *after* the upgrade (so is one whose
//! security groups or network ACLs block the path, judged by [`crate::firewall`]
//! over the configured worlds, with the real service's reason "Unable to connect
//! to target"), `maxTunnelDuration` ends a tunnel with Close 1008, the service
//! pings, and either side may half-close.
//!
//! Life of a connection: [`EiceSim`]'s accept loop spawns one task per connection
//! (`conns`: TLS first when configured, then the wait for a first request,
//! which an idle limit may cut short), hyper parses the request and `handshake` decides
//! between an error response and the 101; after the upgrade `tunnel` connects to the
//! target and copies frames both ways until both sides are done.
//!
//! Bad days are injected on purpose ([`EiceSim::fail_next_upgrades`],
//! [`EiceSim::fail_upgrades_for`], [`EiceSim::hang_next_upgrades`],
//! [`EiceSim::close_next_tunnel_after`], [`EiceSim::stop_answering_pings`]): see
//! `faults`. An idle limit ([`EiceSimConfig::idle_timeout`]) closes quiet tunnels.
//! Each endpoint carries at most 20 tunnels at once (`quota`: the service
//! quota, enforced with an answer of the simulator's choosing), and its peak
//! is counted ([`EiceStats::endpoint_peaks`]).

mod config;
mod conns;
mod faults;
mod handshake;
mod host;
mod quota;
mod stats;
#[cfg(test)]
mod tests;
mod tunnel;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::SecureRandom;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::clock::SimClock;
use super::firewall::{self, Blocked};
pub use super::sigv4::SimCredential;
use super::tls::TestCa;
use super::world::World;
pub use config::EiceSimConfig;
use faults::FaultTable;
pub use faults::{TunnelCut, UpgradeFault};
pub use quota::QUOTA_EXCEEDED;
pub use stats::EiceStats;
use stats::StatsCell;
pub use tunnel::{IDLE_TIMEOUT_REASON, UNABLE_TO_CONNECT};

/// The signing name the simulated service verifies against.
pub const SERVICE: &str = "ec2-instance-connect";

/// The access key id of AWS's documentation examples, accepted by default so a demo
/// works without configuration. It is public and grants nothing anywhere.
pub const EXAMPLE_ACCESS_KEY_ID: &str = "AKIDEXAMPLE";

/// The secret that goes with [`EXAMPLE_ACCESS_KEY_ID`] in AWS's documentation.
pub const EXAMPLE_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// How long a client may take to send its request headers (and, with TLS, to finish
/// the handshake) before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection task needs: the configuration as served, the mutable
/// target table and the counters.
struct Shared {
    region: String,
    endpoint_regions: HashMap<String, String>,
    credentials: HashMap<String, SimCredential>,
    /// The endpoints that exist; [`EiceSim::delete_endpoint`] removes one.
    endpoint_ids: RwLock<Vec<String>>,
    targets: RwLock<HashMap<SocketAddr, SocketAddr>>,
    allowed_ports: Vec<u16>,
    /// The service's time ([`EiceSimConfig::clock`]).
    clock: SimClock,
    ping_interval: Option<Duration>,
    /// Read by each tunnel as it opens ([`EiceSimConfig::idle_timeout`]).
    idle_timeout: Mutex<Option<Duration>>,
    /// Connections that have not sent a request yet: their idle limit.
    idle_conns: conns::IdleConns,
    /// Set by [`EiceSim::stop_answering_pings`].
    deaf: AtomicBool,
    stats: StatsCell,
    /// aws-lc-rs randomness for request ids (no extra RNG crate needed).
    random: &'static dyn SecureRandom,
    /// Misbehaviour armed by tests.
    faults: Mutex<FaultTable>,
    /// Reports an error once the [`EiceSim`] is dropped: hung upgrades wait on it,
    /// so they never outlive the service.
    stopped: watch::Receiver<()>,
    /// Set by [`EiceSim::cut_open_tunnels`]: every tunnel open then is closed
    /// with this code and reason.
    cut_all: watch::Sender<Option<(u16, String)>>,
    /// Cleared by [`EiceSim::keep_tunnels_past_max_duration`].
    enforce_max_duration: AtomicBool,
    /// The worlds whose security groups and ACLs judge each tunnel's path.
    worlds: Vec<Arc<World>>,
    /// Tunnels open per endpoint, at most [`EiceSimConfig::tunnels_per_endpoint`].
    quota: quota::Quota,
}

impl Shared {
    /// The service's "now".
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn faults(&self) -> MutexGuard<'_, FaultTable> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The region whose signatures a tunnel to `endpoint_id` needs.
    fn region_of(&self, endpoint_id: Option<&str>) -> &str {
        endpoint_id
            .and_then(|id| self.endpoint_regions.get(id))
            .unwrap_or(&self.region)
    }

    /// Why security groups or network ACLs block a tunnel through `endpoint_id` to
    /// `private` for a client at `client`, if a world knows the path and blocks it.
    fn blocked_path(
        &self,
        endpoint_id: &str,
        private: SocketAddr,
        client: IpAddr,
    ) -> Option<Blocked> {
        self.worlds
            .iter()
            .find_map(|world| {
                firewall::check_tunnel(world, endpoint_id, private.ip(), private.port(), client)
            })
            .and_then(Result::err)
    }

    fn target(&self, private: SocketAddr) -> Option<SocketAddr> {
        let targets = self.targets.read().unwrap_or_else(PoisonError::into_inner);
        targets.get(&private).copied()
    }
}

/// A running simulated EICE service. Dropping it stops accepting connections;
/// tunnels already open run to their natural end.
pub struct EiceSim {
    addr: SocketAddr,
    ca: Option<TestCa>,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
    /// Dropped with the service, which releases hung upgrades.
    _stop: watch::Sender<()>,
}

impl EiceSim {
    /// Binds `config.bind` and starts serving in the background.
    pub async fn start(config: EiceSimConfig) -> std::io::Result<EiceSim> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        // The certificate covers every name of every endpoint the worlds
        // hold, so a client may dial those names (at this address) as it
        // would the real service's.
        let names: Vec<String> = config
            .worlds
            .iter()
            .flat_map(|w| w.endpoints.iter().flat_map(|e| e.dns_names(&w.region)))
            .collect();
        let ca = config
            .tls
            .then(|| TestCa::generate_for(&names))
            .transpose()
            .map_err(std::io::Error::other)?;
        let acceptor = ca.as_ref().map(|ca| TlsAcceptor::from(ca.server_config()));
        let (stop, stopped) = watch::channel(());
        let shared = Arc::new(Shared {
            region: config.region,
            endpoint_regions: config.endpoint_regions,
            credentials: config.credentials,
            endpoint_ids: RwLock::new(config.endpoint_ids),
            targets: RwLock::new(config.targets),
            allowed_ports: config.allowed_ports,
            clock: config.clock,
            ping_interval: config.ping_interval,
            idle_timeout: Mutex::new(config.idle_timeout),
            idle_conns: conns::IdleConns::new(config.idle_connection_timeout),
            deaf: AtomicBool::new(false),
            stats: StatsCell::new(),
            random: rustls::crypto::aws_lc_rs::default_provider().secure_random,
            faults: Mutex::new(FaultTable::default()),
            stopped,
            cut_all: watch::channel(None).0,
            enforce_max_duration: AtomicBool::new(true),
            worlds: config.worlds,
            quota: quota::Quota::new(config.tunnels_per_endpoint),
        });
        let accept_task = tokio::spawn(accept_loop(listener, acceptor, Arc::clone(&shared)));
        debug!(%addr, tls = ca.is_some(), "simulated EICE listening");
        Ok(EiceSim {
            addr,
            ca,
            shared,
            accept_task,
            _stop: stop,
        })
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT` or `wss://127.0.0.1:PORT`: what `EICE_PROXY_ENDPOINT_URL`
    /// should be set to so the product talks to this service.
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM of the CA clients must trust, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::ca_pem)
    }

    /// The test CA itself (to write it for `AWS_CA_BUNDLE`, or build a client
    /// config), when serving TLS.
    pub fn test_ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> EiceStats {
        self.shared.stats.snapshot()
    }

    /// Waits until the counters satisfy `done` and returns that snapshot, e.g.
    /// `sim.wait_for(|s| s.tunnels_active == 0)`. Wrap it in a timeout in tests.
    pub async fn wait_for(&self, done: impl Fn(&EiceStats) -> bool) -> EiceStats {
        self.shared.stats.wait_for(done).await
    }

    /// Makes `private` (an instance's `privateIpAddress:remotePort`) reachable at
    /// the local listener `local`, for tests that start instances after the service.
    pub fn add_target(&self, private: SocketAddr, local: SocketAddr) {
        let mut targets = self
            .shared
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        targets.insert(private, local);
    }

    /// Makes `private` unreachable again, as when an instance stops or its
    /// security group closes the port: tunnels to it end with close 1011.
    pub fn remove_target(&self, private: SocketAddr) {
        let mut targets = self
            .shared
            .targets
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        targets.remove(&private);
    }

    /// Deletes an endpoint: upgrades naming it are refused from now on as
    /// the real service refuses an endpoint that does not exist (400
    /// `InvalidInstanceConnectEndpointId.NotFound`).
    pub fn delete_endpoint(&self, id: &str) {
        self.shared
            .endpoint_ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|known| known != id);
    }

    /// Refuses the next `times` upgrades that pass authentication with `status`
    /// and the JSON body `{"ErrorCode": error_code, "Message": message}` (after any
    /// refusals already armed), as the real service does for an IAM denial (403
    /// `AccessDeniedException`), throttling (429 `ThrottlingException`) or trouble
    /// of its own (5xx). `status` must be 400–599.
    pub fn fail_next_upgrades(&self, times: usize, status: u16, error_code: &str, message: &str) {
        let fault = UpgradeFault::new(status, error_code, message);
        self.shared.faults().fail_next_upgrades(times, fault);
    }

    /// Refuses every authenticated upgrade for `endpoint_id` like
    /// [`EiceSim::fail_next_upgrades`] (once the one-shot refusals are used up),
    /// until [`EiceSim::clear_faults`]; other endpoints keep working.
    pub fn fail_upgrades_for(
        &self,
        endpoint_id: &str,
        status: u16,
        error_code: &str,
        message: &str,
    ) {
        let fault = UpgradeFault::new(status, error_code, message);
        self.shared.faults().fail_upgrades_for(endpoint_id, fault);
    }

    /// Leaves the next `times` requests unanswered: TCP (and TLS) are accepted
    /// and the request is read, but no response ever comes (no upgrade, no
    /// error), until the client gives up or the service is dropped. [`EiceStats::upgrades_hung`]
    /// counts them, so a test can wait until the request arrived.
    pub fn hang_next_upgrades(&self, times: usize) {
        self.shared.faults().hang_next_upgrades(times);
    }

    /// Cuts the next tunnel opened (after any cuts already armed): once `bytes`
    /// bytes of instance data have been sent to the client, the service sends
    /// Close `code` with `reason` — e.g. 1011 "connection reset by instance" —
    /// and drops the instance connection.
    pub fn close_next_tunnel_after(&self, bytes: u64, code: u16, reason: &str) {
        self.shared.faults().cut_next_tunnel(TunnelCut {
            after_bytes: bytes,
            code,
            reason: reason.to_owned(),
        });
    }

    /// Closes the tunnels whose instance cannot be reached (a blocked path,
    /// nothing listening) with Close `code` instead of 1011, the reason
    /// unchanged, until [`EiceSim::clear_faults`]. EICE documents no code for
    /// "Unable to connect to target": a client must not depend on one.
    pub fn close_unreachable_with(&self, code: u16) {
        self.shared.faults().close_unreachable_with(code);
    }

    /// Closes every tunnel open now with Close `code` and `reason`, as the
    /// service does when an instance reboots or the network drops; tunnels
    /// opened afterwards are not affected.
    pub fn cut_open_tunnels(&self, code: u16, reason: &str) {
        self.shared
            .cut_all
            .send_replace(Some((code, reason.to_owned())));
    }

    /// Tunnels opened from now on are not closed at their `maxTunnelDuration`,
    /// as the real service always does: for tests of what a client does
    /// *before* the limit, which would otherwise race it.
    pub fn keep_tunnels_past_max_duration(&self) {
        self.shared
            .enforce_max_duration
            .store(false, Ordering::Relaxed);
    }

    /// Sets the idle limit ([`EiceSimConfig::idle_timeout`]) of the tunnels
    /// opened from now on, e.g. on a service started by [`crate::account::SimAws`].
    pub fn set_idle_timeout(&self, idle: Option<Duration>) {
        *self
            .shared
            .idle_timeout
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = idle;
    }

    /// Sets how many tunnels each endpoint carries at once before it refuses
    /// the next ([`EiceSimConfig::tunnels_per_endpoint`]), as AWS does when
    /// it raises an account's quota; tunnels open now are not affected.
    pub fn set_tunnels_per_endpoint(&self, limit: usize) {
        self.shared.quota.set_limit(limit);
    }

    /// Makes every tunnel, open or not, go deaf at its next client Ping: the
    /// Ping is counted but not answered, and the service reads nothing more
    /// from that client, as a connection silently dropped on the way looks.
    /// For tests of what a client does when its keepalives go unanswered.
    pub fn stop_answering_pings(&self) {
        self.shared.deaf.store(true, Ordering::Relaxed);
    }

    /// Disarms every injected fault (pings are answered again); hung requests
    /// stay hung, and tunnels gone deaf stay so.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
        self.shared.deaf.store(false, Ordering::Relaxed);
    }
}

impl Drop for EiceSim {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn accept_loop(listener: TcpListener, acceptor: Option<TlsAcceptor>, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                tokio::spawn(conns::serve(
                    stream,
                    peer,
                    acceptor.clone(),
                    Arc::clone(&shared),
                ));
            }
            Err(error) => {
                // Out of file descriptors or similar: back off instead of spinning.
                warn!(%error, "simulated EICE accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
