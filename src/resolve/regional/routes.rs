//! A region's routes: to an instance, to an address of a VPC, to what a
//! `[[route]]` rule pins, to an address placed by the VPCs' CIDR blocks;
//! each ends at one of the VPC's endpoints (listed, cached and remembered
//! here) and becomes a [`Resolution`].

use std::net::IpAddr;
use std::sync::Arc;

use super::Regional;
use crate::config::RouteRule;
use crate::ec2::{EndpointInfo, InstanceInfo};
use crate::eice::{Endpoint, TunnelRequest};
use crate::resolve::caches::cached;
use crate::resolve::disk::{Change, EndpointsOf};
use crate::resolve::{Lookups, Resolution, ResolveError, Route, Source, choose};

impl Regional {
    /// The route to a (running) instance found here.
    pub(in crate::resolve) async fn route_instance(
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
    pub(in crate::resolve) async fn route_in_vpc(
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
    pub(in crate::resolve) async fn route_pinned(
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
    pub(in crate::resolve) async fn route_address(
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
