//! Loading, validation and derived data of world files.

use super::*;

/// The example from the format's description, with a secondary IPv4 block.
pub(crate) const SAMPLE: &str = r#"
region = "us-east-1"

[[vpc]]
id = "vpc-0a1b2c3d4e5f60001"
cidrs = ["10.0.0.0/16", "100.64.0.0/24"]
ipv6_cidrs = ["fd00:10::/56"]

[[subnet]]
id = "subnet-0a1b2c3d4e5f60011"
vpc = "vpc-0a1b2c3d4e5f60001"
cidr = "10.0.1.0/24"
availability_zone = "us-east-1a"

[[instance]]
id = "i-0123456789abcdef0"
subnet = "subnet-0a1b2c3d4e5f60011"
private_ip = "10.0.1.25"
ipv6 = "fd00:10::25"
state = "running"
name = "web-1"
tags = { env = "demo" }

[[endpoint]]
id = "eice-0123456789abcdef0"
subnet = "subnet-0a1b2c3d4e5f60011"
state = "create-complete"
ip_address_type = "ipv4"
preserve_client_ip = false
fips = true
"#;

/// Loads `SAMPLE` with one line replaced, and returns the error's text.
fn error_with(from: &str, to: &str) -> String {
    assert!(SAMPLE.contains(from), "test bug: {from:?} not in SAMPLE");
    World::from_toml(&SAMPLE.replacen(from, to, 1))
        .expect_err("the edited world should be refused")
        .to_string()
}

#[test]
fn sample_world_loads_with_defaults() {
    let world = World::from_toml(SAMPLE).unwrap();
    assert_eq!(world.account_id, DEFAULT_ACCOUNT_ID);
    assert_eq!(world.vpcs[0].cidrs.len(), 2);
    let instance = world.instance("i-0123456789abcdef0").unwrap();
    assert_eq!(instance.private_ip, Ipv4Addr::new(10, 0, 1, 25));
    assert_eq!(instance.ipv6, Some("fd00:10::25".parse().unwrap()));
    assert_eq!(instance.state, InstanceState::Running);
    let tags: Vec<_> = instance.all_tags().collect();
    assert_eq!(tags, [("Name", "web-1"), ("env", "demo")]);
    let endpoint = world.endpoint("eice-0123456789abcdef0").unwrap();
    assert_eq!(endpoint.ip_address_type, IpAddressType::Ipv4);
    assert_eq!(endpoint.state, EndpointState::CreateComplete);
}

#[test]
fn endpoint_dns_names_follow_the_eice_pattern() {
    let world = World::from_toml(SAMPLE).unwrap();
    let endpoint = world.endpoint("eice-0123456789abcdef0").unwrap();
    assert_eq!(
        endpoint.dns_name(&world.region),
        "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"
    );
    assert_eq!(
        endpoint.fips_dns_name(&world.region).as_deref(),
        Some("eice-0123456789abcdef0.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com")
    );
    let host = endpoint.fips_dns_name(&world.region).unwrap();
    assert_eq!(world.endpoint_by_dns_name(&host), Some(endpoint));
    let without_fips = World::from_toml(&SAMPLE.replace("fips = true", "fips = false")).unwrap();
    assert_eq!(without_fips.endpoints[0].fips_dns_name("us-east-1"), None);
}

#[test]
fn endpoints_publish_dual_stack_names_under_api_aws() {
    let world = World::from_toml(SAMPLE).unwrap();
    let endpoint = world.endpoint("eice-0123456789abcdef0").unwrap();
    let dualstack = endpoint.dualstack_dns_name(&world.region).unwrap();
    assert_eq!(
        dualstack,
        "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.api.aws"
    );
    assert_eq!(
        endpoint.dualstack_fips_dns_name(&world.region).as_deref(),
        Some("eice-0123456789abcdef0.fips.ec2-instance-connect-endpoint.us-east-1.api.aws")
    );
    assert_eq!(world.endpoint_by_dns_name(&dualstack), Some(endpoint));
    assert_eq!(endpoint.dns_names(&world.region).len(), 4);
    let without =
        World::from_toml(&SAMPLE.replace("fips = true", "fips = true\ndualstack = false")).unwrap();
    assert_eq!(without.endpoints[0].dualstack_dns_name("us-east-1"), None);
    assert_eq!(without.endpoints[0].dns_names("us-east-1").len(), 2);
}

