//! `DescribeNetworkAcls`: the stateless filters at subnet edges, with their
//! numbered entries and the subnets each applies to.
//!
//! Entries are listed as EC2 lists them: outbound, then inbound, each in
//! rule-number order and closed by the `*` deny (rule 32767); protocols are numbers
//! (6, 17, 1, -1). A default ACL's associations are every subnet of its VPC that no
//! other ACL claims, and a VPC's synthesised default ACL is listed like the world's.

use super::Action;
use super::derived::derived_id;
use super::error::ApiError;
use super::filter::{FilterNames, tag_values};
use super::params::Params;
use super::query::{Spec, answer};
use super::xml::Xml;
use crate::world::{AclEntry, NetworkAcl, ResourceKind, World};

fn spec() -> Spec {
    Spec {
        action: Action::DescribeNetworkAcls,
        kind: ResourceKind::NetworkAcl,
        id_param: "NetworkAclId",
        filters: FilterNames {
            names: &[
                "network-acl-id",
                "vpc-id",
                "default",
                "owner-id",
                "association.subnet-id",
                "association.network-acl-id",
                "association.association-id",
            ],
            tags: true,
        },
        max_results: 5..=1000,
        ids_exclude_max_results: false,
    }
}

/// Answers one call with the `networkAclSet` (and `nextToken`) body.
pub(super) fn describe(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    let acls = world.network_acls();
    answer(
        (params, &spec(), page_size),
        &acls,
        |acl, name| filter_values(world, acl, name),
        "networkAclSet",
        |x, acl| acl_item(x, world, acl),
    )
}

fn filter_values(world: &World, acl: &NetworkAcl, name: &str) -> Vec<String> {
    let subnets = || world.network_acl_subnets(acl);
    match name {
        "network-acl-id" => vec![acl.id.clone()],
        "vpc-id" => vec![acl.vpc.clone()],
        "default" => vec![acl.default.to_string()],
        "owner-id" => vec![world.account_id.clone()],
        "association.subnet-id" => subnets().into_iter().map(str::to_owned).collect(),
        "association.network-acl-id" => {
            let associated = !subnets().is_empty();
            associated.then(|| acl.id.clone()).into_iter().collect()
        }
        "association.association-id" => subnets()
            .into_iter()
            .map(|subnet| association_id(acl, subnet))
            .collect(),
        tag => tag_values(tag, std::iter::empty()),
    }
}

/// Association ids are per ACL and subnet, stable across runs.
fn association_id(acl: &NetworkAcl, subnet: &str) -> String {
    derived_id("aclassoc", &format!("{}/{subnet}", acl.id))
}

fn acl_item(x: &mut Xml, world: &World, acl: &NetworkAcl) {
    let ipv6 = world
        .vpc(&acl.vpc)
        .is_some_and(|vpc| !vpc.ipv6_cidrs.is_empty());
    x.leaf("networkAclId", &acl.id)
        .leaf("vpcId", &acl.vpc)
        .leaf("default", acl.default)
        .list("entrySet", acl.listed_entries(ipv6), |x, entry| {
            entry_item(x, &entry);
        })
        .list(
            "associationSet",
            world.network_acl_subnets(acl),
            |x, subnet| {
                x.leaf("networkAclAssociationId", association_id(acl, subnet))
                    .leaf("networkAclId", &acl.id)
                    .leaf("subnetId", subnet);
            },
        )
        .node("tagSet", |_| {})
        .leaf("ownerId", &world.account_id);
}

fn entry_item(x: &mut Xml, entry: &AclEntry) {
    x.leaf("ruleNumber", entry.rule_number)
        .leaf("protocol", entry.protocol.number())
        .leaf("ruleAction", entry.action.as_str())
        .leaf("egress", entry.egress)
        .leaf_opt("cidrBlock", entry.cidr)
        .leaf_opt("ipv6CidrBlock", entry.cidr_ipv6);
    if let (Some(from), Some(to)) = (entry.from_port, entry.to_port) {
        x.node("portRange", |x| {
            x.leaf("from", from).leaf("to", to);
        });
    }
}
