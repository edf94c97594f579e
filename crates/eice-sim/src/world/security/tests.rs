//! Security groups, network ACLs and endpoint addresses: how they load, what EC2
//! would add, and what the loader refuses (naming the offending id).

use std::net::Ipv4Addr;

use crate::world::tests::SAMPLE;
use crate::world::*;

/// SAMPLE with one security group and one ACL that a test then edits.
fn with_rules() -> String {
    format!(
        r#"{SAMPLE}
[[security_group]]
id = "sg-0a1b2c3d4e5f60051"
vpc = "vpc-0a1b2c3d4e5f60001"
name = "eice"
ingress = [{{ protocol = "tcp", from_port = 22, to_port = 22, group = "sg-0a1b2c3d4e5f60051" }}]

[[network_acl]]
id = "acl-0a1b2c3d4e5f60061"
vpc = "vpc-0a1b2c3d4e5f60001"
subnets = ["subnet-0a1b2c3d4e5f60011"]
entries = [{{ rule_number = 100, egress = false, protocol = "tcp", action = "allow", cidr = "10.0.0.0/16", from_port = 22, to_port = 22 }}]
"#
    )
}

/// Loads `with_rules()` with one piece replaced and returns the error's text.
fn refused(from: &str, to: &str) -> String {
    let text = with_rules();
    assert!(text.contains(from), "test bug: {from:?} not in the world");
    World::from_toml(&text.replacen(from, to, 1))
        .expect_err("the edited world should be refused")
        .to_string()
}

#[test]
fn an_old_world_gets_the_default_group_and_acl_aws_creates() {
    let world = World::from_toml(SAMPLE).unwrap();
    let groups = world.security_groups();
    assert_eq!(groups.len(), 1);
    let default = &groups[0];
    assert_eq!(default.name, DEFAULT_GROUP_NAME);
    assert_eq!(default.vpc, "vpc-0a1b2c3d4e5f60001");
    assert!(ResourceKind::SecurityGroup.is_well_formed(&default.id));
    assert_eq!(
        default.ingress[0].group.as_deref(),
        Some(default.id.as_str())
    );
    assert_eq!(default.ingress[0].protocol, Protocol::All);
    let out: Vec<String> = default
        .egress
        .iter()
        .map(|r| format!("{:?} {:?}", r.cidr, r.cidr_ipv6))
        .collect();
    assert_eq!(
        out.len(),
        2,
        "0.0.0.0/0 and ::/0 in a VPC with IPv6: {out:?}"
    );
    let instance = &world.instances[0];
    let endpoint = &world.endpoints[0];
    assert_eq!(world.instance_security_groups(instance)[0].id, default.id);
    assert_eq!(world.endpoint_security_groups(endpoint)[0].id, default.id);
    let acl = world.network_acl_of("subnet-0a1b2c3d4e5f60011").unwrap();
    assert!(acl.default);
    assert_eq!(
        world.network_acl_subnets(&acl),
        ["subnet-0a1b2c3d4e5f60011"]
    );
    let numbers: Vec<(u16, bool, &str)> = acl
        .listed_entries(true)
        .iter()
        .map(|e| (e.rule_number, e.egress, e.action.as_str()))
        .collect();
    assert_eq!(
        numbers,
        [
            (100, true, "allow"),
            (101, true, "allow"),
            (32767, true, "deny"),
            (32767, true, "deny"),
            (100, false, "allow"),
            (101, false, "allow"),
            (32767, false, "deny"),
            (32767, false, "deny"),
        ]
    );
}

#[test]
fn a_group_without_egress_lets_everything_out_and_one_with_egress_only_that() {
    let world = World::from_toml(&with_rules()).unwrap();
    let eice = world.security_group("sg-0a1b2c3d4e5f60051").unwrap();
    assert_eq!(eice.egress.len(), 1);
    assert_eq!(eice.egress[0].protocol, Protocol::All);
    assert_eq!(eice.egress[0].cidr.unwrap().to_string(), "0.0.0.0/0");
    assert_eq!(eice.description(), "eice");
    let closed = with_rules().replace(
        "name = \"eice\"\n",
        "name = \"eice\"\ndescription = \"none out\"\negress = []\n",
    );
    let world = World::from_toml(&closed).unwrap();
    let eice = world.security_group("sg-0a1b2c3d4e5f60051").unwrap();
    assert!(eice.egress.is_empty());
    assert_eq!(eice.description(), "none out");
    // The world lists no `default` group, so one is synthesised beside it.
    assert_eq!(world.security_groups().len(), 2);
}

