//! `DescribeSecurityGroups` and `DescribeNetworkAcls`, and the groups that
//! `DescribeInstances` and `DescribeInstanceConnectEndpoints` now carry: what a
//! client explaining a blocked path reads, at AWS's element paths.

use super::*;
use crate::ec2_api::{Action, Fault};

const GROUPS: &str = "DescribeSecurityGroups";
const ACLS: &str = "DescribeNetworkAcls";

/// The demo world's groups, by the role they play.
const EICE_GROUP: &str = "sg-0a1b2c3d4e5f60051";
const INSTANCES_GROUP: &str = "sg-0a1b2c3d4e5f60052";
const OFFICE_GROUP: &str = "sg-0a1b2c3d4e5f60053";
const DEMO_ACL: &str = "acl-0a1b2c3d4e5f60061";

/// The `securityGroupInfo/item` whose `groupId` is `id`.
fn group<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Node<'a, 'i> {
    nodes(doc.root_element(), "securityGroupInfo/item")
        .into_iter()
        .find(|item| text(*item, "groupId") == Some(id))
        .unwrap_or_else(|| panic!("no group {id}"))
}

#[tokio::test]
async fn security_groups_carry_their_rules_in_ec2s_shape() {
    let sim = start_demo();
    let reply = client(&sim)
        .ok(Call::new(GROUPS).list("GroupId", &[EICE_GROUP, INSTANCES_GROUP, OFFICE_GROUP]))
        .await;
    let doc = reply.doc();
    let eice = group(&doc, EICE_GROUP);
    assert_eq!(text(eice, "ownerId"), Some("123456789012"));
    assert_eq!(text(eice, "groupName"), Some("eice"));
    assert_eq!(
        text(eice, "groupDescription"),
        Some("EC2 Instance Connect Endpoints")
    );
    assert_eq!(text(eice, "vpcId"), Some("vpc-0a1b2c3d4e5f60001"));
    assert!(nodes(eice, "ipPermissions/item").is_empty());
    let egress = nodes(eice, "ipPermissionsEgress/item");
    assert_eq!(egress.len(), 4);
    assert_eq!(text(egress[0], "ipProtocol"), Some("tcp"));
    assert_eq!(text(egress[0], "fromPort"), Some("22"));
    assert_eq!(text(egress[0], "toPort"), Some("22"));
    assert_eq!(texts(egress[0], "ipRanges/item/cidrIp"), ["10.0.0.0/16"]);
    assert_eq!(
        texts(egress[2], "ipv6Ranges/item/cidrIpv6"),
        ["fd00:10::/56"]
    );
    for empty in ["groups", "ipv6Ranges", "prefixListIds"] {
        assert_eq!(nodes(egress[0], empty).len(), 1, "{empty} is sent, empty");
        assert!(nodes(egress[0], &format!("{empty}/item")).is_empty());
    }
    let instances = group(&doc, INSTANCES_GROUP);
    let from_eice = nodes(instances, "ipPermissions/item");
    assert_eq!(texts(from_eice[1], "fromPort"), ["3389"]);
    assert_eq!(texts(from_eice[1], "groups/item/groupId"), [EICE_GROUP]);
    assert_eq!(texts(from_eice[1], "groups/item/userId"), ["123456789012"]);
    // An absent egress key is all traffic out: protocol -1 and no ports.
    let out = nodes(instances, "ipPermissionsEgress/item");
    assert_eq!(out.len(), 1);
    assert_eq!(text(out[0], "ipProtocol"), Some("-1"));
    assert_eq!(text(out[0], "fromPort"), None);
    assert_eq!(text(out[0], "toPort"), None);
    assert_eq!(texts(out[0], "ipRanges/item/cidrIp"), ["0.0.0.0/0"]);
    let office = group(&doc, OFFICE_GROUP);
    assert_eq!(
        texts(office, "ipPermissions/item/prefixListIds/item/prefixListId"),
        ["pl-0a1b2c3d4e5f60059"]
    );
    assert!(
        !texts(office, "ipPermissions/item/groups/item/groupId").contains(&EICE_GROUP),
        "locked-1's group does not admit the endpoints"
    );
}

