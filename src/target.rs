//! What the client asked for, before any AWS call: an instance id, an IP, an
//! EC2 private DNS name, or the `Name` tag of an instance.
//!
//! Parsing is purely textual so that a typo is answered at once and the
//! resolver only sees well-formed requests. Names are case-insensitive (OpenSSH
//! lowercases `%h`) and a trailing dot is accepted (a fully qualified name).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// A target host in one of the forms the proxy understands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `i-0123456789abcdef0` (or the older 8-digit form), lowercased.
    InstanceId(String),
    /// A literal address.
    Ip(IpAddr),
    /// `ip-10-0-1-25.ec2.internal` or `ip-10-0-1-25.<region>.compute.internal`.
    PrivateDns {
        ip: Ipv4Addr,
        /// The region named by the `compute.internal` form; `ec2.internal` is us-east-1.
        region: String,
    },
    /// Anything else: the `Name` tag of an instance, compared case-insensitively.
    Name(String),
}

/// A host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

/// A host that cannot be any of the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target host is empty")]
    Empty,
    #[error(
        "{0:?} is not a valid host name (use an instance id, a private IP, a private DNS name or an instance's Name tag)"
    )]
    Invalid(String),
    #[error("{0:?} looks like an instance id but is not one (i- followed by 8 or 17 hex digits)")]
    BadInstanceId(String),
    #[error("{0:?} has no port: write HOST:PORT ([v6]:PORT for an IPv6 address)")]
    MissingPort(String),
    #[error("{0:?} does not end in a port (1-65535)")]
    BadPort(String),
}

impl Host {
    /// The address an IP or an EC2 private DNS name spells; `None` for
    /// instance ids and names, which need a lookup.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::PrivateDns { ip, .. } => Some(IpAddr::V4(*ip)),
            Host::InstanceId(_) | Host::Name(_) => None,
        }
    }

    /// Parses a host as a SOCKS domain, an HTTP authority host or a command-line argument.
    pub fn parse(text: &str) -> Result<Host, TargetError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Err(TargetError::Empty);
        }
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        let lower = text.to_ascii_lowercase();
        if let Some(hex) = lower.strip_prefix("i-")
            && !lower.contains('.')
        {
            let valid = matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| b.is_ascii_hexdigit());
            return if valid {
                Ok(Host::InstanceId(lower))
            } else {
                Err(TargetError::BadInstanceId(text.to_owned()))
            };
        }
        if let Some(dns) = parse_private_dns(&lower) {
            return Ok(dns);
        }
        // Empty labels ("a..b", ".a", "a..") are no host name; refusing them
        // also keeps parse(display(host)) == host (found by the fuzzer).
        let empty_label = text.starts_with('.') || text.ends_with('.') || text.contains("..");
        if empty_label
            || text.len() > 255
            || text.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(TargetError::Invalid(text.to_owned()));
        }
        Ok(Host::Name(text.to_owned()))
    }
}

impl Target {
    /// Parses `HOST:PORT` (`[v6]:PORT` for IPv6), as a target is written on
    /// the command line and in the config file. The port is required: a
    /// forward to "some port" of a host is a typo, not a default.
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        let (host, port) =
            split_port(text).ok_or_else(|| TargetError::MissingPort(text.to_owned()))?;
        let port = match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(TargetError::BadPort(text.to_owned())),
        };
        Ok(Target {
            host: Host::parse(host)?,
            port,
        })
    }

    /// [`Target::parse`], with `port` for a host written alone.
    pub fn parse_or_port(text: &str, port: u16) -> Result<Target, TargetError> {
        match split_port(text) {
            Some(_) => Target::parse(text),
            None => Ok(Target {
                host: Host::parse(text)?,
                port,
            }),
        }
    }
}

/// `HOST:PORT` split at its last colon, unless that colon is inside a bare
/// IPv6 address (`fd00::1` is a host alone; `[fd00::1]:22` has a port).
fn split_port(text: &str) -> Option<(&str, &str)> {
    let (host, port) = text.rsplit_once(':')?;
    (!host.contains(':') || host.ends_with(']')).then_some((host, port))
}