#[test]
fn private_dns_names_depend_on_the_region() {
    let mut world = World::from_toml(SAMPLE).unwrap();
    let ip = Ipv4Addr::new(10, 0, 1, 25);
    assert_eq!(world.private_dns_name(ip), "ip-10-0-1-25.ec2.internal");
    world.region = "eu-west-1".into();
    assert_eq!(
        world.private_dns_name(ip),
        "ip-10-0-1-25.eu-west-1.compute.internal"
    );
}

#[test]
fn duplicate_ids_are_named() {
    let err = error_with(
        r#"id = "eice-0123456789abcdef0""#,
        r#"id = "i-0123456789abcdef0""#,
    );
    assert!(
        err.contains("'i-0123456789abcdef0' is not a well-formed instance connect endpoint ID"),
        "{err}"
    );
    let twice =
        format!("{SAMPLE}\n[[vpc]]\nid = \"vpc-0a1b2c3d4e5f60001\"\ncidrs = [\"10.1.0.0/16\"]\n");
    let err = World::from_toml(&twice).unwrap_err().to_string();
    assert_eq!(err, "id 'vpc-0a1b2c3d4e5f60001' is used more than once");
}

#[test]
fn dangling_references_are_named() {
    let err = error_with(
        r#"vpc = "vpc-0a1b2c3d4e5f60001""#,
        r#"vpc = "vpc-0a1b2c3d4e5f6ffff""#,
    );
    assert_eq!(
        err,
        "subnet-0a1b2c3d4e5f60011: vpc 'vpc-0a1b2c3d4e5f6ffff' does not exist"
    );
    let err = error_with(
        "subnet = \"subnet-0a1b2c3d4e5f60011\"\nprivate_ip",
        "subnet = \"subnet-0a1b2c3d4e5f6ffff\"\nprivate_ip",
    );
    assert!(
        err.starts_with("i-0123456789abcdef0: subnet 'subnet-0a1b2c3d4e5f6ffff'"),
        "{err}"
    );
}

