//! What a route file holds: the answers one profile got in one region, each
//! with the time it was learned, and the identity that says whose they are.
//!
//! An answer is used only within the lifetime `serve`'s caches give it
//! (`[cache]`), counted from when it was learned; "nothing there" answers
//! live `negative_ttl`. Expired answers are dropped whenever the file is
//! written, so it never grows past what is still fresh.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::aws_names::{BadName, IdKind, check_id};
use crate::config::CacheConfig;
use crate::ec2::{EndpointInfo, InstanceInfo};

/// The version of the file's shape; a file of another version is foreign.
/// Bump it whenever `Contents`, `InstanceInfo` or `EndpointInfo` change shape.
/// (2: instances know their platform and launch key pair, for `rdp`.)
pub(super) const FORMAT: u32 = 2;

/// Whose answers a file holds: a file is used only by the same profile, in
/// the same region, against the same EC2 API, so that answers learned from
/// the simulated AWS (or another endpoint URL) never route a real login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The profile as the user set it, `default` otherwise.
    pub profile: String,
    pub region: String,
    /// The EC2 API URL the answers came from.
    pub api: String,
}

/// The head of a file, read first so that another version's file is told
/// apart from a corrupt one.
#[derive(Deserialize)]
pub(super) struct Head {
    pub format: u32,
    #[serde(flatten)]
    pub identity: Identity,
}

/// One answer and when it was learned (seconds since the Unix epoch).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Learned<T> {
    pub at: u64,
    pub value: T,
}

/// Which endpoints a lookup lists: a VPC's, or one named by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointsOf {
    Vpc(String),
    Id(String),
}

impl EndpointsOf {
    fn key(&self) -> String {
        match self {
            EndpointsOf::Vpc(vpc) => format!("vpc:{vpc}"),
            EndpointsOf::Id(id) => format!("id:{id}"),
        }
    }
}

/// The key of an address lookup: the address and the VPC it is in.
fn at_key(ip: IpAddr, vpc: &str) -> String {
    format!("{ip} {vpc}")
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Contents {
    pub format: u32,
    #[serde(flatten)]
    pub identity: Identity,
    /// Instance id → the instance (`None`: not in this region).
    #[serde(default)]
    instances: BTreeMap<String, Learned<Option<InstanceInfo>>>,
    /// Lowercased Name tag → every instance with it.
    #[serde(default)]
    names: BTreeMap<String, Learned<Vec<InstanceInfo>>>,
    /// "address VPC" → the running instance there.
    #[serde(default)]
    at: BTreeMap<String, Learned<Option<InstanceInfo>>>,
    /// The region's VPC CIDR blocks.
    #[serde(default)]
    vpcs: Option<Learned<Vec<(IpNet, String)>>>,
    /// "vpc:ID" or "id:ID" → the usable endpoints.
    #[serde(default)]
    endpoints: BTreeMap<String, Learned<Vec<EndpointInfo>>>,
}

/// The lifetimes of answers, in seconds, as `[cache]` sets them.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    instance: u64,
    vpc: u64,
    endpoint: u64,
    negative: u64,
}

impl From<&CacheConfig> for Lifetimes {
    fn from(c: &CacheConfig) -> Lifetimes {
        Lifetimes {
            instance: c.instance_ttl,
            vpc: c.vpc_ttl,
            endpoint: c.endpoint_ttl,
            negative: c.negative_ttl,
        }
    }
}

/// Seconds since the Unix epoch.
pub(super) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<T> Learned<T> {
    fn new(value: T) -> Learned<T> {
        Learned { at: now(), value }
    }

    /// Whether the answer is still within `ttl`; one from the future (the
    /// clock went back) is not trusted.
    fn fresh(&self, now: u64, ttl: u64) -> bool {
        self.at <= now && now - self.at < ttl
    }
}

/// Its lifetime: `found` for an answer that found something, else `negative`.
fn ttl(empty: bool, found: u64, lifetimes: &Lifetimes) -> u64 {
    if empty { lifetimes.negative } else { found }
}

impl Contents {
    /// An empty file for `identity`.
    pub(super) fn empty(identity: Identity) -> Contents {
        Contents {
            format: FORMAT,
            identity,
            instances: BTreeMap::new(),
            names: BTreeMap::new(),
            at: BTreeMap::new(),
            vpcs: None,
            endpoints: BTreeMap::new(),
        }
    }

