//! A first login's two lookups at once: the region's usable endpoints are
//! listed while the instance is looked up, and the instance's VPC then
//! picks among them (a VPC's endpoints come from a listing at hand:
//! [`Regional::listing_at_hand`]). One round trip instead of two, for one call that may
//! carry endpoints of other VPCs (AWS allows one endpoint per VPC and per
//! subnet, so the list stays short).
//!
//! Each call rides its own connection when none is kept: HTTP/1.1 carries
//! one request at a time, so the second connection's TCP and TLS
//! handshakes run beside the first's rather than after its answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Regional;
use crate::ec2::EndpointInfo;
use crate::resolve::caches::cached;
use crate::resolve::{ResolveError, Source};

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
}

/// One listing under way, counted in [`Regional::listing_at_hand`] until it
/// ends (answered, failed or dropped).
struct UnderWay<'a>(&'a AtomicUsize);

impl Drop for UnderWay<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
