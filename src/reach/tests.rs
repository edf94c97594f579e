//! The evaluation rules, one table each.

use super::*;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn tcp(from: u16, to: u16) -> (Protocol, Ports) {
    (Protocol::Number(6), Some((from, to)))
}

fn rule((protocol, ports): (Protocol, Ports), peers: &[Peer]) -> Permission {
    Permission {
        protocol,
        ports,
        peers: peers.to_vec(),
    }
}

fn group(id: &str, ingress: Vec<Permission>, egress: Vec<Permission>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        ingress,
        egress,
    }
}

fn endpoint_party() -> Party {
    Party::at("10.0.2.5".parse().unwrap(), vec!["sg-eice".into()])
}

#[test]
fn protocols_parse_as_the_ec2_api_writes_them() {
    assert_eq!(Protocol::parse("-1"), Some(Protocol::All));
    assert_eq!(Protocol::parse("tcp"), Some(Protocol::Number(6)));
    assert_eq!(Protocol::parse("6"), Some(Protocol::Number(6)));
    assert_eq!(Protocol::parse("UDP"), Some(Protocol::Number(17)));
    assert_eq!(Protocol::parse("bogus"), None);
}

#[test]
fn a_group_reference_a_cidr_or_all_traffic_admits_the_port() {
    let by_group = group(
        "sg-app",
        vec![rule(tcp(22, 22), &[Peer::Group("sg-eice".into())])],
        vec![],
    );
    assert_eq!(
        groups_allow(&[by_group], Direction::Ingress, 22, &endpoint_party()),
        GroupVerdict::Allowed {
            group: "sg-app".into(),
            rule: "tcp 22 with sg-eice".into()
        }
    );
    let by_cidr = group(
        "sg-app",
        vec![rule(tcp(20, 30), &[Peer::Cidr(net("10.0.0.0/16"))])],
        vec![],
    );
    assert!(matches!(
        groups_allow(&[by_cidr], Direction::Ingress, 22, &endpoint_party()),
        GroupVerdict::Allowed { rule, .. } if rule == "tcp 20-30 with 10.0.0.0/16"
    ));
    let everything = group(
        "sg-app",
        vec![rule((Protocol::All, None), &[Peer::Cidr(net("0.0.0.0/0"))])],
        vec![],
    );
    assert!(matches!(
        groups_allow(&[everything], Direction::Ingress, 3389, &endpoint_party()),
        GroupVerdict::Allowed { rule, .. } if rule == "all traffic with 0.0.0.0/0"
    ));
}

#[test]
fn the_wrong_port_protocol_direction_family_or_group_admits_nothing() {
    let groups = [
        group(
            "sg-a",
            vec![
                rule(tcp(3389, 3389), &[Peer::Group("sg-eice".into())]),
                rule(
                    (Protocol::Number(17), Some((22, 22))),
                    &[Peer::Cidr(net("0.0.0.0/0"))],
                ),
                rule(tcp(22, 22), &[Peer::Group("sg-other".into())]),
                rule(tcp(22, 22), &[Peer::Cidr(net("::/0"))]),
                rule(tcp(22, 22), &[Peer::Cidr(net("10.0.1.0/24"))]),
            ],
            vec![rule((Protocol::All, None), &[Peer::Cidr(net("0.0.0.0/0"))])],
        ),
        group("sg-b", vec![], vec![]),
    ];
    assert_eq!(
        groups_allow(&groups, Direction::Ingress, 22, &endpoint_party()),
        GroupVerdict::Denied
    );
    // The subnet as a whole is not inside a rule for part of it.
    let subnet = Party {
        net: net("10.0.0.0/16"),
        groups: vec![],
    };
    assert_eq!(
        groups_allow(&groups[..1], Direction::Ingress, 22, &subnet),
        GroupVerdict::Denied
    );
}

#[test]
fn a_prefix_list_is_named_when_only_it_could_admit() {
    let groups = [group(
        "sg-a",
        vec![rule(tcp(22, 22), &[Peer::PrefixList("pl-1234".into())])],
        vec![],
    )];
    assert_eq!(
        groups_allow(&groups, Direction::Ingress, 22, &endpoint_party()),
        GroupVerdict::PrefixList {
            group: "sg-a".into(),
            list: "pl-1234".into()
        }
    );
}

fn entry(number: u16, direction: Direction, ports: Ports, cidr: &str, allow: bool) -> AclEntry {
    AclEntry {
        number,
        direction,
        protocol: if ports.is_some() {
            Protocol::Number(6)
        } else {
            Protocol::All
        },
        ports,
        cidr: net(cidr),
        allow,
    }
}

fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
    NetworkAcl {
        id: "acl-1".into(),
        entries,
    }
}

#[test]
fn the_lowest_numbered_matching_acl_entry_decides() {
    use Direction::*;
    let endpoint = net("10.0.2.5/32");
    let default = acl(vec![
        entry(100, Ingress, None, "0.0.0.0/0", true),
        entry(100, Egress, None, "0.0.0.0/0", true),
    ]);
    assert_eq!(
        default.allows(Ingress, (22, 22), &endpoint),
        AclVerdict::Allowed { rules: vec![100] }
    );
    let deny_first = acl(vec![
        entry(200, Ingress, None, "0.0.0.0/0", true),
        entry(90, Ingress, Some((22, 22)), "10.0.2.0/24", false),
    ]);
    assert_eq!(
        deny_first.allows(Ingress, (22, 22), &endpoint),
        AclVerdict::Denied {
            rule: Some(90),
            ports: (22, 22)
        }
    );
    // A deny for other addresses or ports does not touch this traffic.
    let elsewhere = acl(vec![
        entry(50, Ingress, Some((22, 22)), "192.168.0.0/16", false),
        entry(60, Ingress, Some((3389, 3389)), "0.0.0.0/0", false),
        entry(70, Ingress, Some((22, 22)), "10.0.0.0/8", true),
    ]);
    assert_eq!(
        elsewhere.allows(Ingress, (22, 22), &endpoint),
        AclVerdict::Allowed { rules: vec![70] }
    );
    // Nothing matching: the default entry denies.
    assert_eq!(
        acl(vec![]).allows(Egress, (22, 22), &endpoint),
        AclVerdict::Denied {
            rule: None,
            ports: (22, 22)
        }
    );
}

#[test]
fn ephemeral_ports_must_all_be_allowed_back() {
    use Direction::*;
    let endpoint = net("10.0.2.5/32");
    let split = acl(vec![
        entry(100, Egress, Some((1024, 30000)), "10.0.0.0/16", true),
        entry(110, Egress, Some((30001, 65535)), "0.0.0.0/0", true),
    ]);
    assert_eq!(
        split.allows(Egress, EPHEMERAL, &endpoint),
        AclVerdict::Allowed {
            rules: vec![100, 110]
        }
    );
    let gap = acl(vec![
        entry(100, Egress, Some((1024, 30000)), "10.0.0.0/16", true),
        entry(110, Egress, Some((40000, 65535)), "0.0.0.0/0", true),
    ]);
    assert_eq!(
        gap.allows(Egress, EPHEMERAL, &endpoint),
        AclVerdict::Denied {
            rule: None,
            ports: (30001, 39999)
        }
    );
    let deny_in_the_middle = acl(vec![
        entry(100, Egress, Some((1024, 30000)), "10.0.0.0/16", true),
        entry(105, Egress, Some((32768, 33000)), "10.0.2.0/24", false),
        entry(110, Egress, None, "0.0.0.0/0", true),
    ]);
    assert_eq!(
        deny_in_the_middle.allows(Egress, EPHEMERAL, &endpoint),
        AclVerdict::Denied {
            rule: Some(105),
            ports: (32768, 33000)
        }
    );
}

#[test]
fn an_allow_for_part_of_a_subnet_does_not_decide_for_all_of_it() {
    use Direction::*;
    let subnet = net("10.0.2.0/24");
    let half = acl(vec![
        entry(100, Ingress, Some((22, 22)), "10.0.2.0/25", true),
        entry(200, Ingress, Some((22, 22)), "10.0.2.128/25", false),
    ]);
    assert_eq!(
        half.allows(Ingress, (22, 22), &subnet),
        AclVerdict::Denied {
            rule: Some(200),
            ports: (22, 22)
        }
    );
}

#[test]
fn free_entry_numbers_come_before_the_denying_entry_or_after_the_rest() {
    use Direction::*;
    let a = acl(vec![
        entry(100, Ingress, None, "0.0.0.0/0", true),
        entry(99, Ingress, None, "0.0.0.0/0", false),
        entry(98, Egress, None, "0.0.0.0/0", false),
    ]);
    assert_eq!(a.free_number(Ingress, Some(100)), Some(98));
    assert_eq!(a.free_number(Ingress, None), Some(200));
    assert_eq!(a.free_number(Egress, Some(1)), None);
    assert_eq!(acl(vec![]).free_number(Egress, None), Some(100));
}
