//! `DescribeInstances`: how the proxy turns an instance id, a Name tag or a private
//! address into an instance with its VPC, subnet, AZ, state and addresses.
//!
//! Each instance is reported in a reservation of its own. A terminated instance is
//! still listed, as EC2 lists it for a while, but without subnet, VPC or addresses,
//! so the proxy meets that shape in tests too.

use super::Action;
use super::derived::{CREATED_AT, derived_id};
use super::error::ApiError;
use super::filter::{FilterNames, tag_values};
use super::params::Params;
use super::query::{Spec, answer};
use super::xml::Xml;
use crate::world::{Instance, InstanceState, ResourceKind, Subnet, World};

/// The fixed parts of the instances the simulator reports.
const IMAGE_ID: &str = "ami-0abcdef1234567890";
const INSTANCE_TYPE: &str = "t3.micro";

fn spec() -> Spec {
    Spec {
        action: Action::DescribeInstances,
        kind: ResourceKind::Instance,
        id_param: "InstanceId",
        filters: FilterNames {
            names: &[
                "instance-id",
                "instance-state-name",
                "instance-state-code",
                "private-ip-address",
                "network-interface.addresses.private-ip-address",
                "private-dns-name",
                "ipv6-address",
                "network-interface.ipv6-addresses.ipv6-address",
                "vpc-id",
                "subnet-id",
                "availability-zone",
                "instance.group-id",
                "instance.group-name",
            ],
            tags: true,
        },
        max_results: 5..=1000,
        ids_exclude_max_results: true,
    }
}

/// Answers one call with the `reservationSet` (and `nextToken`) body.
pub(super) fn describe(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    answer(
        (params, &spec(), page_size),
        &world.instances,
        |instance, name| filter_values(world, instance, name),
        "reservationSet",
        |x, instance| reservation(x, world, instance),
    )
}

/// The instance's subnet while it has network details (until it is terminated).
fn live_subnet<'w>(world: &'w World, instance: &Instance) -> Option<&'w Subnet> {
    if instance.state == InstanceState::Terminated {
        None
    } else {
        world.subnet(&instance.subnet)
    }
}

fn filter_values(world: &World, instance: &Instance, name: &str) -> Vec<String> {
    let subnet = live_subnet(world, instance);
    let ip = subnet.map(|_| instance.private_ip);
    let values: Vec<Option<String>> = match name {
        "instance-id" => vec![Some(instance.id.clone())],
        "instance-state-name" => vec![Some(instance.state.as_str().to_owned())],
        "instance-state-code" => vec![Some(instance.state.code().to_string())],
        // As in EC2: the instance's own filters match its primary address
        // only, the network interface's filters every address it holds.
        "private-ip-address" => vec![ip.map(|ip| ip.to_string())],
        "network-interface.addresses.private-ip-address" if subnet.is_some() => {
            return instance.private_ips().map(|ip| ip.to_string()).collect();
        }
        "private-dns-name" => vec![ip.map(|ip| world.private_dns_name(ip))],
        "ipv6-address" => vec![subnet.and(instance.ipv6).map(|ip| ip.to_string())],
        "network-interface.ipv6-addresses.ipv6-address" if subnet.is_some() => {
            return instance.ipv6_addresses().map(|ip| ip.to_string()).collect();
        }
        "network-interface.addresses.private-ip-address"
        | "network-interface.ipv6-addresses.ipv6-address" => return Vec::new(),
        "vpc-id" => vec![subnet.map(|s| s.vpc.clone())],
        "subnet-id" => vec![subnet.map(|s| s.id.clone())],
        "availability-zone" => vec![
            world
                .subnet(&instance.subnet)
                .map(|s| s.availability_zone.clone()),
        ],
        "instance.group-id" | "instance.group-name" if subnet.is_some() => {
            let groups = world.instance_security_groups(instance);
            return groups
                .iter()
                .map(|group| match name {
                    "instance.group-id" => group.id.clone(),
                    _ => group.name.clone(),
                })
                .collect();
        }
        "instance.group-id" | "instance.group-name" => return Vec::new(),
        tag => return tag_values(tag, instance.all_tags()),
    };
    values.into_iter().flatten().collect()
}

