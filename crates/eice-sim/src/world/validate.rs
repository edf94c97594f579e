//! The load-time checks of a world file.
//!
//! A scenario EC2 could not produce would test the proxy against a fiction, so each
//! rule here mirrors one EC2 invariant, and each failure names the resource to fix.

use std::collections::HashSet;

use super::{Endpoint, Instance, Subnet, Vpc, World, WorldError};

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
        if !kind.is_well_formed(id) {
            return Err(WorldError::MalformedId {
                id: id.to_owned(),
                noun: kind.noun(),
                prefix: kind.prefix(),
            });
        }
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
    if !subnet.cidr.contains(instance.private_ip) {
        return Err(WorldError::IpOutsideSubnet {
            instance: instance.id.clone(),
            ip: instance.private_ip,
            subnet: subnet.id.clone(),
            cidr: subnet.cidr,
        });
    }
    if let Some(ip) = instance.ipv6 {
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
    Ok(())
}

fn endpoint(world: &World, endpoint: &Endpoint) -> Result<(), WorldError> {
    world
        .subnet(&endpoint.subnet)
        .map(|_| ())
        .ok_or_else(|| unknown(&endpoint.id, "subnet", &endpoint.subnet))
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
        let key = (instance.subnet.as_str(), instance.private_ip);
        if let Some(first) = seen.insert(key, instance.id.as_str()) {
            return Err(WorldError::AddressInUse {
                ip: instance.private_ip,
                first: first.to_owned(),
                second: instance.id.clone(),
            });
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
