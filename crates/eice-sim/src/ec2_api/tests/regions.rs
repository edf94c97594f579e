//! One simulator for several regions: the signature's region picks the world, calls
//! are counted per region, and a region no world serves is refused.

use super::*;
use crate::ec2_api::Action;
use crate::world::InstanceState;

/// Serves `World::demo()` (us-east-1) and `World::demo_eu()` (eu-west-1).
fn start_two_regions() -> Ec2Sim {
    let credentials = HashMap::from([(ACCESS_KEY.to_owned(), SimCredential::new(SECRET))]);
    let config = Ec2SimConfig {
        credentials,
        ..Ec2SimConfig::default()
    };
    let worlds = vec![Arc::new(World::demo()), Arc::new(World::demo_eu())];
    Ec2Sim::start_many(worlds, config).expect("the simulator starts")
}

async fn instance_ids(client: &Client<'_>) -> Vec<String> {
    let reply = client.ok(Call::new("DescribeInstances")).await;
    reply.texts("reservationSet/item/instancesSet/item/instanceId")
}

#[tokio::test]
async fn a_call_signed_for_eu_west_1_is_answered_from_the_eu_world() {
    let sim = start_two_regions();
    assert_eq!(sim.regions(), ["us-east-1", "eu-west-1"]);
    let eu = client_in(&sim, "eu-west-1");
    assert_eq!(
        instance_ids(&eu).await,
        ["i-0e1a2b3c4d5e60001", "i-0e1a2b3c4d5e60002"]
    );
    let endpoints = eu.ok(Call::new("DescribeInstanceConnectEndpoints")).await;
    assert_eq!(
        endpoints.texts("instanceConnectEndpointSet/item/dnsName"),
        ["eice-0e1a2b3c4d5e60021.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"]
    );
    let us = instance_ids(&client(&sim)).await;
    assert_eq!(us.len(), World::demo().instances.len());
    assert!(us.iter().all(|id| id.starts_with("i-0a1b")), "{us:?}");
    assert_eq!(sim.calls_in("eu-west-1", Action::DescribeInstances), 1);
    assert_eq!(sim.calls_in("us-east-1", Action::DescribeInstances), 1);
    assert_eq!(sim.calls(Action::DescribeInstances), 2);
}

#[tokio::test]
async fn an_instance_of_one_region_is_not_found_in_the_other() {
    let sim = start_two_regions();
    let reply = client(&sim)
        .call(Call::new("DescribeInstances").list("InstanceId", &["i-0e1a2b3c4d5e60001"]))
        .await;
    assert_eq!(reply.error().0, "InvalidInstanceID.NotFound");
    assert_eq!(sim.calls_in("us-east-1", Action::DescribeInstances), 1);
    assert_eq!(sim.calls_in("eu-west-1", Action::DescribeInstances), 0);
}

#[tokio::test]
async fn a_region_no_world_serves_is_an_auth_failure_naming_it() {
    let sim = start_two_regions();
    let reply = client_in(&sim, "ap-south-1")
        .call(Call::new("DescribeVpcs"))
        .await;
    let (code, message, status) = reply.error();
    assert_eq!((code.as_str(), status), ("AuthFailure", 401));
    assert!(message.contains("not 'ap-south-1'"), "{message}");
    assert_eq!(sim.calls_total(), 0);
}

#[tokio::test]
async fn instance_state_changes_reach_the_world_holding_the_instance() {
    let sim = start_two_regions();
    sim.set_instance_state("i-0e1a2b3c4d5e60002", InstanceState::Stopped)
        .unwrap();
    let eu = sim.world_in("eu-west-1").unwrap();
    let stopped = eu.instance("i-0e1a2b3c4d5e60002").unwrap();
    assert_eq!(stopped.state, InstanceState::Stopped);
    assert!(sim.world_in("ap-south-1").is_none());
    assert_eq!(sim.world().region, "us-east-1");
}

#[tokio::test]
async fn worlds_must_be_in_distinct_regions_and_share_no_id() {
    let twice = vec![Arc::new(World::demo()), Arc::new(World::demo())];
    let err = Ec2Sim::start_many(twice, Ec2SimConfig::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("'us-east-1'"), "{err}");
    let mut copy = World::demo();
    copy.region = "eu-west-1".into();
    let shared_ids = vec![Arc::new(World::demo()), Arc::new(copy)];
    let err = Ec2Sim::start_many(shared_ids, Ec2SimConfig::default()).unwrap_err();
    assert!(err.to_string().contains("vpc-0a1b2c3d4e5f60001"), "{err}");
    let err = Ec2Sim::start_many(Vec::new(), Ec2SimConfig::default()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
