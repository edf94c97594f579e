//! A simulated EC2 Query API on 127.0.0.1, answering the calls the proxy makes to
//! find its way (`DescribeInstances`, `DescribeVpcs`, `DescribeSubnets`,
//! `DescribeInstanceConnectEndpoints`) and to explain a blocked path
//! (`DescribeSecurityGroups`, `DescribeNetworkAcls`), and a Windows instance's
//! encrypted password (`GetPasswordData`, for `eice-proxy rdp`).
//!
//! Any EC2 Query client talks to it unchanged (point `AWS_ENDPOINT_URL_EC2` or the
//! client's endpoint URL at [`Ec2Sim::url`]): its documents use the element names of
//! AWS's EC2 API reference, and the product's own client is checked against this
//! simulator by the product's tests. One simulator can serve several regions of
//! an account ([`Ec2Sim::start_many`]), each a [`World`], picked per call by the
//! region its signature is scoped to. Every request's SigV4 signature is checked with the
//! independent verifier in [`crate::sigv4`]; answers come from a [`World`];
//! failures a real account produces (IAM denials, throttling, outages) can be
//! injected per action with [`Ec2Sim::fail_next`] and [`Ec2Sim::fail_always`]; and
//! [`Ec2Sim::calls`] counts calls so tests can prove caching and pagination.
//! Its clock ([`Ec2SimConfig::clock`]) may be set apart from the client's: a
//! signature more than five minutes from it is refused with `AuthFailure`,
//! and every answer's `Date` tells the client the simulator's time.
//!
//! The same URL also serves STS `GetCallerIdentity` ([`crate::sts`]) to
//! requests signed for the `sts` service: a client pointed at it by
//! `AWS_ENDPOINT_URL_STS` gets STS's own documents and errors. So does EC2
//! Instance Connect's `SendSSHPublicKey` ([`crate::keys`]), with
//! `GET /sim/authorized-keys/{instance-id}/{os-user}` for an sshd to read the keys.
//!
//! Files: `server.rs` (HTTP), `state.rs` (auth, counting, faults, dispatch),
//! `regions.rs` (one world per region),
//! `params.rs`/`filter.rs`/`query.rs` (the Query protocol's parameters),
//! `instances.rs`/`network.rs`/`endpoints.rs`/`groups.rs`/`acls.rs`/`password.rs`
//! (one per resource family),
//! `xml.rs` (documents), `error.rs` (EC2 error codes), `faults.rs`, `derived.rs`.

mod acls;
mod derived;
mod endpoints;
mod error;
mod faults;
mod filter;
mod groups;
mod instances;
mod network;
mod params;
mod password;
mod query;
mod regions;
mod server;
mod state;
#[cfg(test)]
mod tests;
pub(crate) mod xml;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use tokio::task::JoinHandle;

pub use faults::Fault;

use crate::clock::SimClock;
use crate::keys::KeyService;
use crate::sigv4::SimCredential;
use crate::sts::Sts;
use crate::world::{InstanceState, World, WorldError};
use regions::Regions;
use state::Shared;

/// The EC2 actions the simulator implements; anything else is `InvalidAction`.
///
/// An enum rather than a string so a test asserting on `calls(…)` or arming a
/// fault cannot misspell the action and pass vacuously.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `ec2:DescribeInstances`.
    DescribeInstances,
    /// `ec2:DescribeVpcs`.
    DescribeVpcs,
    /// `ec2:DescribeSubnets`.
    DescribeSubnets,
    /// `ec2:DescribeInstanceConnectEndpoints`.
    DescribeInstanceConnectEndpoints,
    /// `ec2:DescribeSecurityGroups`.
    DescribeSecurityGroups,
    /// `ec2:DescribeNetworkAcls`.
    DescribeNetworkAcls,
    /// `ec2:GetPasswordData`.
    GetPasswordData,
}

