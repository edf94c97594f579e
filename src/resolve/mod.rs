//! Target → route: the one place that decides how a target is reached.
//!
//! An instance id or `Name` tag is looked up with `DescribeInstances` in every
//! configured region at once; a bare IP (or an EC2 private DNS name, which
//! spells one and its region) is placed by a `[[route]]` rule or by the VPCs'
//! CIDR blocks; the VPC's endpoints come from
//! `DescribeInstanceConnectEndpoints`, preferring the instance's subnet, then
//! its availability zone. Every answer goes through a moka cache, and so does
//! the region an instance or name was found in, so a warm target costs no API
//! call in any region; concurrent misses for one key share one call, and
//! "not found" answers live shorter than found ones.

mod by_host;
mod caches;
pub mod cidr;
pub mod disk;
mod error;
mod regional;
mod scope;
mod search;
mod way;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

pub use crate::ec2::{AwsError, Ec2, EndpointInfo, Family, InstanceInfo};
pub use error::ResolveError;
use regional::LookedUp;
pub use regional::Regional;
pub use scope::{Plan, Scope};
pub use way::{HopReason, HopRoute, RouteError, Router, Way, check_port};

use crate::config::{Config, RouteRule};
use crate::credentials::CredentialCache;
use crate::eice::{TunnelError, TunnelRequest};
use crate::target::{Host, Target};

/// Each lookup a resolution made, and who answered it.
pub type Lookups = Vec<(&'static str, Source)>;

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
    /// The route cache on disk: an earlier process asked the API.
    Disk,
    Api,
    Config,
}

impl Source {
    /// Whether a cache answered, as the metrics count lookups: a hit, a miss
    /// (the API answered), or `None` for a `[[route]]` rule, which is no lookup.
    pub fn cache_hit(self) -> Option<bool> {
        match self {
            Source::Cache | Source::Disk => Some(true),
            Source::Api => Some(false),
            Source::Config => None,
        }
    }
}

