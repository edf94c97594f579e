//! Target → route: the one place that decides how a target is reached.
//!
//! An instance id or `Name` tag is looked up with `DescribeInstances`; a bare IP
//! (or an EC2 private DNS name, which spells one) is placed in a VPC by the
//! VPCs' CIDR blocks or a `[[route]]` rule; the VPC's endpoints come from
//! `DescribeInstanceConnectEndpoints`, preferring the instance's subnet, then
//! its availability zone. Every answer goes through a moka cache, so a warm
//! target costs no API call; concurrent misses for one key share one call, and
//! "not found" answers live shorter than found ones.

pub mod cidr;
pub mod ec2;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

pub use ec2::{AwsError, Ec2, EndpointInfo, Family, InstanceInfo};
use ipnet::IpNet;

use crate::config::{CacheConfig, Config, RouteRule};
use crate::eice::{Endpoint, TunnelError, TunnelRequest};
use crate::error::Reply;
use crate::target::{Host, Target};

/// How a target is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Straight through an EICE tunnel.
    Eice(TunnelRequest),
}

/// Where an answer came from, for `eice-proxy resolve` and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Api,
    Config,
}

/// A resolved target: the route, and what was learned on the way.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub route: Route,
    /// The instance, when the target named one.
    pub instance: Option<Arc<InstanceInfo>>,
    pub vpc_id: String,
    /// The endpoint chosen, with its subnet and AZ.
    pub endpoint: Arc<EndpointInfo>,
    /// Each lookup made and who answered it, in order.
    pub lookups: Vec<(&'static str, Source)>,
}

impl Resolution {
    /// The tunnel request of an EICE route.
    pub fn tunnel(&self) -> &TunnelRequest {
        match &self.route {
            Route::Eice(request) => request,
        }
    }
}

/// Why a target has no route.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("instance {id} was not found in {region}")]
    InstanceNotFound { id: String, region: String },
    #[error("instance {id} is {state}, not running: start it first")]
    NotRunning { id: String, state: String },
    #[error("instance {id} has no private IP address")]
    NoAddress { id: String },
    #[error("no instance has the Name tag {name:?} in {region}")]
    NameNotFound { name: String, region: String },
    #[error("no instance with the Name tag {name:?} is running ({states})")]
    NoneRunning { name: String, states: String },
    #[error("{} running instances have the Name tag {name:?}: {}; connect by instance id", ids.len(), ids.join(", "))]
    NameAmbiguous { name: String, ids: Vec<String> },
    #[error("{host} is in {region}, but the proxy works in {configured}")]
    OtherRegion {
        host: String,
        region: String,
        configured: String,
    },
    #[error("{ip} is not inside any VPC's CIDR blocks in {region}")]
    NotInAnyVpc { ip: IpAddr, region: String },
    #[error(
        "{ip} is inside the CIDR blocks of several VPCs ({}); pin one in the config file: \
         [[route]] cidr = \"{ip}/32\" vpc = \"{}\"",
        vpcs.join(", "), vpcs[0]
    )]
    SeveralVpcs { ip: IpAddr, vpcs: Vec<String> },
    #[error(
        "VPC {vpc} has no usable EC2 Instance Connect Endpoint (none exists, or none is in a create-complete/update state)"
    )]
    NoEndpoint { vpc: String },
    #[error("endpoint {id} named by a [[route]] rule was not found or is not usable")]
    PinnedEndpointMissing { id: String },
    #[error("{ip} cannot be reached through endpoint {endpoint}: its IpAddressType is {family}")]
    WrongFamily {
        ip: IpAddr,
        endpoint: String,
        family: Family,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ResolveError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            ResolveError::NoEndpoint { .. } | ResolveError::PinnedEndpointMissing { .. } => {
                Reply::NetworkUnreachable
            }
            ResolveError::WrongFamily { .. } => Reply::AddressTypeNotSupported,
            ResolveError::Aws(e) => e.reply(),
            _ => Reply::HostUnreachable,
        }
    }
}

/// Which endpoints to list: a VPC's, or one named by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum EndpointKey {
    Vpc(String),
    Id(String),
}

/// Answers that say "nothing there"; they expire sooner.
trait Emptiness {
    fn is_empty_answer(&self) -> bool;
}

impl Emptiness for Option<Arc<InstanceInfo>> {
    fn is_empty_answer(&self) -> bool {
        self.is_none()
    }
}

impl<T> Emptiness for Arc<Vec<T>> {
    fn is_empty_answer(&self) -> bool {
        self.is_empty()
    }
}

/// Per-entry lifetime: positive answers `found`, empty ones `missing`.
struct Ttl {
    found: Duration,
    missing: Duration,
}

