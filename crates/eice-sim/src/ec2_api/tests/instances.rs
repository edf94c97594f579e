//! `DescribeInstances`: every field a client reads, every lookup it makes (id, Name
//! tag, address), pagination, and EC2's errors for bad ids.

use super::*;
use crate::ec2_api::Action;
use crate::world::InstanceState;

const ACTION: &str = "DescribeInstances";

/// Where every instance sits in an answer.
const INSTANCE: &str = "reservationSet/item/instancesSet/item";

fn ids(reply: &Reply) -> Vec<String> {
    reply.texts(&format!("{INSTANCE}/instanceId"))
}

fn by_name(pattern: &str) -> Call {
    Call::new(ACTION).filter("tag:Name", &[pattern])
}

/// The value of the tag `key` of an instance element.
fn tag<'a>(instance: Node<'a, '_>, key: &str) -> Option<&'a str> {
    nodes(instance, "tagSet/item")
        .into_iter()
        .find(|item| text(*item, "key") == Some(key))
        .and_then(|item| text(item, "value"))
}

#[tokio::test]
async fn describing_by_id_returns_every_field_a_client_needs() {
    let sim = start_demo();
    let reply = client(&sim)
        .ok(Call::new(ACTION).list("InstanceId", &["i-0a1b2c3d4e5f60002"]))
        .await;
    assert_eq!(ids(&reply), ["i-0a1b2c3d4e5f60002"]);
    let doc = reply.doc();
    let db = nodes(doc.root_element(), INSTANCE)[0];
    let field = |path: &str| text(db, path);
    assert_eq!(field("privateIpAddress"), Some("10.0.2.20"));
    assert_eq!(field("privateDnsName"), Some("ip-10-0-2-20.ec2.internal"));
    assert_eq!(field("vpcId"), Some("vpc-0a1b2c3d4e5f60001"));
    assert_eq!(field("subnetId"), Some("subnet-0a1b2c3d4e5f60012"));
    assert_eq!(field("placement/availabilityZone"), Some("us-east-1b"));
    assert_eq!(field("instanceState/name"), Some("running"));
    assert_eq!(field("instanceState/code"), Some("16"));
    assert_eq!(tag(db, "Name"), Some("db-1"));
    assert_eq!(tag(db, "role"), Some("db"));
    assert_eq!(field("ipv6Address"), Some("fd00:10::20"));
    assert_eq!(
        field("networkInterfaceSet/item/ipv6AddressesSet/item/ipv6Address"),
        Some("fd00:10::20")
    );
    assert_eq!(
        field("networkInterfaceSet/item/privateIpAddress"),
        Some("10.0.2.20")
    );
    assert_eq!(reply.text("reservationSet/item/ownerId"), "123456789012");
    let request_id = reply.text("requestId");
    assert_eq!(request_id.len(), 36, "{request_id}");
    assert!(
        reply
            .head
            .contains(&format!("x-amzn-requestid: {request_id}")),
        "{}",
        reply.head
    );
    assert_eq!(sim.calls(Action::DescribeInstances), 1);
}

#[tokio::test]
async fn describing_by_name_tag_matches_exactly_or_by_wildcard() {
    let sim = start_demo();
    let client = client(&sim);
    let dup = client.ok(by_name("web-dup")).await;
    assert_eq!(ids(&dup), ["i-0a1b2c3d4e5f60004", "i-0a1b2c3d4e5f60005"]);
    let web = client.ok(by_name("web*")).await;
    assert_eq!(ids(&web).len(), 3);
    let none = client.ok(by_name("web")).await;
    assert!(ids(&none).is_empty());
    assert_eq!(
        none.texts("reservationSet").len(),
        1,
        "an empty set is sent"
    );
    let one = client.ok(by_name("web-1")).await;
    assert_eq!(
        one.text(&format!("{INSTANCE}/privateIpAddress")),
        "10.0.1.10"
    );
    assert_eq!(one.text_opt(&format!("{INSTANCE}/ipv6Address")), None);
}

#[tokio::test]
async fn describing_by_address_and_state_filters_like_ec2() {
    let sim = start_demo();
    let client = client(&sim);
    let other = client
        .ok(Call::new(ACTION).filter(
            "network-interface.addresses.private-ip-address",
            &["10.0.3.99"],
        ))
        .await;
    assert_eq!(
        other.texts(&format!("{INSTANCE}/vpcId")),
        ["vpc-0a1b2c3d4e5f60002"]
    );
    let running_in_vpc1 = client
        .ok(Call::new(ACTION)
            .filter("private-ip-address", &["10.0.1.*", "10.0.2.*"])
            .filter("vpc-id", &["vpc-0a1b2c3d4e5f60001"])
            .filter("instance-state-name", &["running"]))
        .await;
    assert_eq!(
        ids(&running_in_vpc1),
        [
            "i-0a1b2c3d4e5f60001",
            "i-0a1b2c3d4e5f60002",
            "i-0a1b2c3d4e5f60004",
            "i-0a1b2c3d4e5f60005",
            "i-0a1b2c3d4e5f60007",
            "i-0a1b2c3d4e5f60008",
            "i-0a1b2c3d4e5f60009"
        ]
    );
}

