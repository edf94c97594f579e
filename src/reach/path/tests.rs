//! A healthy path, then each way a path breaks, with the fix it prints.

use super::super::{AclEntry, Permission, Ports, Protocol};
use super::*;

const ENDPOINT_GROUP: &str = "sg-0eice";
const APP_GROUP: &str = "sg-0app";

fn sg_rule(ports: Ports, peer: Peer) -> Permission {
    Permission {
        protocol: if ports.is_some() {
            Protocol::Number(6)
        } else {
            Protocol::All
        },
        ports,
        peers: vec![peer],
    }
}

fn allow_all(number: u16, direction: Direction) -> AclEntry {
    AclEntry {
        number,
        direction,
        protocol: Protocol::All,
        ports: None,
        cidr: "0.0.0.0/0".parse().unwrap(),
        allow: true,
    }
}

/// The healthy path: the endpoint in subnet-e, the instance in subnet-i,
/// the endpoint's group out to the app group, the app group in from it,
/// both ACLs open.
fn healthy() -> Path {
    let open_acl = |id: &str| NetworkAcl {
        id: id.into(),
        entries: vec![
            allow_all(100, Direction::Ingress),
            allow_all(100, Direction::Egress),
        ],
    };
    Path {
        region: "eu-west-1".into(),
        port: 22,
        endpoint: Endpoint {
            role: Role::Endpoint,
            id: "eice-0123".into(),
            state: "create-complete".into(),
            usable: true,
            family: "ipv4".into(),
            groups: vec![ENDPOINT_GROUP.into()],
            preserve_client_ip: false,
            subnet: Some("subnet-e".into()),
            net: "10.0.2.5/32".parse().unwrap(),
        },
        instance: Instance {
            id: "i-0abc".into(),
            state: "running".into(),
            addr: "10.0.1.10".parse().unwrap(),
            groups: vec![APP_GROUP.into()],
            subnet: Some("subnet-i".into()),
        },
        network: Network {
            groups: vec![
                SecurityGroup {
                    id: ENDPOINT_GROUP.into(),
                    ingress: vec![],
                    egress: vec![sg_rule(Some((22, 22)), Peer::Group(APP_GROUP.into()))],
                },
                SecurityGroup {
                    id: APP_GROUP.into(),
                    ingress: vec![sg_rule(Some((22, 22)), Peer::Group(ENDPOINT_GROUP.into()))],
                    egress: vec![sg_rule(None, Peer::Cidr("0.0.0.0/0".parse().unwrap()))],
                },
            ],
            acls: HashMap::from([
                ("subnet-e".into(), open_acl("acl-e")),
                ("subnet-i".into(), open_acl("acl-i")),
            ]),
        },
    }
}

/// The one failing check of `path`, which must be the only one.
fn the_failure(path: &Path) -> Check {
    let failed: Vec<Check> = check(path)
        .into_iter()
        .filter(|c| c.status != Status::Ok)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    failed.into_iter().next().unwrap()
}

fn group_mut<'a>(path: &'a mut Path, id: &str) -> &'a mut SecurityGroup {
    path.network.groups.iter_mut().find(|g| g.id == id).unwrap()
}

#[test]
fn a_healthy_path_passes_every_check() {
    let checks = check(&healthy());
    assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:#?}");
    assert_eq!(checks.len(), 9);
    assert_eq!(
        checks[4].to_string(),
        "✓ instance groups sg-0app inbound tcp 22: sg-0app allows tcp 22 with sg-0eice"
    );
}

#[test]
fn the_instance_group_lacking_the_port_names_the_ingress_rule_to_add() {
    let mut path = healthy();
    group_mut(&mut path, APP_GROUP).ingress[0].ports = Some((3389, 3389));
    let failure = the_failure(&path);
    assert_eq!(failure.what, "instance groups sg-0app inbound tcp 22");
    assert_eq!(
        failure.fix.as_deref(),
        Some(
            "aws ec2 authorize-security-group-ingress --region eu-west-1 --group-id sg-0app \
             --protocol tcp --port 22 --source-group sg-0eice"
        )
    );
}

#[test]
fn the_endpoint_group_lacking_egress_names_the_egress_rule_to_add() {
    let mut path = healthy();
    group_mut(&mut path, ENDPOINT_GROUP).egress.clear();
    let failure = the_failure(&path);
    assert_eq!(failure.what, "endpoint groups sg-0eice outbound tcp 22");
    assert!(
        failure.fix.as_deref().unwrap().starts_with(
            "aws ec2 authorize-security-group-egress --region eu-west-1 --group-id sg-0eice \
             --ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,UserIdGroupPairs=[{GroupId=sg-0app}]'"
        ),
        "{failure}"
    );
}

