//! The EC2 API calls the proxy makes, and their answers as plain data.
//!
//! Read-only actions, each needing its own IAM permission: the resolver's
//! `ec2:DescribeInstances`, `ec2:DescribeVpcs` and
//! `ec2:DescribeInstanceConnectEndpoints`, and for the path checks
//! ([`network`]) `ec2:DescribeSecurityGroups`, `ec2:DescribeNetworkAcls` and
//! `ec2:DescribeSubnets`; and `eice-proxy rdp`'s `ec2:GetPasswordData`
//! (`password`). Their errors are kept with the action's name so a
//! denial can say which permission is missing.
//!
//! - [`query`] speaks the EC2 Query protocol (sign, send, retry);
//! - `auth` tells a wrong clock from refused credentials;
//! - [`retry`] decides which failures are retried, and keeps the retry quota;
//! - `pages` walks whole-region listings a page at a time;
//! - [`endpoint`] says where a region's API answers (the EC2 endpoint rule set);
//! - `xml` reads documents, [`read`] the answers' items, and `checks` refuses
//!   one holding an id or name AWS never issues.

mod auth;
mod checks;
pub mod endpoint;
mod failure;
pub mod network;
mod pages;
mod password;
pub mod query;
pub mod read;
pub mod retry;
mod xml;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ipnet::IpNet;

pub use endpoint::{ApiUrl, EndpointError, EndpointParams};
pub use query::{MAX_ANSWER, Settings};
pub use retry::Retry;
pub use xml::MAX_NODES;

use crate::credentials::CredentialCache;
use crate::net::Transport;
use crate::reply::Reply;
use query::Query;
use read::{endpoint_info, instances_in, vpc_blocks};

/// The endpoint states in which tunnels can be opened.
const USABLE_STATES: [&str; 4] = [
    "create-complete",
    "update-in-progress",
    "update-failed",
    "update-complete",
];

/// What the proxy needs to know of an instance (kept in the route cache on
/// disk as it is: a change of shape bumps that file's format).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    pub state: String,
    pub private_ip: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub name: Option<String>,
    /// The owning account (the reservation's), for ARNs in messages.
    pub account: Option<String>,
    /// Its security groups' ids, for `doctor`'s path checks.
    pub security_groups: Vec<String>,
    /// `windows` for a Windows instance (EC2 names no other platform): whether
    /// `rdp` can fetch a password for it.
    pub platform: Option<String>,
    /// The key pair it was launched with, named when a key does not decrypt
    /// its Windows password.
    pub key_name: Option<String>,
}

impl InstanceInfo {
    /// The address a tunnel goes to: the private IPv4, else the IPv6 address
    /// (as the AWS CLI does for IPv6-only instances).
    pub fn address(&self) -> Option<IpAddr> {
        self.private_ip
            .map(IpAddr::V4)
            .or(self.ipv6.map(IpAddr::V6))
    }

    /// Whether EC2 says it runs Windows.
    pub fn is_windows(&self) -> bool {
        self.platform
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case("windows"))
    }
}

/// The address families an endpoint reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Dualstack,
    Ipv6,
}

impl Family {
    /// Whether an endpoint of this family can reach `ip`.
    pub fn reaches(self, ip: IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::Dualstack, _) | (Family::Ipv4, IpAddr::V4(_)) | (Family::Ipv6, IpAddr::V6(_))
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Dualstack => "dualstack",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// What the proxy needs to know of an endpoint (kept in the route cache on
/// disk, as [`InstanceInfo`] is).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointInfo {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub dns_name: String,
    pub fips_dns_name: Option<String>,
    /// `publicDnsNames/dualstack/dnsName`: the name an IPv6 client can reach.
    pub dualstack_dns_name: Option<String>,
    /// `publicDnsNames/dualstack/fipsDnsName`.
    pub dualstack_fips_dns_name: Option<String>,
    pub family: Family,
    /// `create-complete`, …; only usable states reach the resolver.
    pub state: String,
    /// Its security groups' ids: their egress rules must reach the instance.
    pub security_groups: Vec<String>,
    /// Whether the instance sees the client's address rather than the endpoint's.
    pub preserve_client_ip: bool,
}

impl EndpointInfo {
    /// Whether tunnels can be opened through it in its state.
    pub fn is_usable(&self) -> bool {
        USABLE_STATES.contains(&self.state.as_str())
    }
}

