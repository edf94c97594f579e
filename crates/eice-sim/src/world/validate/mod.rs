//! The load-time checks of a world file.
//!
//! A scenario EC2 could not produce would test the proxy against a fiction, so each
//! rule here mirrors one EC2 invariant, and each failure names the resource to fix.
//! Security groups and network ACLs have their own file, `security.rs`.

mod security;

use std::collections::HashSet;

use super::{Endpoint, Instance, ResourceKind, Subnet, Vpc, World, WorldError};

/// Runs every check, stopping at the first failure.
pub(super) fn world(world: &World) -> Result<(), WorldError> {
    header(world)?;
    ids(world)?;
    world.vpcs.iter().try_for_each(vpc)?;
    for subnet_ in &world.subnets {
        subnet(world, subnet_)?;
    }
    for instance_ in &world.instances {
        instance(world, instance_)?;
    }
    for endpoint_ in &world.endpoints {
        endpoint(world, endpoint_)?;
    }
    security::groups(world)?;
    security::acls(world)?;
    no_overlapping_subnets(world)?;
    no_shared_addresses(world)
}

fn header(world: &World) -> Result<(), WorldError> {
    if world.region.trim().is_empty() {
        return Err(WorldError::EmptyRegion);
    }
    let account = &world.account_id;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WorldError::BadAccountId(account.clone()));
    }
    Ok(())
}

/// Every id well formed for its kind, and no id used twice (across kinds too, since
/// the prefixes already keep kinds apart).
fn ids(world: &World) -> Result<(), WorldError> {
    let all = world.resources();
    let mut seen = HashSet::new();
    for (kind, id) in all {
        well_formed(kind, id)?;
        if !seen.insert(id) {
            return Err(WorldError::DuplicateId(id.to_owned()));
        }
    }
    Ok(())
}

fn vpc(vpc: &Vpc) -> Result<(), WorldError> {
    if vpc.cidrs.is_empty() {
        return Err(WorldError::VpcWithoutCidr(vpc.id.clone()));
    }
    Ok(())
}

fn subnet(world: &World, subnet: &Subnet) -> Result<(), WorldError> {
    let vpc = world
        .vpc(&subnet.vpc)
        .ok_or_else(|| unknown(&subnet.id, "vpc", &subnet.vpc))?;
    if !vpc
        .cidrs
        .iter()
        .any(|block| block.contains_block(&subnet.cidr))
    {
        return Err(WorldError::SubnetOutsideVpc {
            subnet: subnet.id.clone(),
            cidr: subnet.cidr,
            vpc: vpc.id.clone(),
        });
    }
    Ok(())
}

fn instance(world: &World, instance: &Instance) -> Result<(), WorldError> {
    let subnet = world
        .subnet(&instance.subnet)
        .ok_or_else(|| unknown(&instance.id, "subnet", &instance.subnet))?;
    if let Some(ip) = instance.private_ips().find(|ip| !subnet.cidr.contains(*ip)) {
        return Err(WorldError::IpOutsideSubnet {
            id: instance.id.clone(),
            ip,
            subnet: subnet.id.clone(),
            cidr: subnet.cidr,
        });
    }
    for ip in instance.ipv6_addresses() {
        // The subnet's VPC exists: `subnet` has already been checked.
        let vpc = world.vpc(&subnet.vpc);
        if !vpc.is_some_and(|vpc| vpc.ipv6_cidrs.iter().any(|block| block.contains(ip))) {
            return Err(WorldError::Ipv6OutsideVpc {
                instance: instance.id.clone(),
                ip,
                vpc: subnet.vpc.clone(),
            });
        }
    }
    if instance.name.is_some() && instance.tags.contains_key("Name") {
        return Err(WorldError::NameTwice(instance.id.clone()));
    }
    interface_groups(world, &instance.id, &subnet.vpc, &instance.security_groups)
}

