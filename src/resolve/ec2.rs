//! The EC2 API calls the resolver makes, and their answers as plain data.
//!
//! Four read-only actions, each needing its own IAM permission:
//! `ec2:DescribeInstances`, `ec2:DescribeVpcs` and
//! `ec2:DescribeInstanceConnectEndpoints`. Their errors are kept with the
//! action's name so a denial can say which permission is missing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;
use aws_sdk_ec2::types::{
    Ec2InstanceConnectEndpointState as State, Filter, Instance, IpAddressType, Reservation,
};
use ipnet::IpNet;

use crate::metrics::{counted, counted_page};
use crate::reply::Reply;

/// The endpoint states in which tunnels can be opened.
const USABLE_STATES: [State; 4] = [
    State::CreateComplete,
    State::UpdateInProgress,
    State::UpdateFailed,
    State::UpdateComplete,
];

/// What the proxy needs to know of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

impl InstanceInfo {
    /// The address a tunnel goes to: the private IPv4, else the IPv6 address
    /// (as the AWS CLI does for IPv6-only instances).
    pub fn address(&self) -> Option<IpAddr> {
        self.private_ip
            .map(IpAddr::V4)
            .or(self.ipv6.map(IpAddr::V6))
    }
}

/// The address families an endpoint reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What the proxy needs to know of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    pub id: String,
    pub vpc_id: String,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    pub dns_name: String,
    pub fips_dns_name: Option<String>,
    pub family: Family,
    /// `create-complete`, …; only usable states reach the resolver.
    pub state: String,
}

impl EndpointInfo {
    /// Whether tunnels can be opened through it in its state.
    pub fn is_usable(&self) -> bool {
        USABLE_STATES.iter().any(|s| s.as_str() == self.state)
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
}

impl AwsError {
    /// Denied by IAM.
    pub fn is_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure"
            )
        )
    }

    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        if self.is_denied() {
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
        } else if self.code.as_deref() == Some("RequestLimitExceeded") {
            f.write_str(" — EC2 is throttling this account's API calls; retry shortly")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

fn aws_error<E, R>(action: &'static str, error: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
    SdkError<E, R>: RequestId,
{
    let timed_out = matches!(error, SdkError::TimeoutError(_));
    let request_id = error.request_id().map(str::to_owned);
    let code = error.code().map(str::to_owned);
    let message = error
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| crate::credentials::error_chain(&error));
    AwsError {
        action,
        code,
        message,
        request_id,
        timed_out,
    }
}

fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    let mut builder = Filter::builder().name(name);
    for value in values {
        builder = builder.values(value);
    }
    builder.build()
}

/// The EC2 API client of one region.
#[derive(Debug, Clone)]
pub struct Ec2 {
    client: Client,
}

impl Ec2 {
    /// Wraps an SDK client (built from the shared AWS config, so it honours
    /// `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`).
    pub fn new(client: Client) -> Ec2 {
        Ec2 { client }
    }

    /// The instance with this id, or `None` when EC2 does not know it.
    pub async fn instance(&self, id: &str) -> Result<Option<InstanceInfo>, AwsError> {
        let result = self
            .client
            .describe_instances()
            .instance_ids(id)
            .send()
            .await;
        let result = counted("DescribeInstances", result);
        match result {
            Ok(output) => Ok(output
                .reservations()
                .iter()
                .flat_map(instances_of)
                .find(|i| i.id == id)),
            Err(e) if e.code() == Some("InvalidInstanceID.NotFound") => Ok(None),
            Err(e) => Err(aws_error("DescribeInstances", e)),
        }
    }

    /// Live (not terminated) instances whose `Name` tag equals `name`,
    /// ignoring case. Stopped ones are included so that the user can be told
    /// "it is stopped" rather than "it does not exist".
    ///
    /// EC2's tag filter is case-sensitive while ssh lowercases host names, so
    /// an exact match is tried first and, failing that, every live instance
    /// with a `Name` tag is compared without case.
    pub async fn by_name(&self, name: &str) -> Result<Vec<InstanceInfo>, AwsError> {
        let exact = self.describe_live([filter("tag:Name", [name])]).await?;
        if !exact.is_empty() {
            return Ok(exact);
        }
        let all = self.describe_live([filter("tag-key", ["Name"])]).await?;
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
        let by_address = match ip {
            IpAddr::V4(v4) => filter("private-ip-address", [v4.to_string()]),
            IpAddr::V6(v6) => filter("ipv6-address", [v6.to_string()]),
        };
        let found = self
            .describe_live([by_address, filter("vpc-id", [vpc])])
            .await?;
        Ok(found.into_iter().find(|i| i.state == "running"))
    }

