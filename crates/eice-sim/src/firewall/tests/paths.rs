//! Whole paths through small worlds: each check in the order traffic meets it,
//! the demo world's locked instance, and what the worlds leave unjudged.

use std::net::IpAddr;

use super::ip;
use crate::firewall::*;
use crate::world::{IMPLICIT_DENY_RULE, World};

/// One VPC, two subnets; an endpoint in each (the second preserves client IPs);
/// `open-1` admits the endpoint group, `office-1` only 127.0.0.1/32 and
/// 192.0.2.0/24, `bare-1` nothing; `acl-…` guards the second subnet.
const WORLD: &str = r#"
region = "us-east-1"

[[vpc]]
id = "vpc-00000001"
cidrs = ["10.0.0.0/16"]
ipv6_cidrs = ["fd00:10::/56"]

[[subnet]]
id = "subnet-00000011"
vpc = "vpc-00000001"
cidr = "10.0.1.0/24"
availability_zone = "us-east-1a"

[[subnet]]
id = "subnet-00000012"
vpc = "vpc-00000001"
cidr = "10.0.2.0/24"
availability_zone = "us-east-1b"

[[security_group]]
id = "sg-000000e1"
vpc = "vpc-00000001"
name = "eice"
egress = [
  { protocol = "tcp", from_port = 22, to_port = 22, cidr = "10.0.0.0/16" },
  { protocol = "tcp", from_port = 22, to_port = 22, cidr_ipv6 = "fd00:10::/56" },
]

[[security_group]]
id = "sg-000000a1"
vpc = "vpc-00000001"
name = "open"
ingress = [{ protocol = "tcp", from_port = 22, to_port = 22, group = "sg-000000e1" }]

[[security_group]]
id = "sg-000000b1"
vpc = "vpc-00000001"
name = "office"
ingress = [
  { protocol = "tcp", from_port = 22, to_port = 22, cidr = "127.0.0.1/32" },
  { protocol = "tcp", from_port = 22, to_port = 22, cidr = "192.0.2.0/24" },
]

[[security_group]]
id = "sg-000000c1"
vpc = "vpc-00000001"
name = "bare"

[[network_acl]]
id = "acl-00000021"
vpc = "vpc-00000001"
subnets = ["subnet-00000012"]
entries = [
  { rule_number = 100, egress = false, protocol = "tcp", action = "allow", cidr = "10.0.0.0/16", from_port = 22, to_port = 22 },
  { rule_number = 100, egress = true, protocol = "tcp", action = "allow", cidr = "10.0.0.0/16", from_port = 1024, to_port = 65535 },
]

[[endpoint]]
id = "eice-00000001"
subnet = "subnet-00000011"
state = "create-complete"
security_groups = ["sg-000000e1"]
private_ip = "10.0.1.4"

[[endpoint]]
id = "eice-00000002"
subnet = "subnet-00000012"
state = "create-complete"
preserve_client_ip = true
security_groups = ["sg-000000e1"]

[[instance]]
id = "i-00000001"
subnet = "subnet-00000011"
private_ip = "10.0.1.10"
ipv6 = "fd00:10::10"
state = "running"
name = "open-1"
security_groups = ["sg-000000a1"]

[[instance]]
id = "i-00000002"
subnet = "subnet-00000011"
private_ip = "10.0.1.20"
state = "running"
name = "office-1"
security_groups = ["sg-000000b1"]

[[instance]]
id = "i-00000003"
subnet = "subnet-00000012"
private_ip = "10.0.2.30"
state = "running"
name = "bare-1"
security_groups = ["sg-000000c1", "sg-000000a1"]
"#;

const LOCALHOST: &str = "127.0.0.1";

fn world() -> World {
    World::from_toml(WORLD).unwrap()
}

fn check(world: &World, endpoint: &str, target: &str, port: u16) -> Option<Result<(), Blocked>> {
    check_tunnel(world, endpoint, ip(target), port, ip(LOCALHOST))
}

#[test]
fn a_group_admitting_the_endpoints_group_opens_the_path() {
    let world = world();
    assert_eq!(
        check(&world, "eice-00000001", "10.0.1.10", 22),
        Some(Ok(()))
    );
    assert_eq!(
        check(&world, "eice-00000001", "fd00:10::10", 22),
        Some(Ok(()))
    );
}

#[test]
fn the_endpoints_egress_must_allow_the_port() {
    let world = world();
    let blocked = check(&world, "eice-00000001", "10.0.1.10", 3389).unwrap();
    assert_eq!(
        blocked,
        Err(Blocked::EndpointEgress {
            groups: vec!["sg-000000e1".into()],
            target: ip("10.0.1.10"),
            port: 3389,
        })
    );
    assert_eq!(
        blocked.unwrap_err().to_string(),
        "no egress rule of sg-000000e1 allows tcp 3389 to 10.0.1.10"
    );
}