impl Action {
    /// Every implemented action.
    pub const ALL: [Action; 7] = [
        Action::DescribeInstances,
        Action::DescribeVpcs,
        Action::DescribeSubnets,
        Action::DescribeInstanceConnectEndpoints,
        Action::DescribeSecurityGroups,
        Action::DescribeNetworkAcls,
        Action::GetPasswordData,
    ];

    /// The `Action` parameter's value, which is also the IAM action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::DescribeInstances => "DescribeInstances",
            Action::DescribeVpcs => "DescribeVpcs",
            Action::DescribeSubnets => "DescribeSubnets",
            Action::DescribeInstanceConnectEndpoints => "DescribeInstanceConnectEndpoints",
            Action::DescribeSecurityGroups => "DescribeSecurityGroups",
            Action::DescribeNetworkAcls => "DescribeNetworkAcls",
            Action::GetPasswordData => "GetPasswordData",
        }
    }

    /// The action a request's `Action` parameter names, if implemented.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
    }
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct Ec2SimConfig {
    /// The access keys the simulated account accepts. Empty by default, which
    /// refuses every call: a test states which credentials are valid.
    pub credentials: HashMap<String, SimCredential>,
    /// Where to listen; port 0 picks a free port (read it back with
    /// [`Ec2Sim::url`]).
    pub bind: SocketAddr,
    /// The most items any page holds, whatever `MaxResults` says; tests set 1 to
    /// force the client through pagination (0 counts as 1).
    pub page_size: usize,
    /// AWS's time as the simulator keeps it: every signature (EC2, STS, EC2
    /// Instance Connect) is checked against it, and every answer's `Date` says
    /// it. A test moves it ([`SimClock::advance`], [`SimClock::rewind`]) to play
    /// a client whose clock is off.
    pub clock: SimClock,
}

impl Default for Ec2SimConfig {
    fn default() -> Self {
        Ec2SimConfig {
            credentials: HashMap::new(),
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            page_size: 1000,
            clock: SimClock::new(),
        }
    }
}

/// A running simulated EC2 API. Dropping it stops the server and every connection.
#[derive(Debug)]
pub struct Ec2Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Ec2Sim {
    /// Validates `world`, binds `config.bind` and starts serving.
    ///
    /// Must be called within a Tokio runtime, which runs the server. An invalid
    /// world is refused with `InvalidInput` and the [`WorldError`] as the source.
    pub fn start(world: Arc<World>, config: Ec2SimConfig) -> io::Result<Ec2Sim> {
        Ec2Sim::start_many(vec![world], config)
    }