fn reservation(x: &mut Xml, world: &World, instance: &Instance) {
    x.leaf("reservationId", derived_id("r", &instance.id))
        .leaf("ownerId", &world.account_id)
        .node("groupSet", |_| {})
        .list("instancesSet", [instance], |x, instance| {
            instance_item(x, world, instance)
        });
}

fn instance_item(x: &mut Xml, world: &World, instance: &Instance) {
    let subnet = live_subnet(world, instance);
    let dns = subnet.map(|_| world.private_dns_name(instance.private_ip));
    let az = world
        .subnet(&instance.subnet)
        .map(|s| s.availability_zone.as_str());
    x.leaf("instanceId", &instance.id)
        .leaf("imageId", IMAGE_ID)
        .node("instanceState", |x| {
            x.leaf("code", instance.state.code())
                .leaf("name", instance.state.as_str());
        })
        .leaf("privateDnsName", dns.as_deref().unwrap_or_default())
        .leaf("dnsName", "")
        .leaf("reason", "")
        .leaf_opt("keyName", instance.key_name.as_deref())
        .leaf("amiLaunchIndex", 0)
        .leaf("instanceType", INSTANCE_TYPE)
        .leaf("launchTime", CREATED_AT)
        .node("placement", |x| {
            x.leaf_opt("availabilityZone", az)
                .leaf("groupName", "")
                .leaf("tenancy", "default");
        });
    if let Some(subnet) = subnet {
        x.leaf("subnetId", &subnet.id)
            .leaf("vpcId", &subnet.vpc)
            .leaf("privateIpAddress", instance.private_ip)
            .leaf("sourceDestCheck", true);
    }
    group_set(x, world, instance, subnet.is_some());
    // EC2 names the platform of Windows instances only.
    x.leaf_opt("platform", instance.platform.as_deref())
        .leaf(
            "platformDetails",
            match instance.platform.as_deref() {
                Some("windows") => "Windows",
                _ => "Linux/UNIX",
            },
        )
        .leaf("architecture", "x86_64")
        .leaf("rootDeviceType", "ebs")
        .leaf("virtualizationType", "hvm")
        .leaf("hypervisor", "xen")
        .list("tagSet", instance.all_tags(), |x, (key, value)| {
            x.leaf("key", key).leaf("value", value);
        });
    if let Some(subnet) = subnet {
        network_interfaces(
            x,
            world,
            instance,
            subnet,
            dns.as_deref().unwrap_or_default(),
        );
        x.leaf_opt("ipv6Address", instance.ipv6);
    }
}

/// `groupSet`: the instance's security groups while it has network details (a
/// terminated instance's set is empty).
fn group_set(x: &mut Xml, world: &World, instance: &Instance, live: bool) {
    let groups = if live {
        world.instance_security_groups(instance)
    } else {
        Vec::new()
    };
    x.list("groupSet", &groups, |x, group| {
        x.leaf("groupId", &group.id).leaf("groupName", &group.name);
    });
}

/// The primary network interface, where EC2 also lists the IPv6 addresses.
fn network_interfaces(x: &mut Xml, world: &World, instance: &Instance, subnet: &Subnet, dns: &str) {
    x.list("networkInterfaceSet", [instance], |x, instance| {
        x.leaf("networkInterfaceId", derived_id("eni", &instance.id))
            .leaf("subnetId", &subnet.id)
            .leaf("vpcId", &subnet.vpc)
            .leaf("ownerId", &world.account_id)
            .leaf("status", "in-use")
            .leaf("privateIpAddress", instance.private_ip)
            .leaf("privateDnsName", dns)
            .leaf("sourceDestCheck", true);
        group_set(x, world, instance, true);
        x.leaf("interfaceType", "interface")
            .list("privateIpAddressesSet", instance.private_ips(), |x, ip| {
                let primary = ip == instance.private_ip;
                x.leaf("privateIpAddress", ip);
                if primary {
                    x.leaf("privateDnsName", dns);
                } else {
                    x.leaf("privateDnsName", world.private_dns_name(ip));
                }
                x.leaf("primary", primary);
            })
            .list("ipv6AddressesSet", instance.ipv6_addresses(), |x, ip| {
                x.leaf("ipv6Address", ip).leaf("isPrimaryIpv6", false);
            });
    });
}
