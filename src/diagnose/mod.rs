//! "Why can't I reach it?": the path from an endpoint to an instance's port,
//! read from the EC2 API and checked rule by rule ([`crate::reach`]).
//!
//! Used by `eice-proxy doctor TARGET`, and by the proxy when EICE closes a
//! tunnel as unreachable ([`Hints`]), so the refusal names the rule that
//! blocks it. A Describe call that fails (most often a missing permission)
//! turns the lines that rest on it into "not checked" lines that name the
//! permission, never into a failure of their own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use moka::future::Cache;

use crate::ec2::network::SubnetBlocks;
use crate::ec2::{AwsError, Ec2, EndpointInfo, InstanceInfo};
use crate::reach::{self, Check, Kind, Network, Path, Role, Status};

#[cfg(test)]
mod tests;

/// Reads the rules on the path from `endpoint` to `instance`'s `port` in
/// `region`, and checks them in the order traffic meets them. `addr` is the
/// address the tunnel goes to (an instance may hold an IPv4 and an IPv6
/// one); `None` takes the instance's own choice.
pub async fn check_path(
    ec2: &Ec2,
    region: &str,
    endpoint: &EndpointInfo,
    instance: &InstanceInfo,
    addr: Option<IpAddr>,
    port: u16,
) -> Vec<Check> {
    let source = reach::Endpoint {
        role: Role::Endpoint,
        id: endpoint.id.clone(),
        state: endpoint.state.clone(),
        usable: endpoint.is_usable(),
        family: endpoint.family.to_string(),
        groups: endpoint.security_groups.clone(),
        preserve_client_ip: endpoint.preserve_client_ip,
        subnet: endpoint.subnet_id.clone(),
        // Replaced by the subnet's block once read.
        net: anywhere(IpAddr::from([0, 0, 0, 0])),
    };
    checked(ec2, region, source, None, instance, addr, port).await
}

/// The second leg of a hop route: from the hop instance to the target
/// instance's `port`, inside the VPC.
pub async fn check_hop_leg(
    ec2: &Ec2,
    region: &str,
    hop: &InstanceInfo,
    target: &InstanceInfo,
    port: u16,
) -> Vec<Check> {
    let source = reach::Endpoint {
        role: Role::Hop,
        id: hop.id.clone(),
        state: hop.state.clone(),
        usable: hop.state == "running",
        family: "dualstack".into(),
        groups: hop.security_groups.clone(),
        preserve_client_ip: false,
        subnet: hop.subnet_id.clone(),
        net: anywhere(IpAddr::from([0, 0, 0, 0])),
    };
    checked(ec2, region, source, hop.address(), target, None, port).await
}

/// Reads the groups, ACLs and (unless `source_addr` is known) the source's
/// subnet block, then checks the path from `source` to `instance`.
async fn checked(
    ec2: &Ec2,
    region: &str,
    mut source: reach::Endpoint,
    source_addr: Option<IpAddr>,
    instance: &InstanceInfo,
    addr: Option<IpAddr>,
    port: u16,
) -> Vec<Check> {
    let Some(addr) = addr.or(instance.address()) else {
        return vec![Check::fail(
            Kind::State,
            format!("instance {}", instance.id),
            "it has no private address",
            "give it one (or start it): a tunnel goes to a private address",
        )];
    };
    let mut group_ids = source.groups.clone();
    group_ids.extend(instance.security_groups.iter().cloned());
    group_ids.sort();
    group_ids.dedup();
    let mut subnets: Vec<String> = [&source.subnet, &instance.subnet_id]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    subnets.dedup();
    let crossing = subnets.len() > 1;
    let (groups, acls, subnet) = tokio::join!(
        ec2.security_groups(&group_ids),
        async {
            if crossing {
                ec2.network_acls(&subnets).await
            } else {
                Ok(Default::default())
            }
        },
        async {
            match (&source.subnet, source_addr) {
                (Some(id), None) => ec2.subnet(id).await,
                _ => Ok(None),
            }
        },
    );
    let source_net = match source_addr {
        Some(own) => Some(IpNet::from(own)),
        None => subnet
            .as_ref()
            .ok()
            .and_then(|s| s.as_ref())
            .and_then(|s| block_for(s, addr)),
    };
    // Unknown, the source is taken as "anywhere": only a rule open to every
    // address then passes, and a failure is reported as undecided.
    source.net = source_net.unwrap_or_else(|| anywhere(addr));
    let role = source.role;
    let source_subnet = source.subnet.clone();
    let path = Path {
        region: region.to_owned(),
        port,
        endpoint: source,
        instance: reach::Instance {
            id: instance.id.clone(),
            state: instance.state.clone(),
            addr,
            groups: instance.security_groups.clone(),
            subnet: instance.subnet_id.clone(),
        },
        network: Network {
            groups: groups.clone().unwrap_or_default(),
            acls: acls.clone().unwrap_or_default(),
        },
    };
    let mut checks = match role {
        Role::Endpoint => reach::check(&path),
        Role::Hop => reach::check_from_hop(&path),
    };
    for check in &mut checks {
        let unread = match check.kind {
            Kind::State => None,
            Kind::EndpointEgress => groups.as_ref().err(),
            Kind::InstanceIngress => groups.as_ref().err().or(subnet.as_ref().err()),
            Kind::Acl => acls.as_ref().err().or(subnet.as_ref().err()),
        };
        if let Some(e) = unread {
            *check = check.unknown_because(not_read(e));
        } else if source_net.is_none()
            && check.status == Status::Fail
            && matches!(check.kind, Kind::InstanceIngress | Kind::Acl)
        {
            *check = check.unknown_because(format!(
                "the {role}'s subnet {} was not found, so its address is not known",
                source_subnet.as_deref().unwrap_or("(none)")
            ));
        }
    }
    checks
}

