//! `[[hop]]`: an instance with sshd that carries traffic EICE will not.
//!
//! EICE opens tunnels to ports 22 and 3389 only. A hop is an instance the
//! proxy reaches over one of those tunnels with SSH; every other target it
//! serves is reached by a `direct-tcpip` channel on that one connection. The
//! entry says which instance, as whom, with which key, and which targets it
//! serves: a VPC, address blocks, DNS names by pattern, or everything no
//! other hop claims (`default = true`).

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use super::DEFAULT_OS_USER;
use crate::target::Host;

/// A `[[hop]]`, checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawHop")]
pub struct HopConfig {
    /// What logs, errors and `[[route]] hop = …` call it (default: `instance`).
    pub name: String,
    /// The hop instance: an instance id or a Name tag.
    pub instance: Host,
    /// The user the SSH connection logs in as.
    pub os_user: String,
    /// The private key it authenticates with (`~/` is the home directory);
    /// unset, `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`. With an ssh-agent
    /// (`SSH_AUTH_SOCK`), the agent's keys are offered too, as OpenSSH does,
    /// and a passphrase-protected file is used through the agent.
    pub key: Option<PathBuf>,
    /// One key of the ssh-agent, by its comment or `SHA256:` fingerprint:
    /// the only key offered (and pushed), for an agent that holds several.
    pub agent_key: Option<String>,
    /// Push the key's `.pub` with EC2 Instance Connect before each connection.
    pub push_key: bool,
    /// Serves targets in this VPC.
    pub vpc: Option<String>,
    /// Serves addresses in these blocks.
    pub cidrs: Vec<IpNet>,
    /// Serves DNS names matching these patterns (`*.rds.amazonaws.com`),
    /// passed to the hop unresolved.
    pub domains: Vec<String>,
    /// Serves what no other hop claims, including DNS names that are no
    /// instance's Name tag.
    pub default: bool,
}

/// `[[hop]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHop {
    name: Option<String>,
    instance: String,
    #[serde(default)]
    os_user: Option<String>,
    key: Option<PathBuf>,
    agent_key: Option<String>,
    #[serde(default)]
    push_key: bool,
    vpc: Option<String>,
    #[serde(default)]
    cidrs: Vec<IpNet>,
    #[serde(default)]
    domains: Vec<String>,
    #[serde(default)]
    default: bool,
}

impl TryFrom<RawHop> for HopConfig {
    type Error = String;

    fn try_from(raw: RawHop) -> Result<HopConfig, String> {
        let instance = match Host::parse(&raw.instance) {
            Ok(host @ (Host::InstanceId(_) | Host::Name(_))) => host,
            Ok(_) => {
                return Err(format!(
                    "[[hop]] instance = {:?}: name the hop by instance id or Name tag, not by address",
                    raw.instance
                ));
            }
            Err(e) => return Err(format!("[[hop]] instance: {e}")),
        };
        if raw.vpc.is_none() && raw.cidrs.is_empty() && raw.domains.is_empty() && !raw.default {
            return Err(format!(
                "[[hop]] {:?} serves nothing: give it vpc = \"vpc-…\", cidrs = [...], \
                 domains = [\"*.example.internal\"] or default = true",
                raw.instance
            ));
        }
        for pattern in &raw.domains {
            let rest = pattern.strip_prefix("*.").unwrap_or(pattern);
            if rest.is_empty() || rest.contains('*') {
                return Err(format!(
                    "[[hop]] domains: {pattern:?} is not a name or a \"*.suffix\" pattern"
                ));
            }
        }
        if raw.key.is_some() && raw.agent_key.is_some() {
            return Err(format!(
                "[[hop]] {:?}: give key (a file) or agent_key (a key of the ssh-agent), not both",
                raw.instance
            ));
        }
        if raw.agent_key.as_deref().is_some_and(str::is_empty) {
            return Err("[[hop]] agent_key cannot be empty: give a key's comment or its SHA256:… fingerprint (ssh-add -l)".into());
        }
        let os_user = raw.os_user.unwrap_or_else(|| DEFAULT_OS_USER.to_owned());
        if os_user.is_empty() {
            return Err("[[hop]] os_user cannot be empty".into());
        }
        Ok(HopConfig {
            name: raw.name.unwrap_or_else(|| raw.instance.clone()),
            instance,
            os_user,
            key: raw.key,
            agent_key: raw.agent_key,
            push_key: raw.push_key,
            vpc: raw.vpc,
            cidrs: raw.cidrs,
            domains: raw.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            default: raw.default,
        })
    }
}