/// The lookups a resolution made, as the metrics take them (see
/// [`Source::cache_hit`]).
pub fn cache_lookups(lookups: &Lookups) -> impl Iterator<Item = (&'static str, Option<bool>)> + '_ {
    lookups
        .iter()
        .map(|(kind, source)| (*kind, source.cache_hit()))
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
    /// The region and profile that answered.
    pub scope: Scope,
    /// The credentials of that profile, which sign the tunnel.
    pub credentials: Arc<CredentialCache>,
    /// Each lookup made and who answered it, in order.
    pub lookups: Lookups,
}

impl Resolution {
    /// The tunnel request of an EICE route.
    pub fn tunnel(&self) -> &TunnelRequest {
        match &self.route {
            Route::Eice(request) => request,
        }
    }
}

/// Resolves targets across the configured regions and profiles.
pub struct Resolver {
    /// One per scope the config needs; the first `searched` are the
    /// `regions`, searched for every instance, name and address.
    regionals: Vec<Arc<Regional>>,
    searched: usize,
    /// `[[route]]` rules, each with the index of the scope it looks in.
    routes: Vec<(RouteRule, usize)>,
    /// Instance id or `name:<lowercased Name>` → the scope that holds it, so
    /// that a warm target asks only its own region's cache.
    homes: Cache<String, usize>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("regions", &self.regions())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver over `regionals`, built for `plan` (one per plan scope, in order).
    pub fn new(plan: Plan, regionals: Vec<Regional>, config: &Config) -> Resolver {
        assert_eq!(plan.scopes.len(), regionals.len(), "one regional per scope");
        Resolver {
            regionals: regionals.into_iter().map(Arc::new).collect(),
            searched: plan.searched,
            routes: plan.routes,
            homes: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(config.cache.instance_ttl))
                .build(),
        }
    }

    /// A resolver for one region, with every `[[route]]` rule looking in it.
    pub fn one_region(regional: Regional, config: &Config) -> Resolver {
        let plan = Plan {
            scopes: vec![regional.scope().clone()],
            searched: 1,
            routes: config
                .routes
                .iter()
                .filter(|r| r.via.is_none())
                .map(|r| (r.clone(), 0))
                .collect(),
        };
        Resolver::new(plan, vec![regional], config)
    }

    /// The regions searched, in the config's order.
    pub fn regions(&self) -> Vec<&str> {
        self.searched().iter().map(|r| r.region()).collect()
    }

    /// Every region and profile the resolver uses (for `doctor`).
    pub fn regionals(&self) -> &[Arc<Regional>] {
        &self.regionals
    }

    fn searched(&self) -> &[Arc<Regional>] {
        &self.regionals[..self.searched]
    }

    /// Finds how to reach `target`. Each kind of host has its own way
    /// (`by_host`), boxed: inline, their futures made this one's poll frame
    /// hundreds of KiB in debug builds, which overflowed a worker's stack on
    /// the hop's deep path (hop → connect → locate → resolve).
    pub async fn resolve(&self, target: &Target) -> Result<Resolution, ResolveError> {
        let port = target.port;
        match &target.host {
            Host::InstanceId(id) => Box::pin(self.by_instance(LookedUp::Id(id), port)).await,
            Host::Name(name) => Box::pin(self.by_instance(LookedUp::Name(name), port)).await,
            Host::PrivateDns { ip, region } => {
                Box::pin(self.by_private_dns(target, *ip, region, port)).await
            }
            Host::Ip(ip) => Box::pin(self.by_ip(*ip, port)).await,
        }
    }

    /// The instance a resolution leads to: the one it named, else the one
    /// holding its address (looked up once, then cached).
    pub async fn instance_of(
        &self,
        resolution: &Resolution,
    ) -> Result<Option<Arc<InstanceInfo>>, ResolveError> {
        if let Some(instance) = &resolution.instance {
            return Ok(Some(Arc::clone(instance)));
        }
        let Some(regional) = self.regional(&resolution.scope) else {
            return Ok(None);
        };
        regional
            .instance_at(resolution.tunnel().private_ip, &resolution.vpc_id)
            .await
    }

    /// The EC2 API of `scope`, for the path checks of a refused tunnel.
    pub fn ec2_of(&self, scope: &Scope) -> Option<&Ec2> {
        self.regional(scope).map(|r| r.ec2())
    }

    fn regional(&self, scope: &Scope) -> Option<&Arc<Regional>> {
        self.regionals.iter().find(|r| r.scope() == scope)
    }

    /// Forgets cached answers that `error` shows to be stale, so the next
    /// connection asks EC2 again instead of failing the same way: the
    /// endpoint's list when the service no longer knows the endpoint, the
    /// instance (or how an address was placed) when it could not be reached.
    /// Returns whether the route was made of such answers, so that a fresh
    /// lookup may find a better one.
    pub async fn forget(&self, resolution: &Resolution, error: &TunnelError) -> bool {
        let Some(regional) = self.regional(&resolution.scope) else {
            return false;
        };
        let cached = |kinds: &[&str]| {
            resolution
                .lookups
                .iter()
                .any(|(kind, source)| kinds.contains(kind) && source.cache_hit() == Some(true))
        };
        let ip = resolution.tunnel().private_ip;
        if stale_endpoint(error) {
            regional
                .forget_endpoints(&resolution.vpc_id, &resolution.endpoint.id)
                .await;
            return cached(&["endpoints"]);
        }
        if !error.is_unreachable() {
            return false;
        }
        match &resolution.instance {
            Some(instance) => {
                regional.forget_instance(instance, ip).await;
                self.homes.invalidate(&instance.id).await;
                if let Some(name) = &instance.name {
                    self.homes
                        .invalidate(&format!("name:{}", name.to_ascii_lowercase()))
                        .await;
                }
                cached(&["instance", "name"])
            }
            None => {
                regional.forget_address(ip, &resolution.vpc_id).await;
                cached(&["vpc cidrs"])
            }
        }
    }
}

/// Whether the service said it does not know the endpoint.
fn stale_endpoint(error: &TunnelError) -> bool {
    matches!(error, TunnelError::Refused(e)
        if e.status == 404 || e.code.as_deref().is_some_and(|c| c.ends_with(".NotFound")))
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
mod tests;