    /// Checks every answer it holds as an EC2 answer is checked (ids of
    /// AWS's shapes, endpoint names of the file's region), so that a file
    /// someone wrote by hand never puts a name into a tunnel's URL or an id
    /// into ssh's arguments.
    pub(super) fn check(&self) -> Result<(), BadName> {
        let by_id = self.instances.values().chain(self.at.values());
        let named = self.names.values().flat_map(|e| &e.value);
        for instance in by_id.filter_map(|e| e.value.as_ref()).chain(named) {
            instance.check()?;
        }
        for (_, vpc) in self.vpcs.iter().flat_map(|e| &e.value) {
            check_id(IdKind::Vpc, vpc)?;
        }
        for endpoint in self.endpoints.values().flat_map(|e| &e.value) {
            endpoint.check(&self.identity.region)?;
        }
        Ok(())
    }

    pub(super) fn instance(&self, id: &str, l: &Lifetimes) -> Option<Option<InstanceInfo>> {
        let e = self.instances.get(id)?;
        e.fresh(now(), ttl(e.value.is_none(), l.instance, l))
            .then(|| e.value.clone())
    }

    pub(super) fn named(&self, name: &str, l: &Lifetimes) -> Option<Vec<InstanceInfo>> {
        let e = self.names.get(&name.to_ascii_lowercase())?;
        e.fresh(now(), ttl(e.value.is_empty(), l.instance, l))
            .then(|| e.value.clone())
    }

    pub(super) fn instance_at(
        &self,
        ip: IpAddr,
        vpc: &str,
        l: &Lifetimes,
    ) -> Option<Option<InstanceInfo>> {
        let e = self.at.get(&at_key(ip, vpc))?;
        e.fresh(now(), ttl(e.value.is_none(), l.instance, l))
            .then(|| e.value.clone())
    }

    pub(super) fn vpcs(&self, l: &Lifetimes) -> Option<Vec<(IpNet, String)>> {
        let e = self.vpcs.as_ref()?;
        e.fresh(now(), ttl(e.value.is_empty(), l.vpc, l))
            .then(|| e.value.clone())
    }

    pub(super) fn endpoints(&self, of: &EndpointsOf, l: &Lifetimes) -> Option<Vec<EndpointInfo>> {
        let e = self.endpoints.get(&of.key())?;
        e.fresh(now(), ttl(e.value.is_empty(), l.endpoint, l))
            .then(|| e.value.clone())
    }

    /// Whether it holds a fresh list of some VPC's endpoints.
    pub(super) fn knows_endpoints(&self, l: &Lifetimes) -> bool {
        self.endpoints.iter().any(|(key, e)| {
            key.starts_with("vpc:") && e.fresh(now(), ttl(e.value.is_empty(), l.endpoint, l))
        })
    }

    /// Applies `change`.
    pub(super) fn apply(&mut self, change: Change) {
        match change {
            Change::Instance(id, value) => {
                self.instances.insert(id, Learned::new(value));
            }
            Change::Named(name, value) => {
                // Each is also an answer for its id: `ssh` looks a name up,
                // then hands its ProxyCommand the instance id.
                for instance in &value {
                    self.instances
                        .insert(instance.id.clone(), Learned::new(Some(instance.clone())));
                }
                self.names
                    .insert(name.to_ascii_lowercase(), Learned::new(value));
            }
            Change::At(ip, vpc, value) => {
                self.at.insert(at_key(ip, &vpc), Learned::new(value));
            }
            Change::Vpcs(value) => self.vpcs = Some(Learned::new(value)),
            Change::Endpoints(of, value) => {
                self.endpoints.insert(of.key(), Learned::new(value));
            }
            Change::Forget(forget) => self.forget(forget),
        }
    }

    fn forget(&mut self, forget: Forget) {
        match forget {
            Forget::Instance { id, name, ip } => {
                self.instances.remove(&id);
                if let Some(name) = name {
                    self.names.remove(&name.to_ascii_lowercase());
                }
                if let Some(ip) = ip {
                    let prefix = format!("{ip} ");
                    self.at.retain(|key, _| !key.starts_with(&prefix));
                }
            }
            Forget::Address(ip) => {
                self.vpcs = None;
                let prefix = format!("{ip} ");
                self.at.retain(|key, _| !key.starts_with(&prefix));
            }
            Forget::Endpoints { vpc, id } => {
                self.endpoints.remove(&EndpointsOf::Vpc(vpc).key());
                self.endpoints.remove(&EndpointsOf::Id(id).key());
            }
        }
    }

