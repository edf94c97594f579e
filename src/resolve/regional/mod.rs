//! One region seen with one profile's credentials: its EC2 lookups, each
//! behind a moka cache, and the endpoint choice within one of its VPCs.
//!
//! [`super::Resolver`] decides which region (or regions, searched at once)
//! answers a target; everything here is about a single region. `ahead`
//! lists a region's endpoints while an instance is looked up.

mod ahead;

pub(in crate::resolve) use ahead::LookedUp;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use ipnet::IpNet;
use moka::future::Cache;

use super::caches::{cache, cached};
use super::disk::{Change, EndpointsOf, Forget, RouteFile};
use super::{Lookups, Resolution, ResolveError, Route, Scope, Source, choose, cidr};
use crate::config::{Config, RouteRule};
use crate::credentials::CredentialCache;
use crate::ec2::{AwsError, Ec2, EndpointInfo, InstanceInfo};
use crate::eice::{Endpoint, TunnelRequest};

/// Lookups in one region with one profile, through caches.
pub struct Regional {
    ec2: Ec2,
    scope: Scope,
    /// Signs the tunnels opened in this region.
    credentials: Arc<CredentialCache>,
    max_tunnel_duration: Option<u32>,
    /// Tunnels dial the endpoints' FIPS names: the profile asks for FIPS.
    fips: bool,
    instances: Cache<String, Option<Arc<InstanceInfo>>>,
    names: Cache<String, Arc<Vec<Arc<InstanceInfo>>>>,
    /// (address, VPC) → the instance there, for key pushes to addresses.
    at: Cache<(IpAddr, String), Option<Arc<InstanceInfo>>>,
    vpcs: Cache<(), Arc<Vec<(IpNet, String)>>>,
    endpoints: Cache<EndpointsOf, Arc<Vec<Arc<EndpointInfo>>>>,
    /// The region's usable endpoints, listed beside a first instance lookup (`ahead`).
    listed: Cache<(), Arc<Vec<EndpointInfo>>>,
    /// Listings of `listed` under way. While one is, or its answer is kept,
    /// a VPC's endpoints come from it (joined while in flight) rather than
    /// from a call of their own, which a second connection to an instance
    /// just found would otherwise make before the first has recorded them.
    listings: AtomicUsize,
    /// The answers of earlier processes (`connect`, `ssh`), and where this
    /// one's are kept for the next; `None` for `serve` and its kin.
    disk: Option<Arc<RouteFile>>,
}

