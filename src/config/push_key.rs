//! `[[push_key]]`: which connections push which key for which OS user.
//!
//! A rule matches by instance id glob, Name tag glob and/or CIDR (all that
//! are given must match); the first matching rule wins. Rules are read once
//! at load, with their key files, so a missing key is reported at start-up.
//! The file's format lives here, with every other table; [`crate::keys`]
//! pushes the key a rule names.

use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use super::expand_home;
use crate::glob::glob;
use crate::public_key::PublicKey;

/// The OS user pushed for when a rule or the command line names none: the
/// default user of Amazon Linux, where EC2 Instance Connect is preinstalled.
pub const DEFAULT_OS_USER: &str = "ec2-user";

/// `[[push_key]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushKeyConfig {
    /// A glob on the instance id (`i-0abc*`).
    pub instance: Option<String>,
    /// A glob on the Name tag (`web-*`), ignoring case as ssh does.
    pub name: Option<String>,
    /// The instance's private address lies inside this block.
    pub cidr: Option<IpNet>,
    /// The user the key is pushed for (the one ssh will log in as).
    #[serde(default = "default_os_user")]
    pub os_user: String,
    /// The `.pub` file to push (`~/` is the home directory).
    pub public_key: Option<PathBuf>,
    /// Or a key of the ssh-agent (`SSH_AUTH_SOCK`), by its comment or
    /// `SHA256:` fingerprint: a key that never leaves the agent or a token.
    pub agent_key: Option<String>,
}

fn default_os_user() -> String {
    DEFAULT_OS_USER.to_owned()
}

/// A rule, loaded.
#[derive(Debug, Clone)]
pub struct PushRule {
    pub instance: Option<String>,
    pub name: Option<String>,
    pub cidr: Option<IpNet>,
    pub os_user: String,
    pub key: RuleKey,
}

/// The key a rule pushes.
#[derive(Debug, Clone)]
pub enum RuleKey {
    /// Read from its `.pub` file at load.
    File(PublicKey),
    /// Asked of the ssh-agent at each push, by comment or fingerprint, so a
    /// key added to the agent after start-up is found.
    Agent(String),
}

impl PushKeyConfig {
    /// Reads the key file and checks the rule says what it matches.
    pub fn load(&self) -> Result<PushRule, String> {
        if self.instance.is_none() && self.name.is_none() && self.cidr.is_none() {
            return Err(
                "[[push_key]] needs at least one of instance = \"i-…*\", name = \"…*\" or cidr"
                    .into(),
            );
        }
        if self.os_user.is_empty() {
            return Err("[[push_key]] os_user cannot be empty".into());
        }
        let key = match (&self.public_key, &self.agent_key) {
            (Some(path), None) => RuleKey::File(
                PublicKey::read(&expand_home(path))
                    .map_err(|e| format!("[[push_key]] public_key: {e}"))?,
            ),
            (None, Some(name)) if !name.is_empty() => RuleKey::Agent(name.clone()),
            (None, Some(_)) => {
                return Err(
                    "[[push_key]] agent_key cannot be empty: give a key's comment or \
                            its SHA256:… fingerprint (ssh-add -l)"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "[[push_key]] needs one of public_key = \"~/.ssh/….pub\" or \
                            agent_key = \"COMMENT\" / \"SHA256:…\""
                        .into(),
                );
            }
        };
        Ok(PushRule {
            instance: self.instance.clone(),
            name: self.name.clone(),
            cidr: self.cidr,
            os_user: self.os_user.clone(),
            key,
        })
    }
}

impl PushRule {
    /// Whether this rule covers the instance `id` (Name `name`) at `ip`.
    pub fn matches(&self, id: &str, name: Option<&str>, ip: IpAddr) -> bool {
        self.instance.as_deref().is_none_or(|g| glob(g, id))
            && self
                .name
                .as_deref()
                .is_none_or(|g| name.is_some_and(|n| glob(&g.to_lowercase(), &n.to_lowercase())))
            && self.cidr.is_none_or(|c| c.contains(&ip))
    }
}

/// The first rule covering the instance.
pub fn first_match<'a>(
    rules: &'a [PushRule],
    id: &str,
    name: Option<&str>,
    ip: IpAddr,
) -> Option<&'a PushRule> {
    rules.iter().find(|r| r.matches(id, name, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(instance: Option<&str>, name: Option<&str>, cidr: Option<&str>) -> PushRule {
        PushRule {
            instance: instance.map(Into::into),
            name: name.map(Into::into),
            cidr: cidr.map(|c| c.parse().unwrap()),
            os_user: "ec2-user".into(),
            key: RuleKey::File(
                PublicKey::parse("ssh-ed25519 AAAAC3Nz x", std::path::Path::new("k")).unwrap(),
            ),
        }
    }

    #[test]
    fn a_rule_pushes_a_key_file_or_an_agent_key() {
        let load = |text: &str| toml::from_str::<PushKeyConfig>(text).unwrap().load();
        let rule = load("name = \"web-*\"\nagent_key = \"SHA256:abc\"").unwrap();
        assert!(matches!(&rule.key, RuleKey::Agent(n) if n == "SHA256:abc"));
        let e = load("name = \"web-*\"").unwrap_err();
        assert!(e.contains("needs one of public_key"), "{e}");
        let e = load("name = \"w\"\nagent_key = \"me\"\npublic_key = \"k.pub\"").unwrap_err();
        assert!(e.contains("needs one of"), "{e}");
    }

    #[test]
    fn every_given_criterion_must_match() {
        let ip: IpAddr = "10.0.1.10".parse().unwrap();
        let r = rule(Some("i-0a*"), Some("WEB-*"), Some("10.0.0.0/16"));
        assert!(r.matches("i-0a1", Some("web-1"), ip));
        assert!(!r.matches("i-0b1", Some("web-1"), ip));
        assert!(!r.matches("i-0a1", None, ip));
        assert!(!r.matches("i-0a1", Some("web-1"), "10.1.0.1".parse().unwrap()));
        let rules = [
            rule(None, Some("db-*"), None),
            rule(None, None, Some("10.0.0.0/8")),
        ];
        assert!(first_match(&rules, "i-1", Some("web-1"), ip).is_some_and(|r| r.cidr.is_some()));
    }
}