impl<K, V: Emptiness> Expiry<K, V> for Ttl {
    fn expire_after_create(&self, _key: &K, value: &V, _created_at: Instant) -> Option<Duration> {
        Some(if value.is_empty_answer() {
            self.missing
        } else {
            self.found
        })
    }
}

fn cache<K, V>(found_secs: u64, config: &CacheConfig) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Emptiness + Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(10_000)
        .expire_after(Ttl {
            found: Duration::from_secs(found_secs),
            missing: Duration::from_secs(config.negative_ttl),
        })
        .build()
}

/// Resolves targets in one region, through caches.
pub struct Resolver {
    ec2: Ec2,
    region: String,
    routes: Vec<RouteRule>,
    max_tunnel_duration: Option<u32>,
    instances: Cache<String, Option<Arc<InstanceInfo>>>,
    names: Cache<String, Arc<Vec<Arc<InstanceInfo>>>>,
    vpcs: Cache<(), Arc<Vec<(IpNet, String)>>>,
    endpoints: Cache<EndpointKey, Arc<Vec<Arc<EndpointInfo>>>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver for `region` with the config's routes and cache lifetimes.
    pub fn new(ec2: Ec2, region: String, config: &Config) -> Resolver {
        let c = &config.cache;
        Resolver {
            ec2,
            region,
            routes: config.routes.clone(),
            max_tunnel_duration: config.max_tunnel_duration,
            instances: cache(c.instance_ttl, c),
            names: cache(c.instance_ttl, c),
            vpcs: cache(c.vpc_ttl, c),
            endpoints: cache(c.endpoint_ttl, c),
        }
    }

    /// The region this resolver works in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Finds how to reach `target`.
    pub async fn resolve(&self, target: &Target) -> Result<Resolution, ResolveError> {
        let mut lookups = Vec::new();
        let (instance, ip) = match &target.host {
            Host::InstanceId(id) => {
                let instance = self.instance(id, &mut lookups).await?;
                let ip = running_address(&instance)?;
                (Some(instance), ip)
            }
            Host::Name(name) => {
                let instance = self.named(name, &mut lookups).await?;
                let ip = running_address(&instance)?;
                (Some(instance), ip)
            }
            Host::PrivateDns { ip, region } if *region != self.region => {
                return Err(ResolveError::OtherRegion {
                    host: target.host.to_string(),
                    region: region.clone(),
                    configured: self.region.clone(),
                });
            }
            Host::PrivateDns { ip, .. } => (None, IpAddr::V4(*ip)),
            Host::Ip(ip) => (None, *ip),
        };
        let endpoint = match &instance {
            Some(i) => {
                let vpc = i
                    .vpc_id
                    .clone()
                    .ok_or_else(|| ResolveError::NoAddress { id: i.id.clone() })?;
                self.endpoint_in(&vpc, ip, Some(i), &mut lookups).await?
            }
            None => self.endpoint_for_ip(ip, &mut lookups).await?,
        };
        let request = TunnelRequest {
            endpoint: Arc::new(Endpoint {
                id: endpoint.id.clone(),
                region: self.region.clone(),
                dns_name: endpoint.dns_name.clone(),
                fips_dns_name: endpoint.fips_dns_name.clone(),
            }),
            private_ip: ip,
            port: target.port,
            max_tunnel_duration: self.max_tunnel_duration,
        };
        Ok(Resolution {
            route: Route::Eice(request),
            instance,
            vpc_id: endpoint.vpc_id.clone(),
            endpoint,
            lookups,
        })
    }

    /// Forgets cached answers that `error` shows to be stale, so the next
    /// connection asks EC2 again instead of failing the same way.
    pub async fn forget(&self, resolution: &Resolution, error: &TunnelError) {
        let stale_endpoint = matches!(error, TunnelError::Refused(e)
            if e.status == 404 || e.code.as_deref().is_some_and(|c| c.ends_with(".NotFound")));
        let stale_instance = matches!(error, TunnelError::Closed { code, .. } if *code == crate::eice::tunnel::CLOSE_INTERNAL_ERROR);
        if stale_endpoint {
            self.endpoints
                .invalidate(&EndpointKey::Vpc(resolution.vpc_id.clone()))
                .await;
        }
        if stale_instance && let Some(instance) = &resolution.instance {
            self.instances.invalidate(&instance.id).await;
            if let Some(name) = &instance.name {
                self.names.invalidate(&name.to_ascii_lowercase()).await;
            }
        }
    }

