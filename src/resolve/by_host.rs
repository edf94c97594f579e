//! [`Resolver::resolve`] for each kind of host a target names: an instance
//! (by id or Name tag), a private DNS name, an address.

use std::net::{IpAddr, Ipv4Addr};

use super::regional::LookedUp;
use super::{Resolution, ResolveError, Resolver, running_address};
use crate::target::Target;

impl Resolver {
    /// The instance `host` (an id or a Name tag) names. With one region to
    /// ask, and the instance not known yet, the region's endpoints are
    /// listed beside the lookup (`regional::ahead`): a first login's two
    /// calls in one round trip. The route then takes the VPC's endpoints
    /// from that listing, kept, as any lookup of them does while it is.
    pub(super) async fn by_instance(
        &self,
        host: LookedUp<'_>,
        port: u16,
    ) -> Result<Resolution, ResolveError> {
        let ahead = match self.searched() {
            [regional] if regional.lists_ahead(host) => Some(regional),
            _ => None,
        };
        // Boxed: the two lookups side by side make a large future.
        let find = Box::pin(async move {
            match host {
                LookedUp::Id(id) => self.find_instance(id).await,
                LookedUp::Name(name) => self.find_named(name).await,
            }
        });
        let (found, listing) = match ahead {
            Some(regional) => {
                let (found, listing) = tokio::join!(find, Box::pin(regional.region_endpoints()));
                (found, Some(listing))
            }
            None => (find.await, None),
        };
        let (regional, instance, lookups) = found?;
        // The listing's failure is the route's: the VPC's own call would
        // need the same permission.
        listing.transpose()?;
        let ip = running_address(&instance)?;
        regional.route_instance(instance, ip, port, lookups).await
    }

    /// A private DNS name (`ip-10-0-1-25.REGION.compute.internal`): its
    /// address, in the region the name gives, which must be one searched.
    pub(super) async fn by_private_dns(
        &self,
        target: &Target,
        ip: Ipv4Addr,
        region: &str,
        port: u16,
    ) -> Result<Resolution, ResolveError> {
        let ip = IpAddr::V4(ip);
        if let Some((rule, regional)) = self.pinned(ip)
            && regional.region() == region
        {
            return regional.route_pinned(rule, ip, port, Vec::new()).await;
        }
        let Some(regional) = self.searched().iter().find(|r| r.region() == region) else {
            return Err(ResolveError::OtherRegion {
                host: target.host.to_string(),
                region: region.to_owned(),
                configured: self.regions().join(", "),
            });
        };
        regional.route_address(ip, port, Vec::new()).await
    }

    /// A private address: a `[[route]]` that pins it, else the VPC holding it.
    pub(super) async fn by_ip(&self, ip: IpAddr, port: u16) -> Result<Resolution, ResolveError> {
        if let Some((rule, regional)) = self.pinned(ip) {
            return regional.route_pinned(rule, ip, port, Vec::new()).await;
        }
        self.route_address(ip, port).await
    }
}
