//! The simulated AWS account: its VPCs, subnets, instances, Instance Connect
//! Endpoints, security groups and network ACLs, loaded from a TOML file.
//!
//! Every simulated service (the EC2 Query API, the EICE WebSocket, the instances
//! behind it) answers from one [`World`], so a test describes its scenario once —
//! "two VPCs with overlapping CIDRs", "an endpoint still being created" — and every
//! AWS call the proxy makes sees the same account. The world is validated once at
//! load ([`World::from_toml`]) so that a scenario EC2 could never produce (an
//! instance outside its subnet, a dangling reference) fails loudly, naming the id,
//! instead of quietly testing nothing.
//!
//! [`World::demo`] is the built-in scenario for the demo and most tests; its source,
//! `demo-world.toml`, doubles as the file format's documentation. [`World::demo_eu`]
//! is a second region of the same account, for multi-region scenarios.

mod cidr;
mod error;
mod ids;
mod interfaces;
mod security;
mod states;
#[cfg(test)]
pub(crate) mod tests;
mod validate;
pub mod windows;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

pub use cidr::{CidrError, Ipv4Cidr, Ipv6Cidr};
pub use error::WorldError;
pub use ids::ResourceKind;
pub(crate) use ids::derived_id;
pub use security::{
    AclAction, AclEntry, DEFAULT_GROUP_NAME, IMPLICIT_DENY_RULE, NetworkAcl, Protocol, RuleSource,
    SecurityGroup, SgRule,
};
pub use states::{EndpointState, InstanceState, IpAddressType};

/// The account id used when the world file names none: the one AWS documentation
/// uses, so ARNs in logs look familiar.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The built-in scenario, kept as TOML so it also documents the format.
const DEMO_WORLD: &str = include_str!("demo-world.toml");

/// The built-in second region of the same account.
const DEMO_WORLD_EU: &str = include_str!("demo-world-eu.toml");

/// The simulated account: everything the EC2 Query API can describe.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct World {
    /// The region this world is; the services sign and answer for it. An account
    /// spread over several regions is several worlds (see [`crate::account`]).
    pub region: String,
    /// The owner of every resource, as it appears in ARNs and `ownerId`.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// The `[[vpc]]` tables.
    #[serde(rename = "vpc", default)]
    pub vpcs: Vec<Vpc>,
    /// The `[[subnet]]` tables.
    #[serde(rename = "subnet", default)]
    pub subnets: Vec<Subnet>,
    /// The `[[instance]]` tables.
    #[serde(rename = "instance", default)]
    pub instances: Vec<Instance>,
    /// The `[[endpoint]]` tables.
    #[serde(rename = "endpoint", default)]
    pub endpoints: Vec<Endpoint>,
    /// The `[[security_group]]` tables; each VPC also has a `default` group,
    /// synthesised when not listed ([`World::security_groups`]).
    #[serde(rename = "security_group", default)]
    pub security_groups: Vec<SecurityGroup>,
    /// The `[[network_acl]]` tables; each VPC also has a default ACL, synthesised
    /// when not listed ([`World::network_acls`]).
    #[serde(rename = "network_acl", default)]
    pub network_acls: Vec<NetworkAcl>,
}

/// A VPC and the address space the proxy matches IP targets against.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpc {
    /// `vpc-…`.
    pub id: String,
    /// Every associated IPv4 block; the first is the primary (`cidrBlock`).
    pub cidrs: Vec<Ipv4Cidr>,
    /// Associated IPv6 blocks, if the VPC is dual-stack.
    #[serde(default)]
    pub ipv6_cidrs: Vec<Ipv6Cidr>,
}

/// A subnet: it places instances and endpoints in a VPC and an Availability Zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subnet {
    /// `subnet-…`.
    pub id: String,
    /// The VPC it belongs to.
    pub vpc: String,
    /// Its IPv4 block, inside one of the VPC's blocks.
    pub cidr: Ipv4Cidr,
    /// E.g. `us-east-1a`; also the AZ of everything in the subnet.
    pub availability_zone: String,
}