#[test]
fn preserve_client_ip_with_only_a_group_rule_fails_with_the_reason() {
    let mut path = healthy();
    path.endpoint.preserve_client_ip = true;
    let failure = the_failure(&path);
    assert!(
        failure.detail.contains("Preserve Client IP is on"),
        "{failure}"
    );
    assert!(
        failure
            .fix
            .as_deref()
            .unwrap()
            .contains("--cidr YOUR.PUBLIC.IP/32"),
        "{failure}"
    );
    // A CIDR rule may admit the client: unknown, not failed.
    group_mut(&mut path, APP_GROUP).ingress.push(sg_rule(
        Some((22, 22)),
        Peer::Cidr("203.0.113.0/24".parse().unwrap()),
    ));
    let checks = check(&path);
    assert!(
        checks.iter().all(|c| c.status != Status::Fail),
        "{checks:#?}"
    );
    assert!(checks.iter().any(|c| c.status == Status::Unknown));
}

#[test]
fn an_acl_denying_the_port_in_names_an_entry_before_the_deny() {
    let mut path = healthy();
    path.network
        .acls
        .get_mut("subnet-i")
        .unwrap()
        .entries
        .push(AclEntry {
            number: 90,
            direction: Direction::Ingress,
            protocol: Protocol::Number(6),
            ports: Some((22, 22)),
            cidr: "10.0.0.0/8".parse().unwrap(),
            allow: false,
        });
    let failure = the_failure(&path);
    assert_eq!(failure.what, "ACL of subnet-i in from 10.0.2.5/32 tcp 22");
    assert_eq!(failure.detail, "acl-i denies tcp 22 by rule 90");
    assert_eq!(
        failure.fix.as_deref(),
        Some(
            "aws ec2 create-network-acl-entry --region eu-west-1 --network-acl-id acl-i \
             --ingress --rule-number 89 --protocol tcp --port-range From=22,To=22 --cidr-block \
             10.0.2.5/32 --rule-action allow"
        )
    );
}

#[test]
fn an_acl_without_ephemeral_ports_out_fails_on_the_return_traffic() {
    let mut path = healthy();
    let acl = path.network.acls.get_mut("subnet-i").unwrap();
    acl.entries.retain(|e| e.direction == Direction::Ingress);
    acl.entries.push(AclEntry {
        number: 100,
        direction: Direction::Egress,
        protocol: Protocol::Number(6),
        ports: Some((443, 443)),
        cidr: "0.0.0.0/0".parse().unwrap(),
        allow: true,
    });
    let failure = the_failure(&path);
    assert_eq!(
        failure.what,
        "ACL of subnet-i out to 10.0.2.5/32 tcp 1024-65535"
    );
    assert!(
        failure.detail.ends_with("by its default rule (*)"),
        "{failure}"
    );
    assert!(
        failure
            .fix
            .as_deref()
            .unwrap()
            .contains("--egress --rule-number 200 --protocol tcp --port-range From=1024,To=65535"),
        "{failure}"
    );
}

#[test]
fn a_shared_subnet_has_no_acl_between() {
    let mut path = healthy();
    path.endpoint.subnet = Some("subnet-i".into());
    path.network.acls.clear();
    let checks = check(&path);
    assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:#?}");
    assert!(
        checks
            .last()
            .unwrap()
            .detail
            .contains("no ACL lies between")
    );
}

#[test]
fn states_and_address_families_fail_before_any_rule() {
    let mut stopped = healthy();
    stopped.instance.state = "stopped".into();
    assert_eq!(
        the_failure(&stopped).fix.as_deref(),
        Some("aws ec2 start-instances --region eu-west-1 --instance-ids i-0abc")
    );
    let mut creating = healthy();
    creating.endpoint.state = "create-in-progress".into();
    creating.endpoint.usable = false;
    assert!(
        the_failure(&creating)
            .detail
            .starts_with("create-in-progress")
    );
    let mut v6 = healthy();
    v6.instance.addr = "fd00::10".parse().unwrap();
    let failures: Vec<Check> = check(&v6)
        .into_iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    assert_eq!(failures[0].what, "address family (fd00::10)");
    assert!(
        failures[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("--ip-address-type dualstack"),
        "{}",
        failures[0]
    );
}
