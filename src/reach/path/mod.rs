//! One target's path, checked leg by leg: the instance and endpoint states,
//! the address family, the endpoint's groups out, the instance's groups in,
//! and the network ACLs of both subnets each way. Each failing check carries
//! the AWS CLI command that would fix it, with the real ids filled in.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

#[cfg(test)]
mod tests;

use super::{
    AclVerdict, Direction, EPHEMERAL, GroupVerdict, NetworkAcl, Party, Peer, SecurityGroup,
    groups_allow,
};

/// What the traffic leaves from: an EICE endpoint, or (for the second leg
/// of a hop route) the hop instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Endpoint,
    Hop,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Endpoint => "endpoint",
            Role::Hop => "hop",
        })
    }
}

/// The endpoint (or hop instance) as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub role: Role,
    pub id: String,
    /// `create-complete`, …
    pub state: String,
    /// Whether tunnels can be opened in that state.
    pub usable: bool,
    /// `ipv4`, `dualstack` or `ipv6`.
    pub family: String,
    pub groups: Vec<String>,
    pub preserve_client_ip: bool,
    pub subnet: Option<String>,
    /// Its own address when known (`/32`), else its subnet's block.
    pub net: IpNet,
}

/// The target instance as the checks need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// `running`, `stopped`, …
    pub state: String,
    pub addr: IpAddr,
    pub groups: Vec<String>,
    pub subnet: Option<String>,
}

/// The rules on the path, as described by the EC2 API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// Every group of the endpoint and the instance (others may be present).
    pub groups: Vec<SecurityGroup>,
    /// The ACL of each subnet on the path, by subnet id.
    pub acls: HashMap<String, NetworkAcl>,
}

/// A tunnel to `instance`'s `port` through `endpoint`, in `region`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub region: String,
    pub port: u16,
    pub endpoint: Endpoint,
    pub instance: Instance,
    pub network: Network,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Could not be decided from the API (a prefix list, the client's own
    /// address): said plainly rather than guessed.
    Unknown,
    Fail,
}

/// Which fact a check rests on, so that a caller who could not read that
/// fact (a denied Describe call) can say so instead of the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The instance's and the endpoint's states, the address family.
    State,
    /// The endpoint's security groups, outbound.
    EndpointEgress,
    /// The instance's security groups, inbound.
    InstanceIngress,
    /// A subnet's network ACL.
    Acl,
}