#[test]
fn an_instance_outside_its_subnet_is_named() {
    let err = error_with(r#"private_ip = "10.0.1.25""#, r#"private_ip = "10.0.2.25""#);
    assert_eq!(
        err,
        "i-0123456789abcdef0: private_ip 10.0.2.25 is not inside subnet-0a1b2c3d4e5f60011 (10.0.1.0/24)"
    );
    let err = error_with(r#"ipv6 = "fd00:10::25""#, r#"ipv6 = "fd00:11::25""#);
    assert!(
        err.starts_with("i-0123456789abcdef0: ipv6 fd00:11::25"),
        "{err}"
    );
    // Secondary addresses are held to the same blocks.
    let err = error_with(
        r#"private_ip = "10.0.1.25""#,
        "private_ip = \"10.0.1.25\"\nsecondary_private_ips = [\"10.0.2.26\"]",
    );
    assert!(
        err.starts_with("i-0123456789abcdef0: private_ip 10.0.2.26 is not inside"),
        "{err}"
    );
    let err = error_with(
        r#"ipv6 = "fd00:10::25""#,
        "ipv6 = \"fd00:10::25\"\nsecondary_ipv6 = [\"fd00:11::26\"]",
    );
    assert!(
        err.starts_with("i-0123456789abcdef0: ipv6 fd00:11::26"),
        "{err}"
    );
}

#[test]
fn a_subnet_outside_its_vpc_is_named() {
    let err = error_with(r#"cidr = "10.0.1.0/24""#, r#"cidr = "10.1.1.0/24""#);
    assert_eq!(
        err,
        "subnet-0a1b2c3d4e5f60011: cidr 10.1.1.0/24 is not inside any CIDR block of vpc-0a1b2c3d4e5f60001"
    );
}

#[test]
fn a_subnet_in_a_secondary_block_is_accepted() {
    let edited = SAMPLE
        .replace(r#"cidr = "10.0.1.0/24""#, r#"cidr = "100.64.0.0/25""#)
        .replace(
            r#"private_ip = "10.0.1.25""#,
            r#"private_ip = "100.64.0.25""#,
        );
    World::from_toml(&edited).unwrap();
}

#[test]
fn typos_and_bad_values_fail_at_load() {
    let err = error_with("preserve_client_ip", "preserve_clientip");
    assert!(err.contains("unknown field `preserve_clientip`"), "{err}");
    let err = error_with(r#"state = "running""#, r#"state = "runing""#);
    assert!(err.contains("runing"), "{err}");
    let err = error_with(r#""10.0.0.0/16""#, r#""10.0.0.1/16""#);
    assert!(err.contains("'10.0.0.1/16' has host bits set"), "{err}");
    let err = error_with(
        r#"region = "us-east-1""#,
        "region = \"us-east-1\"\naccount_id = \"42\"",
    );
    assert!(err.contains("'42'"), "{err}");
}

#[test]
fn instance_state_changes_at_run_time() {
    let mut world = World::from_toml(SAMPLE).unwrap();
    world
        .set_instance_state("i-0123456789abcdef0", InstanceState::Stopped)
        .unwrap();
    assert_eq!(world.instances[0].state, InstanceState::Stopped);
    let err = world
        .set_instance_state("i-0000000000000000f", InstanceState::Running)
        .unwrap_err();
    assert!(err.to_string().contains("i-0000000000000000f"));
}

#[test]
fn demo_world_loads_with_ambiguous_addresses_across_vpcs() {
    let world = World::demo();
    assert_eq!(world.region, "us-east-1");
    assert_eq!(world.vpcs.len(), 2);
    assert_eq!(world.vpcs[0].cidrs, world.vpcs[1].cidrs);
    assert_eq!(world.instances.len(), 9);
    assert_eq!(world.endpoints.len(), 3);
    let named = |name: &str| {
        world
            .instances
            .iter()
            .filter(|i| i.name.as_deref() == Some(name))
            .count()
    };
    assert_eq!(named("web-dup"), 2);
    assert_eq!(named("web-1"), 1);
    let old = world.instance("i-0a1b2c3d4e5f60003").unwrap();
    assert_eq!(old.state, InstanceState::Stopped);
    let db = world.instance("i-0a1b2c3d4e5f60002").unwrap();
    assert!(db.ipv6.is_some());
    let ip = "10.0.1.10".parse().unwrap();
    assert!(world.vpcs.iter().all(|vpc| vpc.cidrs[0].contains(ip)));
}

#[test]
fn eu_demo_world_is_a_separate_region_of_the_same_account() {
    let us = World::demo();
    let eu = World::demo_eu();
    assert_eq!(eu.region, "eu-west-1");
    assert_eq!(eu.account_id, us.account_id);
    let eu_block = eu.vpcs[0].cidrs[0];
    assert!(
        us.vpcs
            .iter()
            .flat_map(|v| &v.cidrs)
            .all(|c| !c.contains_block(&eu_block) && !eu_block.contains_block(c)),
        "the eu VPC must not overlap the us-east-1 ones"
    );
    let us_ids: Vec<&str> = us.resources().map(|(_, id)| id).collect();
    assert!(eu.resources().all(|(_, id)| !us_ids.contains(&id)));
    let running = eu
        .instances
        .iter()
        .filter(|i| i.state == InstanceState::Running)
        .count();
    assert_eq!((running, eu.endpoints.len(), eu.subnets.len()), (2, 1, 1));
    assert!(
        eu.instances
            .iter()
            .any(|i| i.name.as_deref() == Some("eu-web-1"))
    );
    assert_eq!(
        eu.endpoints[0].dns_name(&eu.region),
        "eice-0e1a2b3c4d5e60021.ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"
    );
}

#[test]
fn overlapping_subnets_and_shared_addresses_are_refused() {
    let second_subnet = "\n[[subnet]]\nid = \"subnet-0a1b2c3d4e5f60012\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\ncidr = \"10.0.0.0/22\"\navailability_zone = \"us-east-1b\"\n";
    let err = World::from_toml(&format!("{SAMPLE}{second_subnet}")).unwrap_err();
    assert!(err.to_string().contains("overlap"), "{err}");
    let twin = "\n[[instance]]\nid = \"i-0123456789abcdef1\"\nsubnet = \"subnet-0a1b2c3d4e5f60011\"\nprivate_ip = \"10.0.1.25\"\nstate = \"running\"\n";
    let err = World::from_toml(&format!("{SAMPLE}{twin}")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "i-0123456789abcdef1: private_ip 10.0.1.25 is already used by i-0123456789abcdef0 in the same subnet"
    );
}
