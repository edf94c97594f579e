//! Why a path is blocked: which check refused it, in words a person can act on
//! (the text the simulated EICE records in its stats).

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use crate::world::IMPLICIT_DENY_RULE;

/// Which check refused a path, with what a person needs to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// No egress rule of the endpoint's groups lets it out to the instance.
    EndpointEgress {
        /// The endpoint's groups.
        groups: Vec<String>,
        /// The instance's address.
        target: IpAddr,
        /// The port.
        port: u16,
    },
    /// No ingress rule of the instance's groups lets the connection in.
    InstanceIngress {
        /// The instance's groups.
        groups: Vec<String>,
        /// The address the instance sees the connection come from.
        source: IpAddr,
        /// The groups the connection comes from (none when the client's IP is
        /// preserved).
        from_groups: Vec<String>,
        /// The port.
        port: u16,
    },
    /// A network ACL denies the connection or its replies.
    Acl {
        /// The ACL.
        acl: String,
        /// The subnet it applies to.
        subnet: String,
        /// Outbound (`true`) or inbound.
        egress: bool,
        /// The other end's address.
        peer: IpAddr,
        /// The destination ports concerned.
        ports: RangeInclusive<u16>,
        /// The entry that denies (32767 for the `*` deny).
        rule: u16,
    },
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocked::EndpointEgress {
                groups,
                target,
                port,
            } => write!(
                f,
                "no egress rule of {} allows tcp {port} to {target}",
                groups.join(", ")
            ),
            Blocked::InstanceIngress {
                groups,
                source,
                from_groups,
                port,
            } => {
                write!(
                    f,
                    "no ingress rule of {} allows tcp {port} from {source}",
                    groups.join(", ")
                )?;
                if !from_groups.is_empty() {
                    write!(f, " or from {}", from_groups.join(", "))?;
                }
                Ok(())
            }
            Blocked::Acl {
                acl,
                subnet,
                egress,
                peer,
                ports,
                rule,
            } => {
                let (way, preposition) = if *egress {
                    ("outbound", "to")
                } else {
                    ("inbound", "from")
                };
                let rule = match *rule {
                    IMPLICIT_DENY_RULE => "*".to_owned(),
                    number => number.to_string(),
                };
                write!(
                    f,
                    "network ACL {acl} of {subnet} denies {way} tcp {} {preposition} {peer} (rule {rule})",
                    port_text(ports)
                )
            }
        }
    }
}

fn port_text(ports: &RangeInclusive<u16>) -> String {
    if ports.start() == ports.end() {
        ports.start().to_string()
    } else {
        format!("{}-{}", ports.start(), ports.end())
    }
}
