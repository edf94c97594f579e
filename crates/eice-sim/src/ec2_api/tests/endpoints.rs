//! `DescribeInstanceConnectEndpoints`: the fields a client builds its tunnel URL
//! from, the usable-state filter, and pagination.

use super::*;
use crate::ec2_api::Action;
use crate::world::EndpointState;

const ACTION: &str = "DescribeInstanceConnectEndpoints";

/// The path of every endpoint in an answer.
const ITEM: &str = "instanceConnectEndpointSet/item";

/// The states in which a client may use an endpoint.
const USABLE: [&str; 4] = [
    "create-complete",
    "update-in-progress",
    "update-failed",
    "update-complete",
];

/// Usable endpoints in `vpc`, as a client asks for them.
fn usable_in(vpc: &str) -> Call {
    Call::new(ACTION)
        .filter("vpc-id", &[vpc])
        .filter("state", &USABLE)
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.texts(&format!("{ITEM}/instanceConnectEndpointId"))
}

#[tokio::test]
async fn walking_next_token_sees_every_endpoint_one_call_per_page() {
    let sim = start(World::demo(), 1);
    let client = client(&sim);
    let pages = client.pages(usable_in("vpc-0a1b2c3d4e5f60001")).await;
    let found: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(found, ["eice-0a1b2c3d4e5f60021", "eice-0a1b2c3d4e5f60022"]);
    assert_eq!(pages.len(), 2);
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 2);
    let everything = client.pages(Call::new(ACTION)).await;
    assert_eq!(everything.iter().flat_map(ids).count(), 3);
    assert_eq!(everything.len(), 3);
    assert_eq!(sim.calls(Action::DescribeInstanceConnectEndpoints), 5);
}

#[tokio::test]
async fn endpoints_carry_every_field_the_tunnel_needs() {
    let sim = start_demo();
    let id = "eice-0a1b2c3d4e5f60022";
    let reply = client(&sim)
        .ok(Call::new(ACTION).list("InstanceConnectEndpointId", &[id]))
        .await;
    let doc = reply.doc();
    let items = nodes(doc.root_element(), ITEM);
    assert_eq!(items.len(), 1);
    let endpoint = items[0];
    let field = |path: &str| text(endpoint, path);
    assert_eq!(field("instanceConnectEndpointId"), Some(id));
    let arn = format!("arn:aws:ec2:us-east-1:123456789012:instance-connect-endpoint/{id}");
    assert_eq!(field("instanceConnectEndpointArn"), Some(arn.as_str()));
    assert_eq!(field("ownerId"), Some("123456789012"));
    assert_eq!(field("state"), Some("create-complete"));
    assert_eq!(field("stateMessage"), Some(""));
    let dns = format!("{id}.ec2-instance-connect-endpoint.us-east-1.amazonaws.com");
    assert_eq!(field("dnsName"), Some(dns.as_str()));
    let fips = format!("{id}.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com");
    assert_eq!(field("fipsDnsName"), Some(fips.as_str()));
    assert_eq!(field("publicDnsNames/ipv4/dnsName"), Some(dns.as_str()));
    assert_eq!(
        field("publicDnsNames/ipv4/fipsDnsName"),
        Some(fips.as_str())
    );
    let dualstack = format!("{id}.ec2-instance-connect-endpoint.us-east-1.api.aws");
    assert_eq!(
        field("publicDnsNames/dualstack/dnsName"),
        Some(dualstack.as_str())
    );
    let dualstack_fips = format!("{id}.fips.ec2-instance-connect-endpoint.us-east-1.api.aws");
    assert_eq!(
        field("publicDnsNames/dualstack/fipsDnsName"),
        Some(dualstack_fips.as_str())
    );
    assert_eq!(field("vpcId"), Some("vpc-0a1b2c3d4e5f60001"));
    assert_eq!(field("subnetId"), Some("subnet-0a1b2c3d4e5f60012"));
    assert_eq!(field("availabilityZone"), Some("us-east-1b"));
    assert_eq!(field("preserveClientIp"), Some("false"));
    assert_eq!(field("ipAddressType"), Some("dualstack"));
    assert_eq!(field("createdAt"), Some("2024-05-01T12:00:00.000Z"));
    let enis = texts(endpoint, "networkInterfaceIdSet/item");
    assert!(enis.len() == 1 && enis[0].starts_with("eni-"), "{enis:?}");
    let groups = texts(endpoint, "securityGroupIdSet/item");
    assert!(
        groups.len() == 1 && groups[0].starts_with("sg-"),
        "{groups:?}"
    );
    assert_eq!(reply.text_opt("nextToken"), None);
}

#[tokio::test]
async fn endpoints_in_unusable_states_are_filtered_out() {
    let mut world = World::demo();
    world.endpoints[1].state = EndpointState::CreateInProgress;
    world.endpoints[0].state = EndpointState::UpdateFailed;
    let sim = start(world, 1000);
    let reply = client(&sim).ok(usable_in("vpc-0a1b2c3d4e5f60001")).await;
    assert_eq!(ids(&reply), ["eice-0a1b2c3d4e5f60021"]);
    assert_eq!(reply.text(&format!("{ITEM}/state")), "update-failed");
    assert_eq!(
        reply.text(&format!("{ITEM}/stateMessage")),
        "The endpoint could not be updated."
    );
}

#[tokio::test]
async fn an_endpoint_without_fips_has_no_fips_name() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let reply = client_in(&sim, "eu-west-1").ok(Call::new(ACTION)).await;
    assert_eq!(reply.text_opt(&format!("{ITEM}/fipsDnsName")), None);
    assert_eq!(reply.text(&format!("{ITEM}/preserveClientIp")), "true");
    assert_eq!(reply.text(&format!("{ITEM}/ipAddressType")), "ipv6");
    assert_eq!(reply.text(&format!("{ITEM}/ownerId")), "210987654321");
}

#[tokio::test]
async fn max_results_outside_ec2s_range_is_refused() {
    let sim = start_demo();
    let client = client(&sim);
    for bad in ["0", "51"] {
        let reply = client
            .call(Call::new(ACTION).param("MaxResults", bad))
            .await;
        let (code, message, status) = reply.error();
        assert_eq!((code.as_str(), status), ("InvalidParameterValue", 400));
        assert!(message.contains("between 1 and 50"), "{message}");
    }
    let page = client.ok(Call::new(ACTION).param("MaxResults", "2")).await;
    assert_eq!(ids(&page).len(), 2);
    assert!(page.text_opt("nextToken").is_some());
    let reply = client
        .call(Call::new(ACTION).list("InstanceConnectEndpointId", &["eice-0000000000000beef"]))
        .await;
    let (code, message, _) = reply.error();
    assert_eq!(code, "InvalidInstanceConnectEndpointId.NotFound");
    assert!(message.contains("'eice-0000000000000beef'"), "{message}");
}