#[tokio::test]
async fn every_vpc_has_a_default_group_listed_with_the_others() {
    let sim = start_demo();
    let client = client(&sim);
    let defaults = client
        .ok(Call::new(GROUPS).filter("group-name", &["default"]))
        .await;
    let vpcs = defaults.texts("securityGroupInfo/item/vpcId");
    assert_eq!(vpcs, ["vpc-0a1b2c3d4e5f60001", "vpc-0a1b2c3d4e5f60002"]);
    let doc = defaults.doc();
    let first = nodes(doc.root_element(), "securityGroupInfo/item")[0];
    let own_id = text(first, "groupId").unwrap();
    assert_eq!(
        texts(first, "ipPermissions/item/groups/item/groupId"),
        [own_id],
        "the default group admits its own members"
    );
    assert_eq!(texts(first, "ipPermissions/item/ipProtocol"), ["-1"]);
    // It can be asked for by id like any other.
    let by_id = client
        .ok(Call::new(GROUPS).list("GroupId", &[own_id]))
        .await;
    assert_eq!(by_id.text("securityGroupInfo/item/groupName"), "default");
    let vpc2 = client
        .ok(Call::new(GROUPS).filter("vpc-id", &["vpc-0a1b2c3d4e5f60002"]))
        .await;
    assert_eq!(vpc2.texts("securityGroupInfo/item").len(), 3);
}

#[tokio::test]
async fn an_unknown_group_id_is_invalid_group_not_found() {
    let sim = start_demo();
    let client = client(&sim);
    let reply = client
        .call(Call::new(GROUPS).list("GroupId", &[EICE_GROUP, "sg-0000000000000beef"]))
        .await;
    let (code, message, status) = reply.error();
    assert_eq!((code.as_str(), status), ("InvalidGroup.NotFound", 400));
    assert_eq!(
        message,
        "The security group 'sg-0000000000000beef' does not exist"
    );
    let reply = client
        .call(Call::new(GROUPS).list("GroupId", &["default"]))
        .await;
    assert_eq!(reply.error().0, "InvalidGroupId.Malformed");
    let reply = client
        .call(Call::new(GROUPS).filter("ip-permission.cidr", &["10.0.0.0/16"]))
        .await;
    assert_eq!(reply.error().0, "InvalidParameterValue");
}

#[tokio::test]
async fn security_groups_page_by_next_token_within_ec2s_range() {
    let sim = start(World::demo(), 1);
    let client = client(&sim);
    let pages = client.pages(Call::new(GROUPS)).await;
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|page| page.texts("securityGroupInfo/item/groupId"))
        .collect();
    // Five listed in the world, one synthesised default per VPC.
    assert_eq!(ids.len(), 7);
    assert_eq!(pages.len(), 7);
    assert_eq!(sim.calls(Action::DescribeSecurityGroups), 7);
    for bad in ["4", "1001"] {
        let reply = client
            .call(Call::new(GROUPS).param("MaxResults", bad))
            .await;
        let (code, message, _) = reply.error();
        assert_eq!(code, "InvalidParameterValue");
        assert!(message.contains("between 5 and 1000"), "{message}");
    }
}

