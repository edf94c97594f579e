//! Each kind of rule on its own; `paths` has whole paths through small worlds.

mod paths;

use std::borrow::Cow;
use std::net::IpAddr;

use super::*;
use crate::world::{AclAction, AclEntry, NetworkAcl, Protocol, SecurityGroup, SgRule};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn tcp(from: i32, to: i32) -> SgRule {
    SgRule {
        protocol: Protocol::Tcp,
        from_port: Some(from),
        to_port: Some(to),
        ..SgRule::default()
    }
}

fn peer(addr: &str) -> Peer<'static> {
    Peer {
        addr: ip(addr),
        groups: &[],
    }
}

#[test]
fn an_ipv4_block_matches_the_addresses_inside_it_only() {
    let rule = SgRule {
        cidr: Some("10.0.0.0/16".parse().unwrap()),
        ..tcp(22, 22)
    };
    assert!(rule_allows(&rule, 22, &peer("10.0.200.7")));
    assert!(!rule_allows(&rule, 22, &peer("10.1.0.7")));
    assert!(!rule_allows(&rule, 22, &peer("fd00:10::7")), "other family");
}

#[test]
fn an_ipv6_block_matches_ipv6_addresses_inside_it_only() {
    let rule = SgRule {
        cidr_ipv6: Some("fd00:10::/56".parse().unwrap()),
        ..tcp(22, 22)
    };
    assert!(rule_allows(&rule, 22, &peer("fd00:10::20")));
    assert!(!rule_allows(&rule, 22, &peer("fd00:11::20")));
    assert!(!rule_allows(&rule, 22, &peer("10.0.1.20")), "other family");
}

#[test]
fn a_group_reference_matches_any_group_of_the_peer() {
    let rule = SgRule {
        group: Some("sg-0000000000000eeee".into()),
        ..tcp(22, 22)
    };
    let groups = ["sg-00000000000000001", "sg-0000000000000eeee"];
    let member = Peer {
        addr: ip("192.0.2.1"),
        groups: &groups,
    };
    assert!(rule_allows(&rule, 22, &member));
    let stranger = Peer {
        addr: ip("10.0.1.5"),
        groups: &groups[..1],
    };
    assert!(
        !rule_allows(&rule, 22, &stranger),
        "the address is no group"
    );
}

#[test]
fn a_port_range_is_inclusive_at_both_ends() {
    let rule = SgRule {
        cidr: Some("0.0.0.0/0".parse().unwrap()),
        ..tcp(20, 22)
    };
    for (port, allowed) in [
        (19, false),
        (20, true),
        (22, true),
        (23, false),
        (3389, false),
    ] {
        assert_eq!(
            rule_allows(&rule, port, &peer("10.0.1.5")),
            allowed,
            "{port}"
        );
    }
    let udp = SgRule {
        protocol: Protocol::Udp,
        ..rule.clone()
    };
    assert!(!rule_allows(&udp, 22, &peer("10.0.1.5")), "a tunnel is tcp");
}

#[test]
fn all_traffic_matches_every_port() {
    let rule = SgRule {
        cidr: Some("10.0.0.0/8".parse().unwrap()),
        ..SgRule::default()
    };
    assert_eq!(rule.protocol, Protocol::All);
    assert!(rule_allows(&rule, 22, &peer("10.9.9.9")));
    assert!(rule_allows(&rule, 3389, &peer("10.9.9.9")));
}

#[test]
fn a_prefix_list_never_matches_in_the_simulator() {
    let rule = SgRule {
        prefix_list: Some("pl-0123456789abcdef0".into()),
        ..SgRule::default()
    };
    assert!(!rule_allows(&rule, 22, &peer("10.0.1.5")));
}