/// `ip-a-b-c-d.ec2.internal` / `ip-a-b-c-d.<region>.compute.internal`.
fn parse_private_dns(lower: &str) -> Option<Host> {
    let (first, rest) = lower.split_once('.')?;
    let ip = first
        .strip_prefix("ip-")?
        .replace('-', ".")
        .parse::<Ipv4Addr>()
        .ok()?;
    let region = if rest == "ec2.internal" {
        "us-east-1".to_owned()
    } else {
        let region = rest.strip_suffix(".compute.internal")?;
        let region_like = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        if region.is_empty() || region.len() > 32 || !region.bytes().all(region_like) {
            return None;
        }
        region.to_owned()
    };
    Some(Host::PrivateDns { ip, region })
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::InstanceId(id) => f.write_str(id),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::PrivateDns { ip, region } if region == "us-east-1" => {
                write!(f, "ip-{}.ec2.internal", ip.to_string().replace('.', "-"))
            }
            Host::PrivateDns { ip, region } => {
                write!(
                    f,
                    "ip-{}.{region}.compute.internal",
                    ip.to_string().replace('.', "-")
                )
            }
            Host::Name(name) => f.write_str(name),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_in_both_lengths_and_any_case() {
        assert_eq!(
            Host::parse("i-0123456789abcdef0"),
            Ok(Host::InstanceId("i-0123456789abcdef0".into()))
        );
        assert_eq!(
            Host::parse("I-01234567"),
            Ok(Host::InstanceId("i-01234567".into()))
        );
        assert_eq!(
            Host::parse("i-0123456789ABCDEF0."),
            Ok(Host::InstanceId("i-0123456789abcdef0".into()))
        );
        assert!(matches!(
            Host::parse("i-xyz"),
            Err(TargetError::BadInstanceId(_))
        ));
        assert!(matches!(
            Host::parse("i-0123456789abcdef"),
            Err(TargetError::BadInstanceId(_))
        ));
    }

    #[test]
    fn addresses_with_and_without_brackets() {
        assert_eq!(
            Host::parse("10.0.1.25"),
            Ok(Host::Ip("10.0.1.25".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("[fd00::25]"),
            Ok(Host::Ip("fd00::25".parse().unwrap()))
        );
        assert_eq!(
            Host::parse("fd00::25"),
            Ok(Host::Ip("fd00::25".parse().unwrap()))
        );
    }

    #[test]
    fn both_private_dns_forms() {
        let ip: Ipv4Addr = "10.0.1.25".parse().unwrap();
        assert_eq!(
            Host::parse("ip-10-0-1-25.ec2.internal"),
            Ok(Host::PrivateDns {
                ip,
                region: "us-east-1".into()
            })
        );
        assert_eq!(
            Host::parse("IP-10-0-1-25.eu-west-1.compute.internal."),
            Ok(Host::PrivateDns {
                ip,
                region: "eu-west-1".into()
            })
        );
        // A region that cannot be one leaves an ordinary (here: invalid) name.
        assert!(matches!(
            Host::parse("ip-10-0-0-1.a b.compute.internal"),
            Err(TargetError::Invalid(_))
        ));
        // Not quite the EC2 pattern: an ordinary name.
        assert_eq!(
            Host::parse("ip-10-0-1.ec2.internal"),
            Ok(Host::Name("ip-10-0-1.ec2.internal".into()))
        );
    }

    #[test]
    fn other_names_are_name_tags_and_junk_is_refused() {
        assert_eq!(Host::parse("web-1"), Ok(Host::Name("web-1".into())));
        assert_eq!(Host::parse("Web-1."), Ok(Host::Name("Web-1".into())));
        assert_eq!(Host::parse(""), Err(TargetError::Empty));
        assert!(matches!(Host::parse("a b"), Err(TargetError::Invalid(_))));
        for empty_label in ["1.40..", "a..b", ".web-1", "web-1.."] {
            assert!(
                matches!(Host::parse(empty_label), Err(TargetError::Invalid(_))),
                "{empty_label}"
            );
        }
    }

    #[test]
    fn targets_need_a_port_unless_one_is_given_for_them() {
        let t = Target::parse("i-0123456789abcdef0:3389").unwrap();
        assert_eq!(t.host, Host::InstanceId("i-0123456789abcdef0".into()));
        assert_eq!(t.port, 3389);
        assert_eq!(
            Target::parse("[fd00::1]:22").unwrap().to_string(),
            "[fd00::1]:22"
        );
        assert_eq!(
            Target::parse("web-1"),
            Err(TargetError::MissingPort("web-1".into()))
        );
        assert_eq!(
            Target::parse("fd00::1"),
            Err(TargetError::MissingPort("fd00::1".into()))
        );
        for bad in ["web-1:", "web-1:0", "web-1:70000", "web-1:ssh"] {
            assert_eq!(Target::parse(bad), Err(TargetError::BadPort(bad.into())));
        }
        assert!(matches!(
            Target::parse("i-xyz:22"),
            Err(TargetError::BadInstanceId(_))
        ));
        assert_eq!(Target::parse(":22"), Err(TargetError::Empty));
        assert_eq!(Target::parse_or_port("web-1", 22).unwrap().port, 22);
        assert_eq!(Target::parse_or_port("fd00::1", 22).unwrap().port, 22);
        assert_eq!(Target::parse_or_port("web-1:3389", 22).unwrap().port, 3389);
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "i-0123456789abcdef0",
            "10.0.1.25",
            "[fd00::25]",
            "ip-10-0-1-25.ec2.internal",
            "ip-10-0-1-25.eu-west-1.compute.internal",
            "web-1",
        ] {
            assert_eq!(Host::parse(text).unwrap().to_string(), text);
        }
    }
}
