//! Security groups and network ACLs: the two filters between an endpoint and an
//! instance, as the world file states them and as EC2 completes them.
//!
//! A world names only the groups and ACLs a scenario is about. What EC2 would have
//! anyway is filled in by `defaults.rs`, never written back into the file: a VPC
//! without a group named `default` gets a synthesised one (all traffic from its own
//! members, all traffic out), a VPC without a default ACL gets one that allows
//! everything both ways (rule 100, and 101 for IPv6), and an instance or endpoint
//! that names no group is in its VPC's default group. Old world files therefore
//! load unchanged and behave like a fresh AWS VPC.

mod defaults;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::Deserialize;

use super::{Ipv4Cidr, Ipv6Cidr};

/// The name EC2 gives every VPC's default security group.
pub const DEFAULT_GROUP_NAME: &str = "default";

/// The rule number AWS shows for an ACL's final `*` entry, the implicit deny.
pub const IMPLICIT_DENY_RULE: u16 = 32767;

/// A security group: allow-only, stateful rules attached to network interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroup {
    /// `sg-…`.
    pub id: String,
    /// The VPC it belongs to; only interfaces of that VPC can be in it.
    pub vpc: String,
    /// Its name, unique in the VPC (`default` is the VPC's default group).
    pub name: String,
    /// `groupDescription`; the name when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// What may come in.
    #[serde(default)]
    pub ingress: Vec<SgRule>,
    /// What may go out; when the key is absent, all traffic to 0.0.0.0/0, as EC2
    /// creates a group.
    #[serde(default = "allow_all_out")]
    pub egress: Vec<SgRule>,
}

/// One rule of a security group: a protocol, a port range and exactly one peer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgRule {
    /// `tcp`, `udp`, `icmp` or `-1` (all traffic).
    pub protocol: Protocol,
    /// First port (tcp/udp), or ICMP type (-1 for all); absent for `-1`.
    #[serde(default)]
    pub from_port: Option<i32>,
    /// Last port (tcp/udp), or ICMP code (-1 for all); absent for `-1`.
    #[serde(default)]
    pub to_port: Option<i32>,
    /// The peer as an IPv4 block.
    #[serde(default)]
    pub cidr: Option<Ipv4Cidr>,
    /// The peer as an IPv6 block.
    #[serde(default)]
    pub cidr_ipv6: Option<Ipv6Cidr>,
    /// The peer as a security group: any interface in that group.
    #[serde(default)]
    pub group: Option<String>,
    /// The peer as a managed prefix list (`pl-…`). The simulator cannot expand
    /// one, so such a rule is listed but never matches.
    #[serde(default)]
    pub prefix_list: Option<String>,
}

/// The one peer a rule names (the world loader refuses rules with none or two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSource<'a> {
    /// An IPv4 block.
    Cidr(Ipv4Cidr),
    /// An IPv6 block.
    CidrIpv6(Ipv6Cidr),
    /// A security group id.
    Group(&'a str),
    /// A prefix list id.
    PrefixList(&'a str),
}

/// An IP protocol as security groups and ACLs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum Protocol {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// Every protocol (`-1`).
    #[default]
    All,
}

/// A network ACL: stateless, numbered rules applied where traffic crosses a subnet's
/// edge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAcl {
    /// `acl-…`.
    pub id: String,
    /// The VPC it belongs to.
    pub vpc: String,
    /// The subnets explicitly associated with it.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Whether it is the VPC's default ACL, which every subnet not associated
    /// with another ACL uses.
    #[serde(default)]
    pub default: bool,
    /// Its numbered entries; the `*` deny (32767) is implied and not written.
    #[serde(default)]
    pub entries: Vec<AclEntry>,
}

/// One numbered entry of a network ACL.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclEntry {
    /// 1–32766; entries are evaluated in ascending order, the first match wins.
    pub rule_number: u16,
    /// Outbound (`true`) or inbound (`false`).
    pub egress: bool,
    /// `tcp`, `udp`, `icmp` or `-1`; EC2 reports it as 6, 17, 1 or -1.
    pub protocol: Protocol,
    /// Allow or deny.
    pub action: AclAction,
    /// The other end's IPv4 block.
    #[serde(default)]
    pub cidr: Option<Ipv4Cidr>,
    /// The other end's IPv6 block.
    #[serde(default)]
    pub cidr_ipv6: Option<Ipv6Cidr>,
    /// First port, for tcp and udp.
    #[serde(default)]
    pub from_port: Option<u16>,
    /// Last port, for tcp and udp.
    #[serde(default)]
    pub to_port: Option<u16>,
}

