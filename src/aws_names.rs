//! The shapes of the ids and names AWS issues, checked wherever one comes in
//! from outside: an EC2 API answer ([`crate::ec2`]) and the route cache on
//! disk ([`crate::resolve::disk`]) alike.
//!
//! What is read there is not merely shown: an endpoint's DNS name becomes the
//! TLS server name, the `Host`, the signed host and a corporate proxy's
//! CONNECT target, and an instance id goes into ssh's argument list and into
//! a ProxyCommand that a shell runs (`-F/path` would be an option to ssh, not
//! a host). So a value of any other shape than AWS's own is refused, never
//! quoted or escaped: AWS never issues one, and whoever sent it is not AWS.

use crate::partitions::partition;

/// A kind of EC2 resource id: the prefix before the dash, and how messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `i-…`
    Instance,
    /// `eice-…`
    Endpoint,
    /// `vpc-…`
    Vpc,
    /// `subnet-…`
    Subnet,
    /// `sg-…`
    SecurityGroup,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::Instance => "i",
            IdKind::Endpoint => "eice",
            IdKind::Vpc => "vpc",
            IdKind::Subnet => "subnet",
            IdKind::SecurityGroup => "sg",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            IdKind::Instance => "instance id",
            IdKind::Endpoint => "endpoint id",
            IdKind::Vpc => "VPC id",
            IdKind::Subnet => "subnet id",
            IdKind::SecurityGroup => "security group id",
        }
    }
}

/// An id or name of a shape AWS never issues, and the shape it should have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not {shape}")]
pub struct BadName {
    /// `instance id`, `DNS name of endpoint eice-…`.
    pub what: String,
    pub value: String,
    /// What AWS issues instead.
    pub shape: String,
}

