//! A first login's two lookups at once: the region's usable endpoints are
//! listed while the instance is looked up, and the instance's VPC then
//! picks among them. One round trip instead of two, for one call that may
//! carry endpoints of other VPCs (AWS allows one endpoint per VPC and per
//! subnet, so the list stays short).
//!
//! Each call rides its own connection when none is kept: HTTP/1.1 carries
//! one request at a time, so the second connection's TCP and TLS
//! handshakes run beside the first's rather than after its answer.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Regional;
use crate::ec2::{EndpointInfo, InstanceInfo};
use crate::resolve::caches::cached;
use crate::resolve::disk::{Change, EndpointsOf};
use crate::resolve::{Lookups, Resolution, ResolveError, Source, choose};

/// What a target's instance is looked up by.
#[derive(Clone, Copy)]
pub(in crate::resolve) enum LookedUp<'a> {
    Id(&'a str),
    Name(&'a str),
}

/// The usable endpoints of a whole region, listed before the VPC is known.
pub type RegionEndpoints = Arc<Vec<EndpointInfo>>;

impl Regional {
    /// Whether to list the region's endpoints beside looking up `host`:
    /// the lookup asks the EC2 API (neither the memory cache nor the route
    /// file holds an answer), and either a listing is at hand or no VPC's
    /// endpoints are known here (a first login). Once some are known, a
    /// VPC's own call, made only when its list is missing, is cheaper than
    /// listing the region for every instance not yet seen.
    pub(in crate::resolve) fn lists_ahead(&self, host: LookedUp<'_>) -> bool {
        let asks = match host {
            LookedUp::Id(id) => {
                !self.instances.contains_key(id)
                    && self.disk.as_ref().is_none_or(|d| d.instance(id).is_none())
            }
            LookedUp::Name(name) => {
                !self.names.contains_key(&name.to_ascii_lowercase())
                    && self.disk.as_ref().is_none_or(|d| d.named(name).is_none())
            }
        };
        let knows_endpoints = self.endpoints.iter().next().is_some()
            || self.disk.as_ref().is_some_and(|d| d.knows_endpoints());
        asks && (self.listed.contains_key(&()) || !knows_endpoints)
    }

    /// Whether a listing of the region is under way or its answer kept: a
    /// VPC's endpoints are then taken from it.
    pub(super) fn listing_at_hand(&self) -> bool {
        self.listings.load(Ordering::SeqCst) > 0 || self.listed.contains_key(&())
    }

    /// Every usable endpoint of the region, kept as long as a VPC's list
    /// (concurrent first connections to instances share one call). Its
    /// failure is the route's: the same call, needing the same permission,
    /// as the VPC's own (EC2's Describe calls take no resource-level
    /// conditions), so asking again for one VPC would only repeat it.
    pub(in crate::resolve) async fn region_endpoints(
        &self,
    ) -> Result<RegionEndpoints, ResolveError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        let _under_way = UnderWay(&self.listings);
        let fetch = async {
            let found = self.ec2.endpoints(None, None).await?;
            Ok((Arc::new(found), Source::Api))
        };
        cached(&self.listed, (), "region endpoints", &mut Vec::new(), fetch).await
    }

    /// [`Regional::route_instance`], the VPC's endpoints taken from
    /// `listing` and remembered (in memory and in the route file) as that
    /// VPC's own call's answer would be.
    pub(in crate::resolve) async fn route_instance_ahead(
        &self,
        instance: Arc<InstanceInfo>,
        ip: IpAddr,
        port: u16,
        mut lookups: Lookups,
        listing: RegionEndpoints,
    ) -> Result<Resolution, ResolveError> {
        let Some(vpc) = instance.vpc_id.clone() else {
            return self.route_instance(instance, ip, port, lookups).await;
        };
        let key = EndpointsOf::Vpc(vpc.clone());
        let found: Vec<EndpointInfo> = listing
            .iter()
            .filter(|e| e.vpc_id == vpc)
            .cloned()
            .collect();
        if let Some(disk) = &self.disk {
            disk.write(Change::Endpoints(key.clone(), found.clone()))
                .await;
        }
        let endpoints = Arc::new(found.into_iter().map(Arc::new).collect::<Vec<_>>());
        self.endpoints.insert(key, Arc::clone(&endpoints)).await;
        lookups.push(("endpoints", Source::Api));
        if endpoints.is_empty() {
            return Err(ResolveError::NoEndpoint { vpc });
        }
        let endpoint = choose(&endpoints, ip, Some(&instance))?;
        Ok(self.finish(Some(instance), ip, port, endpoint, lookups))
    }
}

/// One listing under way, counted in [`Regional::listing_at_hand`] until it
/// ends (answered, failed or dropped).
struct UnderWay<'a>(&'a AtomicUsize);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