/// An EC2 instance, as far as reaching it through an endpoint is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    /// `i-…`.
    pub id: String,
    /// Its subnet, which also gives its VPC and AZ.
    pub subnet: String,
    /// Its primary private IPv4 address, inside the subnet's block.
    pub private_ip: Ipv4Addr,
    /// Its IPv6 address, if any (used through dual-stack and IPv6 endpoints).
    #[serde(default)]
    pub ipv6: Option<Ipv6Addr>,
    /// Secondary private IPv4 addresses of its interface, inside the subnet's
    /// block. EC2's `private-ip-address` filter does not match them;
    /// `network-interface.addresses.private-ip-address` does.
    #[serde(default)]
    pub secondary_private_ips: Vec<Ipv4Addr>,
    /// More IPv6 addresses of its interface, inside the VPC's IPv6 blocks:
    /// matched by `network-interface.ipv6-addresses.ipv6-address`, not by
    /// `ipv6-address`.
    #[serde(default)]
    pub secondary_ipv6: Vec<Ipv6Addr>,
    /// Its lifecycle state; only `running` instances accept connections.
    pub state: InstanceState,
    /// The `Name` tag, the name users type as a proxy target.
    #[serde(default)]
    pub name: Option<String>,
    /// Any other tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Its security groups (`sg-…`, in its VPC); none means the VPC's default.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// `"windows"` for a Windows instance (EC2's `platform`, which it leaves
    /// out for Linux): what tells a client there is a password to fetch.
    #[serde(default)]
    pub platform: Option<String>,
    /// The key pair it was launched with (EC2's `keyName`): the one whose
    /// private key decrypts its password.
    #[serde(default)]
    pub key_name: Option<String>,
    /// `GetPasswordData`'s answer, as EC2 keeps it: the Administrator password
    /// encrypted to the launch key (RSA PKCS#1 v1.5), in base64. Absent while
    /// Windows is still generating it (EC2 then answers an empty one).
    #[serde(default)]
    pub password_data: Option<String>,
}

/// An EC2 Instance Connect Endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// `eice-…`.
    pub id: String,
    /// Its subnet, which gives its VPC and AZ.
    pub subnet: String,
    /// Its lifecycle state; the proxy must only use the usable ones.
    pub state: EndpointState,
    /// Which address families it can reach.
    #[serde(default)]
    pub ip_address_type: IpAddressType,
    /// Whether instances see the client's IP rather than the endpoint's.
    #[serde(default)]
    pub preserve_client_ip: bool,
    /// Whether it has a `FipsDnsName`; the proxy must fail clearly without one
    /// when FIPS is requested.
    #[serde(default = "default_true")]
    pub fips: bool,
    /// Whether it publishes dual-stack names (`PublicDnsNames.Dualstack`);
    /// the proxy must fail clearly without one when they are asked for.
    #[serde(default = "default_true")]
    pub dualstack: bool,
    /// Its security groups (`sg-…`, in its VPC); none means the VPC's default.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Its network interface's address in the subnet; derived from its id when
    /// absent ([`World::endpoint_private_ip`]).
    #[serde(default)]
    pub private_ip: Option<Ipv4Addr>,
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_owned()
}

fn default_true() -> bool {
    true
}

impl World {
    /// Parses and validates a world file.
    pub fn from_toml(text: &str) -> Result<World, WorldError> {
        let world: World = toml::from_str(text)?;
        world.validate()?;
        Ok(world)
    }

    /// The built-in demo scenario (`world/demo-world.toml`): two VPCs with the same
    /// 10.0.0.0/16 block, so IP targets are ambiguous while instance ids are not;
    /// `locked-1` runs, but its security group keeps the endpoints out.
    pub fn demo() -> World {
        World::from_toml(DEMO_WORLD).expect("the built-in demo world is valid")
    }

    /// The built-in second region (`world/demo-world-eu.toml`): `eu-west-1` of the
    /// same account, one VPC (10.20.0.0/16, apart from the demo's 10.0.0.0/16), one
    /// endpoint and two running instances, `eu-web-1` and `eu-db-1`.
    pub fn demo_eu() -> World {
        World::from_toml(DEMO_WORLD_EU).expect("the built-in eu demo world is valid")
    }

    /// Checks the rules [`World::from_toml`] enforces; for worlds built in code.
    pub fn validate(&self) -> Result<(), WorldError> {
        validate::world(self)
    }

    /// Every resource's kind and id as the world lists them: VPCs, subnets,
    /// instances, endpoints, security groups, then network ACLs.
    pub fn resources(&self) -> impl Iterator<Item = (ResourceKind, &str)> {
        let vpcs = self.vpcs.iter().map(|v| (ResourceKind::Vpc, v.id.as_str()));
        let subnets = self
            .subnets
            .iter()
            .map(|s| (ResourceKind::Subnet, s.id.as_str()));
        let instances = self
            .instances
            .iter()
            .map(|i| (ResourceKind::Instance, i.id.as_str()));
        let endpoints = self
            .endpoints
            .iter()
            .map(|e| (ResourceKind::Endpoint, e.id.as_str()));
        let groups = self
            .security_groups
            .iter()
            .map(|g| (ResourceKind::SecurityGroup, g.id.as_str()));
        let acls = self
            .network_acls
            .iter()
            .map(|a| (ResourceKind::NetworkAcl, a.id.as_str()));
        vpcs.chain(subnets)
            .chain(instances)
            .chain(endpoints)
            .chain(groups)
            .chain(acls)
    }

    /// The VPC with this id.
    pub fn vpc(&self, id: &str) -> Option<&Vpc> {
        self.vpcs.iter().find(|vpc| vpc.id == id)
    }

