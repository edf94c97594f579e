//! One region seen with one profile's credentials: its EC2 lookups, each
//! behind a moka cache, and the endpoint choice within one of its VPCs.
//!
//! [`super::Resolver`] decides which region (or regions, searched at once)
//! answers a target; everything here is about a single region. `ahead`
//! lists a region's endpoints while an instance is looked up; `routes`
//! ends each route at one of a VPC's endpoints.

mod ahead;
mod routes;

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
use super::{Lookups, ResolveError, Scope, Source, cidr};
use crate::config::Config;
use crate::credentials::CredentialCache;
use crate::ec2::{AwsError, Ec2, EndpointInfo, InstanceInfo};

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
}
