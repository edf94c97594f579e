//! The typed calls read answers written as AWS documents them (the element
//! names of the EC2 API reference's examples, every element in the API's
//! namespace); the simulated EC2 API answers the same way in the product's
//! end-to-end tests.

use super::*;

#[test]
fn families_reach_what_their_name_says() {
    let v4: IpAddr = "10.0.0.1".parse().unwrap();
    let v6: IpAddr = "fd00::1".parse().unwrap();
    assert!(Family::Ipv4.reaches(v4) && !Family::Ipv4.reaches(v6));
    assert!(Family::Dualstack.reaches(v4) && Family::Dualstack.reaches(v6));
    assert!(!Family::Ipv6.reaches(v4) && Family::Ipv6.reaches(v6));
}

#[test]
fn a_denial_names_the_permission() {
    let e = AwsError {
        action: "DescribeInstances",
        code: Some("UnauthorizedOperation".into()),
        message: "You are not authorized to perform this operation.".into(),
        request_id: Some("r-1".into()),
        timed_out: false,
        signer: None,
    };
    assert!(
        e.to_string()
            .contains("needs the IAM permission ec2:DescribeInstances")
    );
    assert_eq!(e.reply(), Reply::NotAllowed);
}

const DESCRIBE_INSTANCES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-1234567890abcdef0</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-1234567890abcdef0</instanceId>
                    <imageId>ami-bff32ccc</imageId>
                    <instanceState><code>16</code><name>running</name></instanceState>
                    <privateDnsName>ip-192-168-1-88.eu-west-1.compute.internal</privateDnsName>
                    <placement>
                        <availabilityZone>eu-west-1c</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <subnetId>subnet-56f5f633</subnetId>
                    <vpcId>vpc-11112222</vpcId>
                    <privateIpAddress>192.168.1.88</privateIpAddress>
                    <groupSet>
                        <item><groupId>sg-e4076980</groupId><groupName>SecurityGroup1</groupName></item>
                        <item><groupId>sg-0aa1</groupId><groupName>ssh</groupName></item>
                    </groupSet>
                    <tagSet>
                        <item><key>Team</key><value>ops &amp; dev</value></item>
                        <item><key>Name</key><value>web &lt;1&gt;</value></item>
                    </tagSet>
                </item>
                <item>
                    <instanceId>i-0000000000000000b</instanceId>
                    <instanceState><code>80</code><name>stopped</name></instanceState>
                    <subnetId>subnet-56f5f633</subnetId>
                    <vpcId>vpc-11112222</vpcId>
                    <ipv6Address>2001:db8:1234:1a00::123</ipv6Address>
                    <tagSet><item><key>Name</key><value/></item></tagSet>
                </item>
            </instancesSet>
        </item>
        <item>
            <ownerId>210987654321</ownerId>
            <instancesSet>
                <item><instanceId>i-0000000000000000c</instanceId></item>
            </instancesSet>
        </item>
    </reservationSet>
</DescribeInstancesResponse>"#;

#[test]
fn instances_are_read_with_their_reservations_account() {
    let doc = xml::parse(DESCRIBE_INSTANCES).unwrap();
    let found: Vec<InstanceInfo> = instances_in(doc.root_element()).collect();
    assert_eq!(found.len(), 3);
    assert_eq!(
        found[0],
        InstanceInfo {
            id: "i-1234567890abcdef0".into(),
            state: "running".into(),
            private_ip: Some("192.168.1.88".parse().unwrap()),
            ipv6: None,
            vpc_id: Some("vpc-11112222".into()),
            subnet_id: Some("subnet-56f5f633".into()),
            availability_zone: Some("eu-west-1c".into()),
            name: Some("web <1>".into()),
            account: Some("123456789012".into()),
            security_groups: vec!["sg-e4076980".into(), "sg-0aa1".into()],
            platform: None,
            key_name: None,
        }
    );
    // An IPv6-only instance is reached at its IPv6 address; an empty Name is a name.
    assert_eq!(found[1].state, "stopped");
    assert_eq!(
        found[1].address(),
        Some("2001:db8:1234:1a00::123".parse().unwrap())
    );
    assert_eq!(found[1].name.as_deref(), Some(""));
    // Missing fields are absent, not errors.
    assert_eq!(found[2].account.as_deref(), Some("210987654321"));
    assert_eq!(
        (found[2].state.as_str(), found[2].address()),
        ("unknown", None)
    );
}

