//! Whether security groups and network ACLs let an endpoint's tunnel reach an
//! instance, decided as AWS decides it.
//!
//! The simulated EICE asks this before connecting a tunnel, so a world can hold an
//! instance that runs but cannot be reached, and the product's own evaluator (its
//! `doctor` command) is checked against an independent one, as its SigV4 signer is
//! checked against [`crate::sigv4`].
//!
//! The rules, for the one TCP connection a tunnel is:
//! - **Security groups** are stateful and allow-only: traffic passes when any rule
//!   of any of the interface's groups allows it, and replies need no rule. A rule
//!   matches by protocol (`tcp` or `-1`), port range, and peer: an IPv4 or IPv6
//!   block containing the peer's address, or a group the peer's interface is in. A
//!   prefix list never matches here, because the simulator cannot expand one.
//!   The endpoint's groups must let it out to the instance's address and port; the
//!   instance's groups must let it in from the endpoint's groups or its private
//!   address, or, when the endpoint preserves the client's IP (IPv4 targets only),
//!   from the client's address alone.
//! - **Network ACLs** are stateless: entries are tried in rule-number order, the
//!   first that matches decides, and none matching is the `*` deny. They apply only
//!   where traffic crosses a subnet's edge, so only when the endpoint and the
//!   instance are in different subnets. Then the instance's subnet must let the
//!   connection in on its port from the source address and the replies out to
//!   ports 1024–65535, and the endpoint's subnet must let the connection out to the
//!   instance and the replies back in on 1024–65535.

mod blocked;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

pub use blocked::Blocked;

use crate::world::{
    AclAction, AclEntry, Endpoint, IMPLICIT_DENY_RULE, Instance, NetworkAcl, Protocol, RuleSource,
    SecurityGroup, SgRule, World,
};

/// The ports a client's side of a connection may use, to which replies go back;
/// a stateless ACL must allow them.
pub const EPHEMERAL_PORTS: RangeInclusive<u16> = 1024..=65535;

/// The TCP connection an endpoint opens to an instance for one tunnel.
#[derive(Debug, Clone, Copy)]
pub struct TunnelPath<'w> {
    /// The world both belong to.
    pub world: &'w World,
    /// The endpoint the tunnel goes through.
    pub endpoint: &'w Endpoint,
    /// The instance it reaches.
    pub instance: &'w Instance,
    /// The address the tunnel names: the instance's IPv4 or IPv6 address.
    pub target: IpAddr,
    /// The port it names.
    pub port: u16,
    /// The client's address, which the instance sees when the endpoint preserves
    /// it: the simulator's peer address of the WebSocket connection.
    pub client: IpAddr,
}

/// The other end of a rule: its address, and the groups its interface is in.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    /// The address traffic comes from or goes to.
    pub addr: IpAddr,
    /// The peer interface's security groups (none for an outside client).
    pub groups: &'a [&'a str],
}

/// The verdict on a tunnel through `endpoint_id` to `target:port`, or `None` when
/// `world` has no such endpoint or no instance at that address in its VPC (then
/// the world has nothing to say about the path).
pub fn check_tunnel(
    world: &World,
    endpoint_id: &str,
    target: IpAddr,
    port: u16,
    client: IpAddr,
) -> Option<Result<(), Blocked>> {
    let endpoint = world.endpoint(endpoint_id)?;
    let vpc = endpoint.vpc(world)?;
    let instance = world.instances.iter().find(|instance| {
        instance.vpc(world) == Some(vpc) && instance.addresses().contains(&target)
    })?;
    Some(evaluate(&TunnelPath {
        world,
        endpoint,
        instance,
        target,
        port,
        client,
    }))
}

/// Every check of the path, in the order traffic meets them; the first refusal.
pub fn evaluate(path: &TunnelPath<'_>) -> Result<(), Blocked> {
    let world = path.world;
    let endpoint_groups = world.endpoint_security_groups(path.endpoint);
    let instance_groups = world.instance_security_groups(path.instance);
    let endpoint_ids = ids(&endpoint_groups);
    let instance_ids = ids(&instance_groups);
    let to_instance = Peer {
        addr: path.target,
        groups: &instance_ids,
    };
    if !groups_allow(&endpoint_groups, true, path.port, &to_instance) {
        return Err(Blocked::EndpointEgress {
            groups: owned(&endpoint_ids),
            target: path.target,
            port: path.port,
        });
    }
    let source = path.source();
    let from_groups: &[&str] = if path.preserves_client_ip() {
        &[]
    } else {
        &endpoint_ids
    };
    let from_endpoint = Peer {
        addr: source,
        groups: from_groups,
    };
    if !groups_allow(&instance_groups, false, path.port, &from_endpoint) {
        return Err(Blocked::InstanceIngress {
            groups: owned(&instance_ids),
            source,
            from_groups: owned(from_groups),
            port: path.port,
        });
    }
    if path.endpoint.subnet != path.instance.subnet {
        let port = path.port..=path.port;
        let instance_subnet = &path.instance.subnet;
        subnet_allows(world, instance_subnet, false, port.clone(), source)?;
        subnet_allows(world, instance_subnet, true, EPHEMERAL_PORTS, source)?;
        let endpoint_subnet = &path.endpoint.subnet;
        subnet_allows(world, endpoint_subnet, true, port, path.target)?;
        subnet_allows(world, endpoint_subnet, false, EPHEMERAL_PORTS, path.target)?;
    }
    Ok(())
}

