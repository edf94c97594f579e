//! `DescribeInstanceConnectEndpoints`: how the proxy finds the endpoint (and its DNS
//! name) that reaches an instance's VPC.
//!
//! Paginated like EC2 (at most 50 per page), and filtered by `vpc-id` and several
//! `state` values at once, which is how the proxy asks for usable endpoints only.

use super::Action;
use super::derived::CREATED_AT;
use super::error::ApiError;
use super::filter::{FilterNames, tag_values};
use super::params::Params;
use super::query::{Spec, answer};
use super::xml::Xml;
use crate::world::{Endpoint, EndpointState, ResourceKind, World};

fn spec() -> Spec {
    Spec {
        action: Action::DescribeInstanceConnectEndpoints,
        kind: ResourceKind::Endpoint,
        id_param: "InstanceConnectEndpointId",
        filters: FilterNames {
            names: &[
                "instance-connect-endpoint-id",
                "state",
                "state-message",
                "subnet-id",
                "vpc-id",
            ],
            tags: true,
        },
        max_results: 1..=50,
        ids_exclude_max_results: false,
    }
}

/// Answers one call with the `instanceConnectEndpointSet` (and `nextToken`) body.
pub(super) fn describe(
    world: &World,
    params: &Params,
    page_size: usize,
) -> Result<String, ApiError> {
    answer(
        (params, &spec(), page_size),
        &world.endpoints,
        |endpoint, name| filter_values(world, endpoint, name),
        "instanceConnectEndpointSet",
        |x, endpoint| endpoint_item(x, world, endpoint),
    )
}

fn filter_values(world: &World, endpoint: &Endpoint, name: &str) -> Vec<String> {
    let value = match name {
        "instance-connect-endpoint-id" => endpoint.id.clone(),
        "state" => endpoint.state.as_str().to_owned(),
        "state-message" => state_message(endpoint.state).to_owned(),
        "subnet-id" => endpoint.subnet.clone(),
        "vpc-id" => match world.subnet(&endpoint.subnet) {
            Some(subnet) => subnet.vpc.clone(),
            None => return Vec::new(),
        },
        tag => return tag_values(tag, std::iter::empty()),
    };
    vec![value]
}

/// EC2 explains failed states; the others carry an empty message.
fn state_message(state: EndpointState) -> &'static str {
    match state {
        EndpointState::CreateFailed => "The endpoint could not be created.",
        EndpointState::DeleteFailed => "The endpoint could not be deleted.",
        EndpointState::UpdateFailed => "The endpoint could not be updated.",
        _ => "",
    }
}

fn endpoint_item(x: &mut Xml, world: &World, endpoint: &Endpoint) {
    let subnet = world.subnet(&endpoint.subnet);
    let arn = format!(
        "arn:{}:ec2:{}:{}:instance-connect-endpoint/{}",
        world.partition(),
        world.region,
        world.account_id,
        endpoint.id
    );
    x.leaf("ownerId", &world.account_id)
        .leaf("instanceConnectEndpointId", &endpoint.id)
        .leaf("instanceConnectEndpointArn", arn)
        .leaf("state", endpoint.state.as_str())
        .leaf("stateMessage", state_message(endpoint.state))
        .leaf("dnsName", endpoint.dns_name(&world.region))
        .leaf_opt("fipsDnsName", endpoint.fips_dns_name(&world.region))
        .text_list("networkInterfaceIdSet", [endpoint.network_interface_id()])
        .leaf_opt("vpcId", subnet.map(|s| &s.vpc))
        .leaf_opt("availabilityZone", subnet.map(|s| &s.availability_zone))
        .leaf("createdAt", CREATED_AT)
        .leaf("subnetId", &endpoint.subnet)
        .leaf("preserveClientIp", endpoint.preserve_client_ip)
        .text_list(
            "securityGroupIdSet",
            world
                .endpoint_security_groups(endpoint)
                .iter()
                .map(|group| &group.id),
        )
        .leaf("ipAddressType", endpoint.ip_address_type.as_str())
        .node("publicDnsNames", |x| public_dns_names(x, world, endpoint))
        .node("tagSet", |_| {});
}

/// `PublicDnsNames`: the IPv4 names again, and the dual-stack ones when the
/// endpoint has them.
fn public_dns_names(x: &mut Xml, world: &World, endpoint: &Endpoint) {
    let region = &world.region;
    x.node("ipv4", |x| {
        x.leaf("dnsName", endpoint.dns_name(region))
            .leaf_opt("fipsDnsName", endpoint.fips_dns_name(region));
    });
    if let Some(name) = endpoint.dualstack_dns_name(region) {
        x.node("dualstack", |x| {
            x.leaf("dnsName", name)
                .leaf_opt("fipsDnsName", endpoint.dualstack_fips_dns_name(region));
        });
    }
}