/// The endpoint's subnet block of `addr`'s family.
fn block_for(subnet: &SubnetBlocks, addr: IpAddr) -> Option<IpNet> {
    match addr {
        IpAddr::V4(_) => subnet.ipv4,
        IpAddr::V6(_) => subnet.ipv6.first().copied(),
    }
}

fn anywhere(addr: IpAddr) -> IpNet {
    let text = if addr.is_ipv4() { "0.0.0.0/0" } else { "::/0" };
    text.parse().expect("a network")
}

/// Why a line could not be decided: the permission that would let it look,
/// or what the API said.
fn not_read(e: &AwsError) -> String {
    if e.is_denied() {
        format!(
            "not checked: eice-proxy needs the IAM permission ec2:{} to read it",
            e.action
        )
    } else {
        format!("not checked: {e}")
    }
}

/// The hint for a tunnel EICE closed as unreachable: the first failing check
/// with its fix, or, when every rule allows the path, what else to look at.
pub fn hint(checks: &[Check], port: u16) -> String {
    if let Some(fail) = checks.iter().find(|c| c.status == Status::Fail) {
        return format!("blocked by {fail}");
    }
    let unknown: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Unknown)
        .map(|c| format!("{}: {}", c.what, c.detail))
        .collect();
    if unknown.is_empty() {
        format!(
            "the security groups and network ACLs allow it: is something listening on port \
             {port} of the instance (and its own firewall open)?"
        )
    } else {
        format!("no rule found blocking it, but {}", unknown.join("; "))
    }
}

/// How long a refused path's hint is reused: at most one set of Describe
/// calls per target and port per minute, however often clients retry.
const HINT_LIFETIME: Duration = Duration::from_secs(60);

/// Hints for refused tunnels, cached by instance and port.
#[derive(Clone)]
pub struct Hints {
    cache: Cache<(String, u16), Arc<String>>,
}

impl Default for Hints {
    fn default() -> Hints {
        Hints {
            cache: Cache::builder()
                .max_capacity(1024)
                .time_to_live(HINT_LIFETIME)
                .build(),
        }
    }
}

impl Hints {
    /// The hint for `instance`'s `port` through `endpoint`, from cache or
    /// checked now (concurrent refusals of one target share one check).
    pub async fn hint(
        &self,
        ec2: &Ec2,
        region: &str,
        endpoint: &EndpointInfo,
        instance: &InstanceInfo,
        addr: IpAddr,
        port: u16,
    ) -> Arc<String> {
        self.cache
            .get_with((instance.id.clone(), port), async {
                let checks = check_path(ec2, region, endpoint, instance, Some(addr), port).await;
                Arc::new(hint(&checks, port))
            })
            .await
    }
}