    async fn describe_live(
        &self,
        extra: impl IntoIterator<Item = Filter>,
    ) -> Result<Vec<InstanceInfo>, AwsError> {
        let live = ["pending", "running", "stopping", "stopped"];
        let mut request = self
            .client
            .describe_instances()
            .filters(filter("instance-state-name", live));
        for f in extra {
            request = request.filters(f);
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = counted_page("DescribeInstances", pages.try_next().await)
            .map_err(|e| aws_error("DescribeInstances", e))?
        {
            found.extend(page.reservations().iter().flat_map(instances_of));
        }
        Ok(found)
    }

    /// Every IPv4 and IPv6 CIDR block associated with every VPC.
    pub async fn vpc_cidrs(&self) -> Result<Vec<(IpNet, String)>, AwsError> {
        let mut pages = self.client.describe_vpcs().into_paginator().send();
        let mut table = Vec::new();
        while let Some(page) = counted_page("DescribeVpcs", pages.try_next().await)
            .map_err(|e| aws_error("DescribeVpcs", e))?
        {
            for vpc in page.vpcs() {
                let Some(id) = vpc.vpc_id() else { continue };
                let v4 = vpc
                    .cidr_block_association_set()
                    .iter()
                    .filter(|a| {
                        a.cidr_block_state()
                            .and_then(|s| s.state())
                            .is_none_or(|s| s.as_str() == "associated")
                    })
                    .filter_map(|a| a.cidr_block());
                let v6 = vpc
                    .ipv6_cidr_block_association_set()
                    .iter()
                    .filter_map(|a| a.ipv6_cidr_block());
                let mut blocks: Vec<&str> = v4.chain(v6).collect();
                if blocks.is_empty() {
                    blocks.extend(vpc.cidr_block());
                }
                table.extend(
                    blocks
                        .into_iter()
                        .filter_map(|b| b.parse().ok())
                        .map(|net| (net, id.to_owned())),
                );
            }
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
        let mut request = self.client.describe_instance_connect_endpoints();
        if usable_only {
            request = request.filters(filter("state", USABLE_STATES.iter().map(|s| s.as_str())));
        }
        if let Some(vpc_id) = vpc_id {
            request = request.filters(filter("vpc-id", [vpc_id]));
        }
        if let Some(id) = id {
            request = request.filters(filter("instance-connect-endpoint-id", [id]));
        }
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) =
            counted_page("DescribeInstanceConnectEndpoints", pages.try_next().await)
                .map_err(|e| aws_error("DescribeInstanceConnectEndpoints", e))?
        {
            for e in page.instance_connect_endpoints() {
                let (Some(id), Some(vpc_id), Some(dns_name)) =
                    (e.instance_connect_endpoint_id(), e.vpc_id(), e.dns_name())
                else {
                    continue;
                };
                found.push(EndpointInfo {
                    id: id.to_owned(),
                    vpc_id: vpc_id.to_owned(),
                    subnet_id: e.subnet_id().map(str::to_owned),
                    availability_zone: e.availability_zone().map(str::to_owned),
                    dns_name: dns_name.to_owned(),
                    fips_dns_name: e
                        .fips_dns_name()
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                    family: match e.ip_address_type() {
                        Some(IpAddressType::Dualstack) => Family::Dualstack,
                        Some(IpAddressType::Ipv6) => Family::Ipv6,
                        _ => Family::Ipv4,
                    },
                    state: e
                        .state()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "unknown".into()),
                });
            }
        }
        Ok(found)
    }
}

/// A reservation's instances, each knowing its account.
fn instances_of(r: &Reservation) -> impl Iterator<Item = InstanceInfo> + '_ {
    r.instances().iter().map(|i| instance_info(i, r.owner_id()))
}

fn instance_info(i: &Instance, account: Option<&str>) -> InstanceInfo {
    InstanceInfo {
        account: account.map(str::to_owned),
        id: i.instance_id().unwrap_or_default().to_owned(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_owned())
            .unwrap_or_else(|| "unknown".into()),
        private_ip: i.private_ip_address().and_then(|ip| ip.parse().ok()),
        ipv6: i.ipv6_address().and_then(|ip| ip.parse().ok()),
        vpc_id: i.vpc_id().map(str::to_owned),
        subnet_id: i.subnet_id().map(str::to_owned),
        availability_zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_owned),
        name: i
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
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
        };
        assert!(
            e.to_string()
                .contains("needs the IAM permission ec2:DescribeInstances")
        );
        assert_eq!(e.reply(), Reply::NotAllowed);
    }
}