impl fmt::Debug for Regional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Regional")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Regional {
    /// Lookups through `ec2` (a client for `scope.region`), signing with
    /// `credentials`, with the config's cache lifetimes.
    pub fn new(
        ec2: Ec2,
        scope: Scope,
        credentials: Arc<CredentialCache>,
        config: &Config,
    ) -> Regional {
        let c = &config.cache;
        Regional {
            ec2,
            scope,
            credentials,
            max_tunnel_duration: config.max_tunnel_duration,
            fips: false,
            instances: cache(c.instance_ttl, c),
            names: cache(c.instance_ttl, c),
            at: cache(c.instance_ttl, c),
            vpcs: cache(c.vpc_ttl, c),
            endpoints: cache(c.endpoint_ttl, c),
            listed: cache(c.endpoint_ttl, c),
            listings: AtomicUsize::new(0),
            disk: None,
        }
    }

    /// The same, its tunnels dialling FIPS names when `on`: as the AWS
    /// configuration that chose the EC2 API's endpoint says.
    pub fn fips(mut self, on: bool) -> Regional {
        self.fips = on;
        self
    }

    /// The same, answering from `file` before the EC2 API and keeping each
    /// API answer there for the next process.
    pub fn remembering(mut self, file: Arc<RouteFile>) -> Regional {
        self.disk = Some(file);
        self
    }

    /// From the route file, else from `fetch` (then kept in the route file as
    /// `change` says), as `into` makes it; with who answered.
    async fn remembered<A, V>(
        &self,
        read: impl FnOnce(&RouteFile) -> Option<A>,
        fetch: impl Future<Output = Result<A, AwsError>>,
        change: impl FnOnce(&A) -> Change,
        into: impl FnOnce(A) -> V,
    ) -> Result<(V, Source), AwsError> {
        if let Some(found) = self.disk.as_deref().and_then(read) {
            return Ok((into(found), Source::Disk));
        }
        let found = fetch.await?;
        if let Some(disk) = &self.disk {
            disk.write(change(&found)).await;
        }
        Ok((into(found), Source::Api))
    }

    /// Whether the route file holds instance `id`, found in this region.
    pub(super) fn remembers_instance(&self, id: &str) -> bool {
        self.disk
            .as_ref()
            .is_some_and(|d| matches!(d.instance(id), Some(Some(_))))
    }

    /// Whether the route file holds instances with the Name tag `name` here.
    pub(super) fn remembers_name(&self, name: &str) -> bool {
        self.disk
            .as_ref()
            .is_some_and(|d| d.named(name).is_some_and(|found| !found.is_empty()))
    }

    /// The region and profile.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.scope.region
    }

    /// The EC2 API of this region (for `doctor`).
    pub fn ec2(&self) -> &Ec2 {
        &self.ec2
    }

    /// The credentials tunnels here are signed with (for `doctor`).
    pub fn credentials(&self) -> &Arc<CredentialCache> {
        &self.credentials
    }

    /// The instance with this id, if this region has it.
    pub(super) async fn instance(
        &self,
        id: &str,
        lookups: &mut Lookups,
    ) -> Result<Option<Arc<InstanceInfo>>, ResolveError> {
        let fetch = self.remembered(
            |disk| disk.instance(id),
            self.ec2.instance(id),
            |found| Change::Instance(id.to_owned(), found.clone()),
            |found| found.map(Arc::new),
        );
        cached(&self.instances, id.to_owned(), "instance", lookups, fetch).await
    }

    /// Every instance with this Name tag (any state), in this region.
    pub(super) async fn named(
        &self,
        name: &str,
        lookups: &mut Lookups,
    ) -> Result<Arc<Vec<Arc<InstanceInfo>>>, ResolveError> {
        let fetch = self.remembered(
            |disk| disk.named(name),
            self.ec2.by_name(name),
            |found| Change::Named(name.to_owned(), found.clone()),
            |found| Arc::new(found.into_iter().map(Arc::new).collect()),
        );
        cached(
            &self.names,
            name.to_ascii_lowercase(),
            "name",
            lookups,
            fetch,
        )
        .await
    }

    /// The running instance at `ip` in `vpc`, if any.
    pub(super) async fn instance_at(
        &self,
        ip: IpAddr,
        vpc: &str,
    ) -> Result<Option<Arc<InstanceInfo>>, ResolveError> {
        let fetch = self.remembered(
            |disk| disk.instance_at(ip, vpc),
            self.ec2.instance_at(ip, vpc),
            |found| Change::At(ip, vpc.to_owned(), found.clone()),
            |found| found.map(Arc::new),
        );
        cached(
            &self.at,
            (ip, vpc.to_owned()),
            "address",
            &mut Vec::new(),
            fetch,
        )
        .await
    }

    /// Remembers the instance a name led to, so that connecting to it by id
    /// next costs no call.
    pub(super) async fn remember(&self, instance: &Arc<InstanceInfo>) {
        self.instances
            .insert(instance.id.clone(), Some(Arc::clone(instance)))
            .await;
    }

    /// The VPCs of this region whose CIDR blocks hold `ip`.
    pub(super) async fn vpcs_containing(
        &self,
        ip: IpAddr,
        lookups: &mut Lookups,
    ) -> Result<Vec<String>, ResolveError> {
        let fetch = self.remembered(
            |disk| disk.vpcs(),
            self.ec2.vpc_cidrs(),
            |found| Change::Vpcs(found.clone()),
            Arc::new,
        );
        let table = cached(&self.vpcs, (), "vpc cidrs", lookups, fetch).await?;
        Ok(cidr::vpcs_containing(&table, ip))
    }

    /// The route to a (running) instance found here.
    pub(super) async fn route_instance(
        &self,
        instance: Arc<InstanceInfo>,
        ip: IpAddr,
        port: u16,
        mut lookups: Lookups,
    ) -> Result<Resolution, ResolveError> {
        let vpc = instance
            .vpc_id
            .clone()
            .ok_or_else(|| ResolveError::NoAddress {
                id: instance.id.clone(),
            })?;
        let endpoint = self
            .endpoint_in(&vpc, ip, Some(&instance), &mut lookups)
            .await?;
        Ok(self.finish(Some(instance), ip, port, endpoint, lookups))
    }

    /// The route to an address of VPC `vpc`.
    pub(super) async fn route_in_vpc(
        &self,
        vpc: &str,
        ip: IpAddr,
        port: u16,
        mut lookups: Lookups,
    ) -> Result<Resolution, ResolveError> {
        let endpoint = self.endpoint_in(vpc, ip, None, &mut lookups).await?;
        Ok(self.finish(None, ip, port, endpoint, lookups))
    }

    /// The route a `[[route]]` rule gives an address: its endpoint, its VPC's,
    /// or (naming only a region or profile) the VPC of this region holding it.
    pub(super) async fn route_pinned(
        &self,
        rule: &RouteRule,
        ip: IpAddr,
        port: u16,
        mut lookups: Lookups,
    ) -> Result<Resolution, ResolveError> {
        lookups.push(("route", Source::Config));
        if let Some(id) = &rule.endpoint {
            let found = self
                .endpoints_of(EndpointsOf::Id(id.clone()), &mut lookups)
                .await?;
            if found.is_empty() {
                return Err(ResolveError::PinnedEndpointMissing { id: id.clone() });
            }
            let endpoint = choose(&found, ip, None)?;
            return Ok(self.finish(None, ip, port, endpoint, lookups));
        }
        if let Some(vpc) = &rule.vpc {
            return self.route_in_vpc(vpc, ip, port, lookups).await;
        }
        self.route_address(ip, port, lookups).await
    }

    /// The route to an address placed by this region's VPC CIDR blocks.
    pub(super) async fn route_address(
        &self,
        ip: IpAddr,
        port: u16,
        mut lookups: Lookups,
    ) -> Result<Resolution, ResolveError> {
        let vpcs = self.vpcs_containing(ip, &mut lookups).await?;
        match vpcs.as_slice() {
            [] => Err(ResolveError::NotInAnyVpc {
                ip,
                region: self.scope.region.clone(),
            }),
            [vpc] => self.route_in_vpc(vpc, ip, port, lookups).await,
            _ => Err(ResolveError::SeveralVpcs {
                ip,
                vpcs: vpcs
                    .iter()
                    .map(|v| (v.clone(), self.region().to_owned()))
                    .collect(),
            }),
        }
    }

    /// Forgets the VPC's endpoints and `endpoint` (one the service no
    /// longer knows), here and in the route file.
    pub(super) async fn forget_endpoints(&self, vpc: &str, endpoint: &str) {
        self.listed.invalidate(&()).await;
        self.endpoints
            .invalidate(&EndpointsOf::Vpc(vpc.to_owned()))
            .await;
        self.endpoints
            .invalidate(&EndpointsOf::Id(endpoint.to_owned()))
            .await;
        self.forget_on_disk(Forget::Endpoints {
            vpc: vpc.to_owned(),
            id: endpoint.to_owned(),
        })
        .await;
    }

    /// Forgets an instance (the service could not reach it: moved or replaced).
    pub(super) async fn forget_instance(&self, instance: &InstanceInfo, ip: IpAddr) {
        self.instances.invalidate(&instance.id).await;
        if let Some(name) = &instance.name {
            self.names.invalidate(&name.to_ascii_lowercase()).await;
        }
        self.forget_on_disk(Forget::Instance {
            id: instance.id.clone(),
            name: instance.name.clone(),
            ip: Some(ip),
        })
        .await;
    }

    /// Forgets how an address was placed (nothing answered there), in the
    /// route file only: `serve`'s table of CIDR blocks stays as it was.
    pub(super) async fn forget_address(&self, ip: IpAddr, vpc: &str) {
        if self.disk.is_some() {
            self.vpcs.invalidate(&()).await;
            self.at.invalidate(&(ip, vpc.to_owned())).await;
            self.forget_on_disk(Forget::Address(ip)).await;
        }
    }

    async fn forget_on_disk(&self, forget: Forget) {
        if let Some(disk) = &self.disk {
            disk.write(Change::Forget(forget)).await;
        }
    }

    fn finish(
        &self,
        instance: Option<Arc<InstanceInfo>>,
        ip: IpAddr,
        port: u16,
        endpoint: Arc<EndpointInfo>,
        lookups: Lookups,
    ) -> Resolution {
        let request = TunnelRequest {
            endpoint: Arc::new(Endpoint {
                id: endpoint.id.clone(),
                region: self.scope.region.clone(),
                dns_name: endpoint.dns_name.clone(),
                fips_dns_name: endpoint.fips_dns_name.clone(),
                dualstack_dns_name: endpoint.dualstack_dns_name.clone(),
                dualstack_fips_dns_name: endpoint.dualstack_fips_dns_name.clone(),
                use_fips: self.fips,
            }),
            private_ip: ip,
            port,
            max_tunnel_duration: self.max_tunnel_duration,
        };
        Resolution {
            route: Route::Eice(request),
            instance,
            vpc_id: endpoint.vpc_id.clone(),
            endpoint,
            scope: self.scope.clone(),
            credentials: Arc::clone(&self.credentials),
            lookups,
        }
    }

    async fn endpoint_in(
        &self,
        vpc: &str,
        ip: IpAddr,
        instance: Option<&InstanceInfo>,
        lookups: &mut Lookups,
    ) -> Result<Arc<EndpointInfo>, ResolveError> {
        let endpoints = self
            .endpoints_of(EndpointsOf::Vpc(vpc.to_owned()), lookups)
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
        key: EndpointsOf,
        lookups: &mut Lookups,
    ) -> Result<Arc<Vec<Arc<EndpointInfo>>>, ResolveError> {
        let api = async {
            match &key {
                EndpointsOf::Vpc(vpc) if self.listing_at_hand() => {
                    // Boxed: inline, it would grow every endpoint lookup's future.
                    match Box::pin(self.region_endpoints()).await {
                        Ok(all) => Ok(all.iter().filter(|e| e.vpc_id == *vpc).cloned().collect()),
                        Err(ResolveError::Aws(e)) => Err(e),
                        Err(_) => self.ec2.endpoints(Some(vpc), None).await,
                    }
                }
                EndpointsOf::Vpc(vpc) => self.ec2.endpoints(Some(vpc), None).await,
                EndpointsOf::Id(id) => self.ec2.endpoints(None, Some(id)).await,
            }
        };
        let fetch = self.remembered(
            |disk| disk.endpoints(&key),
            api,
            |found| Change::Endpoints(key.clone(), found.clone()),
            |found| Arc::new(found.into_iter().map(Arc::new).collect()),
        );
        cached(&self.endpoints, key.clone(), "endpoints", lookups, fetch).await
    }
}