#[tokio::test]
async fn network_acls_list_entries_numbers_and_associations_as_ec2_does() {
    let sim = start_demo();
    let reply = client(&sim)
        .ok(Call::new(ACLS).filter("association.subnet-id", &["subnet-0a1b2c3d4e5f60012"]))
        .await;
    assert_eq!(reply.texts("networkAclSet/item/networkAclId"), [DEMO_ACL]);
    let item = "networkAclSet/item";
    assert_eq!(
        reply.text(&format!("{item}/vpcId")),
        "vpc-0a1b2c3d4e5f60001"
    );
    assert_eq!(reply.text(&format!("{item}/default")), "true");
    assert_eq!(reply.text(&format!("{item}/ownerId")), "123456789012");
    let entry = format!("{item}/entrySet/item");
    assert_eq!(
        reply.texts(&format!("{entry}/ruleNumber")),
        [
            "100", "101", "32767", "32767", "100", "101", "32767", "32767"
        ]
    );
    assert_eq!(
        reply.texts(&format!("{entry}/egress")),
        [
            "true", "true", "true", "true", "false", "false", "false", "false"
        ]
    );
    assert_eq!(
        reply.texts(&format!("{entry}/ruleAction"))[..3],
        ["allow", "allow", "deny"]
    );
    assert!(
        reply
            .texts(&format!("{entry}/protocol"))
            .iter()
            .all(|p| p == "-1")
    );
    assert_eq!(reply.texts(&format!("{entry}/cidrBlock")), ["0.0.0.0/0"; 4]);
    assert_eq!(reply.texts(&format!("{entry}/ipv6CidrBlock")), ["::/0"; 4]);
    let association = format!("{item}/associationSet/item");
    assert_eq!(
        reply.texts(&format!("{association}/subnetId")),
        ["subnet-0a1b2c3d4e5f60011", "subnet-0a1b2c3d4e5f60012"]
    );
    assert_eq!(
        reply.texts(&format!("{association}/networkAclId")),
        [DEMO_ACL, DEMO_ACL]
    );
    let ids = reply.texts(&format!("{association}/networkAclAssociationId"));
    assert!(
        ids[0].starts_with("aclassoc-") && ids[0] != ids[1],
        "{ids:?}"
    );
}

/// A world whose only ACL has numbered tcp entries out of order.
const ACL_WORLD: &str = r#"
[[network_acl]]
id = "acl-0123456789abcdef0"
vpc = "vpc-0a1b2c3d4e5f60001"
subnets = ["subnet-0a1b2c3d4e5f60011"]
entries = [
  { rule_number = 200, egress = false, protocol = "-1", action = "deny", cidr = "0.0.0.0/0" },
  { rule_number = 100, egress = false, protocol = "tcp", action = "allow", cidr = "10.0.0.0/16", from_port = 22, to_port = 22 },
  { rule_number = 110, egress = true, protocol = "udp", action = "allow", cidr = "10.0.0.0/16", from_port = 1024, to_port = 65535 },
]
"#;

#[tokio::test]
async fn acl_entries_report_protocol_numbers_and_port_ranges() {
    let world = World::from_toml(&format!("{MULTI_CIDR_WORLD}{ACL_WORLD}")).unwrap();
    let sim = start(world, 1000);
    let client = client_in(&sim, "eu-west-1");
    let reply = client
        .ok(Call::new(ACLS).list("NetworkAclId", &["acl-0123456789abcdef0"]))
        .await;
    let doc = reply.doc();
    let entries = nodes(doc.root_element(), "networkAclSet/item/entrySet/item");
    let summary: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                text(*e, "ruleNumber").unwrap(),
                text(*e, "protocol").unwrap(),
                text(*e, "portRange/from"),
                text(*e, "portRange/to"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("110", "17", Some("1024"), Some("65535")),
            ("32767", "-1", None, None),
            ("32767", "-1", None, None),
            ("100", "6", Some("22"), Some("22")),
            ("200", "-1", None, None),
            ("32767", "-1", None, None),
            ("32767", "-1", None, None),
        ]
    );
    assert_eq!(reply.text("networkAclSet/item/default"), "false");
    // The synthesised default ACL has no subnet left to apply to.
    let defaults = client
        .ok(Call::new(ACLS).filter("default", &["true"]))
        .await;
    assert_eq!(defaults.texts("networkAclSet/item").len(), 1);
    assert!(
        defaults
            .texts("networkAclSet/item/associationSet/item")
            .is_empty()
    );
    let reply = client
        .call(Call::new(ACLS).list("NetworkAclId", &["acl-0000000000000beef"]))
        .await;
    let (code, message, _) = reply.error();
    assert_eq!(code, "InvalidNetworkAclID.NotFound");
    assert!(message.contains("'acl-0000000000000beef'"), "{message}");
}

#[tokio::test]
async fn network_acls_page_by_next_token() {
    let sim = start(World::demo(), 1);
    let pages = client(&sim).pages(Call::new(ACLS)).await;
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|page| page.texts("networkAclSet/item/networkAclId"))
        .collect();
    assert_eq!(ids.len(), 2, "the demo's own and vpc-…0002's synthesised");
    assert_eq!(ids[0], DEMO_ACL);
    assert_eq!(sim.calls(Action::DescribeNetworkAcls), 2);
    let by_vpc = client(&sim)
        .ok(Call::new(ACLS).filter("vpc-id", &["vpc-0a1b2c3d4e5f60002"]))
        .await;
    assert_eq!(
        by_vpc.texts("networkAclSet/item/associationSet/item/subnetId"),
        ["subnet-0a1b2c3d4e5f60031"]
    );
}

