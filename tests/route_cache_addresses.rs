//! The route cache on disk for address targets: a private IP, or an EC2
//! private DNS name spelling one, given to `connect` is placed in a VPC by
//! the region's CIDR blocks (`DescribeVpcs`) and tunnelled through that
//! VPC's endpoint (`DescribeInstanceConnectEndpoints`), with no instance
//! lookup. Both answers are kept on disk, so the second `connect` to the
//! same address asks the simulated EC2 API nothing and does not even
//! connect to it. (Names and instance ids: `tests/route_cache.rs`.)

mod common;

use std::path::Path;

use common::aws_command;
use common::exchange::exchange;
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;

/// The second region's second instance, at 10.20.1.20 in the one VPC there
/// (the first region's two VPCs share their blocks: an IP there needs a
/// `[[route]]`, and then no `DescribeVpcs`).
const INSTANCE: &str = "i-0e1a2b3c4d5e60002";
/// Its VPC, and the endpoint there.
const VPC: &str = "vpc-0e1a2b3c4d5e60001";
const ENDPOINT: &str = "eice-0e1a2b3c4d5e60021";

/// `eice-proxy connect TARGET 22` with its cache under `cache_home`: the
/// instance's banner must come back, then our greeting echoed.
async fn login(aws: &SimAws, cache_home: &Path, target: &str) {
    let (mut cmd, _dir) = aws_command(aws, &["connect", target, "22"]);
    cmd.env("XDG_CACHE_HOME", cache_home);
    let (out, output) = exchange(&mut cmd, b"hello").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{target}: {stderr}");
    assert!(
        out.contains(INSTANCE) && out.ends_with("\r\nhello"),
        "{target}: {out:?}"
    );
}

/// The lookups a target may need; an address needs the first and last.
fn lookups(aws: &SimAws) -> [usize; 3] {
    [
        Action::DescribeVpcs,
        Action::DescribeInstances,
        Action::DescribeInstanceConnectEndpoints,
    ]
    .map(|action| aws.ec2.calls(action))
}

async fn second_connect_asks_nothing(target: &str) {
    let aws = SimAws::start(World::demo_eu(), false).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    login(&aws, home.path(), target).await;
    assert_eq!(lookups(&aws), [1, 0, 1], "{target}");
    let (calls, connections) = (aws.ec2.calls_total(), aws.ec2.connections());

    let file = home.path().join("eice-proxy/routes-default@eu-west-1.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        json["vpcs"]["value"][0],
        serde_json::json!(["10.20.0.0/16", VPC]),
        "{json}"
    );
    let endpoints = &json["endpoints"][format!("vpc:{VPC}")]["value"];
    assert_eq!(endpoints[0]["id"], ENDPOINT, "{json}");

    login(&aws, home.path(), target).await;
    assert_eq!(
        lookups(&aws),
        [1, 0, 1],
        "{target}: the second connect asked again"
    );
    assert_eq!(aws.ec2.calls_total(), calls, "{target}");
    assert_eq!(aws.ec2.connections(), connections, "{target}");
    assert_eq!(aws.eice.stats().tunnels_opened, 2);
}

#[tokio::test]
async fn a_second_connect_to_a_private_ip_makes_no_ec2_call() {
    second_connect_asks_nothing("10.20.1.20").await;
}

#[tokio::test]
async fn a_second_connect_to_a_private_dns_name_makes_no_ec2_call() {
    second_connect_asks_nothing("ip-10-20-1-20.eu-west-1.compute.internal").await;
}