/// Checks that `id` is `PREFIX-` and 8 (older resources) or 17 lowercase hex
/// digits, the only ids EC2 issues.
pub fn check_id(kind: IdKind, id: &str) -> Result<(), BadName> {
    let digits = id
        .strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('-'));
    let good = digits.is_some_and(|d| {
        matches!(d.len(), 8 | 17) && d.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if good {
        return Ok(());
    }
    Err(BadName {
        what: kind.noun().to_owned(),
        value: id.to_owned(),
        shape: format!("{}- and 8 or 17 lowercase hex digits", kind.prefix()),
    })
}

/// The label EC2 Instance Connect Endpoint names carry before the region.
pub const ENDPOINT_SERVICE_LABEL: &str = "ec2-instance-connect-endpoint";

/// Checks that `name` is a DNS name of endpoint `id` in `region`, as the
/// service publishes them: `ID[.LABEL…].ec2-instance-connect-endpoint.REGION.DOMAIN`,
/// the labels between being a hash (`b67b86ba`) and `fips` for the FIPS
/// names, and the domain the partition's regular or dual-stack one. Any
/// other name could be anyone's host, so a tunnel's signed URL never goes there.
pub fn check_endpoint_dns_name(name: &str, id: &str, region: &str) -> Result<(), BadName> {
    let partition = partition(region);
    let (domain, dual_stack) = (partition.dns_suffix, partition.dual_stack_dns_suffix);
    let under = |domain: &str| -> Option<&str> {
        let middle = name
            .strip_prefix(id)?
            .strip_suffix(&format!("{ENDPOINT_SERVICE_LABEL}.{region}.{domain}"))?;
        middle.strip_prefix('.')
    };
    let good = !id.is_empty()
        && name.len() <= 253
        && name.split('.').all(is_ldh_label)
        && [domain, dual_stack]
            .into_iter()
            .any(|d| under(d).is_some_and(|middle| middle.is_empty() || middle.ends_with('.')));
    if good {
        return Ok(());
    }
    let shape = if domain == dual_stack {
        format!("{id}.….{ENDPOINT_SERVICE_LABEL}.{region}.{domain}")
    } else {
        format!(
            "{id}.….{ENDPOINT_SERVICE_LABEL}.{region}.{domain} (or .{dual_stack}), \
             the endpoint's own name in its region"
        )
    };
    Err(BadName {
        what: format!("DNS name of endpoint {id}"),
        value: name.to_owned(),
        shape: format!("under {shape}"),
    })
}

/// One label of a host name as DNS allows it (letters, digits and inner
/// hyphens, 1–63 bytes), lowercase as AWS writes its names.
fn is_ldh_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_prefix_and_8_or_17_lowercase_hex_digits() {
        for good in ["i-0123456789abcdef0", "i-0123abcd"] {
            assert_eq!(check_id(IdKind::Instance, good), Ok(()), "{good}");
        }
        assert!(check_id(IdKind::Endpoint, "eice-0a1b2c3d4e5f60021").is_ok());
        assert!(check_id(IdKind::Vpc, "vpc-11112222").is_ok());
        for bad in [
            "-F/tmp/x",
            "i-0123456789ABCDEF0",
            "i-0123456789abcdef",
            "i-0123abcd ",
            "i-0123abcd;id",
            "i-",
            "",
            "vpc-0123abcd",
            "i-0123456789abcdefg",
        ] {
            let e = check_id(IdKind::Instance, bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains("i- and 8 or 17 lowercase hex digits"),
                "{e}"
            );
        }
        assert!(check_id(IdKind::Endpoint, "eice-only-public-names").is_err());
    }

    const ID: &str = "eice-0123456789abcdef0";

    #[test]
    fn endpoint_names_are_the_services_names_in_the_region_and_partition() {
        let name = |rest: &str| format!("{ID}.{rest}");
        for (region, good) in [
            (
                "us-east-1",
                name("ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("b67b86ba.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("b67b86ba.fips.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("fips.ec2-instance-connect-endpoint.us-east-1.api.aws"),
            ),
            (
                "us-gov-west-1",
                name("fips.ec2-instance-connect-endpoint.us-gov-west-1.amazonaws.com"),
            ),
            (
                "cn-north-1",
                name("ec2-instance-connect-endpoint.cn-north-1.amazonaws.com.cn"),
            ),
            (
                "cn-north-1",
                name("ec2-instance-connect-endpoint.cn-north-1.api.amazonwebservices.com.cn"),
            ),
            (
                "us-iso-east-1",
                name("ec2-instance-connect-endpoint.us-iso-east-1.c2s.ic.gov"),
            ),
            (
                "us-isob-east-1",
                name("ec2-instance-connect-endpoint.us-isob-east-1.sc2s.sgov.gov"),
            ),
            (
                "eu-isoe-west-1",
                name("ec2-instance-connect-endpoint.eu-isoe-west-1.cloud.adc-e.uk"),
            ),
        ] {
            assert_eq!(check_endpoint_dns_name(&good, ID, region), Ok(()), "{good}");
        }
        for (region, bad) in [
            ("us-east-1", "evil.example".to_owned()),
            ("us-east-1", "127.0.0.1".to_owned()),
            // Another region's, another partition's, another endpoint's.
            (
                "us-east-1",
                name("ec2-instance-connect-endpoint.eu-west-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("ec2-instance-connect-endpoint.us-east-1.amazonaws.com.cn"),
            ),
            (
                "cn-north-1",
                name("ec2-instance-connect-endpoint.cn-north-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                "eice-0fedcba9876543210.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"
                    .to_owned(),
            ),
            // Under the domain, but not the service's name.
            (
                "us-east-1",
                name("ec2-instance-connect-endpoint.us-east-1.amazonaws.com.evil.example"),
            ),
            (
                "us-east-1",
                format!("{ID}ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("x.ec2-instance-connect-endpoint.us-east-1.amazonaws.com:8443"),
            ),
            (
                "us-east-1",
                name("a..ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("-x.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("EC2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
            (
                "us-east-1",
                name("a/b.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            ),
        ] {
            let e = check_endpoint_dns_name(&bad, ID, region).unwrap_err();
            assert!(e.to_string().contains(&format!("under {ID}.")), "{e}");
        }
        let e = check_endpoint_dns_name("evil.example", ID, "us-east-1").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "DNS name of endpoint {ID} \"evil.example\" is not under \
                 {ID}.….ec2-instance-connect-endpoint.us-east-1.amazonaws.com (or .api.aws), \
                 the endpoint's own name in its region"
            )
        );
    }
}
