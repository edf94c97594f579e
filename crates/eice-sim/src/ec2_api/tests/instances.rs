//! `DescribeInstances` through the SDK: every field the proxy reads, every lookup
//! it makes (id, Name tag, address), and EC2's errors for bad ids.

use aws_sdk_ec2::types::{Filter, Instance, InstanceStateName};

use super::*;
use crate::ec2_api::Action;
use crate::world::InstanceState;

fn filter(name: &str, values: &[&str]) -> Filter {
    let mut filter = Filter::builder().name(name);
    for value in values {
        filter = filter.values(*value);
    }
    filter.build()
}

/// The instances of every reservation, in order, with their ids.
fn instances(
    output: &aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
) -> Vec<Instance> {
    output
        .reservations()
        .iter()
        .flat_map(|reservation| reservation.instances().iter().cloned())
        .collect()
}

fn ids(instances: &[Instance]) -> Vec<&str> {
    instances.iter().filter_map(|i| i.instance_id()).collect()
}

fn name_tag(instance: &Instance) -> Option<&str> {
    instance
        .tags()
        .iter()
        .find(|tag| tag.key() == Some("Name"))
        .and_then(|tag| tag.value())
}

#[tokio::test]
async fn describing_by_id_returns_every_field_the_proxy_needs() {
    let sim = start_demo();
    let output = client(&sim)
        .describe_instances()
        .instance_ids("i-0a1b2c3d4e5f60002")
        .send()
        .await
        .unwrap();
    let found = instances(&output);
    assert_eq!(ids(&found), ["i-0a1b2c3d4e5f60002"]);
    let db = &found[0];
    assert_eq!(db.private_ip_address(), Some("10.0.2.20"));
    assert_eq!(db.private_dns_name(), Some("ip-10-0-2-20.ec2.internal"));
    assert_eq!(db.vpc_id(), Some("vpc-0a1b2c3d4e5f60001"));
    assert_eq!(db.subnet_id(), Some("subnet-0a1b2c3d4e5f60012"));
    let placement = db.placement().unwrap();
    assert_eq!(placement.availability_zone(), Some("us-east-1b"));
    let state = db.state().unwrap();
    assert_eq!(state.name(), Some(&InstanceStateName::Running));
    assert_eq!(state.code(), Some(16));
    assert_eq!(name_tag(db), Some("db-1"));
    assert_eq!(db.ipv6_address(), Some("fd00:10::20"));
    let interface = &db.network_interfaces()[0];
    assert_eq!(
        interface.ipv6_addresses()[0].ipv6_address(),
        Some("fd00:10::20")
    );
    assert_eq!(interface.private_ip_address(), Some("10.0.2.20"));
    assert_eq!(output.reservations()[0].owner_id(), Some("123456789012"));
    assert!(aws_sdk_ec2::operation::RequestId::request_id(&output).is_some());
    assert_eq!(sim.calls(Action::DescribeInstances), 1);
}

#[tokio::test]
async fn describing_by_name_tag_matches_exactly_or_by_wildcard() {
    let sim = start_demo();
    let client = client(&sim);
    let by_name = |pattern: &'static str| {
        client
            .describe_instances()
            .filters(filter("tag:Name", &[pattern]))
            .send()
    };
    let dup = instances(&by_name("web-dup").await.unwrap());
    assert_eq!(ids(&dup), ["i-0a1b2c3d4e5f60004", "i-0a1b2c3d4e5f60005"]);
    let web = instances(&by_name("web*").await.unwrap());
    assert_eq!(web.len(), 3);
    assert!(instances(&by_name("web").await.unwrap()).is_empty());
    let one = instances(&by_name("web-1").await.unwrap());
    assert_eq!(one[0].private_ip_address(), Some("10.0.1.10"));
    assert_eq!(one[0].ipv6_address(), None);
}

