//! `DescribeVpcs` and `DescribeSubnets`, and the protocol errors a misbehaving
//! client would meet.

use super::*;
use crate::ec2_api::Action;

#[tokio::test]
async fn describe_vpcs_returns_every_cidr_association() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let reply = client_in(&sim, "eu-west-1")
        .ok(Call::new("DescribeVpcs"))
        .await;
    assert_eq!(reply.texts("vpcSet/item/vpcId"), ["vpc-0a1b2c3d4e5f60001"]);
    assert_eq!(reply.text("vpcSet/item/ownerId"), "210987654321");
    assert_eq!(reply.text("vpcSet/item/cidrBlock"), "10.0.0.0/16");
    let association = "vpcSet/item/cidrBlockAssociationSet/item";
    assert_eq!(
        reply.texts(&format!("{association}/cidrBlock")),
        ["10.0.0.0/16", "100.64.0.0/24"]
    );
    assert_eq!(
        reply.texts(&format!("{association}/cidrBlockState/state")),
        ["associated", "associated"]
    );
    let ids = reply.texts(&format!("{association}/associationId"));
    assert!(ids[0].starts_with("vpc-cidr-assoc-") && ids[0] != ids[1]);
    let ipv6 = "vpcSet/item/ipv6CidrBlockAssociationSet/item";
    assert_eq!(
        reply.texts(&format!("{ipv6}/ipv6CidrBlock")),
        ["fd00:10::/56"]
    );
    assert_eq!(
        reply.texts(&format!("{ipv6}/ipv6CidrBlockState/state")),
        ["associated"]
    );
}

#[tokio::test]
async fn vpcs_are_found_by_any_of_their_blocks() {
    let sim = start_demo();
    let client = client(&sim);
    let by_block = |block: &str| {
        Call::new("DescribeVpcs").filter("cidr-block-association.cidr-block", &[block])
    };
    let both = client.ok(by_block("10.0.0.0/16")).await;
    assert_eq!(
        both.texts("vpcSet/item/vpcId"),
        ["vpc-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60002"]
    );
    let none = client.ok(by_block("10.9.0.0/16")).await;
    assert!(none.texts("vpcSet/item").is_empty());
    let one = client
        .ok(Call::new("DescribeVpcs").list("VpcId", &["vpc-0a1b2c3d4e5f60002"]))
        .await;
    assert_eq!(one.texts("vpcSet/item").len(), 1);
    assert!(
        one.texts("vpcSet/item/ipv6CidrBlockAssociationSet")
            .is_empty()
    );
    let reply = client
        .call(Call::new("DescribeVpcs").list("VpcId", &["vpc-0000000000000beef"]))
        .await;
    assert_eq!(reply.error().0, "InvalidVpcID.NotFound");
    assert_eq!(sim.calls(Action::DescribeVpcs), 4);
}

#[tokio::test]
async fn describe_subnets_filters_by_vpc() {
    let sim = start_demo();
    let reply = client(&sim)
        .ok(Call::new("DescribeSubnets").filter("vpc-id", &["vpc-0a1b2c3d4e5f60001"]))
        .await;
    let doc = reply.doc();
    let subnets: Vec<_> = nodes(doc.root_element(), "subnetSet/item")
        .into_iter()
        .map(|subnet| {
            let field = |path| text(subnet, path).unwrap();
            (
                field("subnetId"),
                field("vpcId"),
                field("cidrBlock"),
                field("availabilityZone"),
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
    // 256 addresses, 5 reserved, 6 instances and 1 endpoint in use.
    assert_eq!(reply.text("subnetSet/item/availableIpAddressCount"), "244");
}

#[tokio::test]
async fn max_results_of_describe_vpcs_is_range_checked_and_pages() {
    let sim = start_demo();
    let client = client(&sim);
    let reply = client
        .call(Call::new("DescribeVpcs").param("MaxResults", "4"))
        .await;
    let (code, message, _) = reply.error();
    assert_eq!(code, "InvalidParameterValue");
    assert!(message.contains("between 5 and 1000"), "{message}");
    let sim = start(World::demo(), 1);
    let pages = super::client(&sim)
        .pages(Call::new("DescribeSubnets"))
        .await;
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|page| page.texts("subnetSet/item/subnetId"))
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(sim.calls(Action::DescribeSubnets), 3);
}

#[tokio::test]
async fn an_action_the_simulator_lacks_is_invalid_and_counted() {
    let sim = start_demo();
    let reply = client(&sim).call(Call::new("RunInstances")).await;
    let (code, message, status) = reply.error();
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
    let call = Call::new("DescribeSubnets").param("SubnetIds.1", "subnet-0a1b2c3d4e5f60011");
    let (code, message, _) = client(&sim).call(call).await.error();
    assert_eq!(code, "UnknownParameter");
    assert_eq!(message, "The parameter SubnetIds.1 is not recognized");
}

#[tokio::test]
async fn a_pagination_token_of_another_action_is_refused() {
    let sim = start(World::demo(), 1);
    let client = client(&sim);
    let first = client.ok(Call::new("DescribeVpcs")).await;
    let token = first.text("nextToken");
    let reply = client
        .call(Call::new("DescribeSubnets").param("NextToken", &token))
        .await;
    assert_eq!(reply.error().0, "InvalidPaginationToken");
    let second = client
        .ok(Call::new("DescribeVpcs").param("NextToken", &token))
        .await;
    assert_eq!(second.texts("vpcSet/item/vpcId"), ["vpc-0a1b2c3d4e5f60002"]);
}