#[tokio::test]
async fn a_secondary_address_is_matched_by_the_interface_filters_only() {
    let sim = start_demo();
    let client = client(&sim);
    let db_1 = ["i-0a1b2c3d4e5f60002"];
    let found = |name: &'static str, ip: &'static str| {
        let call = Call::new(ACTION).filter(name, &[ip]);
        let client = &client;
        async move { ids(&client.ok(call).await) }
    };
    let interface_v4 = "network-interface.addresses.private-ip-address";
    let interface_v6 = "network-interface.ipv6-addresses.ipv6-address";
    assert_eq!(found(interface_v4, "10.0.2.21").await, db_1);
    assert_eq!(found(interface_v4, "10.0.2.20").await, db_1);
    assert!(found("private-ip-address", "10.0.2.21").await.is_empty());
    assert_eq!(found(interface_v6, "fd00:10::21").await, db_1);
    assert_eq!(found(interface_v6, "fd00:10::20").await, db_1);
    assert!(found("ipv6-address", "fd00:10::21").await.is_empty());
    // The interface lists both, the primary marked.
    let reply = client.ok(Call::new(ACTION).list("InstanceId", &db_1)).await;
    let set = format!("{INSTANCE}/networkInterfaceSet/item/privateIpAddressesSet/item");
    assert_eq!(
        reply.texts(&format!("{set}/privateIpAddress")),
        ["10.0.2.20", "10.0.2.21"]
    );
    assert_eq!(reply.texts(&format!("{set}/primary")), ["true", "false"]);
}

#[tokio::test]
async fn an_unknown_instance_id_is_not_found() {
    let sim = start_demo();
    let reply = client(&sim)
        .call(Call::new(ACTION).list("InstanceId", &["i-0000000000000beef"]))
        .await;
    let (code, message, status) = reply.error();
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
    let reply = client(&sim)
        .call(Call::new(ACTION).list("InstanceId", &["web-1"]))
        .await;
    let (code, message, _) = reply.error();
    assert_eq!(code, "InvalidInstanceID.Malformed");
    assert_eq!(message, r#"Invalid id: "web-1" (expecting "i-...")"#);
}

#[tokio::test]
async fn an_unknown_filter_name_is_refused() {
    let sim = start_demo();
    let reply = client(&sim)
        .call(Call::new(ACTION).filter("private-ip", &["10.0.1.10"]))
        .await;
    let (code, message, _) = reply.error();
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "InvalidParameterValue",
            "The filter 'private-ip' is invalid"
        )
    );
}

#[tokio::test]
async fn walking_next_token_sees_every_instance_one_call_per_page() {
    let sim = start(World::demo(), 1);
    let pages = client(&sim).pages(Call::new(ACTION)).await;
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    let world = World::demo();
    let expected: Vec<&str> = world.instances.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(all, expected);
    assert_eq!(pages.len(), expected.len());
    assert_eq!(sim.calls(Action::DescribeInstances), expected.len());
}

#[tokio::test]
async fn max_results_is_range_checked_and_not_combined_with_ids() {
    let sim = start_demo();
    let client = client(&sim);
    for bad in ["4", "1001"] {
        let reply = client
            .call(Call::new(ACTION).param("MaxResults", bad))
            .await;
        let (code, message, _) = reply.error();
        assert_eq!(code, "InvalidParameterValue");
        assert!(message.contains("between 5 and 1000"), "{message}");
    }
    let reply = client
        .call(
            Call::new(ACTION)
                .param("MaxResults", "5")
                .list("InstanceId", &["i-0a1b2c3d4e5f60001"]),
        )
        .await;
    assert_eq!(reply.error().0, "InvalidParameterCombination");
    let page = client.ok(Call::new(ACTION).param("MaxResults", "5")).await;
    assert_eq!(ids(&page).len(), 5);
    assert!(page.text_opt("nextToken").is_some());
}

#[tokio::test]
async fn state_changes_at_run_time_are_seen_by_the_next_call() {
    let sim = start_demo();
    let client = client(&sim);
    let web1 = "i-0a1b2c3d4e5f60001";
    let describe = || Call::new(ACTION).list("InstanceId", &[web1]);
    sim.set_instance_state(web1, InstanceState::Stopped)
        .unwrap();
    let stopped = client.ok(describe()).await;
    assert_eq!(
        stopped.text(&format!("{INSTANCE}/instanceState/name")),
        "stopped"
    );
    assert_eq!(
        stopped.text(&format!("{INSTANCE}/privateIpAddress")),
        "10.0.1.10"
    );
    sim.set_instance_state(web1, InstanceState::Terminated)
        .unwrap();
    let gone = client.ok(describe()).await;
    assert_eq!(gone.text(&format!("{INSTANCE}/instanceState/code")), "48");
    assert_eq!(gone.text_opt(&format!("{INSTANCE}/privateIpAddress")), None);
    assert_eq!(gone.text_opt(&format!("{INSTANCE}/vpcId")), None);
    assert!(
        sim.set_instance_state("i-0000000000000beef", InstanceState::Running)
            .is_err()
    );
}

#[tokio::test]
async fn other_regions_use_compute_internal_names_and_escape_tags() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let reply = client_in(&sim, "eu-west-1").ok(Call::new(ACTION)).await;
    assert_eq!(
        reply.text(&format!("{INSTANCE}/privateDnsName")),
        "ip-100-64-0-25.eu-west-1.compute.internal"
    );
    let doc = reply.doc();
    let instance = nodes(doc.root_element(), INSTANCE)[0];
    assert_eq!(tag(instance, "team"), Some("a&b <ops>"));
    assert_eq!(tag(instance, "Name"), None);
}