    /// The subnet with this id.
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|subnet| subnet.id == id)
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|instance| instance.id == id)
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| endpoint.id == id)
    }

    /// The endpoint a TLS/WebSocket connection addressed by host name (without a
    /// port), any of its names (IPv4 or dual-stack, standard or FIPS), compared as DNS does, ignoring case: how a simulated
    /// EICE service knows which endpoint was dialled.
    pub fn endpoint_by_dns_name(&self, host: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|endpoint| {
            endpoint
                .dns_names(&self.region)
                .iter()
                .any(|name| name.eq_ignore_ascii_case(host))
        })
    }

    /// Changes an instance's state, for tests of instances stopping under the proxy.
    pub fn set_instance_state(&mut self, id: &str, state: InstanceState) -> Result<(), WorldError> {
        let instance = self
            .instances
            .iter_mut()
            .find(|instance| instance.id == id)
            .ok_or_else(|| WorldError::UnknownInstance(id.to_owned()))?;
        instance.state = state;
        Ok(())
    }

    /// EC2's private DNS name for an address: `ip-10-0-1-25.ec2.internal` in
    /// us-east-1, `ip-10-0-1-25.{region}.compute.internal` elsewhere.
    pub fn private_dns_name(&self, ip: Ipv4Addr) -> String {
        let host = format!("ip-{}", ip.to_string().replace('.', "-"));
        if self.region == "us-east-1" {
            format!("{host}.ec2.internal")
        } else {
            format!("{host}.{}.compute.internal", self.region)
        }
    }

    /// The ARN partition of the region (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }
}

impl Instance {
    /// The instance's VPC, through its subnet.
    pub fn vpc<'w>(&self, world: &'w World) -> Option<&'w str> {
        world.subnet(&self.subnet).map(|s| s.vpc.as_str())
    }

    /// Every private IPv4 address, the primary first.
    pub fn private_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.private_ip).chain(self.secondary_private_ips.iter().copied())
    }

    /// Every IPv6 address, the primary (`ipv6`) first.
    pub fn ipv6_addresses(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.ipv6
            .into_iter()
            .chain(self.secondary_ipv6.iter().copied())
    }

    /// Every address a tunnel may name to reach it, of either family.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.private_ips()
            .map(IpAddr::V4)
            .chain(self.ipv6_addresses().map(IpAddr::V6))
            .collect()
    }

    /// Every tag as EC2 lists it: `Name` first (when set), then the others.
    pub fn all_tags(&self) -> impl Iterator<Item = (&str, &str)> {
        let name = self.name.as_deref().map(|name| ("Name", name));
        name.into_iter()
            .chain(self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl Endpoint {
    /// The endpoint's VPC, through its subnet.
    pub fn vpc<'w>(&self, world: &'w World) -> Option<&'w str> {
        world.subnet(&self.subnet).map(|s| s.vpc.as_str())
    }

    /// The endpoint's DNS name, the host of its `openTunnel` URL.
    ///
    /// Takes the region because it belongs to the [`World`], not to the endpoint.
    pub fn dns_name(&self, region: &str) -> String {
        format!(
            "{}.ec2-instance-connect-endpoint.{region}.{}",
            self.id,
            dns_suffix(region)
        )
    }

    /// The FIPS DNS name, or `None` for an endpoint created without one.
    pub fn fips_dns_name(&self, region: &str) -> Option<String> {
        self.fips.then(|| {
            format!(
                "{}.fips.ec2-instance-connect-endpoint.{region}.{}",
                self.id,
                dns_suffix(region)
            )
        })
    }

    /// The dual-stack DNS name (`PublicDnsNames.Dualstack.DnsName`), resolving
    /// to IPv6 and IPv4 addresses; `None` for an endpoint without one.
    pub fn dualstack_dns_name(&self, region: &str) -> Option<String> {
        self.dualstack.then(|| {
            format!(
                "{}.ec2-instance-connect-endpoint.{region}.{}",
                self.id,
                dualstack_dns_suffix(region)
            )
        })
    }

    /// The dual-stack FIPS name, when the endpoint has both.
    pub fn dualstack_fips_dns_name(&self, region: &str) -> Option<String> {
        (self.dualstack && self.fips).then(|| {
            format!(
                "{}.fips.ec2-instance-connect-endpoint.{region}.{}",
                self.id,
                dualstack_dns_suffix(region)
            )
        })
    }

    /// Every name the endpoint answers to: what its TLS certificate covers
    /// and what a simulated service accepts as `Host`.
    pub fn dns_names(&self, region: &str) -> Vec<String> {
        let mut names = vec![self.dns_name(region)];
        names.extend(self.fips_dns_name(region));
        names.extend(self.dualstack_dns_name(region));
        names.extend(self.dualstack_fips_dns_name(region));
        names
    }
}

/// AWS's dual-stack DNS suffix for a region, as its dual-stack API endpoints have.
fn dualstack_dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "api.amazonwebservices.com.cn"
    } else {
        "api.aws"
    }
}

/// AWS's DNS suffix for a region: China regions live under `amazonaws.com.cn`.
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}
