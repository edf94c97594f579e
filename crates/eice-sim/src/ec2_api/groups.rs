//! `DescribeSecurityGroups`: the groups whose rules decide whether an endpoint may
//! reach an instance, as a client explaining a blocked path reads them.
//!
//! Each rule of the world is reported as one permission (EC2 may merge rules with
//! the same protocol and ports into one permission with several peers; a reader
//! must accept either). A VPC's synthesised default group is listed like the
//! world's own.

use super::Action;
use super::error::ApiError;
use super::filter::{FilterNames, tag_values};
use super::params::Params;
use super::query::{Spec, answer};
use super::xml::Xml;
use crate::world::{ResourceKind, RuleSource, SecurityGroup, SgRule, World};

fn spec() -> Spec {
    Spec {
        action: Action::DescribeSecurityGroups,
        kind: ResourceKind::SecurityGroup,
        id_param: "GroupId",
        filters: FilterNames {
            names: &[
                "group-id",
                "group-name",
                "vpc-id",
                "description",
                "owner-id",
            ],
            tags: true,
        },
        max_results: 5..=1000,
        ids_exclude_max_results: false,
    }
}

/// Answers one call with the `securityGroupInfo` (and `nextToken`) body.
pub(super) fn describe(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    let groups = world.security_groups();
    answer(
        (params, &spec(), page_size),
        &groups,
        |group, name| filter_values(world, group, name),
        "securityGroupInfo",
        |x, group| group_item(x, world, group),
    )
}

fn filter_values(world: &World, group: &SecurityGroup, name: &str) -> Vec<String> {
    let value = match name {
        "group-id" => group.id.clone(),
        "group-name" => group.name.clone(),
        "vpc-id" => group.vpc.clone(),
        "description" => group.description().to_owned(),
        "owner-id" => world.account_id.clone(),
        tag => return tag_values(tag, std::iter::empty()),
    };
    vec![value]
}

fn group_item(x: &mut Xml, world: &World, group: &SecurityGroup) {
    let arn = format!(
        "arn:{}:ec2:{}:{}:security-group/{}",
        world.partition(),
        world.region,
        world.account_id,
        group.id
    );
    x.leaf("ownerId", &world.account_id)
        .leaf("groupId", &group.id)
        .leaf("groupName", &group.name)
        .leaf("groupDescription", group.description())
        .leaf("vpcId", &group.vpc)
        .list("ipPermissions", &group.ingress, |x, rule| {
            permission(x, world, rule);
        })
        .list("ipPermissionsEgress", &group.egress, |x, rule| {
            permission(x, world, rule);
        })
        .leaf("securityGroupArn", arn)
        .node("tagSet", |_| {});
}

/// One `IpPermission`: protocol, ports (none for `-1`), and the rule's one peer in
/// the list for its kind, the other lists empty.
fn permission(x: &mut Xml, world: &World, rule: &SgRule) {
    let ports = rule.ports();
    let source = rule.source();
    x.leaf("ipProtocol", rule.protocol.as_str())
        .leaf_opt("fromPort", ports.map(|(from, _)| from))
        .leaf_opt("toPort", ports.map(|(_, to)| to))
        .list("groups", peer_group(source), |x, group| {
            x.leaf("userId", &world.account_id).leaf("groupId", group);
        })
        .list("ipRanges", peer_cidr(source), |x, cidr| {
            x.leaf("cidrIp", cidr);
        })
        .list("ipv6Ranges", peer_cidr_ipv6(source), |x, cidr| {
            x.leaf("cidrIpv6", cidr);
        })
        .list("prefixListIds", peer_prefix_list(source), |x, list| {
            x.leaf("prefixListId", list);
        });
}

fn peer_group(source: Option<RuleSource<'_>>) -> Option<&str> {
    match source {
        Some(RuleSource::Group(group)) => Some(group),
        _ => None,
    }
}

fn peer_cidr(source: Option<RuleSource<'_>>) -> Option<String> {
    match source {
        Some(RuleSource::Cidr(cidr)) => Some(cidr.to_string()),
        _ => None,
    }
}

fn peer_cidr_ipv6(source: Option<RuleSource<'_>>) -> Option<String> {
    match source {
        Some(RuleSource::CidrIpv6(cidr)) => Some(cidr.to_string()),
        _ => None,
    }
}

fn peer_prefix_list(source: Option<RuleSource<'_>>) -> Option<&str> {
    match source {
        Some(RuleSource::PrefixList(list)) => Some(list),
        _ => None,
    }
}