fn endpoint(world: &World, endpoint: &Endpoint) -> Result<(), WorldError> {
    let subnet = world
        .subnet(&endpoint.subnet)
        .ok_or_else(|| unknown(&endpoint.id, "subnet", &endpoint.subnet))?;
    interface_groups(world, &endpoint.id, &subnet.vpc, &endpoint.security_groups)?;
    let Some(ip) = endpoint.private_ip else {
        return match world.endpoint_private_ip(endpoint) {
            Some(_) => Ok(()),
            None => Err(WorldError::SubnetFull {
                endpoint: endpoint.id.clone(),
                subnet: subnet.id.clone(),
            }),
        };
    };
    if !subnet.cidr.contains(ip) {
        return Err(WorldError::IpOutsideSubnet {
            id: endpoint.id.clone(),
            ip,
            subnet: subnet.id.clone(),
            cidr: subnet.cidr,
        });
    }
    let holders = world
        .instances
        .iter()
        .filter(|i| i.subnet == subnet.id && i.private_ips().any(|held| held == ip))
        .map(|i| i.id.as_str());
    let endpoints = world
        .endpoints
        .iter()
        .take_while(|e| e.id != endpoint.id)
        .filter(|e| e.subnet == subnet.id && e.private_ip == Some(ip))
        .map(|e| e.id.as_str());
    match holders.chain(endpoints).next() {
        Some(first) => Err(WorldError::AddressInUse {
            ip,
            first: first.to_owned(),
            second: endpoint.id.clone(),
        }),
        None => Ok(()),
    }
}

/// An instance's or endpoint's groups: well formed, existing, in its VPC.
fn interface_groups(
    world: &World,
    id: &str,
    vpc: &str,
    groups: &[String],
) -> Result<(), WorldError> {
    for group_id in groups {
        well_formed(ResourceKind::SecurityGroup, group_id)?;
        let group = world
            .security_group(group_id)
            .ok_or_else(|| unknown(id, "security_groups", group_id))?;
        if group.vpc != vpc {
            return Err(WorldError::WrongVpc {
                id: id.to_owned(),
                field: "security_groups",
                target: group_id.clone(),
                vpc: vpc.to_owned(),
            });
        }
    }
    Ok(())
}

/// Refuses an id EC2 could not have issued for `kind`.
fn well_formed(kind: ResourceKind, id: &str) -> Result<(), WorldError> {
    if kind.is_well_formed(id) {
        Ok(())
    } else {
        Err(WorldError::MalformedId {
            id: id.to_owned(),
            noun: kind.noun(),
            prefix: kind.prefix(),
        })
    }
}

/// Subnets of one VPC never overlap in EC2.
fn no_overlapping_subnets(world: &World) -> Result<(), WorldError> {
    for (n, a) in world.subnets.iter().enumerate() {
        let overlapping = world.subnets[n + 1..].iter().find(|b| {
            a.vpc == b.vpc && (a.cidr.contains_block(&b.cidr) || b.cidr.contains_block(&a.cidr))
        });
        if let Some(b) = overlapping {
            return Err(WorldError::SubnetsOverlap(a.id.clone(), b.id.clone()));
        }
    }
    Ok(())
}

/// Two instances of one subnet (hence of one VPC, since subnets do not overlap)
/// never share a private address; ambiguity exists only across VPCs.
fn no_shared_addresses(world: &World) -> Result<(), WorldError> {
    let mut seen = std::collections::HashMap::new();
    for instance in &world.instances {
        for ip in instance.private_ips() {
            let key = (instance.subnet.as_str(), ip);
            if let Some(first) = seen.insert(key, instance.id.as_str()) {
                return Err(WorldError::AddressInUse {
                    ip,
                    first: first.to_owned(),
                    second: instance.id.clone(),
                });
            }
        }
    }
    Ok(())
}

fn unknown(id: &str, field: &'static str, target: &str) -> WorldError {
    WorldError::UnknownReference {
        id: id.to_owned(),
        field,
        target: target.to_owned(),
    }
}