/// One line of the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub kind: Kind,
    pub status: Status,
    /// What was checked: `instance i-… state`, `sg-… inbound tcp 22`, …
    pub what: String,
    /// What was found.
    pub detail: String,
    /// The command that fixes a failure.
    pub fix: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Ok => "✓",
            Status::Unknown => "?",
            Status::Fail => "✗",
        };
        write!(f, "{mark} {}: {}", self.what, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

impl Check {
    /// This check, marked as resting on `kind`.
    fn of(mut self, kind: Kind) -> Check {
        self.kind = kind;
        self
    }

    /// The same line, undecided: `why` says what kept it from being read.
    pub fn unknown_because(&self, why: impl Into<String>) -> Check {
        Check {
            kind: self.kind,
            status: Status::Unknown,
            what: self.what.clone(),
            detail: why.into(),
            fix: None,
        }
    }

    /// A line found to fail, with the command that fixes it.
    pub fn fail(
        kind: Kind,
        what: String,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::failed(what, detail, fix).of(kind)
    }

    /// A line that cannot be decided from the API, saying why.
    pub fn undecided(kind: Kind, what: String, detail: impl Into<String>) -> Check {
        Check::unknown(what, detail).of(kind)
    }

    fn ok(what: String, detail: impl Into<String>) -> Check {
        Check {
            kind: Kind::State,
            status: Status::Ok,
            what,
            detail: detail.into(),
            fix: None,
        }
    }

    fn failed(what: String, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            kind: Kind::State,
            status: Status::Fail,
            what,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn unknown(what: String, detail: impl Into<String>) -> Check {
        Check {
            kind: Kind::State,
            status: Status::Unknown,
            what,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// The checks of a hop's second leg, from the hop instance (as `path.endpoint`,
/// role [`Role::Hop`]) to the target instance: no endpoint state or family,
/// no Preserve Client IP.
pub fn check_from_hop(path: &Path) -> Vec<Check> {
    let mut checks = vec![instance_state(path)];
    checks.push(endpoint_egress(path).of(Kind::EndpointEgress));
    checks.push(instance_ingress(path).of(Kind::InstanceIngress));
    checks.extend(acls(path).into_iter().map(|c| c.of(Kind::Acl)));
    checks
}

/// Every check of `path`, in the order traffic meets them.
pub fn check(path: &Path) -> Vec<Check> {
    let mut checks = vec![instance_state(path), endpoint_state(path), family(path)];
    checks.push(endpoint_egress(path).of(Kind::EndpointEgress));
    checks.push(instance_ingress(path).of(Kind::InstanceIngress));
    checks.extend(acls(path).into_iter().map(|c| c.of(Kind::Acl)));
    checks
}

fn instance_state(p: &Path) -> Check {
    let what = format!("instance {}", p.instance.id);
    if p.instance.state == "running" {
        Check::ok(what, "running")
    } else {
        Check::failed(
            what,
            format!("{}, not running", p.instance.state),
            format!(
                "aws ec2 start-instances --region {} --instance-ids {}",
                p.region, p.instance.id
            ),
        )
    }
}

fn endpoint_state(p: &Path) -> Check {
    let what = format!("endpoint {}", p.endpoint.id);
    if p.endpoint.usable {
        Check::ok(what, p.endpoint.state.clone())
    } else {
        Check::failed(
            what,
            format!(
                "{}: no tunnel opens until it is create-complete",
                p.endpoint.state
            ),
            format!(
                "wait, then check with: aws ec2 describe-instance-connect-endpoints --region {} \
                 --instance-connect-endpoint-ids {}",
                p.region, p.endpoint.id
            ),
        )
    }
}

fn family(p: &Path) -> Check {
    let what = format!("address family ({})", p.instance.addr);
    let reaches = match p.instance.addr {
        IpAddr::V4(_) => p.endpoint.family != "ipv6",
        IpAddr::V6(_) => p.endpoint.family != "ipv4",
    };
    if reaches {
        return Check::ok(what, format!("the endpoint is {}", p.endpoint.family));
    }
    let wanted = if p.instance.addr.is_ipv6() {
        "dualstack"
    } else {
        "ipv4"
    };
    Check::failed(
        what,
        format!("an {} endpoint cannot reach it", p.endpoint.family),
        format!(
            "aws ec2 create-instance-connect-endpoint --region {} --subnet-id {} \
             --ip-address-type {wanted}",
            p.region,
            p.endpoint.subnet.as_deref().unwrap_or("SUBNET_ID")
        ),
    )
}

/// The groups with these ids, in the order given; a missing one is skipped
/// (the caller looked up every group it named).
fn groups(p: &Path, ids: &[String]) -> Vec<SecurityGroup> {
    ids.iter()
        .filter_map(|id| p.network.groups.iter().find(|g| &g.id == id))
        .cloned()
        .collect()
}

fn endpoint_egress(p: &Path) -> Check {
    let what = format!(
        "{} groups {} outbound tcp {}",
        p.endpoint.role,
        p.endpoint.groups.join(","),
        p.port
    );
    let instance = Party::at(p.instance.addr, p.instance.groups.clone());
    let fix = || {
        format!(
            "aws ec2 authorize-security-group-egress --region {} --group-id {} --ip-permissions \
             'IpProtocol=tcp,FromPort={port},ToPort={port},UserIdGroupPairs=[{{GroupId={}}}]'",
            p.region,
            first(&p.endpoint.groups),
            first(&p.instance.groups),
            port = p.port
        )
    };
    verdict(
        what,
        groups_allow(
            &groups(p, &p.endpoint.groups),
            Direction::Egress,
            p.port,
            &instance,
        ),
        &format!("to {}", p.instance.id),
        fix,
    )
}

fn instance_ingress(p: &Path) -> Check {
    let what = format!(
        "instance groups {} inbound tcp {}",
        p.instance.groups.join(","),
        p.port
    );
    let instance_groups = groups(p, &p.instance.groups);
    if p.endpoint.preserve_client_ip && p.instance.addr.is_ipv4() {
        return client_ip_ingress(p, what, &instance_groups);
    }
    let endpoint = Party {
        net: p.endpoint.net,
        groups: p.endpoint.groups.clone(),
    };
    let fix = || {
        format!(
            "aws ec2 authorize-security-group-ingress --region {} --group-id {} --protocol tcp \
             --port {} --source-group {}",
            p.region,
            first(&p.instance.groups),
            p.port,
            first(&p.endpoint.groups)
        )
    };
    verdict(
        what,
        groups_allow(&instance_groups, Direction::Ingress, p.port, &endpoint),
        &format!("from the {} {}", p.endpoint.role, p.endpoint.id),
        fix,
    )
}

/// With Preserve Client IP the instance sees the client's own address,
/// which only a CIDR rule can admit; which address that is, the API cannot say.
fn client_ip_ingress(p: &Path, what: String, groups: &[SecurityGroup]) -> Check {
    let cidrs: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.ingress)
        .filter(|r| r.protocol.carries_tcp() && super::overlap(r.ports, (p.port, p.port)).is_some())
        .flat_map(|r| &r.peers)
        .filter_map(|peer| match peer {
            Peer::Cidr(net) if net.addr().is_ipv4() => Some(net.to_string()),
            _ => None,
        })
        .collect();
    if cidrs.iter().any(|c| c == "0.0.0.0/0") {
        return Check::ok(what, "allowed from any address (Preserve Client IP is on)");
    }
    if !cidrs.is_empty() {
        return Check::unknown(
            what,
            format!(
                "Preserve Client IP is on, so the instance sees your own address: allowed only \
                 from {}; your address must be in one",
                cidrs.join(", ")
            ),
        );
    }
    Check::failed(
        what,
        format!(
            "Preserve Client IP is on, so the instance sees your own address, not the endpoint's, \
             and no rule admits tcp {} from an address (a rule naming the endpoint's group does \
             not match)",
            p.port
        ),
        format!(
            "aws ec2 authorize-security-group-ingress --region {} --group-id {} --protocol tcp \
             --port {} --cidr YOUR.PUBLIC.IP/32 (or turn Preserve Client IP off on {})",
            p.region,
            first(&p.instance.groups),
            p.port,
            p.endpoint.id
        ),
    )
}

fn verdict(what: String, verdict: GroupVerdict, whom: &str, fix: impl Fn() -> String) -> Check {
    match verdict {
        GroupVerdict::Allowed { group, rule } => Check::ok(what, format!("{group} allows {rule}")),
        GroupVerdict::PrefixList { group, list } => Check::unknown(
            what,
            format!(
                "only {group}'s rule with the prefix list {list} could allow it {whom}; its \
                 entries are not looked up (aws ec2 get-managed-prefix-list-entries \
                 --prefix-list-id {list})"
            ),
        ),
        GroupVerdict::Denied => Check::failed(what, format!("no rule allows it {whom}"), fix()),
    }
}

/// `sg-…` for a fix command, or a placeholder the user must fill in.
fn first(ids: &[String]) -> &str {
    ids.first().map(String::as_str).unwrap_or("GROUP_ID")
}

/// The four ACL crossings, or one line saying none applies.
fn acls(p: &Path) -> Vec<Check> {
    let (Some(here), Some(there)) = (&p.instance.subnet, &p.endpoint.subnet) else {
        return vec![Check::unknown(
            "network ACLs".into(),
            "a subnet is not known, so its ACL was not checked",
        )];
    };
    if here == there {
        return vec![Check::ok(
            "network ACLs".into(),
            format!(
                "the {} and the instance share {here}: no ACL lies between them",
                p.endpoint.role
            ),
        )];
    }
    let client_ip = p.endpoint.preserve_client_ip && p.instance.addr.is_ipv4();
    // The address the instance's subnet sees: the endpoint's, or with
    // Preserve Client IP any client's (so only an ACL open to all is sure).
    let source = if client_ip {
        "0.0.0.0/0".parse().expect("a network")
    } else {
        p.endpoint.net
    };
    let instance = IpNet::from(p.instance.addr);
    let port = (p.port, p.port);
    [
        (here, Direction::Ingress, port, source),
        (here, Direction::Egress, EPHEMERAL, source),
        (there, Direction::Egress, port, instance),
        (there, Direction::Ingress, EPHEMERAL, instance),
    ]
    .into_iter()
    .map(|(subnet, direction, ports, party)| acl(p, subnet, direction, ports, party, client_ip))
    .collect()
}

fn acl(
    p: &Path,
    subnet: &str,
    direction: Direction,
    ports: (u16, u16),
    party: IpNet,
    client_ip: bool,
) -> Check {
    let (way, dir_flag) = match direction {
        Direction::Ingress => ("in from", "--ingress"),
        Direction::Egress => ("out to", "--egress"),
    };
    let what = format!("ACL of {subnet} {way} {party} tcp {}", span(ports));
    let Some(acl) = p.network.acls.get(subnet) else {
        return Check::unknown(what, "the subnet's network ACL was not found");
    };
    match acl.allows(direction, ports, &party) {
        AclVerdict::Allowed { rules } => {
            let rules: Vec<String> = rules.iter().map(u16::to_string).collect();
            Check::ok(
                what,
                format!("{} allows it (rule {})", acl.id, rules.join(", ")),
            )
        }
        AclVerdict::Denied {
            rule,
            ports: denied,
        } if client_ip => Check::unknown(
            what,
            format!(
                "Preserve Client IP is on: {} denies some addresses on tcp {} ({}), so it \
                 depends on yours",
                acl.id,
                span(denied),
                rule.map_or("the default rule".to_owned(), |r| format!("rule {r}"))
            ),
        ),
        AclVerdict::Denied {
            rule,
            ports: denied,
        } => {
            let by = rule.map_or("its default rule (*)".to_owned(), |r| format!("rule {r}"));
            let number = acl
                .free_number(direction, rule)
                .map_or("N".to_owned(), |n| n.to_string());
            let block = if party.addr().is_ipv6() {
                "--ipv6-cidr-block"
            } else {
                "--cidr-block"
            };
            Check::failed(
                what,
                format!("{} denies tcp {} by {by}", acl.id, span(denied)),
                format!(
                    "aws ec2 create-network-acl-entry --region {} --network-acl-id {} {dir_flag} \
                     --rule-number {number} --protocol tcp --port-range From={},To={} {block} \
                     {party} --rule-action allow",
                    p.region, acl.id, ports.0, ports.1
                ),
            )
        }
    }
}

/// `22`, or `1024-65535`.
fn span((from, to): (u16, u16)) -> String {
    if from == to {
        from.to_string()
    } else {
        format!("{from}-{to}")
    }
}