impl HopConfig {
    /// Whether `name` (lowercase, no trailing dot) matches one of `domains`.
    pub fn serves_domain(&self, name: &str) -> bool {
        self.domains
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(suffix) => name
                    .strip_suffix(suffix)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => name == pattern,
            })
    }
}

/// Checks that span entries: names are unique, at most one hop is the
/// default, and each `[[route]] via = "hop"` finds its hop.
pub(super) fn check(hops: &[HopConfig], routes: &[super::RouteRule]) -> Result<(), String> {
    for (i, hop) in hops.iter().enumerate() {
        if hops[..i].iter().any(|h| h.name == hop.name) {
            return Err(format!("two [[hop]] entries are named {:?}", hop.name));
        }
    }
    if hops.iter().filter(|h| h.default).count() > 1 {
        return Err("more than one [[hop]] has default = true".into());
    }
    for route in routes {
        match &route.via {
            Some(super::Via::Hop(Some(name))) if !hops.iter().any(|h| &h.name == name) => {
                return Err(format!(
                    "[[route]] for {} names hop {name:?}, but no [[hop]] has that name",
                    route.cidr
                ));
            }
            Some(super::Via::Hop(None)) if hops.len() != 1 && !hops.iter().any(|h| h.default) => {
                return Err(format!(
                    "[[route]] for {} says via = \"hop\" but not which: add hop = \"NAME\" \
                     (or mark one [[hop]] default = true)",
                    route.cidr
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(extra: &str) -> Result<HopConfig, String> {
        let text = format!("instance = \"i-0123456789abcdef0\"\n{extra}");
        toml::from_str::<HopConfig>(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_hop_must_serve_something() {
        let e = hop("").unwrap_err();
        assert!(e.contains("serves nothing"), "{e}");
        let h = hop("default = true").unwrap();
        assert_eq!(h.name, "i-0123456789abcdef0");
        assert_eq!(h.os_user, "ec2-user");
    }

    #[test]
    fn domain_patterns_match_whole_labels() {
        let h = hop("domains = [\"*.vpc.internal\", \"db.example.com\"]").unwrap();
        assert!(h.serves_domain("web.vpc.internal"));
        assert!(h.serves_domain("a.b.vpc.internal"));
        assert!(!h.serves_domain("vpc.internal"));
        assert!(!h.serves_domain("evilvpc.internal"));
        assert!(h.serves_domain("db.example.com"));
        assert!(!h.serves_domain("x.db.example.com"));
        assert!(hop("domains = [\"*\"]").is_err());
    }

    #[test]
    fn a_hop_names_a_key_file_or_an_agent_key_not_both() {
        let h = hop("default = true\nagent_key = \"SHA256:abc\"").unwrap();
        assert_eq!(h.agent_key.as_deref(), Some("SHA256:abc"));
        let e = hop("default = true\nagent_key = \"me\"\nkey = \"~/.ssh/k\"").unwrap_err();
        assert!(e.contains("not both"), "{e}");
        assert!(hop("default = true\nagent_key = \"\"").is_err());
    }

    #[test]
    fn a_hop_is_named_by_instance_not_address() {
        let e = toml::from_str::<HopConfig>("instance = \"10.0.0.1\"\ndefault = true")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not by address"), "{e}");
    }
}
