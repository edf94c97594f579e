//! The load-time checks of `[[security_group]]` and `[[network_acl]]` tables: the
//! rules EC2 itself enforces when groups, rules, ACLs and entries are created.

use std::collections::{HashMap, HashSet};

use super::{unknown, well_formed};
use crate::world::{
    AclEntry, IMPLICIT_DENY_RULE, NetworkAcl, Protocol, ResourceKind, RuleSource, SecurityGroup,
    SgRule, World, WorldError,
};

/// Every group in an existing VPC, names unique per VPC, every rule well formed.
pub(super) fn groups(world: &World) -> Result<(), WorldError> {
    let mut names = HashSet::new();
    for group in &world.security_groups {
        world
            .vpc(&group.vpc)
            .ok_or_else(|| unknown(&group.id, "vpc", &group.vpc))?;
        if group.name.trim().is_empty() {
            return Err(bad(&group.id, "name", "a security group needs a name"));
        }
        if !names.insert((group.vpc.as_str(), group.name.as_str())) {
            return Err(WorldError::DuplicateGroupName {
                vpc: group.vpc.clone(),
                name: group.name.clone(),
            });
        }
        let ingress = group.ingress.iter().map(|r| ("ingress", r));
        let egress = group.egress.iter().map(|r| ("egress", r));
        let mut counts = HashMap::new();
        for (direction, rule) in ingress.chain(egress) {
            let n = counts.entry(direction).or_insert(0);
            *n += 1;
            sg_rule(world, group, &format!("{direction} rule {n}"), rule)?;
        }
    }
    Ok(())
}

/// One peer; a referenced group of the same VPC; ports as the protocol needs.
fn sg_rule(
    world: &World,
    group: &SecurityGroup,
    label: &str,
    rule: &SgRule,
) -> Result<(), WorldError> {
    match rule.source() {
        None => {
            return Err(bad(
                &group.id,
                label,
                "needs exactly one of cidr, cidr_ipv6, group or prefix_list",
            ));
        }
        Some(RuleSource::Group(peer)) => {
            well_formed(ResourceKind::SecurityGroup, peer)?;
            let peer_group = world
                .security_group(peer)
                .ok_or_else(|| unknown(&group.id, "group", peer))?;
            if peer_group.vpc != group.vpc {
                return Err(WorldError::WrongVpc {
                    id: group.id.clone(),
                    field: "group",
                    target: peer.to_owned(),
                    vpc: group.vpc.clone(),
                });
            }
        }
        Some(RuleSource::PrefixList(list)) => well_formed(ResourceKind::PrefixList, list)?,
        Some(RuleSource::Cidr(_) | RuleSource::CidrIpv6(_)) => {}
    }
    let (from, to) = (rule.from_port, rule.to_port);
    let problem = match rule.protocol {
        Protocol::Tcp | Protocol::Udp => port_range_problem(
            rule.protocol,
            from.and_then(|p| u16::try_from(p).ok()),
            to.and_then(|p| u16::try_from(p).ok()),
        ),
        Protocol::Icmp => {
            let in_range = |v: Option<i32>| v.is_none_or(|v| (-1..=255).contains(&v));
            (!in_range(from) || !in_range(to))
                .then_some("icmp takes a type (from_port) and code (to_port) from -1 to 255")
        }
        Protocol::All => (from.is_some() || to.is_some())
            .then_some("protocol \"-1\" (all traffic) takes no from_port or to_port"),
    };
    match problem {
        Some(problem) => Err(bad(&group.id, label, problem)),
        None => Ok(()),
    }
}

/// ACLs in existing VPCs, one ACL per subnet, one default per VPC, entries sound.
pub(super) fn acls(world: &World) -> Result<(), WorldError> {
    let mut owner_of: HashMap<&str, &str> = HashMap::new();
    let mut default_of: HashMap<&str, &str> = HashMap::new();
    for acl in &world.network_acls {
        world
            .vpc(&acl.vpc)
            .ok_or_else(|| unknown(&acl.id, "vpc", &acl.vpc))?;
        for subnet_id in &acl.subnets {
            associated_subnet(world, acl, subnet_id)?;
            if let Some(first) = owner_of.insert(subnet_id, &acl.id) {
                return Err(WorldError::SubnetInTwoAcls {
                    subnet: subnet_id.clone(),
                    first: first.to_owned(),
                    second: acl.id.clone(),
                });
            }
        }
        if acl.default
            && let Some(first) = default_of.insert(&acl.vpc, &acl.id)
        {
            return Err(WorldError::TwoDefaultAcls {
                vpc: acl.vpc.clone(),
                first: first.to_owned(),
                second: acl.id.clone(),
            });
        }
        let mut numbers = HashSet::new();
        for entry in &acl.entries {
            acl_entry(acl, entry)?;
            if !numbers.insert((entry.egress, entry.rule_number)) {
                return Err(bad(&acl.id, &entry_label(entry), "rule number used twice"));
            }
        }
    }
    Ok(())
}

fn associated_subnet(world: &World, acl: &NetworkAcl, subnet_id: &str) -> Result<(), WorldError> {
    let subnet = world
        .subnet(subnet_id)
        .ok_or_else(|| unknown(&acl.id, "subnets", subnet_id))?;
    if subnet.vpc == acl.vpc {
        Ok(())
    } else {
        Err(WorldError::WrongVpc {
            id: acl.id.clone(),
            field: "subnets",
            target: subnet_id.to_owned(),
            vpc: acl.vpc.clone(),
        })
    }
}

fn acl_entry(acl: &NetworkAcl, entry: &AclEntry) -> Result<(), WorldError> {
    let label = entry_label(entry);
    if !(1..IMPLICIT_DENY_RULE).contains(&entry.rule_number) {
        return Err(bad(&acl.id, &label, "rule_number must be from 1 to 32766"));
    }
    if entry.cidr.is_some() == entry.cidr_ipv6.is_some() {
        return Err(bad(
            &acl.id,
            &label,
            "needs exactly one of cidr or cidr_ipv6",
        ));
    }
    let problem = if entry.protocol.has_ports() {
        port_range_problem(entry.protocol, entry.from_port, entry.to_port)
    } else {
        (entry.from_port.is_some() || entry.to_port.is_some())
            .then_some("only tcp and udp entries take from_port and to_port")
    };
    match problem {
        Some(problem) => Err(bad(&acl.id, &label, problem)),
        None => Ok(()),
    }
}

/// What is wrong with a tcp or udp port range, if anything.
fn port_range_problem(
    protocol: Protocol,
    from: Option<u16>,
    to: Option<u16>,
) -> Option<&'static str> {
    match (from, to) {
        (Some(from), Some(to)) if from <= to => None,
        (Some(_), Some(_)) => Some("from_port must not be above to_port"),
        _ if protocol == Protocol::Tcp => {
            Some("tcp needs from_port and to_port, each from 0 to 65535")
        }
        _ => Some("udp needs from_port and to_port, each from 0 to 65535"),
    }
}

fn entry_label(entry: &AclEntry) -> String {
    let direction = if entry.egress { "egress" } else { "ingress" };
    format!("entry {} ({direction})", entry.rule_number)
}

fn bad(id: &str, rule: &str, problem: &str) -> WorldError {
    WorldError::BadRule {
        id: id.to_owned(),
        rule: rule.to_owned(),
        problem: problem.to_owned(),
    }
}