#[tokio::test]
async fn instances_and_endpoints_name_their_groups() {
    let sim = start_demo();
    let client = client(&sim);
    let locked = client
        .ok(Call::new("DescribeInstances").filter("tag:Name", &["locked-1"]))
        .await;
    let instance = "reservationSet/item/instancesSet/item";
    assert_eq!(
        locked.texts(&format!("{instance}/groupSet/item/groupId")),
        [OFFICE_GROUP]
    );
    assert_eq!(
        locked.texts(&format!("{instance}/groupSet/item/groupName")),
        ["office-only"]
    );
    assert_eq!(
        locked.texts(&format!(
            "{instance}/networkInterfaceSet/item/groupSet/item/groupId"
        )),
        [OFFICE_GROUP]
    );
    let by_group = client
        .ok(Call::new("DescribeInstances").filter("instance.group-id", &[INSTANCES_GROUP]))
        .await;
    assert_eq!(by_group.texts(&format!("{instance}/instanceId")).len(), 7);
    let endpoint = client
        .ok(Call::new("DescribeInstanceConnectEndpoints")
            .list("InstanceConnectEndpointId", &["eice-0a1b2c3d4e5f60041"]))
        .await;
    let item = "instanceConnectEndpointSet/item";
    assert_eq!(
        endpoint.texts(&format!("{item}/securityGroupIdSet/item")),
        ["sg-0a1b2c3d4e5f60054"]
    );
    let eni = endpoint.texts(&format!("{item}/networkInterfaceIdSet/item"));
    assert!(eni.len() == 1 && eni[0].starts_with("eni-"), "{eni:?}");
    assert_eq!(endpoint.text(&format!("{item}/preserveClientIp")), "false");
}

#[tokio::test]
async fn an_old_world_reports_its_vpcs_default_group_everywhere() {
    let sim = start(World::from_toml(MULTI_CIDR_WORLD).unwrap(), 1000);
    let client = client_in(&sim, "eu-west-1");
    let groups = client.ok(Call::new(GROUPS)).await;
    let default = groups.text("securityGroupInfo/item/groupId");
    assert_eq!(groups.text("securityGroupInfo/item/groupName"), "default");
    let instances = client.ok(Call::new("DescribeInstances")).await;
    assert_eq!(
        instances.texts("reservationSet/item/instancesSet/item/groupSet/item/groupId"),
        std::slice::from_ref(&default)
    );
    let endpoints = client
        .ok(Call::new("DescribeInstanceConnectEndpoints"))
        .await;
    assert_eq!(
        endpoints.texts("instanceConnectEndpointSet/item/securityGroupIdSet/item"),
        [default]
    );
}

#[tokio::test]
async fn describe_security_groups_can_be_denied_alone() {
    let sim = start_demo();
    let client = client(&sim);
    sim.fail_always(Action::DescribeSecurityGroups, Fault::AccessDenied);
    let (code, message, status) = client.call(Call::new(GROUPS)).await.error();
    assert_eq!((code.as_str(), status), ("UnauthorizedOperation", 403));
    assert!(
        message.ends_with("allows the ec2:DescribeSecurityGroups action"),
        "{message}"
    );
    client.ok(Call::new(ACLS)).await;
    client.ok(Call::new("DescribeInstances")).await;
    sim.fail_next(Action::DescribeNetworkAcls, Fault::RequestLimitExceeded, 1);
    let (code, _, status) = client.call(Call::new(ACLS)).await.error();
    assert_eq!((code.as_str(), status), ("RequestLimitExceeded", 503));
    client.ok(Call::new(ACLS)).await;
    sim.clear_faults();
    client.ok(Call::new(GROUPS)).await;
    assert_eq!(sim.calls(Action::DescribeSecurityGroups), 2);
    assert_eq!(sim.calls(Action::DescribeNetworkAcls), 3);
}
