//! Which instances a rule covers: one matcher for every table that picks
//! instances (`[[push_key]]`, `[[rdp]]`), so that a rule written for one
//! means the same in the other.
//!
//! A rule matches by instance id glob, Name tag glob, CIDR and/or VPC id; all
//! that are given must match, and the first matching rule of a table wins.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::ec2::InstanceInfo;
use crate::glob::glob;

/// The criteria of one rule, as written (at least one is given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Covers {
    /// A glob on the instance id (`i-0abc*`).
    pub instance: Option<String>,
    /// A glob on the Name tag (`web-*`), ignoring case as ssh does.
    pub name: Option<String>,
    /// The instance's private address lies inside this block.
    pub cidr: Option<IpNet>,
    /// The instance is in this VPC (`vpc-…`, exactly).
    pub vpc: Option<String>,
}

impl Covers {
    /// The criteria, or the error that says a rule of `table` needs one.
    pub fn new(
        table: &str,
        instance: Option<String>,
        name: Option<String>,
        cidr: Option<IpNet>,
        vpc: Option<String>,
    ) -> Result<Covers, String> {
        if instance.is_none() && name.is_none() && cidr.is_none() && vpc.is_none() {
            return Err(format!(
                "[[{table}]] needs at least one of instance = \"i-…*\", name = \"…*\", cidr or vpc"
            ));
        }
        Ok(Covers {
            instance,
            name,
            cidr,
            vpc,
        })
    }

    /// Whether these criteria cover `instance`, reached at `ip`.
    pub fn matches(&self, instance: &InstanceInfo, ip: IpAddr) -> bool {
        self.instance
            .as_deref()
            .is_none_or(|g| glob(g, &instance.id))
            && self.name.as_deref().is_none_or(|g| {
                instance
                    .name
                    .as_deref()
                    .is_some_and(|n| glob(&g.to_lowercase(), &n.to_lowercase()))
            })
            && self.cidr.is_none_or(|c| c.contains(&ip))
            && self
                .vpc
                .as_deref()
                .is_none_or(|v| instance.vpc_id.as_deref() == Some(v))
    }
}

/// A rule of a table that picks instances.
pub trait Rule {
    /// The rule's criteria.
    fn covers(&self) -> &Covers;
}

/// The first of `rules` covering `instance` at `ip`.
pub fn first_match<'a, R: Rule>(
    rules: &'a [R],
    instance: &InstanceInfo,
    ip: IpAddr,
) -> Option<&'a R> {
    rules.iter().find(|r| r.covers().matches(instance, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn instance(id: &str, name: Option<&str>, vpc: &str) -> InstanceInfo {
        InstanceInfo {
            id: id.into(),
            state: "running".into(),
            private_ip: None,
            ipv6: None,
            vpc_id: Some(vpc.into()),
            subnet_id: None,
            availability_zone: None,
            name: name.map(Into::into),
            account: None,
            security_groups: Vec::new(),
            platform: None,
            key_name: None,
        }
    }

    #[test]
    fn every_given_criterion_must_match() {
        let ip: IpAddr = "10.0.1.10".parse().unwrap();
        let c = Covers::new(
            "push_key",
            Some("i-0a*".into()),
            Some("WEB-*".into()),
            Some("10.0.0.0/16".parse().unwrap()),
            Some("vpc-1".into()),
        )
        .unwrap();
        assert!(c.matches(&instance("i-0a1", Some("web-1"), "vpc-1"), ip));
        assert!(!c.matches(&instance("i-0b1", Some("web-1"), "vpc-1"), ip));
        assert!(!c.matches(&instance("i-0a1", None, "vpc-1"), ip));
        assert!(!c.matches(&instance("i-0a1", Some("web-1"), "vpc-2"), ip));
        let elsewhere = "10.1.0.1".parse().unwrap();
        assert!(!c.matches(&instance("i-0a1", Some("web-1"), "vpc-1"), elsewhere));
        let e = Covers::new("rdp", None, None, None, None).unwrap_err();
        assert!(e.contains("[[rdp]] needs at least one of"), "{e}");
    }
}