    async fn instance(
        &self,
        id: &str,
        lookups: &mut Vec<(&'static str, Source)>,
    ) -> Result<Arc<InstanceInfo>, ResolveError> {
        let entry = self
            .instances
            .entry(id.to_owned())
            .or_try_insert_with(async { self.ec2.instance(id).await.map(|i| i.map(Arc::new)) })
            .await
            .map_err(|e| ResolveError::Aws((*e).clone()))?;
        lookups.push(("instance", source(entry.is_fresh())));
        entry
            .into_value()
            .ok_or_else(|| ResolveError::InstanceNotFound {
                id: id.to_owned(),
                region: self.region.clone(),
            })
    }

    async fn named(
        &self,
        name: &str,
        lookups: &mut Vec<(&'static str, Source)>,
    ) -> Result<Arc<InstanceInfo>, ResolveError> {
        let entry = self
            .names
            .entry(name.to_ascii_lowercase())
            .or_try_insert_with(async {
                let found = self.ec2.by_name(name).await?;
                Ok::<_, AwsError>(Arc::new(
                    found.into_iter().map(Arc::new).collect::<Vec<_>>(),
                ))
            })
            .await
            .map_err(|e| ResolveError::Aws((*e).clone()))?;
        lookups.push(("name", source(entry.is_fresh())));
        let found = entry.into_value();
        let running: Vec<&Arc<InstanceInfo>> =
            found.iter().filter(|i| i.state == "running").collect();
        match running.as_slice() {
            [] if found.is_empty() => Err(ResolveError::NameNotFound {
                name: name.to_owned(),
                region: self.region.clone(),
            }),
            // Not running: the state is the answer (`running_address` says it).
            [] if found.len() == 1 => Ok(found[0].clone()),
            [] => Err(ResolveError::NoneRunning {
                name: name.to_owned(),
                states: found
                    .iter()
                    .map(|i| format!("{} is {}", i.id, i.state))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            [one] => {
                self.instances
                    .insert(one.id.clone(), Some(Arc::clone(one)))
                    .await;
                Ok(Arc::clone(one))
            }
            several => Err(ResolveError::NameAmbiguous {
                name: name.to_owned(),
                ids: several.iter().map(|i| i.id.clone()).collect(),
            }),
        }
    }

    async fn endpoint_for_ip(
        &self,
        ip: IpAddr,
        lookups: &mut Vec<(&'static str, Source)>,
    ) -> Result<Arc<EndpointInfo>, ResolveError> {
        if let Some(rule) = cidr::pinned(&self.routes, ip) {
            lookups.push(("route", Source::Config));
            if let Some(id) = &rule.endpoint {
                let found = self
                    .endpoints_of(EndpointKey::Id(id.clone()), lookups)
                    .await?;
                if found.is_empty() {
                    return Err(ResolveError::PinnedEndpointMissing { id: id.clone() });
                }
                return choose(&found, ip, None);
            }
            let vpc = rule
                .vpc
                .clone()
                .expect("validated: a route names a vpc or an endpoint");
            return self.endpoint_in(&vpc, ip, None, lookups).await;
        }
        let entry = self
            .vpcs
            .entry(())
            .or_try_insert_with(async { self.ec2.vpc_cidrs().await.map(Arc::new) })
            .await
            .map_err(|e| ResolveError::Aws((*e).clone()))?;
        lookups.push(("vpc cidrs", source(entry.is_fresh())));
        let vpcs = cidr::vpcs_containing(&entry.into_value(), ip);
        match vpcs.as_slice() {
            [] => Err(ResolveError::NotInAnyVpc {
                ip,
                region: self.region.clone(),
            }),
            [vpc] => self.endpoint_in(vpc, ip, None, lookups).await,
            _ => Err(ResolveError::SeveralVpcs { ip, vpcs }),
        }
    }

    async fn endpoint_in(
        &self,
        vpc: &str,
        ip: IpAddr,
        instance: Option<&InstanceInfo>,
        lookups: &mut Vec<(&'static str, Source)>,
    ) -> Result<Arc<EndpointInfo>, ResolveError> {
        let endpoints = self
            .endpoints_of(EndpointKey::Vpc(vpc.to_owned()), lookups)
            .await?;
        if endpoints.is_empty() {
            return Err(ResolveError::NoEndpoint {
                vpc: vpc.to_owned(),
            });
        }
        choose(&endpoints, ip, instance)
    }

    async fn endpoints_of(
        &self,
        key: EndpointKey,
        lookups: &mut Vec<(&'static str, Source)>,
    ) -> Result<Arc<Vec<Arc<EndpointInfo>>>, ResolveError> {
        let entry = self
            .endpoints
            .entry(key.clone())
            .or_try_insert_with(async {
                let found = match &key {
                    EndpointKey::Vpc(vpc) => self.ec2.endpoints(Some(vpc), None).await?,
                    EndpointKey::Id(id) => self.ec2.endpoints(None, Some(id)).await?,
                };
                Ok::<_, AwsError>(Arc::new(
                    found.into_iter().map(Arc::new).collect::<Vec<_>>(),
                ))
            })
            .await
            .map_err(|e| ResolveError::Aws((*e).clone()))?;
        lookups.push(("endpoints", source(entry.is_fresh())));
        Ok(entry.into_value())
    }
}

fn source(fresh: bool) -> Source {
    if fresh { Source::Api } else { Source::Cache }
}

/// The address of a running instance, or why there is none.
fn running_address(instance: &InstanceInfo) -> Result<IpAddr, ResolveError> {
    if instance.state != "running" {
        return Err(ResolveError::NotRunning {
            id: instance.id.clone(),
            state: instance.state.clone(),
        });
    }
    instance.address().ok_or_else(|| ResolveError::NoAddress {
        id: instance.id.clone(),
    })
}

/// Among the endpoints that reach `ip`'s address family: the one in the
/// instance's subnet, else in its AZ, else the first. `endpoints` is not empty.
fn choose(
    endpoints: &[Arc<EndpointInfo>],
    ip: IpAddr,
    instance: Option<&InstanceInfo>,
) -> Result<Arc<EndpointInfo>, ResolveError> {
    let usable: Vec<&Arc<EndpointInfo>> =
        endpoints.iter().filter(|e| e.family.reaches(ip)).collect();
    let same = |pick: fn(&EndpointInfo) -> Option<&String>, want: Option<&String>| {
        want.and_then(|w| usable.iter().find(|e| pick(e) == Some(w)))
    };
    let chosen = instance
        .and_then(|i| {
            same(|e| e.subnet_id.as_ref(), i.subnet_id.as_ref()).or_else(|| {
                same(
                    |e| e.availability_zone.as_ref(),
                    i.availability_zone.as_ref(),
                )
            })
        })
        .or_else(|| usable.first());
    match chosen {
        Some(endpoint) => Ok(Arc::clone(endpoint)),
        None => Err(ResolveError::WrongFamily {
            ip,
            endpoint: endpoints[0].id.clone(),
            family: endpoints[0].family,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: &str, subnet: &str, az: &str) -> Arc<EndpointInfo> {
        Arc::new(EndpointInfo {
            id: id.into(),
            vpc_id: "vpc-1".into(),
            subnet_id: Some(subnet.into()),
            availability_zone: Some(az.into()),
            dns_name: format!("{id}.example"),
            fips_dns_name: None,
            family: Family::Ipv4,
        })
    }

    fn instance(subnet: &str, az: &str) -> InstanceInfo {
        InstanceInfo {
            id: "i-1".into(),
            state: "running".into(),
            private_ip: Some("10.0.0.1".parse().unwrap()),
            ipv6: None,
            vpc_id: Some("vpc-1".into()),
            subnet_id: Some(subnet.into()),
            availability_zone: Some(az.into()),
            name: None,
        }
    }

    #[test]
    fn the_instance_subnet_then_its_zone_then_any() {
        let all = [
            endpoint("a", "s1", "z1"),
            endpoint("b", "s2", "z2"),
            endpoint("c", "s3", "z2"),
        ];
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            choose(&all, ip, Some(&instance("s3", "z2"))).unwrap().id,
            "c"
        );
        assert_eq!(
            choose(&all, ip, Some(&instance("s9", "z2"))).unwrap().id,
            "b"
        );
        assert_eq!(
            choose(&all, ip, Some(&instance("s9", "z9"))).unwrap().id,
            "a"
        );
        assert_eq!(choose(&all, ip, None).unwrap().id, "a");
    }

    #[test]
    fn ipv6_takes_a_dualstack_endpoint_or_says_why_not() {
        let v4 = endpoint("v4", "s1", "z1");
        let mut dual = (*endpoint("dual", "s2", "z2")).clone();
        dual.family = Family::Dualstack;
        let ip: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(
            choose(&[v4.clone(), Arc::new(dual)], ip, None).unwrap().id,
            "dual"
        );
        let err = choose(&[v4], ip, None).unwrap_err();
        assert_eq!(err.reply(), Reply::AddressTypeNotSupported);
        assert!(
            err.to_string().contains("its IpAddressType is ipv4"),
            "{err}"
        );
    }

    #[test]
    fn a_stopped_instance_says_its_state() {
        let mut i = instance("s1", "z1");
        i.state = "stopped".into();
        let err = running_address(&i).unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance i-1 is stopped, not running: start it first"
        );
        assert_eq!(err.reply(), Reply::HostUnreachable);
    }

    #[test]
    fn several_vpcs_say_how_to_pin_one() {
        let err = ResolveError::SeveralVpcs {
            ip: "10.0.1.10".parse().unwrap(),
            vpcs: vec!["vpc-a".into(), "vpc-b".into()],
        };
        let text = err.to_string();
        assert!(
            text.contains("vpc-a, vpc-b")
                && text.contains("[[route]] cidr = \"10.0.1.10/32\" vpc = \"vpc-a\""),
            "{text}"
        );
    }
}
