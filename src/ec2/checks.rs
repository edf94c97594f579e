//! What an answer must hold to be used: ids and endpoint names of the shapes
//! AWS issues ([`crate::aws_names`]). The client checks every answer before
//! handing it on, and the route cache every file before answering from it,
//! so whatever reaches a tunnel, a TLS name or ssh's arguments passed here.

use super::{AwsError, Ec2, EndpointInfo, InstanceInfo};
use crate::aws_names::{BadName, IdKind, check_endpoint_dns_name, check_id};

impl InstanceInfo {
    /// Checks its ids: the instance id goes into ssh's arguments and a
    /// ProxyCommand, the VPC id chooses the endpoints.
    pub fn check(&self) -> Result<(), BadName> {
        check_id(IdKind::Instance, &self.id)?;
        if let Some(vpc) = &self.vpc_id {
            check_id(IdKind::Vpc, vpc)?;
        }
        if let Some(subnet) = &self.subnet_id {
            check_id(IdKind::Subnet, subnet)?;
        }
        for group in &self.security_groups {
            check_id(IdKind::SecurityGroup, group)?;
        }
        Ok(())
    }
}

impl EndpointInfo {
    /// Checks its ids, and that each of its names is its own in `region`:
    /// a name becomes a tunnel's TLS server name, `Host` and signed host.
    pub fn check(&self, region: &str) -> Result<(), BadName> {
        check_id(IdKind::Endpoint, &self.id)?;
        check_id(IdKind::Vpc, &self.vpc_id)?;
        if let Some(subnet) = &self.subnet_id {
            check_id(IdKind::Subnet, subnet)?;
        }
        for group in &self.security_groups {
            check_id(IdKind::SecurityGroup, group)?;
        }
        let names = [
            Some(&self.dns_name),
            self.fips_dns_name.as_ref(),
            self.dualstack_dns_name.as_ref(),
            self.dualstack_fips_dns_name.as_ref(),
        ];
        for name in names.into_iter().flatten() {
            check_endpoint_dns_name(name, &self.id, region)?;
        }
        Ok(())
    }
}

impl Ec2 {
    /// `checked` as an error of `action` when it failed: the whole answer
    /// is refused, since whoever sent one bad value is not AWS.
    pub(super) fn refuse(
        &self,
        action: &'static str,
        checked: Result<(), BadName>,
    ) -> Result<(), AwsError> {
        checked.map_err(|e| {
            self.query.bad_answer(
                action,
                format!("the answer is refused, as AWS never sends what it holds: its {e}"),
            )
        })
    }

    /// The region whose names this client's answers must hold.
    pub(super) fn region(&self) -> &str {
        self.query.region()
    }
}
