//! How a simulated EICE service is started: its region, keys, endpoints, target
//! table, the worlds that judge paths, and the knobs tests turn.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY, SimCredential};
use crate::clock::SimClock;
use crate::world::World;

/// How the simulated service behaves; [`Default`] gives a plain-`ws` service in
/// `us-east-1` that knows the AWS documentation example key and no instances.
#[derive(Debug, Clone)]
pub struct EiceSimConfig {
    /// The region the service runs in; signatures must be scoped to it, unless
    /// `endpoint_regions` places the tunnel's endpoint elsewhere.
    pub region: String,
    /// `instanceConnectEndpointId` → the region that endpoint is in, for a service
    /// standing for the endpoints of several regions at once: a tunnel's signature
    /// must be scoped to its endpoint's region. Endpoints not listed are in `region`.
    pub endpoint_regions: HashMap<String, String>,
    /// Access key id → credential; keys not listed are "invalid security tokens".
    pub credentials: HashMap<String, SimCredential>,
    /// The `instanceConnectEndpointId`s that exist; empty accepts any id.
    pub endpoint_ids: Vec<String>,
    /// `privateIpAddress:remotePort` → the local listener standing for that instance.
    /// Only loopback listeners are ever connected to.
    pub targets: HashMap<SocketAddr, SocketAddr>,
    /// The `remotePort`s the service accepts (the real one: 22 and 3389).
    pub allowed_ports: Vec<u16>,
    /// Serve `wss://` with a freshly generated [`crate::tls::TestCa`] instead of
    /// plain `ws://`.
    pub tls: bool,
    /// The service's clock, which presigned URLs are checked against and every
    /// answer's `Date` says: tests set it apart from the client's, so that a
    /// fresh URL looks expired (ahead) or from the future (behind). A simulated
    /// account shares one with its EC2 API.
    pub clock: SimClock,
    /// Ping every tunnel this often, as the real service does; `None` never pings.
    pub ping_interval: Option<Duration>,
    /// Close a tunnel that carried no frame either way for this long (the
    /// client's frames, pings included, and the instance's data; not the
    /// service's own pings), with Close 1008 and [`super::IDLE_TIMEOUT_REASON`],
    /// as an idle limit on the way would. `None` (the default) never does.
    /// [`super::EiceSim::set_idle_timeout`] changes it for later tunnels.
    pub idle_timeout: Option<Duration>,
    /// Close a connection that sent no request for this long (TLS
    /// `close_notify`, then FIN), as a load balancer's idle timeout does to
    /// connections a client keeps ready. `None` (the default) never does.
    /// [`super::EiceSim::set_idle_connection_timeout`] changes it later.
    pub idle_connection_timeout: Option<Duration>,
    /// Where to listen; port 0 picks a free port ([`super::EiceSim::addr`] tells
    /// which).
    pub bind: SocketAddr,
    /// The worlds whose security groups and network ACLs decide whether a tunnel
    /// may reach its target: a tunnel through one of their endpoints to an
    /// instance of the endpoint's VPC whose path [`crate::firewall`] finds blocked
    /// is closed with 1011 "Unable to connect to target". Empty (the default):
    /// no path is judged, only the target table decides.
    pub worlds: Vec<Arc<World>>,
    /// Concurrent tunnels each endpoint carries before it refuses the next
    /// (the service quota, 20; see `quota`).
    pub tunnels_per_endpoint: usize,
}

impl Default for EiceSimConfig {
    fn default() -> Self {
        EiceSimConfig {
            region: "us-east-1".to_owned(),
            endpoint_regions: HashMap::new(),
            credentials: HashMap::from([(
                EXAMPLE_ACCESS_KEY_ID.to_owned(),
                SimCredential::new(EXAMPLE_SECRET_ACCESS_KEY),
            )]),
            endpoint_ids: Vec::new(),
            targets: HashMap::new(),
            allowed_ports: vec![22, 3389],
            tls: false,
            clock: SimClock::new(),
            ping_interval: None,
            idle_timeout: None,
            idle_connection_timeout: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            worlds: Vec::new(),
            tunnels_per_endpoint: 20,
        }
    }
}
