//! The endpoint choice, a route's errors and who answered a lookup.

use super::*;
use crate::reply::Reply;

#[test]
fn cache_answers_are_hits_api_answers_misses_and_routes_no_lookup() {
    let lookups = vec![
        ("route", Source::Config),
        ("vpc cidrs", Source::Api),
        ("endpoints", Source::Cache),
    ];
    let counted: Vec<_> = cache_lookups(&lookups).collect();
    assert_eq!(
        counted,
        [
            ("route", None),
            ("vpc cidrs", Some(false)),
            ("endpoints", Some(true))
        ]
    );
}

fn endpoint(id: &str, subnet: &str, az: &str) -> Arc<EndpointInfo> {
    Arc::new(EndpointInfo {
        id: id.into(),
        vpc_id: "vpc-1".into(),
        subnet_id: Some(subnet.into()),
        availability_zone: Some(az.into()),
        dns_name: format!("{id}.example"),
        fips_dns_name: None,
        dualstack_dns_name: None,
        dualstack_fips_dns_name: None,
        family: Family::Ipv4,
        state: "create-complete".into(),
        security_groups: Vec::new(),
        preserve_client_ip: false,
    })
}

fn instance(subnet: &str, az: &str) -> InstanceInfo {
    InstanceInfo {
        id: "i-1".into(),
        state: "running".into(),
        private_ip: Some("10.0.0.1".parse().unwrap()),
        ipv6: None,
        vpc_id: Some("vpc-1".into()),
        subnet_id: Some(subnet.into()),
        availability_zone: Some(az.into()),
        name: None,
        account: None,
        security_groups: Vec::new(),
        platform: None,
        key_name: None,
    }
}

#[test]
fn the_instance_subnet_then_its_zone_then_any() {
    let all = [
        endpoint("a", "s1", "z1"),
        endpoint("b", "s2", "z2"),
        endpoint("c", "s3", "z2"),
    ];
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    assert_eq!(
        choose(&all, ip, Some(&instance("s3", "z2"))).unwrap().id,
        "c"
    );
    assert_eq!(
        choose(&all, ip, Some(&instance("s9", "z2"))).unwrap().id,
        "b"
    );
    assert_eq!(
        choose(&all, ip, Some(&instance("s9", "z9"))).unwrap().id,
        "a"
    );
    assert_eq!(choose(&all, ip, None).unwrap().id, "a");
}

#[test]
fn ipv6_takes_a_dualstack_endpoint_or_says_why_not() {
    let v4 = endpoint("v4", "s1", "z1");
    let mut dual = (*endpoint("dual", "s2", "z2")).clone();
    dual.family = Family::Dualstack;
    let ip: IpAddr = "fd00::1".parse().unwrap();
    assert_eq!(
        choose(&[v4.clone(), Arc::new(dual)], ip, None).unwrap().id,
        "dual"
    );
    let err = choose(&[v4], ip, None).unwrap_err();
    assert_eq!(err.reply(), Reply::AddressTypeNotSupported);
    assert!(
        err.to_string().contains("its IpAddressType is ipv4"),
        "{err}"
    );
}

#[test]
fn a_stopped_instance_says_its_state() {
    let mut i = instance("s1", "z1");
    i.state = "stopped".into();
    let err = running_address(&i).unwrap_err();
    assert_eq!(
        err.to_string(),
        "instance i-1 is stopped, not running: start it first"
    );
    assert_eq!(err.reply(), Reply::HostUnreachable);
}

#[test]
fn several_vpcs_say_how_to_pin_one() {
    let err = ResolveError::SeveralVpcs {
        ip: "10.0.1.10".parse().unwrap(),
        vpcs: vec![
            ("vpc-a".into(), "us-east-1".into()),
            ("vpc-b".into(), "us-east-1".into()),
        ],
    };
    let text = err.to_string();
    assert!(
        text.contains("vpc-a, vpc-b")
            && text.contains("[[route]] cidr = \"10.0.1.10/32\" vpc = \"vpc-a\""),
        "{text}"
    );
}
