//! Why a world file was refused: every variant names the offending id (or text)
//! so the author of a test scenario can find the line to fix.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::Ipv4Cidr;

/// Why a world file was refused. Every variant names the offending id (or text) so
/// the author of a test scenario can find the line to fix.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The TOML did not parse, or a field had the wrong type or an unknown name.
    #[error("invalid world file: {0}")]
    Toml(#[from] toml::de::Error),
    /// The region is empty; every ARN and DNS name needs one.
    #[error("the world's region must not be empty")]
    EmptyRegion,
    /// The account id is not twelve digits.
    #[error("account_id '{0}' is not a 12-digit AWS account id")]
    BadAccountId(String),
    /// An id is not of the form EC2 issues (`{prefix}-` and 8 or 17 hex digits).
    #[error(
        "'{id}' is not a well-formed {noun} (expected '{prefix}-' and 8 or 17 lower-case hex digits)"
    )]
    MalformedId {
        /// The id as written.
        id: String,
        /// What kind of id it should have been.
        noun: &'static str,
        /// The prefix it should have had.
        prefix: &'static str,
    },
    /// Two resources share an id.
    #[error("id '{0}' is used more than once")]
    DuplicateId(String),
    /// A resource refers to a VPC, subnet or security group the world does not have.
    #[error("{id}: {field} '{target}' does not exist")]
    UnknownReference {
        /// The resource holding the reference.
        id: String,
        /// The field, e.g. `subnet`.
        field: &'static str,
        /// The id it refers to.
        target: String,
    },
    /// A VPC has no IPv4 block; EC2 VPCs always have a primary one.
    #[error("{0}: a VPC needs at least one IPv4 CIDR block")]
    VpcWithoutCidr(String),
    /// A subnet's block is not inside any of its VPC's IPv4 blocks.
    #[error("{subnet}: cidr {cidr} is not inside any CIDR block of {vpc}")]
    SubnetOutsideVpc {
        /// The subnet.
        subnet: String,
        /// Its block.
        cidr: Ipv4Cidr,
        /// Its VPC.
        vpc: String,
    },
    /// An instance's or endpoint's private IPv4 address is not inside its subnet's
    /// block.
    #[error("{id}: private_ip {ip} is not inside {subnet} ({cidr})")]
    IpOutsideSubnet {
        /// The instance or endpoint.
        id: String,
        /// Its address.
        ip: Ipv4Addr,
        /// Its subnet.
        subnet: String,
        /// The subnet's block.
        cidr: Ipv4Cidr,
    },
    /// An instance's IPv6 address is not inside any of its VPC's IPv6 blocks.
    #[error("{instance}: ipv6 {ip} is not inside any ipv6_cidrs block of {vpc}")]
    Ipv6OutsideVpc {
        /// The instance.
        instance: String,
        /// Its address.
        ip: Ipv6Addr,
        /// Its VPC.
        vpc: String,
    },
    /// Two subnets of one VPC overlap.
    #[error("{0} and {1} are in the same VPC and their CIDR blocks overlap")]
    SubnetsOverlap(String, String),
    /// Two instances (or an instance and an endpoint) in one subnet have the same
    /// private address.
    #[error("{second}: private_ip {ip} is already used by {first} in the same subnet")]
    AddressInUse {
        /// The address.
        ip: Ipv4Addr,
        /// The resource holding it first.
        first: String,
        /// The one reusing it.
        second: String,
    },
    /// An instance sets its Name both with `name` and in `tags`.
    #[error("{0}: the Name tag is set both by `name` and in `tags`; keep one")]
    NameTwice(String),
    /// A reference to a security group or subnet of another VPC.
    #[error("{id}: {field} '{target}' is not in {vpc}")]
    WrongVpc {
        /// The resource holding the reference.
        id: String,
        /// The field, e.g. `security_groups`.
        field: &'static str,
        /// The id it refers to.
        target: String,
        /// The VPC it had to be in.
        vpc: String,
    },
    /// Two security groups of one VPC share a name.
    #[error("{vpc}: more than one security group is named '{name}'")]
    DuplicateGroupName {
        /// The VPC.
        vpc: String,
        /// The name.
        name: String,
    },
    /// A security group rule or ACL entry EC2 would refuse.
    #[error("{id}: {rule}: {problem}")]
    BadRule {
        /// The group or ACL.
        id: String,
        /// Which rule, e.g. `ingress rule 2` or `entry 100 (egress)`.
        rule: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A subnet is associated with two network ACLs.
    #[error("{subnet} is associated with both {first} and {second}; a subnet has one network ACL")]
    SubnetInTwoAcls {
        /// The subnet.
        subnet: String,
        /// The ACL listed first.
        first: String,
        /// The other.
        second: String,
    },
    /// A VPC has two default network ACLs.
    #[error(
        "{vpc}: both {first} and {second} are marked default; a VPC has one default network ACL"
    )]
    TwoDefaultAcls {
        /// The VPC.
        vpc: String,
        /// The ACL listed first.
        first: String,
        /// The other.
        second: String,
    },
    /// An endpoint without `private_ip` found no free address in its subnet.
    #[error("{endpoint}: {subnet} has no free address left for the endpoint")]
    SubnetFull {
        /// The endpoint.
        endpoint: String,
        /// Its subnet.
        subnet: String,
    },
    /// A run-time change named an instance the world does not have.
    #[error("the instance ID '{0}' does not exist")]
    UnknownInstance(String),
    /// A run-time change named an endpoint the world does not have.
    #[error("the instance connect endpoint ID '{0}' does not exist")]
    UnknownEndpoint(String),
}