/// What an ACL entry does with the traffic it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    /// Let it through.
    Allow,
    /// Drop it.
    #[default]
    Deny,
}

pub(super) fn allow_all_out() -> Vec<SgRule> {
    vec![SgRule {
        cidr: Some(any_ipv4()),
        ..SgRule::default()
    }]
}

fn any_ipv4() -> Ipv4Cidr {
    "0.0.0.0/0".parse().expect("a valid block")
}

pub(super) fn any_ipv6() -> Ipv6Cidr {
    "::/0".parse().expect("a valid block")
}

impl Protocol {
    /// The name security groups use (`ipProtocol`): `tcp`, `udp`, `icmp`, `-1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::All => "-1",
        }
    }

    /// The number ACL entries report (`protocol`): 6, 17, 1 or -1.
    pub fn number(self) -> i32 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Icmp => 1,
            Protocol::All => -1,
        }
    }

    /// Whether rules of this protocol carry a port range.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Protocol {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "icmp" => Ok(Protocol::Icmp),
            "-1" => Ok(Protocol::All),
            _ => Err(format!(
                "unknown protocol '{text}' (expected \"tcp\", \"udp\", \"icmp\" or \"-1\")"
            )),
        }
    }
}

impl AclAction {
    /// EC2's name (`ruleAction`).
    pub fn as_str(self) -> &'static str {
        match self {
            AclAction::Allow => "allow",
            AclAction::Deny => "deny",
        }
    }
}

impl SecurityGroup {
    /// `groupDescription`: the description, or the name when none was given.
    pub fn description(&self) -> &str {
        self.description.as_deref().unwrap_or(&self.name)
    }
}

impl SgRule {
    /// The one peer the rule names, if it names exactly one.
    pub fn source(&self) -> Option<RuleSource<'_>> {
        let all = [
            self.cidr.map(RuleSource::Cidr),
            self.cidr_ipv6.map(RuleSource::CidrIpv6),
            self.group.as_deref().map(RuleSource::Group),
            self.prefix_list.as_deref().map(RuleSource::PrefixList),
        ];
        let mut named = all.into_iter().flatten();
        match (named.next(), named.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    }

    /// The port range as EC2 reports it (`fromPort`, `toPort`): absent for `-1`,
    /// -1/-1 (all types and codes) for an ICMP rule that gives none.
    pub fn ports(&self) -> Option<(i32, i32)> {
        match self.protocol {
            Protocol::All => None,
            _ => Some((self.from_port.unwrap_or(-1), self.to_port.unwrap_or(-1))),
        }
    }
}

impl AclEntry {
    /// An entry matching all traffic to or from one block, for synthesised ACLs.
    pub(super) fn all(rule_number: u16, egress: bool, action: AclAction, ipv6: bool) -> AclEntry {
        AclEntry {
            rule_number,
            egress,
            protocol: Protocol::All,
            action,
            cidr: (!ipv6).then(any_ipv4),
            cidr_ipv6: ipv6.then(any_ipv6),
            ..AclEntry::default()
        }
    }
}

impl NetworkAcl {
    /// Every entry as EC2 lists them: outbound then inbound, each in rule-number
    /// order and closed by the `*` deny (rule 32767) for IPv4, and for IPv6 too
    /// when the ACL has IPv6 entries or `ipv6` says the VPC has IPv6 blocks.
    pub fn listed_entries(&self, ipv6: bool) -> Vec<AclEntry> {
        let ipv6 = ipv6 || self.entries.iter().any(|e| e.cidr_ipv6.is_some());
        let mut listed = Vec::new();
        for egress in [true, false] {
            let mut entries: Vec<AclEntry> = self
                .entries
                .iter()
                .filter(|e| e.egress == egress)
                .cloned()
                .collect();
            entries.sort_by_key(|e| e.rule_number);
            listed.extend(entries);
            let deny = |ipv6| AclEntry::all(IMPLICIT_DENY_RULE, egress, AclAction::Deny, ipv6);
            listed.push(deny(false));
            if ipv6 {
                listed.push(deny(true));
            }
        }
        listed
    }
}