const DESCRIBE_VPCS: &str = r#"<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>7a62c49f-347e-4fc4-9331-example</requestId>
    <vpcSet>
        <item>
            <vpcId>vpc-1a2b3c4d</vpcId>
            <state>available</state>
            <cidrBlock>10.0.0.0/16</cidrBlock>
            <cidrBlockAssociationSet>
                <item><cidrBlock>10.0.0.0/16</cidrBlock><associationId>vpc-cidr-assoc-1</associationId>
                    <cidrBlockState><state>associated</state></cidrBlockState></item>
                <item><cidrBlock>100.64.0.0/24</cidrBlock>
                    <cidrBlockState><state>associated</state></cidrBlockState></item>
                <item><cidrBlock>172.31.0.0/16</cidrBlock>
                    <cidrBlockState><state>disassociated</state></cidrBlockState></item>
            </cidrBlockAssociationSet>
            <ipv6CidrBlockAssociationSet>
                <item><ipv6CidrBlock>2001:db8:1234:1a00::/56</ipv6CidrBlock>
                    <ipv6CidrBlockState><state>associated</state></ipv6CidrBlockState></item>
                <item><ipv6CidrBlock>2001:db8:5678:1a00::/56</ipv6CidrBlock>
                    <ipv6CidrBlockState><state>disassociated</state></ipv6CidrBlockState></item>
                <item><ipv6CidrBlock>2001:db8:9abc:1a00::/56</ipv6CidrBlock>
                    <ipv6CidrBlockState><state>associating</state></ipv6CidrBlockState></item>
            </ipv6CidrBlockAssociationSet>
        </item>
        <item>
            <vpcId>vpc-old</vpcId>
            <cidrBlock>192.168.0.0/16</cidrBlock>
        </item>
    </vpcSet>
</DescribeVpcsResponse>"#;

