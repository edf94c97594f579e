//! `NO_PROXY`: the hosts that go direct, in the grammar curl reads.

use std::net::IpAddr;

use ipnet::IpNet;

use super::split_authority;

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// `*`: nothing goes through the proxy.
    All,
    /// `example.com`, `.example.com` or `*.example.com`: the name and every
    /// name below it.
    Domain { suffix: String, port: Option<u16> },
    /// An address or a block (`10.0.0.0/8`, `::1`).
    Net { net: IpNet, port: Option<u16> },
}

/// The hosts that go direct, as `NO_PROXY` lists them: comma- or
/// space-separated names (each matching itself and its subdomains, a
/// leading `.` or `*.` allowed), addresses, CIDR blocks, each optionally with
/// `:PORT`, or `*` for all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    rules: Vec<Rule>,
}

impl NoProxy {
    pub fn parse(text: &str) -> NoProxy {
        let rules = text
            .split([',', ' ', '\t'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter_map(rule)
            .collect();
        NoProxy { rules }
    }

    /// Whether a connection to `host:port` goes direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let ip: Option<IpAddr> = host.trim_matches(['[', ']']).parse().ok();
        self.rules.iter().any(|rule| match rule {
            Rule::All => true,
            Rule::Domain { suffix, port: p } => {
                p.is_none_or(|p| p == port)
                    && (host == *suffix || host.ends_with(&format!(".{suffix}")))
            }
            Rule::Net { net, port: p } => {
                p.is_none_or(|p| p == port) && ip.is_some_and(|ip| net.contains(&ip))
            }
        })
    }
}

fn rule(entry: &str) -> Option<Rule> {
    if entry == "*" {
        return Some(Rule::All);
    }
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(Rule::Net { net, port: None });
    }
    if let Ok(ip) = entry.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Some(Rule::Net {
            net: IpNet::from(ip),
            port: None,
        });
    }
    let (host, port) = split_authority(entry)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Rule::Net {
            net: IpNet::from(ip),
            port,
        });
    }
    let suffix = host
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_owned();
    (!suffix.is_empty()).then_some(Rule::Domain { suffix, port })
}
