//! Which way a target goes: straight through an EICE tunnel, or through a
//! hop's SSH connection. With [`super::Resolver`] this is the one place that
//! decides how a target is reached.
//!
//! The rule, in order (documented in the book, docs/src/hop.md):
//! 1. A name matching a hop's `domains` goes to that hop unresolved, so the
//!    VPC's own DNS answers it (an RDS endpoint, a private hosted zone).
//! 2. An address inside a `[[route]] via = "hop"` block goes to its hop; an
//!    address a hop's `cidrs` hold goes to that hop when EICE refuses the port.
//! 3. Anything else is resolved as before (instance id, Name tag, address).
//!    A name that is no instance's Name tag, but has a dot, goes unresolved
//!    to the default hop: a Name tag is tried first, a DNS name second.
//! 4. A resolved target inside a `via = "hop"` block goes to its hop; on a
//!    port EICE accepts, it goes straight through EICE; on any other port,
//!    to the hop serving its VPC or address, else the default hop, else it is
//!    refused with the words that say how to add one.

use std::net::IpAddr;

use super::{Lookups, Resolution, ResolveError, Resolver, Source, cidr};
use crate::config::{Config, HopConfig, RouteRule, Via};
use crate::reply::Reply;
use crate::target::{Host, Target};

/// How a target is reached.
#[derive(Debug)]
pub enum Way {
    /// Straight through an EICE tunnel.
    Direct(Resolution),
    /// Through a hop.
    Hop(HopRoute),
}

/// A stream through a hop.
#[derive(Debug, Clone)]
pub struct HopRoute {
    /// Index of the hop in the config's `[[hop]]` list.
    pub hop: usize,
    /// What the hop connects to: an address, or a name the hop resolves.
    pub host: String,
    pub port: u16,
    /// Why this target goes through the hop, for `resolve` and the logs.
    pub why: HopReason,
    /// The target's own route, when it was looked up (an instance or an address).
    pub resolution: Option<Resolution>,
    pub lookups: Lookups,
}

/// Why a target goes through a hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopReason {
    /// A `[[route]] via = "hop"` covers its address.
    Route,
    /// EICE does not carry its port.
    Port,
    /// It matches one of the hop's `domains`.
    Domain,
    /// It is a DNS name, not an instance's Name tag.
    DnsName,
}

impl std::fmt::Display for HopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HopReason::Route => "a [[route]] says via = \"hop\"",
            HopReason::Port => "EICE does not carry this port",
            HopReason::Domain => "the name matches the hop's domains",
            HopReason::DnsName => "no instance has this Name tag, so it is a DNS name for the VPC",
        })
    }
}

/// Why a target has no way to it: a port that neither EICE nor a hop carries,
/// or a lookup that failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(
        "port {port} is not allowed: EICE accepts only ports {}; to reach any other port, add a \
         [[hop]] to the config file (an instance in the VPC running sshd, which the proxy reaches \
         over EICE and forwards through; the book's page \"Any port through an SSH hop\", docs/src/hop.md)",
        list(allowed)
    )]
    PortNotAllowed { port: u16, allowed: Vec<u16> },
    #[error(
        "port {port} of {target} is not one EICE accepts ({}), and no [[hop]] serves {vpc}: \
         add vpc = \"{vpc}\" to a [[hop]], or make one default = true",
        list(allowed)
    )]
    NoHop {
        target: String,
        port: u16,
        vpc: String,
        allowed: Vec<u16>,
    },
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl RouteError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            RouteError::PortNotAllowed { .. } | RouteError::NoHop { .. } => Reply::NotAllowed,
            RouteError::Resolve(e) => e.reply(),
        }
    }
}

fn list(ports: &[u16]) -> String {
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    ports.join(" and ")
}

/// The hops and the rules that send targets to them.
#[derive(Debug, Clone)]
pub struct Router {
    hops: Vec<HopConfig>,
    /// `[[route]] via = "hop"` rules.
    via_routes: Vec<RouteRule>,
    /// Ports EICE is asked for.
    allowed_ports: Vec<u16>,
}

/// Refuses, before any AWS call, a port outside `allowed` (what EICE
/// accepts) when no hop could carry it instead: the one port rule `serve`,
/// `forward` and `connect` all apply.
pub fn check_port(allowed: &[u16], hops: bool, port: u16) -> Result<(), RouteError> {
    if hops || allowed.contains(&port) {
        Ok(())
    } else {
        Err(RouteError::PortNotAllowed {
            port,
            allowed: allowed.to_vec(),
        })
    }
}

impl Router {
    pub fn new(config: &Config) -> Router {
        Router {
            hops: config.hops.clone(),
            via_routes: config
                .routes
                .iter()
                .filter(|r| r.via.is_some())
                .cloned()
                .collect(),
            allowed_ports: config.allowed_ports.clone(),
        }
    }

