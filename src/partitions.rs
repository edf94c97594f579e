//! The AWS partitions, as the SDKs' endpoint rules see them: each one's DNS
//! suffixes, whether it offers FIPS and dual-stack endpoints, and which
//! region names belong to it.
//!
//! The figures are those of the `partitions.json` the AWS SDKs ship (version
//! 1.1, as carried by the aws-sdk-rust 2025-2026 releases); a region is
//! placed as the SDKs' partition resolver places it: a region the partition
//! lists by name, else one its region pattern matches, else the `aws`
//! partition (a region AWS has not announced yet is most likely there).

/// One partition's outputs and region names.
#[derive(Debug, PartialEq, Eq)]
pub struct Partition {
    /// `aws`, `aws-cn`, `aws-us-gov`, …
    pub name: &'static str,
    pub dns_suffix: &'static str,
    pub dual_stack_dns_suffix: &'static str,
    pub supports_fips: bool,
    pub supports_dual_stack: bool,
    /// The region pattern `^(P1|P2|…)-\w+-\d+$` by its prefixes.
    prefixes: &'static [&'static str],
    /// The regions listed by name (global pseudo-regions included).
    regions: &'static [&'static str],
}

/// Every partition, in `partitions.json`'s order.
pub const PARTITIONS: [Partition; 8] = [
    Partition {
        name: "aws",
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"],
        regions: &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "aws-global",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    },
    Partition {
        name: "aws-cn",
        dns_suffix: "amazonaws.com.cn",
        dual_stack_dns_suffix: "api.amazonwebservices.com.cn",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["cn"],
        regions: &["aws-cn-global", "cn-north-1", "cn-northwest-1"],
    },
    Partition {
        name: "aws-eusc",
        dns_suffix: "amazonaws.eu",
        dual_stack_dns_suffix: "api.amazonwebservices.eu",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["eusc-de"],
        regions: &["eusc-de-east-1"],
    },
    Partition {
        name: "aws-iso",
        dns_suffix: "c2s.ic.gov",
        dual_stack_dns_suffix: "api.aws.ic.gov",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["us-iso"],
        regions: &["aws-iso-global", "us-iso-east-1", "us-iso-west-1"],
    },
    Partition {
        name: "aws-iso-b",
        dns_suffix: "sc2s.sgov.gov",
        dual_stack_dns_suffix: "api.aws.scloud",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["us-isob"],
        regions: &["aws-iso-b-global", "us-isob-east-1", "us-isob-west-1"],
    },
    Partition {
        name: "aws-iso-e",
        dns_suffix: "cloud.adc-e.uk",
        dual_stack_dns_suffix: "api.cloud-aws.adc-e.uk",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["eu-isoe"],
        regions: &["aws-iso-e-global", "eu-isoe-west-1"],
    },
    Partition {
        name: "aws-iso-f",
        dns_suffix: "csp.hci.ic.gov",
        dual_stack_dns_suffix: "api.aws.hci.ic.gov",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["us-isof"],
        regions: &["aws-iso-f-global", "us-isof-east-1", "us-isof-south-1"],
    },
    Partition {
        name: "aws-us-gov",
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_fips: true,
        supports_dual_stack: true,
        prefixes: &["us-gov"],
        regions: &["aws-us-gov-global", "us-gov-east-1", "us-gov-west-1"],
    },
];

/// The partition `region` belongs to.
pub fn partition(region: &str) -> &'static Partition {
    PARTITIONS
        .iter()
        .find(|p| p.regions.contains(&region))
        .or_else(|| PARTITIONS.iter().find(|p| p.matches(region)))
        .unwrap_or(&PARTITIONS[0])
}

impl Partition {
    /// Whether `region` matches the partition's pattern, `^(prefix)-\w+-\d+$`.
    fn matches(&self, region: &str) -> bool {
        self.prefixes.iter().any(|prefix| {
            region
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|rest| rest.split_once('-'))
                .is_some_and(|(word, number)| {
                    !word.is_empty()
                        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
                        && !number.is_empty()
                        && number.chars().all(|c| c.is_ascii_digit())
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_placed_by_name_then_pattern_then_aws() {
        let name = |region| partition(region).name;
        assert_eq!(name("eu-west-1"), "aws");
        assert_eq!(name("us-gov-west-1"), "aws-us-gov");
        assert_eq!(name("us-iso-east-1"), "aws-iso");
        // By pattern: regions no list holds yet.
        assert_eq!(name("eusc-de-south-7"), "aws-eusc");
        assert_eq!(name("us-isob-west-9"), "aws-iso-b");
        assert_eq!(name("us-isof-north-2"), "aws-iso-f");
        assert_eq!(name("eu-isoe-north-3"), "aws-iso-e");
        assert_eq!(name("cn-south-4"), "aws-cn");
        assert_eq!(name("us-gov-south-3"), "aws-us-gov");
        assert_eq!(name("ap-moon-1"), "aws");
        // `\w+` holds no hyphen: us-iso-x-1 is aws-iso's, not aws's `us-…`;
        // a name no pattern takes falls back to aws.
        assert_eq!(name("us-iso-x-1"), "aws-iso");
        assert_eq!(name("us-gov-x-y-1"), "aws");
        assert_eq!(name("mars-east-1"), "aws");
        assert_eq!(name("eusc-fr-east-1"), "aws");
    }

    #[test]
    fn every_listed_region_matches_its_own_partition_pattern() {
        for p in &PARTITIONS {
            for region in p.regions.iter().filter(|r| !r.ends_with("-global")) {
                assert!(p.matches(region), "{} {region}", p.name);
            }
        }
    }
}