#[test]
fn vpc_blocks_are_every_associated_one_of_either_family() {
    let doc = xml::parse(DESCRIBE_VPCS).unwrap();
    let blocks: Vec<(String, String)> = xml::items(doc.root_element(), "vpcSet")
        .flat_map(vpc_blocks)
        .map(|(net, vpc)| (net.to_string(), vpc))
        .collect();
    let expected = [
        ("10.0.0.0/16", "vpc-1a2b3c4d"),
        ("100.64.0.0/24", "vpc-1a2b3c4d"),
        ("2001:db8:1234:1a00::/56", "vpc-1a2b3c4d"),
        ("192.168.0.0/16", "vpc-old"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(blocks, expected);
}

const DESCRIBE_ENDPOINTS: &str = r#"<DescribeInstanceConnectEndpointsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>3e3bb2ba-example</requestId>
    <instanceConnectEndpointSet>
        <item>
            <ownerId>111111111111</ownerId>
            <instanceConnectEndpointId>eice-0123456789example</instanceConnectEndpointId>
            <instanceConnectEndpointArn>arn:aws:ec2:us-east-1:111111111111:instance-connect-endpoint/eice-0123456789example</instanceConnectEndpointArn>
            <state>create-complete</state>
            <stateMessage/>
            <dnsName>eice-0123456789example.b67b86ba.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</dnsName>
            <fipsDnsName>eice-0123456789example.b67b86ba.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</fipsDnsName>
            <networkInterfaceIdSet><item>eni-0123456789example</item></networkInterfaceIdSet>
            <vpcId>vpc-0123abcd</vpcId>
            <availabilityZone>us-east-1a</availabilityZone>
            <createdAt>2023-04-07T15:43:53.000Z</createdAt>
            <subnetId>subnet-0123abcd</subnetId>
            <preserveClientIp>true</preserveClientIp>
            <securityGroupIdSet><item>sg-0123abcd</item><item>sg-0456</item></securityGroupIdSet>
            <ipAddressType>dualstack</ipAddressType>
            <publicDnsNames>
                <ipv4>
                    <dnsName>eice-0123456789example.b67b86ba.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</dnsName>
                    <fipsDnsName>eice-0123456789example.b67b86ba.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</fipsDnsName>
                </ipv4>
                <dualstack>
                    <dnsName>eice-0123456789example.b67b86ba.ec2-instance-connect-endpoint.us-east-1.api.aws</dnsName>
                    <fipsDnsName>eice-0123456789example.b67b86ba.fips.ec2-instance-connect-endpoint.us-east-1.api.aws</fipsDnsName>
                </dualstack>
            </publicDnsNames>
        </item>
        <item>
            <instanceConnectEndpointId>eice-only-public-names</instanceConnectEndpointId>
            <vpcId>vpc-0456</vpcId>
            <state>create-complete</state>
            <publicDnsNames>
                <ipv4><dnsName>eice-only-public-names.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</dnsName></ipv4>
            </publicDnsNames>
        </item>
        <item>
            <instanceConnectEndpointId>eice-no-dns-yet</instanceConnectEndpointId>
            <vpcId>vpc-0123abcd</vpcId>
            <state>create-in-progress</state>
        </item>
    </instanceConnectEndpointSet>
</DescribeInstanceConnectEndpointsResponse>"#;

#[test]
fn endpoints_carry_what_tunnels_and_path_checks_need() {
    let doc = xml::parse(DESCRIBE_ENDPOINTS).unwrap();
    let found: Vec<EndpointInfo> = xml::items(doc.root_element(), "instanceConnectEndpointSet")
        .filter_map(endpoint_info)
        .collect();
    // One without a DNS name cannot carry a tunnel and is left out.
    assert_eq!(found.len(), 2);
    let e = &found[0];
    assert_eq!(e.id, "eice-0123456789example");
    assert_eq!(e.vpc_id, "vpc-0123abcd");
    assert!(e.dns_name.ends_with(".us-east-1.amazonaws.com"));
    assert!(e.fips_dns_name.as_deref().unwrap().contains(".fips."));
    assert_eq!(e.family, Family::Dualstack);
    assert!(e.is_usable());
    assert_eq!(e.security_groups, ["sg-0123abcd", "sg-0456"]);
    assert!(e.preserve_client_ip);
    assert_eq!(e.subnet_id.as_deref(), Some("subnet-0123abcd"));
}

#[test]
fn endpoints_carry_their_dual_stack_names_when_published() {
    let doc = xml::parse(DESCRIBE_ENDPOINTS).unwrap();
    let found: Vec<EndpointInfo> = xml::items(doc.root_element(), "instanceConnectEndpointSet")
        .filter_map(endpoint_info)
        .collect();
    let e = &found[0];
    assert_eq!(
        e.dualstack_dns_name.as_deref(),
        Some("eice-0123456789example.b67b86ba.ec2-instance-connect-endpoint.us-east-1.api.aws")
    );
    assert_eq!(
        e.dualstack_fips_dns_name.as_deref(),
        Some(
            "eice-0123456789example.b67b86ba.fips.ec2-instance-connect-endpoint.us-east-1.api.aws"
        )
    );
    // An endpoint that publishes only PublicDnsNames.Ipv4 is still usable,
    // by that name, and has no dual-stack name to offer.
    let ipv4_only = &found[1];
    assert_eq!(ipv4_only.id, "eice-only-public-names");
    assert!(ipv4_only.dns_name.starts_with("eice-only-public-names."));
    assert_eq!(ipv4_only.dualstack_dns_name, None);
    assert_eq!(ipv4_only.fips_dns_name, None);
}

#[test]
fn filters_are_numbered_from_one() {
    let params = filter_params(&[
        filter("instance-state-name", ["running", "stopped"]),
        filter("tag:Name", ["web"]),
    ]);
    let text: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        text,
        [
            "Filter.1.Name=instance-state-name",
            "Filter.1.Value.1=running",
            "Filter.1.Value.2=stopped",
            "Filter.2.Name=tag:Name",
            "Filter.2.Value.1=web",
        ]
    );
}