#[test]
fn an_instance_admitting_other_addresses_only_is_blocked() {
    let world = world();
    let blocked = check(&world, "eice-00000001", "10.0.1.20", 22)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        blocked,
        Blocked::InstanceIngress {
            groups: vec!["sg-000000b1".into()],
            source: ip("10.0.1.4"),
            from_groups: vec!["sg-000000e1".into()],
            port: 22,
        }
    );
    assert_eq!(
        blocked.to_string(),
        "no ingress rule of sg-000000b1 allows tcp 22 from 10.0.1.4 or from sg-000000e1"
    );
}

#[test]
fn a_preserved_client_ip_is_what_the_instance_must_admit() {
    let mut world = world();
    // Same subnet as office-1, so no ACL is involved.
    world.endpoints[0].preserve_client_ip = true;
    assert_eq!(
        check(&world, "eice-00000001", "10.0.1.20", 22),
        Some(Ok(()))
    );
    let elsewhere = check_tunnel(
        &world,
        "eice-00000001",
        ip("10.0.1.20"),
        22,
        ip("198.51.100.7"),
    );
    assert!(
        matches!(elsewhere, Some(Err(Blocked::InstanceIngress { ref from_groups, .. })) if from_groups.is_empty()),
        "{elsewhere:?}"
    );
    // The endpoint's group no longer counts once the client's address is seen.
    assert!(matches!(
        check(&world, "eice-00000001", "10.0.1.10", 22),
        Some(Err(Blocked::InstanceIngress { .. }))
    ));
    // IPv6 targets never see the client's address.
    assert_eq!(
        check(&world, "eice-00000001", "fd00:10::10", 22),
        Some(Ok(()))
    );
}

#[test]
fn acls_are_evaluated_when_the_path_crosses_subnets() {
    let mut world = world();
    world.endpoints[1].preserve_client_ip = false;
    // eice-…2 (subnet 12, its ACL allows only inbound 22 and outbound
    // replies) to open-1 (subnet 11, the synthesised default ACL): the
    // endpoint's subnet must let the connection out to port 22.
    let blocked = check(&world, "eice-00000002", "10.0.1.10", 22)
        .unwrap()
        .unwrap_err();
    assert_eq!(
        blocked.to_string(),
        "network ACL acl-00000021 of subnet-00000012 denies outbound tcp 22 to 10.0.1.10 (rule *)"
    );
    // eice-…1 to bare-1 (subnet 12): in on 22 and replies out are allowed.
    assert_eq!(
        check(&world, "eice-00000001", "10.0.2.30", 22),
        Some(Ok(()))
    );
    // Without the reply rule the stateless ACL drops the answers.
    world.network_acls[0].entries.retain(|e| !e.egress);
    let blocked = check(&world, "eice-00000001", "10.0.2.30", 22)
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(blocked, Blocked::Acl { egress: true, ref ports, rule: IMPLICIT_DENY_RULE, .. } if *ports == EPHEMERAL_PORTS),
        "{blocked:?}"
    );
}

#[test]
fn acls_are_not_evaluated_inside_one_subnet() {
    let mut world = world();
    world.network_acls[0].entries.clear();
    world.endpoints[1].preserve_client_ip = false;
    world.endpoints[1].security_groups.clear();
    world.instances[2].security_groups = vec![];
    // bare-1 and eice-…2 share subnet 12 and the default group: the deny-all
    // ACL is never consulted.
    assert_eq!(
        check(&world, "eice-00000002", "10.0.2.30", 22),
        Some(Ok(()))
    );
}

#[test]
fn the_default_group_admits_its_own_members() {
    // An old world file: no groups, no ACLs.
    let world = World::demo_eu();
    let endpoint = &world.endpoints[0].id;
    for instance in &world.instances {
        let target = IpAddr::V4(instance.private_ip);
        assert_eq!(
            check_tunnel(&world, endpoint, target, 22, ip(LOCALHOST)),
            Some(Ok(())),
            "{}",
            instance.id
        );
    }
}

#[test]
fn addresses_outside_the_endpoints_vpc_are_not_judged() {
    let world = world();
    assert_eq!(check(&world, "eice-00000001", "10.0.1.99", 22), None);
    assert_eq!(check(&world, "eice-0000000f", "10.0.1.10", 22), None);
}

#[test]
fn the_demo_world_locks_out_locked_1_only() {
    let world = World::demo();
    for instance in &world.instances {
        let vpc = instance.vpc(&world);
        let endpoints = world.endpoints.iter().filter(|e| e.vpc(&world) == vpc);
        let targets = [
            Some(IpAddr::V4(instance.private_ip)),
            instance.ipv6.map(IpAddr::V6),
        ];
        for (endpoint, target) in
            endpoints.flat_map(|e| targets.iter().flatten().map(move |t| (e, *t)))
        {
            for port in [22, 3389] {
                let verdict =
                    check_tunnel(&world, &endpoint.id, target, port, ip(LOCALHOST)).unwrap();
                let locked = instance.name.as_deref() == Some("locked-1");
                assert_eq!(
                    verdict.is_err(),
                    locked,
                    "{} via {} to {target}:{port}: {verdict:?}",
                    instance.id,
                    endpoint.id
                );
                if locked {
                    assert!(matches!(verdict, Err(Blocked::InstanceIngress { .. })));
                }
            }
        }
    }
}
