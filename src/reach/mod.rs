//! "Why can't I reach it?": the security groups and network ACLs between an
//! EICE endpoint and an instance's port, evaluated as AWS evaluates them.
//!
//! Facts in, verdicts out: this module makes no AWS call, so each rule of the
//! evaluation is tested by table. The rules (AWS documentation on EICE
//! security groups and Preserve Client IP):
//!
//! - Security groups are stateful and only allow: traffic passes if any rule
//!   of any attached group admits it, and its replies always pass. The
//!   endpoint's groups need an **outbound** rule to the instance's port; the
//!   instance's groups an **inbound** rule for the port from the endpoint's
//!   group or address, or, with Preserve Client IP, from the client's own
//!   address (a group reference to the endpoint no longer matches then).
//! - Network ACLs are stateless and ordered: the lowest-numbered entry that
//!   matches decides, and none matching denies. They apply only where traffic
//!   crosses a subnet's edge: the instance's subnet must let the port in and
//!   ephemeral ports (1024–65535) back out, the endpoint's subnet the reverse.
//!
//! Only TCP matters here: EICE carries nothing else.

use std::net::IpAddr;

use ipnet::IpNet;

#[cfg(test)]
mod tests;

/// IANA's number for TCP, as EC2 rules may write it.
const TCP: u8 = 6;

/// The ports replies come back to, as AWS advises opening them in ACLs.
pub const EPHEMERAL: (u16, u16) = (1024, 65535);

/// An IP protocol as EC2 writes it in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `-1`: every protocol, every port.
    All,
    /// A protocol number (`tcp` is 6).
    Number(u8),
}

impl Protocol {
    /// `-1`, `tcp`, `udp`, `icmp`, `icmpv6` or a number, as the EC2 API returns them.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_lowercase().as_str() {
            "-1" | "all" => Some(Protocol::All),
            "tcp" => Some(Protocol::Number(TCP)),
            "udp" => Some(Protocol::Number(17)),
            "icmp" => Some(Protocol::Number(1)),
            "icmpv6" => Some(Protocol::Number(58)),
            n => n.parse().ok().map(Protocol::Number),
        }
    }

    fn carries_tcp(self) -> bool {
        matches!(self, Protocol::All | Protocol::Number(TCP))
    }
}

/// The ports a rule covers, inclusive; `None` for all of them (protocol
/// `-1`, or a TCP rule written without a range).
pub type Ports = Option<(u16, u16)>;

/// The part of `want` that `ports` covers, if any.
fn overlap(ports: Ports, want: (u16, u16)) -> Option<(u16, u16)> {
    let (from, to) = ports.unwrap_or((0, u16::MAX));
    let (lo, hi) = (from.max(want.0), to.min(want.1));
    (lo <= hi).then_some((lo, hi))
}

/// Whom a security-group rule admits (or lets traffic go to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Cidr(IpNet),
    /// Another security group: traffic from (or to) anything it is attached to.
    Group(String),
    /// A managed prefix list, whose entries are not looked up here.
    PrefixList(String),
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub protocol: Protocol,
    pub ports: Ports,
    pub peers: Vec<Peer>,
}

/// A security group: its rules each way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub ingress: Vec<Permission>,
    pub egress: Vec<Permission>,
}

/// Which way traffic crosses a group or an ACL, seen from the resource it guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The far side of a rule: the addresses traffic comes from (or goes to),
/// and the security groups attached to whatever holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// One address (`/32`, `/128`) when it is known, else the smallest
    /// network known to hold it (the endpoint's subnet).
    pub net: IpNet,
    pub groups: Vec<String>,
}

impl Party {
    /// A single address and its groups.
    pub fn at(addr: IpAddr, groups: Vec<String>) -> Party {
        Party {
            net: IpNet::from(addr),
            groups,
        }
    }
}

/// What a set of security groups says of TCP to one port with a party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupVerdict {
    /// This group has a rule that admits it, described in words.
    Allowed { group: String, rule: String },
    /// Only a rule naming a prefix list could admit it; the list's entries
    /// were not expanded, so the answer is unknown.
    PrefixList { group: String, list: String },
    /// No rule of any group admits it.
    Denied,
}

/// Whether any of `groups` lets TCP to `port` pass `direction` with `party`.
pub fn groups_allow(
    groups: &[SecurityGroup],
    direction: Direction,
    port: u16,
    party: &Party,
) -> GroupVerdict {
    let mut prefix_list = None;
    for group in groups {
        let rules = match direction {
            Direction::Ingress => &group.ingress,
            Direction::Egress => &group.egress,
        };
        let applicable = rules
            .iter()
            .filter(|r| r.protocol.carries_tcp() && overlap(r.ports, (port, port)).is_some());
        for rule in applicable {
            for peer in &rule.peers {
                let admits = match peer {
                    Peer::Cidr(net) => net.contains(&party.net),
                    Peer::Group(id) => party.groups.contains(id),
                    Peer::PrefixList(list) => {
                        prefix_list.get_or_insert((group.id.clone(), list.clone()));
                        false
                    }
                };
                if admits {
                    return GroupVerdict::Allowed {
                        group: group.id.clone(),
                        rule: describe(rule, peer),
                    };
                }
            }
        }
    }
    match prefix_list {
        Some((group, list)) => GroupVerdict::PrefixList { group, list },
        None => GroupVerdict::Denied,
    }
}