#[test]
fn any_group_allowing_suffices() {
    let group = |id: &str, ingress| {
        Cow::Owned(SecurityGroup {
            id: id.into(),
            vpc: "vpc-00000001".into(),
            name: id.into(),
            description: None,
            ingress,
            egress: Vec::new(),
        })
    };
    let allow = SgRule {
        cidr: Some("10.0.1.0/24".parse().unwrap()),
        ..tcp(22, 22)
    };
    let groups = [
        group("sg-00000001", Vec::new()),
        group("sg-00000002", vec![allow]),
    ];
    assert!(groups_allow(&groups, false, 22, &peer("10.0.1.9")));
    assert!(
        !groups_allow(&groups, true, 22, &peer("10.0.1.9")),
        "egress"
    );
    assert!(!groups_allow(&groups[..1], false, 22, &peer("10.0.1.9")));
}

fn entry(rule_number: u16, action: AclAction, cidr: &str, ports: Option<(u16, u16)>) -> AclEntry {
    let (cidr, cidr_ipv6) = if cidr.contains(':') {
        (None, Some(cidr.parse().unwrap()))
    } else {
        (Some(cidr.parse().unwrap()), None)
    };
    AclEntry {
        rule_number,
        egress: false,
        protocol: if ports.is_some() {
            Protocol::Tcp
        } else {
            Protocol::All
        },
        action,
        cidr,
        cidr_ipv6,
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
    }
}

fn acl(entries: Vec<AclEntry>) -> NetworkAcl {
    NetworkAcl {
        id: "acl-00000001".into(),
        vpc: "vpc-00000001".into(),
        subnets: Vec::new(),
        default: false,
        entries,
    }
}

#[test]
fn acl_entries_apply_in_rule_number_order_whatever_their_listing() {
    use AclAction::*;
    // Listed out of order: the deny (90) comes before the allow (100).
    let acl = acl(vec![
        entry(100, Allow, "0.0.0.0/0", None),
        entry(90, Deny, "10.0.1.0/24", Some((22, 22))),
    ]);
    assert_eq!(acl_allows(&acl, false, 22..=22, ip("10.0.1.5")), Err(90));
    assert_eq!(acl_allows(&acl, false, 3389..=3389, ip("10.0.1.5")), Ok(()));
    assert_eq!(acl_allows(&acl, false, 22..=22, ip("10.0.2.5")), Ok(()));
}

#[test]
fn an_acl_denies_by_default_what_no_entry_matches() {
    let acl = acl(vec![entry(
        100,
        AclAction::Allow,
        "10.0.0.0/16",
        Some((22, 22)),
    )]);
    assert_eq!(acl_allows(&acl, false, 22..=22, ip("10.0.1.5")), Ok(()));
    let denied = Err(IMPLICIT_DENY_RULE);
    assert_eq!(acl_allows(&acl, false, 3389..=3389, ip("10.0.1.5")), denied);
    assert_eq!(acl_allows(&acl, false, 22..=22, ip("192.0.2.1")), denied);
    assert_eq!(acl_allows(&acl, false, 22..=22, ip("fd00:10::5")), denied);
    assert_eq!(acl_allows(&acl, true, 22..=22, ip("10.0.1.5")), denied);
}

#[test]
fn an_acl_must_allow_every_ephemeral_port_for_replies() {
    use AclAction::*;
    let partial = acl(vec![entry(100, Allow, "0.0.0.0/0", Some((32768, 65535)))]);
    assert_eq!(
        acl_allows(&partial, false, EPHEMERAL_PORTS, ip("10.0.1.5")),
        Err(IMPLICIT_DENY_RULE)
    );
    let holed = acl(vec![
        entry(100, Deny, "0.0.0.0/0", Some((5000, 5000))),
        entry(110, Allow, "0.0.0.0/0", Some((1024, 65535))),
    ]);
    assert_eq!(
        acl_allows(&holed, false, EPHEMERAL_PORTS, ip("10.0.1.5")),
        Err(100)
    );
    let full = acl(vec![entry(100, Allow, "0.0.0.0/0", Some((1024, 65535)))]);
    assert_eq!(
        acl_allows(&full, false, EPHEMERAL_PORTS, ip("10.0.1.5")),
        Ok(())
    );
}