#[test]
fn an_explicit_acl_takes_its_subnets_from_the_default() {
    let world = World::from_toml(&with_rules()).unwrap();
    let acls = world.network_acls();
    assert_eq!(acls.len(), 2);
    let used = world.network_acl_of("subnet-0a1b2c3d4e5f60011").unwrap();
    assert_eq!(used.id, "acl-0a1b2c3d4e5f60061");
    let default = acls.iter().find(|acl| acl.default).unwrap();
    assert!(world.network_acl_subnets(default).is_empty());
}

#[test]
fn endpoints_get_a_stable_free_address_and_an_interface() {
    let twin = r#"
[[endpoint]]
id = "eice-0123456789abcdef1"
subnet = "subnet-0a1b2c3d4e5f60011"
state = "create-complete"
"#;
    let world = World::from_toml(&format!("{SAMPLE}{twin}")).unwrap();
    let [first, second] = [&world.endpoints[0], &world.endpoints[1]];
    let a = world.endpoint_private_ip(first).unwrap();
    let b = world.endpoint_private_ip(second).unwrap();
    let subnet: Ipv4Cidr = "10.0.1.0/24".parse().unwrap();
    for ip in [a, b] {
        assert!(subnet.contains(ip), "{ip}");
        assert!(
            ip.octets()[3] >= 4 && ip.octets()[3] < 255,
            "reserved: {ip}"
        );
        assert_ne!(ip, Ipv4Addr::new(10, 0, 1, 25), "the instance's");
    }
    assert_ne!(a, b);
    let again = World::from_toml(&format!("{SAMPLE}{twin}")).unwrap();
    assert_eq!(again.endpoint_private_ip(&again.endpoints[1]), Some(b));
    let v6 = world.endpoint_private_ipv6(first).unwrap();
    assert!(world.vpcs[0].ipv6_cidrs[0].contains(v6));
    assert!(first.network_interface_id().starts_with("eni-"));
    let fixed = SAMPLE.replace("fips = true", "fips = true\nprivate_ip = \"10.0.1.7\"");
    let world = World::from_toml(&fixed).unwrap();
    assert_eq!(
        world.endpoint_private_ip(&world.endpoints[0]),
        Some(Ipv4Addr::new(10, 0, 1, 7))
    );
}

#[test]
fn an_endpoint_address_outside_its_subnet_or_taken_is_named() {
    let outside = SAMPLE.replace("fips = true", "fips = true\nprivate_ip = \"10.0.2.7\"");
    let err = World::from_toml(&outside).unwrap_err().to_string();
    assert_eq!(
        err,
        "eice-0123456789abcdef0: private_ip 10.0.2.7 is not inside subnet-0a1b2c3d4e5f60011 (10.0.1.0/24)"
    );
    let taken = SAMPLE.replace("fips = true", "fips = true\nprivate_ip = \"10.0.1.25\"");
    let err = World::from_toml(&taken).unwrap_err().to_string();
    assert_eq!(
        err,
        "eice-0123456789abcdef0: private_ip 10.0.1.25 is already used by i-0123456789abcdef0 in the same subnet"
    );
}

#[test]
fn rules_must_name_exactly_one_peer_and_fitting_ports() {
    let two_peers = refused(
        r#"group = "sg-0a1b2c3d4e5f60051" }"#,
        r#"group = "sg-0a1b2c3d4e5f60051", cidr = "10.0.0.0/8" }"#,
    );
    assert_eq!(
        two_peers,
        "sg-0a1b2c3d4e5f60051: ingress rule 1: needs exactly one of cidr, cidr_ipv6, group or prefix_list"
    );
    let no_ports = refused("from_port = 22, to_port = 22, group", "group");
    assert!(
        no_ports.starts_with("sg-0a1b2c3d4e5f60051: ingress rule 1: tcp needs from_port"),
        "{no_ports}"
    );
    let reversed = refused(
        "from_port = 22, to_port = 22, group",
        "from_port = 23, to_port = 22, group",
    );
    assert!(
        reversed.contains("from_port must not be above to_port"),
        "{reversed}"
    );
    let all_with_ports = refused(
        r#"protocol = "tcp", from_port = 22"#,
        r#"protocol = "-1", from_port = 22"#,
    );
    assert!(
        all_with_ports.contains("takes no from_port or to_port"),
        "{all_with_ports}"
    );
    let protocol = refused(
        r#"protocol = "tcp", from_port = 22"#,
        r#"protocol = "ssh", from_port = 22"#,
    );
    assert!(protocol.contains("unknown protocol 'ssh'"), "{protocol}");
    let prefix = refused(
        r#"group = "sg-0a1b2c3d4e5f60051" }"#,
        r#"prefix_list = "pl-nothex" }"#,
    );
    assert!(
        prefix.contains("'pl-nothex' is not a well-formed prefix list ID"),
        "{prefix}"
    );
}

