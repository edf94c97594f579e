//! `DescribeVpcs` and `DescribeSubnets`: the address space the proxy matches IP
//! targets against, and the subnets that place instances and endpoints.
//!
//! A VPC reports every associated IPv4 block in `cidrBlockAssociationSet` (not only
//! the primary `cidrBlock`), because a proxy that looked only at the primary block
//! would miss instances in secondary ones.

use super::Action;
use super::derived::derived_id;
use super::error::ApiError;
use super::filter::{FilterNames, tag_values};
use super::params::Params;
use super::query::{Spec, answer};
use super::xml::Xml;
use crate::world::{ResourceKind, Subnet, Vpc, World};

fn vpc_spec() -> Spec {
    Spec {
        action: Action::DescribeVpcs,
        kind: ResourceKind::Vpc,
        id_param: "VpcId",
        filters: FilterNames {
            names: &[
                "vpc-id",
                "cidr",
                "cidr-block-association.cidr-block",
                "cidr-block-association.association-id",
                "cidr-block-association.state",
                "ipv6-cidr-block-association.ipv6-cidr-block",
                "state",
                "owner-id",
                "is-default",
            ],
            tags: true,
        },
        max_results: 5..=1000,
        ids_exclude_max_results: false,
    }
}

fn subnet_spec() -> Spec {
    Spec {
        action: Action::DescribeSubnets,
        kind: ResourceKind::Subnet,
        id_param: "SubnetId",
        filters: FilterNames {
            names: &[
                "subnet-id",
                "vpc-id",
                "cidr-block",
                "cidr",
                "cidrBlock",
                "availability-zone",
                "availabilityZone",
                "state",
                "owner-id",
                "default-for-az",
            ],
            tags: true,
        },
        max_results: 5..=1000,
        ids_exclude_max_results: false,
    }
}

/// Answers `DescribeVpcs` with the `vpcSet` (and `nextToken`) body.
pub(super) fn describe_vpcs(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    answer(
        (params, &vpc_spec(), page_size),
        &world.vpcs,
        |vpc, name| vpc_values(world, vpc, name),
        "vpcSet",
        |x, vpc| vpc_item(x, world, vpc),
    )
}

/// Answers `DescribeSubnets` with the `subnetSet` (and `nextToken`) body.
pub(super) fn describe_subnets(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    answer(
        (params, &subnet_spec(), page_size),
        &world.subnets,
        |subnet, name| subnet_values(world, subnet, name),
        "subnetSet",
        |x, subnet| subnet_item(x, world, subnet),
    )
}

fn vpc_values(world: &World, vpc: &Vpc, name: &str) -> Vec<String> {
    match name {
        "vpc-id" => vec![vpc.id.clone()],
        "cidr" => texts(&vpc.cidrs[..vpc.cidrs.len().min(1)]),
        "cidr-block-association.cidr-block" => texts(&vpc.cidrs),
        "cidr-block-association.association-id" => vpc
            .cidrs
            .iter()
            .map(|cidr| association_id(vpc, &cidr.to_string()))
            .collect(),
        "cidr-block-association.state" => vec!["associated".to_owned()],
        "ipv6-cidr-block-association.ipv6-cidr-block" => texts(&vpc.ipv6_cidrs),
        "state" => vec!["available".to_owned()],
        "owner-id" => vec![world.account_id.clone()],
        "is-default" => vec!["false".to_owned()],
        tag => tag_values(tag, std::iter::empty()),
    }
}

fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

fn subnet_values(world: &World, subnet: &Subnet, name: &str) -> Vec<String> {
    let value = match name {
        "subnet-id" => subnet.id.clone(),
        "vpc-id" => subnet.vpc.clone(),
        "cidr-block" | "cidr" | "cidrBlock" => subnet.cidr.to_string(),
        "availability-zone" | "availabilityZone" => subnet.availability_zone.clone(),
        "state" => "available".to_owned(),
        "owner-id" => world.account_id.clone(),
        "default-for-az" => "false".to_owned(),
        tag => return tag_values(tag, std::iter::empty()),
    };
    vec![value]
}

/// Association ids are per VPC and block, stable across runs.
fn association_id(vpc: &Vpc, block: &str) -> String {
    derived_id("vpc-cidr-assoc", &format!("{}/{block}", vpc.id))
}

fn vpc_item(x: &mut Xml, world: &World, vpc: &Vpc) {
    x.leaf("vpcId", &vpc.id)
        .leaf("ownerId", &world.account_id)
        .leaf("state", "available")
        .leaf_opt("cidrBlock", vpc.cidrs.first())
        .list("cidrBlockAssociationSet", &vpc.cidrs, |x, cidr| {
            x.leaf("associationId", association_id(vpc, &cidr.to_string()))
                .leaf("cidrBlock", cidr)
                .node("cidrBlockState", |x| {
                    x.leaf("state", "associated");
                });
        });
    if !vpc.ipv6_cidrs.is_empty() {
        x.list("ipv6CidrBlockAssociationSet", &vpc.ipv6_cidrs, |x, cidr| {
            x.leaf("associationId", association_id(vpc, &cidr.to_string()))
                .leaf("ipv6CidrBlock", cidr)
                .node("ipv6CidrBlockState", |x| {
                    x.leaf("state", "associated");
                })
                .leaf("networkBorderGroup", &world.region)
                .leaf("ipv6Pool", "Amazon");
        });
    }
    x.leaf("dhcpOptionsId", derived_id("dopt", &vpc.id))
        .leaf("instanceTenancy", "default")
        .leaf("isDefault", false);
}

fn subnet_item(x: &mut Xml, world: &World, subnet: &Subnet) {
    let in_use = world
        .instances
        .iter()
        .filter(|i| i.subnet == subnet.id)
        .count() as u64
        + world
            .endpoints
            .iter()
            .filter(|e| e.subnet == subnet.id)
            .count() as u64;
    // AWS reserves five addresses in every subnet.
    let available = subnet.cidr.size().saturating_sub(5 + in_use);
    x.leaf("subnetId", &subnet.id)
        .leaf(
            "subnetArn",
            format!(
                "arn:{}:ec2:{}:{}:subnet/{}",
                world.partition(),
                world.region,
                world.account_id,
                subnet.id
            ),
        )
        .leaf("state", "available")
        .leaf("vpcId", &subnet.vpc)
        .leaf("ownerId", &world.account_id)
        .leaf("cidrBlock", subnet.cidr)
        .leaf("availableIpAddressCount", available)
        .leaf("availabilityZone", &subnet.availability_zone)
        .leaf("defaultForAz", false)
        .leaf("mapPublicIpOnLaunch", false)
        .leaf("assignIpv6AddressOnCreation", false);
}
