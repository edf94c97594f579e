//! What EC2 adds to the groups and ACLs a world lists: each VPC's default group
//! and default ACL when the world names none, and the groups and ACL each
//! interface and subnet ends up with. Computed on every question, never written
//! back, so a world edited in code stays consistent.

use std::borrow::Cow;

use super::{AclAction, AclEntry, DEFAULT_GROUP_NAME, NetworkAcl, SecurityGroup, SgRule};
use super::{allow_all_out, any_ipv6};
use crate::world::ids::derived_id;
use crate::world::{Endpoint, Instance, Vpc, World};

impl World {
    /// Every security group of the account: the world's, then a synthesised
    /// `default` group for each VPC that names none.
    pub fn security_groups(&self) -> Vec<Cow<'_, SecurityGroup>> {
        let listed = self.security_groups.iter().map(Cow::Borrowed);
        let synthesised = self
            .vpcs
            .iter()
            .filter(|vpc| self.listed_default_group(&vpc.id).is_none())
            .map(|vpc| Cow::Owned(synthesised_default_group(vpc)));
        listed.chain(synthesised).collect()
    }

    /// The security group with this id, synthesised defaults included.
    pub fn security_group(&self, id: &str) -> Option<Cow<'_, SecurityGroup>> {
        self.security_groups()
            .into_iter()
            .find(|group| group.id == id)
    }

    /// A VPC's default security group (the world's, or a synthesised one).
    pub fn default_security_group(&self, vpc: &str) -> Option<Cow<'_, SecurityGroup>> {
        if let Some(listed) = self.listed_default_group(vpc) {
            return Some(Cow::Borrowed(listed));
        }
        self.vpc(vpc)
            .map(|vpc| Cow::Owned(synthesised_default_group(vpc)))
    }

    /// An instance's security groups: those it names, else its VPC's default.
    pub fn instance_security_groups(&self, instance: &Instance) -> Vec<Cow<'_, SecurityGroup>> {
        self.groups_named(instance.vpc(self), &instance.security_groups)
    }

    /// An endpoint's security groups: those it names, else its VPC's default.
    pub fn endpoint_security_groups(&self, endpoint: &Endpoint) -> Vec<Cow<'_, SecurityGroup>> {
        self.groups_named(endpoint.vpc(self), &endpoint.security_groups)
    }

    /// The groups of an interface in `vpc` that names `ids` (none: the default).
    fn groups_named(&self, vpc: Option<&str>, ids: &[String]) -> Vec<Cow<'_, SecurityGroup>> {
        if ids.is_empty() {
            let default = vpc.and_then(|vpc| self.default_security_group(vpc));
            return default.into_iter().collect();
        }
        ids.iter()
            .filter_map(|id| self.security_group(id))
            .collect()
    }

    /// Every network ACL of the account: the world's, then a synthesised default
    /// ACL for each VPC without one.
    pub fn network_acls(&self) -> Vec<Cow<'_, NetworkAcl>> {
        let listed = self.network_acls.iter().map(Cow::Borrowed);
        let synthesised = self
            .vpcs
            .iter()
            .filter(|vpc| self.listed_default_acl(&vpc.id).is_none())
            .map(|vpc| Cow::Owned(synthesised_default_acl(vpc)));
        listed.chain(synthesised).collect()
    }

    /// The ACL a subnet uses: the one it is associated with, else its VPC's
    /// default.
    pub fn network_acl_of(&self, subnet: &str) -> Option<Cow<'_, NetworkAcl>> {
        let vpc = &self.subnet(subnet)?.vpc;
        let acls = self.network_acls();
        let explicit = acls
            .iter()
            .position(|acl| acl.subnets.iter().any(|s| s == subnet));
        let default = || acls.iter().position(|acl| acl.default && &acl.vpc == vpc);
        let index = explicit.or_else(default)?;
        acls.into_iter().nth(index)
    }

    /// The subnets an ACL applies to: its explicit ones, and for a default ACL
    /// every subnet of its VPC that no other ACL claims.
    pub fn network_acl_subnets(&self, acl: &NetworkAcl) -> Vec<&str> {
        self.subnets
            .iter()
            .filter(|subnet| {
                self.network_acl_of(&subnet.id)
                    .is_some_and(|used| used.id == acl.id)
            })
            .map(|subnet| subnet.id.as_str())
            .collect()
    }

    fn listed_default_group(&self, vpc: &str) -> Option<&SecurityGroup> {
        self.security_groups
            .iter()
            .find(|group| group.vpc == vpc && group.name == DEFAULT_GROUP_NAME)
    }

    fn listed_default_acl(&self, vpc: &str) -> Option<&NetworkAcl> {
        self.network_acls
            .iter()
            .find(|acl| acl.vpc == vpc && acl.default)
    }
}

/// EC2's default group: all traffic from its own members in, all traffic out (to
/// ::/0 too when the VPC has IPv6 blocks).
fn synthesised_default_group(vpc: &Vpc) -> SecurityGroup {
    let id = derived_id("sg", &vpc.id);
    let mut egress = allow_all_out();
    if !vpc.ipv6_cidrs.is_empty() {
        egress.push(SgRule {
            cidr_ipv6: Some(any_ipv6()),
            ..SgRule::default()
        });
    }
    SecurityGroup {
        ingress: vec![SgRule {
            group: Some(id.clone()),
            ..SgRule::default()
        }],
        egress,
        id,
        vpc: vpc.id.clone(),
        name: DEFAULT_GROUP_NAME.to_owned(),
        description: Some("default VPC security group".to_owned()),
    }
}

/// EC2's default ACL: rule 100 allows all traffic both ways (and rule 101 for
/// IPv6 when the VPC has IPv6 blocks).
fn synthesised_default_acl(vpc: &Vpc) -> NetworkAcl {
    let mut entries = Vec::new();
    for egress in [true, false] {
        entries.push(AclEntry::all(100, egress, AclAction::Allow, false));
        if !vpc.ipv6_cidrs.is_empty() {
            entries.push(AclEntry::all(101, egress, AclAction::Allow, true));
        }
    }
    NetworkAcl {
        id: derived_id("acl", &vpc.id),
        vpc: vpc.id.clone(),
        subnets: Vec::new(),
        default: true,
        entries,
    }
}
