//! The kinds of resource the simulated account holds, the shape of their ids, and
//! the ids the simulator derives for what a world file leaves unsaid.
//!
//! One table serves both the world loader (which refuses ids EC2 could never have
//! issued) and the Query API (which answers a malformed id in a request with
//! `…Malformed` and an unknown one with `…NotFound`, as EC2 does), so the two can
//! never disagree about what a well-formed id is.

use sha2::{Digest, Sha256};

/// A kind of EC2 resource, with its id prefix and its error-code vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// A VPC, `vpc-…`.
    Vpc,
    /// A subnet, `subnet-…`.
    Subnet,
    /// An instance, `i-…`.
    Instance,
    /// An EC2 Instance Connect Endpoint, `eice-…`.
    Endpoint,
    /// A security group, `sg-…`.
    SecurityGroup,
    /// A network ACL, `acl-…`.
    NetworkAcl,
    /// A managed prefix list, `pl-…`: only ever referred to by a rule.
    PrefixList,
}

impl ResourceKind {
    /// The id prefix without its dash, e.g. `i` for instances.
    pub fn prefix(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "vpc",
            ResourceKind::Subnet => "subnet",
            ResourceKind::Instance => "i",
            ResourceKind::Endpoint => "eice",
            ResourceKind::SecurityGroup => "sg",
            ResourceKind::NetworkAcl => "acl",
            ResourceKind::PrefixList => "pl",
        }
    }

    /// EC2's error code for a well-formed id the account does not have.
    pub fn not_found_code(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "InvalidVpcID.NotFound",
            ResourceKind::Subnet => "InvalidSubnetID.NotFound",
            ResourceKind::Instance => "InvalidInstanceID.NotFound",
            ResourceKind::Endpoint => "InvalidInstanceConnectEndpointId.NotFound",
            // Not `InvalidGroupId.NotFound`: EC2 spells this one differently.
            ResourceKind::SecurityGroup => "InvalidGroup.NotFound",
            ResourceKind::NetworkAcl => "InvalidNetworkAclID.NotFound",
            ResourceKind::PrefixList => "InvalidPrefixListId.NotFound",
        }
    }

    /// EC2's error code for an id it could never have issued.
    pub fn malformed_code(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "InvalidVpcID.Malformed",
            ResourceKind::Subnet => "InvalidSubnetID.Malformed",
            ResourceKind::Instance => "InvalidInstanceID.Malformed",
            ResourceKind::Endpoint => "InvalidInstanceConnectEndpointId.Malformed",
            ResourceKind::SecurityGroup => "InvalidGroupId.Malformed",
            ResourceKind::NetworkAcl => "InvalidNetworkAclID.Malformed",
            ResourceKind::PrefixList => "InvalidPrefixListId.Malformed",
        }
    }

    /// How EC2's messages name one id of this kind ("The {noun} 'i-…' does not
    /// exist").
    pub fn noun(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "vpc ID",
            ResourceKind::Subnet => "subnet ID",
            ResourceKind::Instance => "instance ID",
            ResourceKind::Endpoint => "instance connect endpoint ID",
            ResourceKind::SecurityGroup => "security group",
            ResourceKind::NetworkAcl => "networkAcl ID",
            ResourceKind::PrefixList => "prefix list ID",
        }
    }

    /// Whether `id` has the form EC2 issues: the prefix, a dash, then 8 (older
    /// resources) or 17 lower-case hex digits.
    pub fn is_well_formed(self, id: &str) -> bool {
        let Some(digits) = id
            .strip_prefix(self.prefix())
            .and_then(|rest| rest.strip_prefix('-'))
        else {
            return false;
        };
        matches!(digits.len(), 8 | 17)
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

/// An id of EC2's modern form, `{prefix}-` and 17 hex digits, derived from `seed`:
/// stable across runs, so documents are reproducible and a failure replays.
pub(crate) fn derived_id(prefix: &str, seed: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{prefix}/{seed}")));
    format!("{prefix}-{}", &digest[..17])
}

/// A number derived from `seed`, for choosing stable addresses.
pub(crate) fn derived_number(seed: &str) -> u128 {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::{ResourceKind, derived_id};

    #[test]
    fn derived_ids_are_stable_and_well_formed() {
        let id = derived_id("eni", "eice-0123456789abcdef0");
        assert_eq!(id, derived_id("eni", "eice-0123456789abcdef0"));
        assert_ne!(id, derived_id("eni", "eice-0123456789abcdef1"));
        assert_eq!(id.len(), "eni-".len() + 17);
        assert!(ResourceKind::SecurityGroup.is_well_formed(&derived_id("sg", "vpc-1")));
    }

    #[test]
    fn ids_need_their_prefix_and_8_or_17_hex_digits() {
        assert!(ResourceKind::Instance.is_well_formed("i-0123456789abcdef0"));
        assert!(ResourceKind::Instance.is_well_formed("i-0123abcd"));
        assert!(!ResourceKind::Instance.is_well_formed("i-0123456789ABCDEF0"));
        assert!(!ResourceKind::Instance.is_well_formed("i-0123456789abcdef"));
        assert!(!ResourceKind::Instance.is_well_formed("vpc-0123abcd"));
        assert!(ResourceKind::Endpoint.is_well_formed("eice-0123456789abcdef0"));
        assert!(!ResourceKind::Subnet.is_well_formed("subnet0123abcd"));
    }
}