#[test]
fn dangling_or_foreign_group_references_are_named() {
    let err = refused(
        r#"group = "sg-0a1b2c3d4e5f60051" }"#,
        r#"group = "sg-0a1b2c3d4e5f6ffff" }"#,
    );
    assert_eq!(
        err,
        "sg-0a1b2c3d4e5f60051: group 'sg-0a1b2c3d4e5f6ffff' does not exist"
    );
    let err = refused(
        "name = \"web-1\"",
        "name = \"web-1\"\nsecurity_groups = [\"sg-0a1b2c3d4e5f6ffff\"]",
    );
    assert_eq!(
        err,
        "i-0123456789abcdef0: security_groups 'sg-0a1b2c3d4e5f6ffff' does not exist"
    );
    let other_vpc = format!(
        "{}\n[[vpc]]\nid = \"vpc-0a1b2c3d4e5f60002\"\ncidrs = [\"10.1.0.0/16\"]\n",
        with_rules()
    )
    .replacen(
        "vpc = \"vpc-0a1b2c3d4e5f60001\"\nname = \"eice\"",
        "vpc = \"vpc-0a1b2c3d4e5f60002\"\nname = \"eice\"",
        1,
    )
    .replace(
        "fips = true",
        "fips = true\nsecurity_groups = [\"sg-0a1b2c3d4e5f60051\"]",
    );
    let err = World::from_toml(&other_vpc).unwrap_err().to_string();
    assert_eq!(
        err,
        "eice-0123456789abcdef0: security_groups 'sg-0a1b2c3d4e5f60051' is not in vpc-0a1b2c3d4e5f60001"
    );
}

#[test]
fn group_names_are_unique_per_vpc() {
    let twice = format!(
        "{}\n[[security_group]]\nid = \"sg-0a1b2c3d4e5f60052\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\nname = \"eice\"\n",
        with_rules()
    );
    let err = World::from_toml(&twice).unwrap_err().to_string();
    assert_eq!(
        err,
        "vpc-0a1b2c3d4e5f60001: more than one security group is named 'eice'"
    );
}

#[test]
fn acl_mistakes_are_named() {
    let zero = refused("rule_number = 100", "rule_number = 0");
    assert_eq!(
        zero,
        "acl-0a1b2c3d4e5f60061: entry 0 (ingress): rule_number must be from 1 to 32766"
    );
    let no_block = refused(r#", cidr = "10.0.0.0/16""#, "");
    assert!(
        no_block.contains("needs exactly one of cidr or cidr_ipv6"),
        "{no_block}"
    );
    let icmp_with_ports = refused(
        r#"protocol = "tcp", action = "allow", cidr = "10.0.0.0/16", from_port = 22, to_port = 22"#,
        r#"protocol = "icmp", action = "allow", cidr = "10.0.0.0/16", from_port = 22, to_port = 22"#,
    );
    assert!(
        icmp_with_ports.contains("only tcp and udp entries take from_port"),
        "{icmp_with_ports}"
    );
    let twice = refused(
        "from_port = 22, to_port = 22 }]",
        "from_port = 22, to_port = 22 }, { rule_number = 100, egress = false, protocol = \"-1\", action = \"deny\", cidr = \"0.0.0.0/0\" }]",
    );
    assert_eq!(
        twice,
        "acl-0a1b2c3d4e5f60061: entry 100 (ingress): rule number used twice"
    );
    let foreign = refused(
        r#"subnets = ["subnet-0a1b2c3d4e5f60011"]"#,
        r#"subnets = ["subnet-0a1b2c3d4e5f6ffff"]"#,
    );
    assert_eq!(
        foreign,
        "acl-0a1b2c3d4e5f60061: subnets 'subnet-0a1b2c3d4e5f6ffff' does not exist"
    );
}

#[test]
fn a_subnet_has_one_acl_and_a_vpc_one_default() {
    let second = "\n[[network_acl]]\nid = \"acl-0a1b2c3d4e5f60062\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\nsubnets = [\"subnet-0a1b2c3d4e5f60011\"]\n";
    let err = World::from_toml(&format!("{}{second}", with_rules()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "subnet-0a1b2c3d4e5f60011 is associated with both acl-0a1b2c3d4e5f60061 and acl-0a1b2c3d4e5f60062; a subnet has one network ACL"
    );
    let defaults = format!(
        "{}\n[[network_acl]]\nid = \"acl-0a1b2c3d4e5f60062\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\ndefault = true\n",
        with_rules().replace("subnets = [", "default = true\nsubnets = [")
    );
    let err = World::from_toml(&defaults).unwrap_err().to_string();
    assert!(
        err.contains("both acl-0a1b2c3d4e5f60061 and acl-0a1b2c3d4e5f60062 are marked default"),
        "{err}"
    );
}
