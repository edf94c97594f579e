//! The rules between an endpoint and an instance, as the EC2 API describes
//! them: security groups, network ACLs and subnet blocks, read into
//! [`crate::reach`]'s types for `doctor` and for a refused tunnel's hint.
//!
//! Each call needs its own permission (`ec2:DescribeSecurityGroups`,
//! `ec2:DescribeNetworkAcls`, `ec2:DescribeSubnets`); a denial comes back
//! as the [`AwsError`] that names it, so the checks can say what would let
//! them look.

use std::collections::HashMap;

use ipnet::IpNet;
use roxmltree::Node;

use super::{AwsError, Ec2, filter, filter_params, xml};
use crate::reach::{
    AclEntry, Direction, NetworkAcl, Peer, Permission, Ports, Protocol, SecurityGroup,
};

/// A subnet's address blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetBlocks {
    pub id: String,
    pub ipv4: Option<IpNet>,
    pub ipv6: Vec<IpNet>,
}

impl Ec2 {
    /// The security groups with these ids (all pages).
    pub async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>, AwsError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params = filter_params(&[filter("group-id", ids.iter().cloned())]);
        let mut found = Vec::new();
        self.query
            .pages("DescribeSecurityGroups", params, |root| {
                found.extend(xml::items(root, "securityGroupInfo").filter_map(security_group));
            })
            .await?;
        Ok(found)
    }

    /// The network ACL of each of these subnets, by subnet id.
    pub async fn network_acls(
        &self,
        subnets: &[String],
    ) -> Result<HashMap<String, NetworkAcl>, AwsError> {
        if subnets.is_empty() {
            return Ok(HashMap::new());
        }
        let params = filter_params(&[filter("association.subnet-id", subnets.iter().cloned())]);
        let mut found = HashMap::new();
        self.query
            .pages("DescribeNetworkAcls", params, |root| {
                for acl in xml::items(root, "networkAclSet") {
                    let Some(parsed) = network_acl(acl) else {
                        continue;
                    };
                    for subnet in xml::items(acl, "associationSet")
                        .filter_map(|a| xml::text(a, "subnetId"))
                        .filter(|s| subnets.iter().any(|want| want == s))
                    {
                        found.insert(subnet.to_owned(), parsed.clone());
                    }
                }
            })
            .await?;
        Ok(found)
    }

    /// A subnet's blocks, or `None` when EC2 does not know it.
    pub async fn subnet(&self, id: &str) -> Result<Option<SubnetBlocks>, AwsError> {
        let params = filter_params(&[filter("subnet-id", [id])]);
        let mut found = None;
        self.query
            .pages("DescribeSubnets", params, |root| {
                found = found.take().or_else(|| {
                    xml::items(root, "subnetSet")
                        .find(|s| xml::text(*s, "subnetId") == Some(id))
                        .map(subnet_blocks)
                });
            })
            .await?;
        Ok(found)
    }
}

fn subnet_blocks(s: Node<'_, '_>) -> SubnetBlocks {
    SubnetBlocks {
        id: xml::text(s, "subnetId").unwrap_or_default().to_owned(),
        ipv4: xml::text(s, "cidrBlock").and_then(|c| c.parse().ok()),
        ipv6: xml::items(s, "ipv6CidrBlockAssociationSet")
            .filter(|a| super::read::associated(*a, "ipv6CidrBlockState/state"))
            .filter_map(|a| xml::text(a, "ipv6CidrBlock"))
            .filter_map(|c| c.parse().ok())
            .collect(),
    }
}

fn security_group(g: Node<'_, '_>) -> Option<SecurityGroup> {
    Some(SecurityGroup {
        id: xml::text(g, "groupId")?.to_owned(),
        ingress: xml::items(g, "ipPermissions")
            .filter_map(permission)
            .collect(),
        egress: xml::items(g, "ipPermissionsEgress")
            .filter_map(permission)
            .collect(),
    })
}

