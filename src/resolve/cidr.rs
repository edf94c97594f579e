//! Placing a bare IP address: which VPC's CIDR blocks hold it, unless a
//! `[[route]]` rule in the config pins it.
//!
//! Overlapping VPC ranges (every team's 10.0.0.0/16) are common, and EICE
//! cannot tell them apart from an address alone, so an address in several VPCs
//! is an error that names them rather than a guess.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::RouteRule;

/// The most specific `[[route]]` rule containing `ip`, among `routes` that
/// each hold a rule (`rule` reaches it).
pub fn pinned<T>(routes: &[T], rule: impl Fn(&T) -> &RouteRule, ip: IpAddr) -> Option<&T> {
    routes
        .iter()
        .filter(|r| rule(r).cidr.contains(&ip))
        .max_by_key(|r| rule(r).cidr.prefix_len())
}

/// The distinct VPCs whose blocks contain `ip`, in table order.
pub fn vpcs_containing(table: &[(IpNet, String)], ip: IpAddr) -> Vec<String> {
    let mut vpcs: Vec<String> = Vec::new();
    for (net, vpc) in table {
        if net.contains(&ip) && !vpcs.contains(vpc) {
            vpcs.push(vpc.clone());
        }
    }
    vpcs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(cidr: &str, vpc: &str) -> RouteRule {
        RouteRule {
            cidr: cidr.parse().unwrap(),
            vpc: Some(vpc.into()),
            region: None,
            profile: None,
            endpoint: None,
            via: None,
        }
    }

    #[test]
    fn the_longest_prefix_wins() {
        let routes = [
            rule("10.0.0.0/8", "vpc-wide"),
            rule("10.0.1.0/24", "vpc-narrow"),
        ];
        let ip = "10.0.1.5".parse().unwrap();
        assert_eq!(
            pinned(&routes, |r| r, ip).unwrap().vpc.as_deref(),
            Some("vpc-narrow")
        );
        assert!(pinned(&routes, |r| r, "192.168.0.1".parse().unwrap()).is_none());
    }

    #[test]
    fn overlapping_vpcs_are_all_reported_once() {
        let table = vec![
            ("10.0.0.0/16".parse().unwrap(), "vpc-a".to_string()),
            ("10.0.0.0/16".parse().unwrap(), "vpc-b".to_string()),
            ("10.0.1.0/24".parse().unwrap(), "vpc-a".to_string()),
            ("172.16.0.0/12".parse().unwrap(), "vpc-c".to_string()),
        ];
        assert_eq!(
            vpcs_containing(&table, "10.0.1.9".parse().unwrap()),
            ["vpc-a", "vpc-b"]
        );
        assert_eq!(
            vpcs_containing(&table, "172.20.0.1".parse().unwrap()),
            ["vpc-c"]
        );
        assert!(vpcs_containing(&table, "192.168.1.1".parse().unwrap()).is_empty());
    }
}