/// A failed EC2 API call, with what the user needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    /// `DescribeInstances`, …: names the missing permission when denied.
    pub action: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// The call ran out of time.
    pub timed_out: bool,
    /// When AWS refused the credentials themselves: which ones ("access key
    /// AKIA… from the environment (AWS_ACCESS_KEY_ID)").
    pub signer: Option<String>,
}

impl AwsError {
    /// Denied by IAM. Not when AWS refused the credentials (`AuthFailure`):
    /// no policy helps a key AWS does not accept.
    pub fn is_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException")
        )
    }

    /// AWS did not accept the credentials (unknown, deactivated or expired).
    pub fn rejects_credentials(&self) -> bool {
        self.code.as_deref().is_some_and(auth::rejects_credentials)
    }

    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        if self.is_denied() || self.rejects_credentials() {
            Reply::NotAllowed
        } else if self.timed_out {
            Reply::TimedOut
        } else {
            Reply::GeneralFailure
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ec2:{} failed", self.action)?;
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        write!(f, ": {}", self.message)?;
        if self.is_denied() {
            write!(
                f,
                " — the caller needs the IAM permission ec2:{}",
                self.action
            )?;
        } else if let Some(code) = self
            .code
            .as_deref()
            .filter(|c| auth::rejects_credentials(c))
        {
            write!(f, " — {}", auth::hint(code, self.signer.as_deref()))?;
        } else if self.code.as_deref() == Some("RequestLimitExceeded") {
            f.write_str(" — EC2 is throttling this account's API calls; retry shortly")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

/// A `Filter.N` of the Query protocol: a name and the values any of which match.
struct Filter {
    name: &'static str,
    values: Vec<String>,
}

fn filter(name: &'static str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter {
        name,
        values: values.into_iter().map(Into::into).collect(),
    }
}

/// `filters` as Query parameters: `Filter.1.Name`, `Filter.1.Value.1`, …
fn filter_params(filters: &[Filter]) -> Vec<(String, String)> {
    let mut params = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let n = i + 1;
        params.push((format!("Filter.{n}.Name"), f.name.to_owned()));
        for (j, value) in f.values.iter().enumerate() {
            params.push((format!("Filter.{n}.Value.{}", j + 1), value.clone()));
        }
    }
    params
}

/// The EC2 API client of one region. Clones share connections.
#[derive(Debug, Clone)]
pub struct Ec2 {
    query: Arc<Query>,
}

impl Ec2 {
    /// A client for the API at `settings.url`, signing with `credentials`
    /// and connecting through `transport` (whose TLS trust the tunnels share).
    pub fn new(settings: Settings, credentials: Arc<CredentialCache>, transport: Transport) -> Ec2 {
        Ec2 {
            query: Arc::new(Query::new(settings, credentials, transport)),
        }
    }

    /// How many requests were sent again on a fresh connection because a
    /// kept one failed before answering (the server closed it as it was
    /// used): tests check the reuse check leaves this at 0.
    pub fn resends(&self) -> u64 {
        self.query.resends()
    }

    /// Kept connections not known to be closed, which the next call may reuse.
    pub fn kept_open(&self) -> usize {
        self.query.kept_open()
    }