/// One `IpPermission`: a protocol, a port range, and whom it admits.
fn permission(p: Node<'_, '_>) -> Option<Permission> {
    let protocol = Protocol::parse(xml::text(p, "ipProtocol")?)?;
    let mut peers = Vec::new();
    peers.extend(
        xml::items(p, "ipRanges")
            .filter_map(|r| xml::text(r, "cidrIp"))
            .chain(xml::items(p, "ipv6Ranges").filter_map(|r| xml::text(r, "cidrIpv6")))
            .filter_map(|c| c.parse().ok())
            .map(Peer::Cidr),
    );
    peers.extend(
        xml::items(p, "groups")
            .filter_map(|r| xml::text(r, "groupId"))
            .map(|g| Peer::Group(g.to_owned())),
    );
    peers.extend(
        xml::items(p, "prefixListIds")
            .filter_map(|r| xml::text(r, "prefixListId"))
            .map(|l| Peer::PrefixList(l.to_owned())),
    );
    Some(Permission {
        protocol,
        ports: port_range(xml::text(p, "fromPort"), xml::text(p, "toPort")),
        peers,
    })
}

/// A rule's ports: absent, or -1 (ICMP's "any"), means every port.
fn port_range(from: Option<&str>, to: Option<&str>) -> Ports {
    let from: i32 = from?.parse().ok()?;
    let to: i32 = to?.parse().ok()?;
    let port = |n: i32| u16::try_from(n).ok();
    Some((port(from)?, port(to)?))
}

fn network_acl(acl: Node<'_, '_>) -> Option<NetworkAcl> {
    Some(NetworkAcl {
        id: xml::text(acl, "networkAclId")?.to_owned(),
        entries: xml::items(acl, "entrySet").filter_map(acl_entry).collect(),
    })
}