/// `tcp 22 from sg-…`, `all traffic from 10.0.0.0/16`: a rule as a person reads it.
fn describe(rule: &Permission, peer: &Peer) -> String {
    let what = match (rule.protocol, rule.ports) {
        (Protocol::All, _) | (_, None) => "all traffic".to_owned(),
        (_, Some((from, to))) if from == to => format!("tcp {from}"),
        (_, Some((from, to))) => format!("tcp {from}-{to}"),
    };
    let whom = match peer {
        Peer::Cidr(net) => net.to_string(),
        Peer::Group(id) | Peer::PrefixList(id) => id.clone(),
    };
    format!("{what} with {whom}")
}

/// One entry of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// 1 to 32766; the default entry (`*`) is implicit.
    pub number: u16,
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Ports,
    pub cidr: IpNet,
    pub allow: bool,
}

/// A network ACL: its entries, in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub id: String,
    pub entries: Vec<AclEntry>,
}

/// What an ACL says of TCP on a range of ports with a party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclVerdict {
    /// Every port of the range is allowed; the entries that decided it.
    Allowed { rules: Vec<u16> },
    /// Some port is denied: by this entry, or by the default (`None`), and
    /// the first ports it denies.
    Denied {
        rule: Option<u16>,
        ports: (u16, u16),
    },
}

impl NetworkAcl {
    /// Whether TCP on every port of `ports` passes `direction` with `party`:
    /// entries in number order, the first to match a port decides it.
    pub fn allows(&self, direction: Direction, ports: (u16, u16), party: &IpNet) -> AclVerdict {
        let mut entries: Vec<&AclEntry> = self
            .entries
            .iter()
            .filter(|e| e.direction == direction && e.protocol.carries_tcp())
            .collect();
        entries.sort_by_key(|e| e.number);
        let mut open = vec![ports];
        let mut deciding = Vec::new();
        for entry in entries {
            if !overlaps(&entry.cidr, party) {
                continue;
            }
            let hit: Vec<(u16, u16)> = open
                .iter()
                .filter_map(|range| overlap(entry.ports, *range))
                .collect();
            let Some(first) = hit.first() else { continue };
            if !entry.allow {
                return AclVerdict::Denied {
                    rule: Some(entry.number),
                    ports: *first,
                };
            }
            // An allow for part of the party's addresses decides nothing
            // for the rest of them: only one that holds them all closes ports.
            if entry.cidr.contains(party) {
                open = open
                    .iter()
                    .flat_map(|range| remove(*range, entry.ports))
                    .collect();
                deciding.push(entry.number);
                if open.is_empty() {
                    return AclVerdict::Allowed { rules: deciding };
                }
            }
        }
        AclVerdict::Denied {
            rule: None,
            ports: open[0],
        }
    }

    /// A free entry number for an allow entry that must come before entry
    /// `before` (or anywhere before the default, when `None`).
    pub fn free_number(&self, direction: Direction, before: Option<u16>) -> Option<u16> {
        let taken = |n: u16| {
            self.entries
                .iter()
                .any(|e| e.direction == direction && e.number == n)
        };
        match before {
            Some(limit) => (1..limit).rev().find(|n| !taken(*n)),
            None => {
                let highest = self
                    .entries
                    .iter()
                    .filter(|e| e.direction == direction)
                    .map(|e| e.number)
                    .max()
                    .unwrap_or(0);
                // The next round hundred above what is there, as people number them.
                let next = (highest / 100 + 1).saturating_mul(100);
                (next..=32766).find(|n| !taken(*n))
            }
        }
    }
}

/// Whether two networks share any address.
fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// `range` less the ports of `ports`: none, one or two ranges.
fn remove(range: (u16, u16), ports: Ports) -> Vec<(u16, u16)> {
    let Some((from, to)) = ports else {
        return Vec::new();
    };
    let mut rest = Vec::new();
    if range.0 < from {
        rest.push((range.0, (from - 1).min(range.1)));
    }
    if range.1 > to {
        rest.push(((to + 1).max(range.0), range.1));
    }
    rest.retain(|(lo, hi)| lo <= hi);
    rest
}

mod path;

pub use path::{
    Check, Endpoint, Instance, Kind, Network, Path, Role, Status, check, check_from_hop,
};