    /// Drops every answer past its lifetime.
    pub(super) fn prune(&mut self, l: &Lifetimes) {
        let now = now();
        self.instances
            .retain(|_, e| e.fresh(now, ttl(e.value.is_none(), l.instance, l)));
        self.names
            .retain(|_, e| e.fresh(now, ttl(e.value.is_empty(), l.instance, l)));
        self.at
            .retain(|_, e| e.fresh(now, ttl(e.value.is_none(), l.instance, l)));
        if self
            .vpcs
            .as_ref()
            .is_some_and(|e| !e.fresh(now, ttl(e.value.is_empty(), l.vpc, l)))
        {
            self.vpcs = None;
        }
        self.endpoints
            .retain(|_, e| e.fresh(now, ttl(e.value.is_empty(), l.endpoint, l)));
    }
}

/// One change to a file: an answer learned, or answers a tunnel showed stale.
#[derive(Debug, Clone)]
pub enum Change {
    Instance(String, Option<InstanceInfo>),
    Named(String, Vec<InstanceInfo>),
    At(IpAddr, String, Option<InstanceInfo>),
    Vpcs(Vec<(IpNet, String)>),
    Endpoints(EndpointsOf, Vec<EndpointInfo>),
    Forget(Forget),
}

/// Answers a failed tunnel showed stale.
#[derive(Debug, Clone)]
pub enum Forget {
    /// The instance (by id, its Name tag, its address) is not where the
    /// route said: stopped, replaced, or unreachable.
    Instance {
        id: String,
        name: Option<String>,
        ip: Option<IpAddr>,
    },
    /// Nothing answered at an address placed by the VPCs' CIDR blocks.
    Address(IpAddr),
    /// The endpoint is gone: the VPC's list, and the endpoint by id.
    Endpoints { vpc: String, id: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes() -> Lifetimes {
        Lifetimes::from(&CacheConfig::default())
    }

    fn contents() -> Contents {
        Contents::empty(Identity {
            profile: "default".into(),
            region: "us-east-1".into(),
            api: "https://ec2.us-east-1.amazonaws.com/".into(),
        })
    }

    #[test]
    fn an_answer_lives_its_lifetime_and_a_negative_one_the_shorter_one() {
        let l = lifetimes();
        let mut c = contents();
        c.apply(Change::Instance("i-1".into(), None));
        c.apply(Change::Vpcs(vec![(
            "10.0.0.0/16".parse().unwrap(),
            "vpc-1".into(),
        )]));
        assert_eq!(c.instance("i-1", &l), Some(None));
        // Learned 30 s ago: past negative_ttl (20 s), within vpc_ttl (900 s).
        c.instances.get_mut("i-1").unwrap().at -= 30;
        c.vpcs.as_mut().unwrap().at -= 30;
        assert_eq!(c.instance("i-1", &l), None);
        assert!(c.vpcs(&l).is_some());
        c.prune(&l);
        assert!(c.instances.is_empty(), "expired answers are dropped");
        assert!(c.vpcs.is_some());
        // Learned in the future: not trusted.
        c.vpcs.as_mut().unwrap().at = now() + 100;
        assert!(c.vpcs(&l).is_none());
    }

    #[test]
    fn a_stale_instance_is_forgotten_by_id_name_and_address() {
        let l = lifetimes();
        let mut c = contents();
        let ip: IpAddr = "10.0.1.10".parse().unwrap();
        c.apply(Change::Instance("i-1".into(), None));
        c.apply(Change::Named("Web".into(), Vec::new()));
        c.apply(Change::At(ip, "vpc-1".into(), None));
        c.apply(Change::Instance("i-2".into(), None));
        c.apply(Change::Forget(Forget::Instance {
            id: "i-1".into(),
            name: Some("WEB".into()),
            ip: Some(ip),
        }));
        assert!(c.instance("i-1", &l).is_none());
        assert!(c.named("web", &l).is_none());
        assert!(c.instance_at(ip, "vpc-1", &l).is_none());
        assert!(c.instance("i-2", &l).is_some(), "others are kept");
    }
}
