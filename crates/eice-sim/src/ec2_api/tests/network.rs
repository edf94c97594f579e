//! `DescribeVpcs` and `DescribeSubnets` through the SDK, and the protocol errors
//! a misbehaving client would meet.

use aws_sdk_ec2::types::{Filter, VpcCidrBlockStateCode};

use super::*;
use crate::ec2_api::Action;

#[tokio::test]
async fn describe_vpcs_returns_every_cidr_association() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let client = client_with(&sim, "eu-west-1", credentials(SECRET));
    let output = client.describe_vpcs().send().await.unwrap();
    let vpc = &output.vpcs()[0];
    assert_eq!(vpc.vpc_id(), Some("vpc-0a1b2c3d4e5f60001"));
    assert_eq!(vpc.owner_id(), Some("210987654321"));
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    let blocks: Vec<_> = vpc
        .cidr_block_association_set()
        .iter()
        .map(|a| {
            let state = a.cidr_block_state().and_then(|s| s.state()).cloned();
            (a.cidr_block().unwrap(), state)
        })
        .collect();
    let associated = Some(VpcCidrBlockStateCode::Associated);
    assert_eq!(
        blocks,
        [
            ("10.0.0.0/16", associated.clone()),
            ("100.64.0.0/24", associated.clone())
        ]
    );
    let ids: Vec<_> = vpc
        .cidr_block_association_set()
        .iter()
        .filter_map(|a| a.association_id())
        .collect();
    assert!(ids[0].starts_with("vpc-cidr-assoc-") && ids[0] != ids[1]);
    let ipv6 = &vpc.ipv6_cidr_block_association_set()[0];
    assert_eq!(ipv6.ipv6_cidr_block(), Some("fd00:10::/56"));
    assert_eq!(
        ipv6.ipv6_cidr_block_state().and_then(|s| s.state()),
        associated.as_ref()
    );
}

#[tokio::test]
async fn vpcs_are_found_by_any_of_their_blocks() {
    let sim = start_demo();
    let client = client(&sim);
    let by_block = |block: &'static str| {
        let filter = Filter::builder()
            .name("cidr-block-association.cidr-block")
            .values(block)
            .build();
        client.describe_vpcs().filters(filter).send()
    };
    let both = by_block("10.0.0.0/16").await.unwrap();
    let ids: Vec<_> = both.vpcs().iter().filter_map(|v| v.vpc_id()).collect();
    assert_eq!(ids, ["vpc-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60002"]);
    assert!(by_block("10.9.0.0/16").await.unwrap().vpcs().is_empty());
    let one = client
        .describe_vpcs()
        .vpc_ids("vpc-0a1b2c3d4e5f60002")
        .send()
        .await
        .unwrap();
    assert!(one.vpcs()[0].ipv6_cidr_block_association_set().is_empty());
    let err = client
        .describe_vpcs()
        .vpc_ids("vpc-0000000000000beef")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(err).0, "InvalidVpcID.NotFound");
    assert_eq!(sim.calls(Action::DescribeVpcs), 4);
}

#[tokio::test]
async fn describe_subnets_filters_by_vpc() {
    let sim = start_demo();
    let vpc_filter = Filter::builder()
        .name("vpc-id")
        .values("vpc-0a1b2c3d4e5f60001")
        .build();
    let output = client(&sim)
        .describe_subnets()
        .filters(vpc_filter)
        .send()
        .await
        .unwrap();
    let subnets: Vec<_> = output
        .subnets()
        .iter()
        .map(|s| {
            (
                s.subnet_id().unwrap(),
                s.vpc_id().unwrap(),
                s.cidr_block().unwrap(),
                s.availability_zone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        subnets,
        [
            (
                "subnet-0a1b2c3d4e5f60011",
                "vpc-0a1b2c3d4e5f60001",
                "10.0.1.0/24",
                "us-east-1a"
            ),
            (
                "subnet-0a1b2c3d4e5f60012",
                "vpc-0a1b2c3d4e5f60001",
                "10.0.2.0/24",
                "us-east-1b"
            ),
        ]
    );
    // 256 addresses, 5 reserved, 3 instances and 1 endpoint in use.
    assert_eq!(output.subnets()[0].available_ip_address_count(), Some(247));
}

#[tokio::test]
async fn an_action_the_simulator_lacks_is_invalid_and_counted() {
    let sim = start_demo();
    let err = client(&sim)
        .describe_vpcs()
        .customize()
        .mutate_request(|request| {
            let body = "Action=RunInstances&Version=2016-11-15";
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = body.into();
        })
        .send()
        .await
        .unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!(code, "InvalidAction");
    assert_eq!(
        message,
        "The action RunInstances is not valid for this web service."
    );
    assert_eq!(status, 400);
    assert_eq!(sim.calls_total(), 1);
    assert_eq!(sim.calls(Action::DescribeVpcs), 0);
}

#[tokio::test]
async fn a_misspelt_parameter_is_refused_by_name() {
    let sim = start_demo();
    let err = client(&sim)
        .describe_subnets()
        .customize()
        .mutate_request(|request| {
            let body =
                "Action=DescribeSubnets&Version=2016-11-15&SubnetIds.1=subnet-0a1b2c3d4e5f60011";
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
            *request.body_mut() = body.into();
        })
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(code, "UnknownParameter");
    assert_eq!(message, "The parameter SubnetIds.1 is not recognized");
}