#[tokio::test]
async fn describing_by_address_and_state_filters_like_ec2() {
    let sim = start_demo();
    let client = client(&sim);
    let other = client
        .describe_instances()
        .filters(filter(
            "network-interface.addresses.private-ip-address",
            &["10.0.3.99"],
        ))
        .send()
        .await
        .unwrap();
    let other = instances(&other);
    assert_eq!(other[0].vpc_id(), Some("vpc-0a1b2c3d4e5f60002"));
    let running_in_vpc1 = client
        .describe_instances()
        .filters(filter("private-ip-address", &["10.0.1.*", "10.0.2.*"]))
        .filters(filter("vpc-id", &["vpc-0a1b2c3d4e5f60001"]))
        .filters(filter("instance-state-name", &["running"]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ids(&instances(&running_in_vpc1)),
        [
            "i-0a1b2c3d4e5f60001",
            "i-0a1b2c3d4e5f60002",
            "i-0a1b2c3d4e5f60004",
            "i-0a1b2c3d4e5f60005"
        ]
    );
}

#[tokio::test]
async fn an_unknown_instance_id_is_not_found() {
    let sim = start_demo();
    let err = client(&sim)
        .describe_instances()
        .instance_ids("i-0000000000000beef")
        .send()
        .await
        .unwrap_err();
    let (code, message, status) = failure(err);
    assert_eq!(code, "InvalidInstanceID.NotFound");
    assert_eq!(
        message,
        "The instance ID 'i-0000000000000beef' does not exist"
    );
    assert_eq!(status, 400);
    assert_eq!(sim.calls(Action::DescribeInstances), 1);
}

#[tokio::test]
async fn a_malformed_instance_id_is_refused_as_malformed() {
    let sim = start_demo();
    let err = client(&sim)
        .describe_instances()
        .instance_ids("web-1")
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(code, "InvalidInstanceID.Malformed");
    assert_eq!(message, r#"Invalid id: "web-1" (expecting "i-...")"#);
}

#[tokio::test]
async fn an_unknown_filter_name_is_refused() {
    let sim = start_demo();
    let err = client(&sim)
        .describe_instances()
        .filters(filter("private-ip", &["10.0.1.10"]))
        .send()
        .await
        .unwrap_err();
    let (code, message, _) = failure(err);
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "InvalidParameterValue",
            "The filter 'private-ip' is invalid"
        )
    );
}

#[tokio::test]
async fn the_sdk_paginator_walks_every_page() {
    let sim = start(World::demo(), 1);
    let pages: Vec<_> = client(&sim)
        .describe_instances()
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let all: Vec<Instance> = pages.iter().flat_map(instances).collect();
    assert_eq!(all.len(), 6);
    assert_eq!(pages.len(), 6);
    assert_eq!(sim.calls(Action::DescribeInstances), 6);
}

#[tokio::test]
async fn state_changes_at_run_time_are_seen_by_the_next_call() {
    let sim = start_demo();
    let client = client(&sim);
    let web1 = "i-0a1b2c3d4e5f60001";
    sim.set_instance_state(web1, InstanceState::Stopped)
        .unwrap();
    let output = client
        .describe_instances()
        .instance_ids(web1)
        .send()
        .await
        .unwrap();
    let stopped = &instances(&output)[0];
    assert_eq!(
        stopped.state().unwrap().name(),
        Some(&InstanceStateName::Stopped)
    );
    assert_eq!(stopped.private_ip_address(), Some("10.0.1.10"));
    sim.set_instance_state(web1, InstanceState::Terminated)
        .unwrap();
    let output = client
        .describe_instances()
        .instance_ids(web1)
        .send()
        .await
        .unwrap();
    let gone = &instances(&output)[0];
    assert_eq!(gone.state().unwrap().code(), Some(48));
    assert_eq!((gone.private_ip_address(), gone.vpc_id()), (None, None));
    assert!(
        sim.set_instance_state("i-0000000000000beef", InstanceState::Running)
            .is_err()
    );
}

#[tokio::test]
async fn other_regions_use_compute_internal_names_and_escape_tags() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let client = client_with(&sim, "eu-west-1", credentials(SECRET));
    let output = client.describe_instances().send().await.unwrap();
    let instance = &instances(&output)[0];
    assert_eq!(
        instance.private_dns_name(),
        Some("ip-100-64-0-25.eu-west-1.compute.internal")
    );
    assert_eq!(instance.tags()[0].value(), Some("a&b <ops>"));
    assert_eq!(name_tag(instance), None);
}