    /// Decides how `target` is reached, resolving it when that is needed.
    pub async fn way(&self, resolver: &Resolver, target: &Target) -> Result<Way, RouteError> {
        let port = target.port;
        check_port(&self.allowed_ports, !self.hops.is_empty(), port)?;
        let eice_port = self.allowed_ports.contains(&port);
        let hop = |hop: usize, host: String, why: HopReason, resolution: Option<Resolution>| {
            let mut lookups = resolution
                .as_ref()
                .map(|r| r.lookups.clone())
                .unwrap_or_default();
            lookups.push(("hop", Source::Config));
            Ok(Way::Hop(HopRoute {
                hop,
                host,
                port,
                why,
                resolution,
                lookups,
            }))
        };
        if let Host::Name(name) = &target.host
            && let Some(i) = self.hops.iter().position(|h| h.serves_domain(name))
        {
            return hop(i, name.clone(), HopReason::Domain, None);
        }
        if let Some(ip) = target.host.address() {
            if let Some(i) = self.via_route(ip) {
                return hop(i, ip.to_string(), HopReason::Route, None);
            }
            if !eice_port && let Some(i) = self.hops.iter().position(|h| in_cidrs(h, ip)) {
                return hop(i, ip.to_string(), HopReason::Port, None);
            }
        }
        let resolution = match resolver.resolve(target).await {
            Ok(resolution) => resolution,
            Err(e) => {
                let (i, host, why) = self.unresolved(target, e, eice_port)?;
                return hop(i, host, why, None);
            }
        };
        let ip = resolution.tunnel().private_ip;
        if let Some(i) = self.via_route(ip) {
            return hop(i, ip.to_string(), HopReason::Route, Some(resolution));
        }
        if eice_port {
            return Ok(Way::Direct(resolution));
        }
        let serving = self
            .hops
            .iter()
            .position(|h| h.vpc.as_deref() == Some(resolution.vpc_id.as_str()) || in_cidrs(h, ip))
            .or_else(|| self.default_hop());
        match serving {
            Some(i) => hop(i, ip.to_string(), HopReason::Port, Some(resolution)),
            None => Err(RouteError::NoHop {
                target: target.to_string(),
                port,
                vpc: resolution.vpc_id.clone(),
                allowed: self.allowed_ports.clone(),
            }),
        }
    }

    /// Where a target that could not be resolved still goes: a name that is
    /// no Name tag but has a dot, to the default hop as a DNS name; an
    /// address outside every VPC with an endpoint (a peered VPC, an
    /// on-premises range), on a port EICE refuses, to the default hop.
    /// Anything else keeps its error.
    fn unresolved(
        &self,
        target: &Target,
        error: ResolveError,
        eice_port: bool,
    ) -> Result<(usize, String, HopReason), RouteError> {
        let default = self.default_hop();
        match (&error, &target.host, default) {
            (ResolveError::NameNotFound { .. }, Host::Name(name), Some(i))
                if name.contains('.') =>
            {
                Ok((i, name.clone(), HopReason::DnsName))
            }
            (
                ResolveError::NotInAnyVpc { .. }
                | ResolveError::NoEndpoint { .. }
                | ResolveError::SeveralVpcs { .. },
                host,
                Some(i),
            ) if !eice_port && host.address().is_some() => {
                let ip = host.address().expect("checked");
                Ok((i, ip.to_string(), HopReason::Port))
            }
            _ => Err(error.into()),
        }
    }

    /// The hop of the most specific `via = "hop"` rule holding `ip`.
    fn via_route(&self, ip: IpAddr) -> Option<usize> {
        let rule = cidr::pinned(&self.via_routes, |r| r, ip)?;
        match &rule.via {
            Some(Via::Hop(Some(name))) => self.hops.iter().position(|h| &h.name == name),
            // The config check made sure there is a default or a single hop.
            Some(Via::Hop(None)) => self.default_hop().or(Some(0)),
            None => None,
        }
    }

    fn default_hop(&self) -> Option<usize> {
        self.hops.iter().position(|h| h.default)
    }
}

fn in_cidrs(hop: &HopConfig, ip: IpAddr) -> bool {
    hop.cidrs.iter().any(|c| c.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_port_names_the_allowed_ones() {
        let e = RouteError::PortNotAllowed {
            port: 8080,
            allowed: vec![22, 3389],
        };
        assert!(
            e.to_string()
                .starts_with("port 8080 is not allowed: EICE accepts only ports 22 and 3389")
        );
        assert!(e.to_string().contains("add a [[hop]]"), "{e}");
        assert_eq!(e.reply().socks_code(), 0x02);
    }
}