fn acl_entry(e: Node<'_, '_>) -> Option<AclEntry> {
    let number: u16 = xml::text(e, "ruleNumber")?.parse().ok()?;
    // The default entry (32767, `*`) is implied by the evaluation.
    if number > 32766 {
        return None;
    }
    let cidr = xml::text(e, "cidrBlock").or_else(|| xml::text(e, "ipv6CidrBlock"))?;
    Some(AclEntry {
        number,
        direction: if xml::text(e, "egress") == Some("true") {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        protocol: Protocol::parse(xml::text(e, "protocol")?)?,
        ports: port_range(xml::text(e, "portRange/from"), xml::text(e, "portRange/to")),
        cidr: cidr.parse().ok()?,
        allow: xml::text(e, "ruleAction") == Some("allow"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUPS: &str = r#"<DescribeSecurityGroupsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
        <requestId>1d62eae0-example</requestId>
        <securityGroupInfo>
            <item>
                <ownerId>123456789012</ownerId>
                <groupId>sg-0app</groupId>
                <groupName>app</groupName>
                <groupDescription>app servers</groupDescription>
                <vpcId>vpc-1</vpcId>
                <ipPermissions>
                    <item>
                        <ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>
                        <groups><item><userId>123456789012</userId><groupId>sg-0eice</groupId></item></groups>
                        <ipRanges><item><cidrIp>192.0.2.0/24</cidrIp><description>office</description></item></ipRanges>
                        <ipv6Ranges><item><cidrIpv6>2001:db8::/32</cidrIpv6></item></ipv6Ranges>
                        <prefixListIds><item><prefixListId>pl-0vpn</prefixListId></item></prefixListIds>
                    </item>
                    <item>
                        <ipProtocol>icmp</ipProtocol><fromPort>-1</fromPort><toPort>-1</toPort>
                        <groups/><ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges>
                    </item>
                </ipPermissions>
                <ipPermissionsEgress>
                    <item><ipProtocol>-1</ipProtocol><groups/>
                        <ipRanges><item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item>
                </ipPermissionsEgress>
            </item>
        </securityGroupInfo>
    </DescribeSecurityGroupsResponse>"#;

    #[test]
    fn a_group_reads_every_kind_of_peer_and_port_range() {
        let doc = xml::parse(GROUPS).unwrap();
        let groups: Vec<SecurityGroup> = xml::items(doc.root_element(), "securityGroupInfo")
            .filter_map(security_group)
            .collect();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.id, "sg-0app");
        assert_eq!(g.ingress.len(), 2);
        let ssh = &g.ingress[0];
        assert_eq!(ssh.protocol, Protocol::Number(6));
        assert_eq!(ssh.ports, Some((22, 22)));
        assert_eq!(
            ssh.peers,
            [
                Peer::Cidr("192.0.2.0/24".parse().unwrap()),
                Peer::Cidr("2001:db8::/32".parse().unwrap()),
                Peer::Group("sg-0eice".into()),
                Peer::PrefixList("pl-0vpn".into()),
            ]
        );
        // ICMP's -1 and "all traffic" both cover every port.
        assert_eq!(g.ingress[1].ports, None);
        assert_eq!(g.egress[0].protocol, Protocol::All);
        assert_eq!(g.egress[0].ports, None);
    }

    const ACLS: &str = r#"<DescribeNetworkAclsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
        <requestId>59dbff89-example</requestId>
        <networkAclSet>
            <item>
                <networkAclId>acl-5d659634</networkAclId>
                <vpcId>vpc-5266953b</vpcId>
                <default>false</default>
                <entrySet>
                    <item><ruleNumber>110</ruleNumber><protocol>6</protocol><ruleAction>allow</ruleAction>
                        <egress>true</egress><cidrBlock>0.0.0.0/0</cidrBlock>
                        <portRange><from>49152</from><to>65535</to></portRange></item>
                    <item><ruleNumber>32767</ruleNumber><protocol>-1</protocol><ruleAction>deny</ruleAction>
                        <egress>true</egress><cidrBlock>0.0.0.0/0</cidrBlock></item>
                    <item><ruleNumber>110</ruleNumber><protocol>6</protocol><ruleAction>deny</ruleAction>
                        <egress>false</egress><ipv6CidrBlock>::/0</ipv6CidrBlock>
                        <portRange><from>22</from><to>22</to></portRange></item>
                </entrySet>
                <associationSet>
                    <item><networkAclAssociationId>aclassoc-5c659635</networkAclAssociationId>
                        <networkAclId>acl-5d659634</networkAclId><subnetId>subnet-ff669596</subnetId></item>
                    <item><networkAclAssociationId>aclassoc-c26596ab</networkAclAssociationId>
                        <networkAclId>acl-5d659634</networkAclId><subnetId>subnet-f0669599</subnetId></item>
                </associationSet>
                <tagSet/>
                <ownerId>111122223333</ownerId>
            </item>
        </networkAclSet>
    </DescribeNetworkAclsResponse>"#;

    #[test]
    fn an_acl_reads_its_entries_and_leaves_the_default_implied() {
        let doc = xml::parse(ACLS).unwrap();
        let acl = network_acl(
            xml::items(doc.root_element(), "networkAclSet")
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(acl.id, "acl-5d659634");
        assert_eq!(
            acl.entries,
            [
                AclEntry {
                    number: 110,
                    direction: Direction::Egress,
                    protocol: Protocol::Number(6),
                    ports: Some((49152, 65535)),
                    cidr: "0.0.0.0/0".parse().unwrap(),
                    allow: true,
                },
                AclEntry {
                    number: 110,
                    direction: Direction::Ingress,
                    protocol: Protocol::Number(6),
                    ports: Some((22, 22)),
                    cidr: "::/0".parse().unwrap(),
                    allow: false,
                },
            ]
        );
    }

    #[test]
    fn a_subnet_gives_both_families_associated_blocks() {
        let body = r#"<DescribeSubnetsResponse><subnetSet><item>
            <subnetId>subnet-9d4a7b6c</subnetId><cidrBlock>10.0.1.0/24</cidrBlock>
            <ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2001:db8:1234:1a00::/64</ipv6CidrBlock>
            </item><item><ipv6CidrBlock>2001:db8:1234:1a01::/64</ipv6CidrBlock>
            <ipv6CidrBlockState><state>disassociating</state></ipv6CidrBlockState>
            </item></ipv6CidrBlockAssociationSet></item></subnetSet></DescribeSubnetsResponse>"#;
        let doc = xml::parse(body).unwrap();
        let s = subnet_blocks(xml::items(doc.root_element(), "subnetSet").next().unwrap());
        assert_eq!(s.ipv4, Some("10.0.1.0/24".parse().unwrap()));
        assert_eq!(
            s.ipv6,
            ["2001:db8:1234:1a00::/64".parse::<IpNet>().unwrap()]
        );
    }
}
