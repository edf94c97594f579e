//! Reading EC2's answers into the proxy's plain data: instances, a VPC's
//! address blocks, endpoints.

use ipnet::IpNet;
use roxmltree::Node;

use super::{EndpointInfo, Family, InstanceInfo, xml};

/// What the client reads out of one answer, whatever the action: for the
/// fuzz target (`fuzz/fuzz_targets/ec2_answer.rs`), which feeds arbitrary
/// bytes to the readers a call would use without a call to carry them.
#[derive(Debug, Default)]
pub struct Answer {
    /// `DescribeInstances`' items.
    pub instances: Vec<InstanceInfo>,
    /// `DescribeVpcs`' blocks, each with its VPC's id.
    pub vpc_blocks: Vec<(IpNet, String)>,
    /// `DescribeInstanceConnectEndpoints`' items.
    pub endpoints: Vec<EndpointInfo>,
    /// The page's `nextToken`.
    pub next_token: Option<String>,
    /// The error document's code, message and request id, read as a failed
    /// call's body is.
    pub error: Option<(String, String, Option<String>)>,
}

/// `body` as each reader of [`super::Ec2`] takes it (lossy UTF-8 first, as
/// the query does), or the words a refused document gets.
pub fn answer(body: &[u8]) -> Result<Answer, String> {
    let text = String::from_utf8_lossy(body);
    let error = xml::error_document(&text).map(|e| (e.code, e.message, e.request_id));
    let doc = xml::parse(&text)?;
    let root = doc.root_element();
    Ok(Answer {
        instances: instances_in(root).collect(),
        vpc_blocks: xml::items(root, "vpcSet").flat_map(vpc_blocks).collect(),
        endpoints: xml::items(root, "instanceConnectEndpointSet")
            .filter_map(endpoint_info)
            .collect(),
        next_token: xml::text(root, "nextToken").map(str::to_owned),
        error,
    })
}

/// Every instance of a `DescribeInstances` answer, each knowing its
/// account (its reservation's owner).
pub(super) fn instances_in<'a>(root: Node<'a, 'a>) -> impl Iterator<Item = InstanceInfo> + 'a {
    xml::items(root, "reservationSet").flat_map(|reservation| {
        let account = xml::text(reservation, "ownerId");
        xml::items(reservation, "instancesSet").map(move |i| instance_info(i, account))
    })
}

fn instance_info(i: Node<'_, '_>, account: Option<&str>) -> InstanceInfo {
    let owned = |path| xml::text(i, path).map(str::to_owned);
    InstanceInfo {
        account: account.map(str::to_owned),
        id: owned("instanceId").unwrap_or_default(),
        state: owned("instanceState/name").unwrap_or_else(|| "unknown".into()),
        private_ip: xml::text(i, "privateIpAddress").and_then(|ip| ip.parse().ok()),
        ipv6: xml::text(i, "ipv6Address").and_then(|ip| ip.parse().ok()),
        vpc_id: owned("vpcId"),
        subnet_id: owned("subnetId"),
        availability_zone: owned("placement/availabilityZone"),
        name: xml::items(i, "tagSet")
            .find(|t| xml::text(*t, "key") == Some("Name"))
            .and_then(|t| at_or_empty(t, "value")),
        security_groups: xml::items(i, "groupSet")
            .filter_map(|g| xml::text(g, "groupId"))
            .map(str::to_owned)
            .collect(),
        platform: owned("platform"),
        key_name: owned("keyName"),
    }
}

/// A tag's value, which may be empty (`<value/>`) but is still a value.
fn at_or_empty(node: Node<'_, '_>, path: &str) -> Option<String> {
    xml::at(node, path).map(|n| n.text().unwrap_or_default().to_owned())
}

/// A VPC's associated blocks, each with the VPC's id.
pub(super) fn vpc_blocks(vpc: Node<'_, '_>) -> Vec<(IpNet, String)> {
    let Some(id) = xml::text(vpc, "vpcId") else {
        return Vec::new();
    };
    let v4 = xml::items(vpc, "cidrBlockAssociationSet")
        .filter(|a| associated(*a, "cidrBlockState/state"))
        .filter_map(|a| xml::text(a, "cidrBlock"));
    let v6 = xml::items(vpc, "ipv6CidrBlockAssociationSet")
        .filter(|a| associated(*a, "ipv6CidrBlockState/state"))
        .filter_map(|a| xml::text(a, "ipv6CidrBlock"));
    let mut blocks: Vec<&str> = v4.chain(v6).collect();
    if blocks.is_empty() {
        blocks.extend(xml::text(vpc, "cidrBlock"));
    }
    blocks
        .into_iter()
        .filter_map(|b| b.parse().ok())
        .map(|net| (net, id.to_owned()))
        .collect()
}

/// Whether a CIDR block association (a VPC's or a subnet's) is in force: its
/// state at `path` is `associated`, or not given. A block being associated,
/// being released or whose association failed routes nothing yet or any more,
/// and an address in it must not be placed in that VPC.
pub(super) fn associated(association: Node<'_, '_>, path: &str) -> bool {
    xml::text(association, path).is_none_or(|state| state == "associated")
}

pub(super) fn endpoint_info(e: Node<'_, '_>) -> Option<EndpointInfo> {
    let owned = |path| xml::text(e, path).map(str::to_owned);
    Some(EndpointInfo {
        id: owned("instanceConnectEndpointId")?,
        vpc_id: owned("vpcId")?,
        // The top-level names are the IPv4 ones; `publicDnsNames/ipv4` repeats
        // them, and stands in should the older fields ever be left out.
        dns_name: owned("dnsName").or_else(|| owned("publicDnsNames/ipv4/dnsName"))?,
        subnet_id: owned("subnetId"),
        availability_zone: owned("availabilityZone"),
        fips_dns_name: owned("fipsDnsName").or_else(|| owned("publicDnsNames/ipv4/fipsDnsName")),
        dualstack_dns_name: owned("publicDnsNames/dualstack/dnsName"),
        dualstack_fips_dns_name: owned("publicDnsNames/dualstack/fipsDnsName"),
        family: match xml::text(e, "ipAddressType") {
            Some("dualstack") => Family::Dualstack,
            Some("ipv6") => Family::Ipv6,
            _ => Family::Ipv4,
        },
        state: owned("state").unwrap_or_else(|| "unknown".into()),
        security_groups: xml::texts(e, "securityGroupIdSet"),
        preserve_client_ip: xml::text(e, "preserveClientIp") == Some("true"),
    })
}