    /// The instance with this id, or `None` when EC2 does not know it.
    pub async fn instance(&self, id: &str) -> Result<Option<InstanceInfo>, AwsError> {
        let params = vec![("InstanceId.1".to_owned(), id.to_owned())];
        let answer = match self.query.call("DescribeInstances", &params).await {
            Ok(answer) => answer,
            Err(e) if e.code.as_deref() == Some("InvalidInstanceID.NotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        let doc = xml::parse(&answer)
            .map_err(|message| self.query.bad_answer("DescribeInstances", message))?;
        let found = instances_in(doc.root_element()).find(|i| i.id == id);
        if let Some(instance) = &found {
            self.refuse("DescribeInstances", instance.check())?;
        }
        Ok(found)
    }

    /// Live (not terminated) instances whose `Name` tag equals `name`,
    /// ignoring case. Stopped ones are included so that the user can be told
    /// "it is stopped" rather than "it does not exist".
    ///
    /// EC2's tag filter is case-sensitive while ssh lowercases host names, so
    /// an exact match is tried first and, failing that, every live instance
    /// with a `Name` tag is compared without case.
    pub async fn by_name(&self, name: &str) -> Result<Vec<InstanceInfo>, AwsError> {
        let exact = self.describe_live(filter("tag:Name", [name])).await?;
        if !exact.is_empty() {
            return Ok(exact);
        }
        let all = self.describe_live(filter("tag-key", ["Name"])).await?;
        Ok(all
            .into_iter()
            .filter(|i| {
                i.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .collect())
    }

    /// The live instance holding `ip` in VPC `vpc` (addresses repeat across
    /// VPCs), for key pushes to targets given by address.
    pub async fn instance_at(
        &self,
        ip: IpAddr,
        vpc: &str,
    ) -> Result<Option<InstanceInfo>, AwsError> {
        let found = self
            .describe_instances(vec![live(), holding(ip), filter("vpc-id", [vpc])])
            .await?;
        Ok(found.into_iter().find(|i| i.state == "running"))
    }

    /// The live instances holding `ip` in any VPC (for `doctor`, when the
    /// resolver refused the address).
    pub async fn holding(&self, ip: IpAddr) -> Result<Vec<InstanceInfo>, AwsError> {
        self.describe_live(holding(ip)).await
    }

    async fn describe_live(&self, extra: Filter) -> Result<Vec<InstanceInfo>, AwsError> {
        self.describe_instances(vec![live(), extra]).await
    }

    async fn describe_instances(
        &self,
        filters: Vec<Filter>,
    ) -> Result<Vec<InstanceInfo>, AwsError> {
        let mut found = Vec::new();
        self.query
            .pages("DescribeInstances", filter_params(&filters), |root| {
                found.extend(instances_in(root));
            })
            .await?;
        for instance in &found {
            self.refuse("DescribeInstances", instance.check())?;
        }
        Ok(found)
    }

    /// Every IPv4 and IPv6 CIDR block associated with every VPC.
    pub async fn vpc_cidrs(&self) -> Result<Vec<(IpNet, String)>, AwsError> {
        let mut table = Vec::new();
        self.query
            .pages("DescribeVpcs", Vec::new(), |root| {
                for vpc in xml::items(root, "vpcSet") {
                    table.extend(vpc_blocks(vpc));
                }
            })
            .await?;
        for (_, vpc) in &table {
            let checked = crate::aws_names::check_id(crate::aws_names::IdKind::Vpc, vpc);
            self.refuse("DescribeVpcs", checked)?;
        }
        table.sort();
        table.dedup();
        Ok(table)
    }

    /// The usable endpoints of a VPC (or the one named `id`), all pages.
    pub async fn endpoints(
        &self,
        vpc_id: Option<&str>,
        id: Option<&str>,
    ) -> Result<Vec<EndpointInfo>, AwsError> {
        self.list_endpoints(vpc_id, id, true).await
    }

    /// Every endpoint of the region, whatever its state (for `doctor`).
    pub async fn every_endpoint(&self) -> Result<Vec<EndpointInfo>, AwsError> {
        self.list_endpoints(None, None, false).await
    }

    async fn list_endpoints(
        &self,
        vpc_id: Option<&str>,
        id: Option<&str>,
        usable_only: bool,
    ) -> Result<Vec<EndpointInfo>, AwsError> {
        let mut filters = Vec::new();
        if usable_only {
            filters.push(filter("state", USABLE_STATES));
        }
        if let Some(vpc_id) = vpc_id {
            filters.push(filter("vpc-id", [vpc_id]));
        }
        if let Some(id) = id {
            filters.push(filter("instance-connect-endpoint-id", [id]));
        }
        let mut found = Vec::new();
        self.query
            .pages(
                "DescribeInstanceConnectEndpoints",
                filter_params(&filters),
                |root| {
                    found.extend(
                        xml::items(root, "instanceConnectEndpointSet").filter_map(endpoint_info),
                    );
                },
            )
            .await?;
        for endpoint in &found {
            let checked = endpoint.check(self.region());
            self.refuse("DescribeInstanceConnectEndpoints", checked)?;
        }
        Ok(found)
    }
}

/// Instances with `ip` on any of their network interfaces, as a primary or
/// a secondary address. (`private-ip-address` and `ipv6-address` match only
/// the primary interface's primary address: an instance reached by a
/// secondary address would be "not found".)
fn holding(ip: IpAddr) -> Filter {
    match ip {
        IpAddr::V4(v4) => filter(
            "network-interface.addresses.private-ip-address",
            [v4.to_string()],
        ),
        IpAddr::V6(v6) => filter(
            "network-interface.ipv6-addresses.ipv6-address",
            [v6.to_string()],
        ),
    }
}

/// Instances that have not been terminated.
fn live() -> Filter {
    filter(
        "instance-state-name",
        ["pending", "running", "stopping", "stopped"],
    )
}

#[cfg(test)]
mod auth_tests;
#[cfg(test)]
mod tests;