    /// [`Ec2Sim::start`] for an account in several regions, one world each: the
    /// simulator stands for every one of their regional endpoints at its one URL,
    /// and answers each call from the world of the region in the call's SigV4
    /// credential scope.
    ///
    /// A call signed for a region no world is in is answered as the first world's
    /// endpoint would answer it: `AuthFailure`, "Credential should be scoped to a
    /// valid region, not '…'. This endpoint is in '…'." Besides each world's own
    /// checks, the worlds must be in distinct regions and share no resource id;
    /// an empty list is refused too (all `InvalidInput`).
    pub fn start_many(worlds: Vec<Arc<World>>, config: Ec2SimConfig) -> io::Result<Ec2Sim> {
        let regions = Regions::new(worlds)?;
        let listener = std::net::TcpListener::bind(config.bind)?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        static SIMULATORS: AtomicU64 = AtomicU64::new(0);
        let seed = SIMULATORS.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared::new(regions, config, seed));
        let server = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        Ok(Ec2Sim {
            addr,
            shared,
            server,
        })
    }

    /// The endpoint URL, `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL_EC2` (or
    /// a client's endpoint URL) gets.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many calls of `action` passed authentication, in every region, failed
    /// ones included.
    pub fn calls(&self, action: Action) -> usize {
        self.shared.calls(None, action.as_str())
    }

    /// [`Ec2Sim::calls`] in one region: e.g. proof that an instance was looked up
    /// in both regions of the account.
    pub fn calls_in(&self, region: &str, action: Action) -> usize {
        self.shared.calls(Some(region), action.as_str())
    }

    /// How many EC2 calls of any action (unknown ones too) in any region passed
    /// authentication.
    pub fn calls_total(&self) -> usize {
        self.shared.calls_total()
    }

    /// How many TCP connections the server accepted (EC2, STS and EC2
    /// Instance Connect alike): with [`Ec2Sim::calls`], proof that a client
    /// sends its calls over one kept connection rather than one each.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The client address of every connection the server accepted, in order:
    /// who dialled it (through a proxy, the proxy's outgoing address).
    pub fn peers(&self) -> Vec<SocketAddr> {
        self.shared
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fails the next `times` calls of `action` with `fault` (after any one-shot
    /// faults already armed for it).
    pub fn fail_next(&self, action: Action, fault: Fault, times: usize) {
        self.shared.faults().fail_next(action, fault, times);
    }

    /// Fails every call of `action` with `fault` once one-shot faults are used up.
    pub fn fail_always(&self, action: Action, fault: Fault) {
        self.shared.faults().fail_always(action, fault);
    }

    /// Makes every page of `action` after the first carry, as its
    /// `nextToken`, the very token it was asked with (until
    /// [`Ec2Sim::clear_faults`]): a service bug that a paginator must notice
    /// rather than loop on.
    pub fn repeat_next_token(&self, action: Action) {
        self.shared.faults().repeat_next_token(action);
    }

    /// The simulated STS served at the same URL (`AWS_ENDPOINT_URL_STS`), to set
    /// who each access key is ([`Sts::set_identity`]) or count its calls.
    pub fn sts(&self) -> &Sts {
        &self.shared.sts
    }

    /// The simulated EC2 Instance Connect key API served at the same URL
    /// (`AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT`): its clock, pushed keys, denials
    /// and faults. sshd reads the keys at [`crate::keys::authorized_keys_url`].
    pub fn keys(&self) -> &KeyService {
        &self.shared.keys
    }

    /// The simulated AWS's clock ([`Ec2SimConfig::clock`]).
    pub fn clock(&self) -> &SimClock {
        &self.shared.clock
    }

    /// Holds every successful answer to `held` until a call of `until` has
    /// arrived (counted after its signature is checked): proof that a client
    /// sends the two at once. A client that waits for the first answer before
    /// asking the second never gets one, so a test bounds its wait.
    pub fn hold_answers(&self, held: Action, until: Action) {
        self.shared.hold(held, until);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// Changes an instance's state (in whichever region it is) for every later
    /// call, e.g. to stop an instance under a running proxy.
    pub fn set_instance_state(&self, id: &str, state: InstanceState) -> Result<(), WorldError> {
        self.shared.regions.set_instance_state(id, state)
    }

    /// Deletes an endpoint (in whichever region it is) for every later call,
    /// as `DeleteInstanceConnectEndpoint` would: it is no longer listed.
    pub fn delete_endpoint(&self, id: &str) -> Result<(), WorldError> {
        self.shared.regions.delete_endpoint(id)
    }

    /// The first world as the simulator currently sees it (a snapshot), for
    /// services that must agree with it, such as a simulated EICE endpoint.
    pub fn world(&self) -> Arc<World> {
        self.shared.regions.first()
    }

    /// The world of `region` as the simulator currently sees it, if it serves one.
    pub fn world_in(&self, region: &str) -> Option<Arc<World>> {
        self.shared.regions.get(region)
    }

    /// The regions served, the first (default) one first.
    pub fn regions(&self) -> Vec<String> {
        self.shared.regions.names()
    }
}

impl Drop for Ec2Sim {
    fn drop(&mut self) {
        self.server.abort();
    }
}
