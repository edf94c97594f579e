//! The kinds of resource the simulated account holds and the shape of their ids.
//!
//! One table serves both the world loader (which refuses ids EC2 could never have
//! issued) and the Query API (which answers a malformed id in a request with
//! `…Malformed` and an unknown one with `…NotFound`, as EC2 does), so the two can
//! never disagree about what a well-formed id is.

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
}

impl ResourceKind {
    /// The id prefix without its dash, e.g. `i` for instances.
    pub fn prefix(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "vpc",
            ResourceKind::Subnet => "subnet",
            ResourceKind::Instance => "i",
            ResourceKind::Endpoint => "eice",
        }
    }

    /// The stem of EC2's error codes for this kind: `{stem}.NotFound`,
    /// `{stem}.Malformed`.
    pub fn error_stem(self) -> &'static str {
        match self {
            ResourceKind::Vpc => "InvalidVpcID",
            ResourceKind::Subnet => "InvalidSubnetID",
            ResourceKind::Instance => "InvalidInstanceID",
            ResourceKind::Endpoint => "InvalidInstanceConnectEndpointId",
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

#[cfg(test)]
mod tests {
    use super::ResourceKind;

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
