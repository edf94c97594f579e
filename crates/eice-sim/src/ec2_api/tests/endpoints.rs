//! `DescribeInstanceConnectEndpoints` through the SDK: the fields the proxy builds
//! its tunnel URL from, the usable-state filter, and pagination.

use aws_sdk_ec2::types::{
    Ec2InstanceConnectEndpoint, Ec2InstanceConnectEndpointState, Filter, IpAddressType,
};

use super::*;
use crate::ec2_api::Action;
use crate::world::EndpointState;

/// The states in which the proxy may use an endpoint.
const USABLE: [&str; 4] = [
    "create-complete",
    "update-in-progress",
    "update-failed",
    "update-complete",
];

fn usable_in(vpc: &str) -> [Filter; 2] {
    let mut state = Filter::builder().name("state");
    for value in USABLE {
        state = state.values(value);
    }
    [
        Filter::builder().name("vpc-id").values(vpc).build(),
        state.build(),
    ]
}

fn ids(endpoints: &[Ec2InstanceConnectEndpoint]) -> Vec<&str> {
    endpoints
        .iter()
        .filter_map(|e| e.instance_connect_endpoint_id())
        .collect()
}

#[tokio::test]
async fn the_paginator_sees_every_endpoint_one_call_per_page() {
    let sim = start(World::demo(), 1);
    let [vpc, state] = usable_in("vpc-0a1b2c3d4e5f60001");
    let found: Vec<_> = client(&sim)
        .describe_instance_connect_endpoints()
        .filters(vpc)
        .filters(state)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(
        ids(&found),
        ["eice-0a1b2c3d4e5f60021", "eice-0a1b2c3d4e5f60022"]
    );
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 2);
    let everything: Vec<_> = client(&sim)
        .describe_instance_connect_endpoints()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(everything.len(), 3);
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 5);
}

#[tokio::test]
async fn endpoints_carry_every_field_the_tunnel_needs() {
    let sim = start_demo();
    let output = client(&sim)
        .describe_instance_connect_endpoints()
        .instance_connect_endpoint_ids("eice-0a1b2c3d4e5f60022")
        .send()
        .await
        .unwrap();
    let endpoint = &output.instance_connect_endpoints()[0];
    let id = "eice-0a1b2c3d4e5f60022";
    assert_eq!(endpoint.instance_connect_endpoint_id(), Some(id));
    assert_eq!(
        endpoint.instance_connect_endpoint_arn(),
        Some(format!("arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/{id}").as_str())
    );
    assert_eq!(endpoint.owner_id(), Some("123456789012"));
    assert_eq!(
        endpoint.state(),
        Some(&Ec2InstanceConnectEndpointState::CreateComplete)
    );
    assert_eq!(endpoint.state_message(), Some(""));
    assert_eq!(
        endpoint.dns_name(),
        Some(format!("{id}.ec2-instance-connect-endpoint.us-east-1.amazonaws.com").as_str())
    );
    assert_eq!(
        endpoint.fips_dns_name(),
        Some(format!("{id}.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com").as_str())
    );
    assert_eq!(endpoint.vpc_id(), Some("vpc-0a1b2c3d4e5f60001"));
    assert_eq!(endpoint.subnet_id(), Some("subnet-0a1b2c3d4e5f60012"));
    assert_eq!(endpoint.availability_zone(), Some("us-east-1b"));
    assert_eq!(endpoint.preserve_client_ip(), Some(false));
    assert_eq!(endpoint.ip_address_type(), Some(&IpAddressType::Dualstack));
    assert!(endpoint.created_at().is_some());
    assert!(endpoint.network_interface_ids()[0].starts_with("eni-"));
    assert!(endpoint.security_group_ids()[0].starts_with("sg-"));
    assert_eq!(output.next_token(), None);
}

#[tokio::test]
async fn endpoints_in_unusable_states_are_filtered_out() {
    let mut world = World::demo();
    world.endpoints[1].state = EndpointState::CreateInProgress;
    world.endpoints[0].state = EndpointState::UpdateFailed;
    let sim = start(world, 1000);
    let [vpc, state] = usable_in("vpc-0a1b2c3d4e5f60001");
    let output = client(&sim)
        .describe_instance_connect_endpoints()
        .filters(vpc)
        .filters(state)
        .send()
        .await
        .unwrap();
    let endpoints = output.instance_connect_endpoints();
    assert_eq!(ids(endpoints), ["eice-0a1b2c3d4e5f60021"]);
    assert_eq!(
        endpoints[0].state(),
        Some(&Ec2InstanceConnectEndpointState::UpdateFailed)
    );
    assert_eq!(
        endpoints[0].state_message(),
        Some("The endpoint could not be updated.")
    );
}

#[tokio::test]
async fn an_endpoint_without_fips_has_no_fips_name() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let client = client_with(&sim, "eu-west-1", credentials(SECRET));
    let output = client
        .describe_instance_connect_endpoints()
        .send()
        .await
        .unwrap();
    let endpoint = &output.instance_connect_endpoints()[0];
    assert_eq!(endpoint.fips_dns_name(), None);
    assert_eq!(endpoint.preserve_client_ip(), Some(true));
    assert_eq!(endpoint.ip_address_type(), Some(&IpAddressType::Ipv6));
    assert_eq!(endpoint.owner_id(), Some("210987654321"));
}

#[tokio::test]
async fn max_results_outside_ec2s_range_is_refused() {
    let sim = start_demo();
    let client = client(&sim);
    let err = client
        .describe_instance_connect_endpoints()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(code, "InvalidParameterValue");
    assert!(message.contains("between 1 and 50"), "{message}");
    let page = client
        .describe_instance_connect_endpoints()
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.instance_connect_endpoints().len(), 2);
    assert!(page.next_token().is_some());
    let err = client
        .describe_instance_connect_endpoints()
        .instance_connect_endpoint_ids("eice-0000000000000beef")
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(code, "InvalidInstanceConnectEndpointId.NotFound");
    assert!(message.contains("'eice-0000000000000beef'"), "{message}");
}