impl TunnelPath<'_> {
    /// Whether the instance sees the client's address: the endpoint preserves it,
    /// which works for IPv4 targets only.
    pub fn preserves_client_ip(&self) -> bool {
        self.endpoint.preserve_client_ip && self.target.is_ipv4()
    }

    /// The address the instance sees the connection come from: the client's, or
    /// the endpoint's own in the target's family (unspecified, which no rule
    /// but an all-addresses one matches, only for a world the loader refuses).
    pub fn source(&self) -> IpAddr {
        if self.preserves_client_ip() {
            return self.client;
        }
        match self.target {
            IpAddr::V4(_) => IpAddr::V4(
                self.world
                    .endpoint_private_ip(self.endpoint)
                    .unwrap_or(Ipv4Addr::UNSPECIFIED),
            ),
            IpAddr::V6(_) => IpAddr::V6(
                self.world
                    .endpoint_private_ipv6(self.endpoint)
                    .unwrap_or(Ipv6Addr::UNSPECIFIED),
            ),
        }
    }
}

fn ids<'a>(groups: &'a [Cow<'_, SecurityGroup>]) -> Vec<&'a str> {
    groups.iter().map(|group| group.id.as_str()).collect()
}

fn owned(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// Whether any rule of any group, outbound (`egress`) or inbound, allows TCP to
/// `port` with `peer` at the other end.
pub fn groups_allow(
    groups: &[Cow<'_, SecurityGroup>],
    egress: bool,
    port: u16,
    peer: &Peer<'_>,
) -> bool {
    groups.iter().any(|group| {
        let rules = if egress {
            &group.egress
        } else {
            &group.ingress
        };
        rules.iter().any(|rule| rule_allows(rule, port, peer))
    })
}

/// Whether one security group rule allows TCP to `port` with `peer` at the other
/// end.
pub fn rule_allows(rule: &SgRule, port: u16, peer: &Peer<'_>) -> bool {
    let ports = match rule.protocol {
        Protocol::All => true,
        Protocol::Tcp => {
            let (from, to) = rule.ports().unwrap_or((-1, -1));
            (from..=to).contains(&i32::from(port))
        }
        Protocol::Udp | Protocol::Icmp => false,
    };
    ports
        && match rule.source() {
            Some(RuleSource::Cidr(block)) => match peer.addr {
                IpAddr::V4(addr) => block.contains(addr),
                IpAddr::V6(_) => false,
            },
            Some(RuleSource::CidrIpv6(block)) => match peer.addr {
                IpAddr::V6(addr) => block.contains(addr),
                IpAddr::V4(_) => false,
            },
            Some(RuleSource::Group(group)) => peer.groups.contains(&group),
            // A prefix list's blocks are unknown here; a rule naming one never
            // matches (and a rule naming no single peer is not loaded at all).
            Some(RuleSource::PrefixList(_)) | None => false,
        }
}

/// The ACL of `subnet` applied to TCP to every port of `ports` with `peer` at the
/// other end; the refusal names the entry that denies.
fn subnet_allows(
    world: &World,
    subnet: &str,
    egress: bool,
    ports: RangeInclusive<u16>,
    peer: IpAddr,
) -> Result<(), Blocked> {
    let Some(acl) = world.network_acl_of(subnet) else {
        return Ok(());
    };
    acl_allows(&acl, egress, ports.clone(), peer).map_err(|rule| Blocked::Acl {
        acl: acl.id.clone(),
        subnet: subnet.to_owned(),
        egress,
        peer,
        ports,
        rule,
    })
}

/// Whether an ACL lets TCP to every port of `ports` pass outbound (`egress`) or
/// inbound with `peer` at the other end: per port, the first entry in rule-number
/// order that matches decides, and none matching is the `*` deny. `Err` holds the
/// rule number that denies some port (32767 for `*`).
pub fn acl_allows(
    acl: &NetworkAcl,
    egress: bool,
    ports: RangeInclusive<u16>,
    peer: IpAddr,
) -> Result<(), u16> {
    let mut entries: Vec<&AclEntry> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|entry| entry.rule_number);
    // The decision only changes where some entry's port range starts or ends, so
    // those points stand for the whole range.
    let mut points = vec![*ports.start()];
    for entry in &entries {
        if let (Some(from), Some(to)) = (entry.from_port, entry.to_port) {
            points.extend([Some(from), to.checked_add(1)].into_iter().flatten());
        }
    }
    points.retain(|port| ports.contains(port));
    for port in points {
        match entries
            .iter()
            .find(|entry| entry_matches(entry, port, peer))
        {
            Some(entry) if entry.action == AclAction::Allow => {}
            Some(entry) => return Err(entry.rule_number),
            None => return Err(IMPLICIT_DENY_RULE),
        }
    }
    Ok(())
}

/// Whether an ACL entry matches TCP to `port` with `peer` at the other end.
fn entry_matches(entry: &AclEntry, port: u16, peer: IpAddr) -> bool {
    let protocol = match entry.protocol {
        Protocol::All => true,
        Protocol::Tcp => match (entry.from_port, entry.to_port) {
            (Some(from), Some(to)) => (from..=to).contains(&port),
            _ => false,
        },
        Protocol::Udp | Protocol::Icmp => false,
    };
    protocol
        && match peer {
            IpAddr::V4(addr) => entry.cidr.is_some_and(|block| block.contains(addr)),
            IpAddr::V6(addr) => entry.cidr_ipv6.is_some_and(|block| block.contains(addr)),
        }
}
