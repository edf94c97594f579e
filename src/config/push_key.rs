//! `[[push_key]]`: which connections push which key for which OS user.
//!
//! A rule matches by instance id glob, Name tag glob, CIDR and/or VPC (all
//! that are given must match; [`super::covers`], which `[[rdp]]` shares);
//! the first matching rule wins. Rules are read once
//! at load, with their key files, so a missing key is reported at start-up.
//! The file's format lives here, with every other table; [`crate::keys`]
//! pushes the key a rule names.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use super::covers::{Covers, Rule};
use super::expand_home;
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
    /// The instance is in this VPC.
    pub vpc: Option<String>,
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
    /// Which instances it covers.
    pub covers: Covers,
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
        let covers = Covers::new(
            "push_key",
            self.instance.clone(),
            self.name.clone(),
            self.cidr,
            self.vpc.clone(),
        )?;
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
            covers,
            os_user: self.os_user.clone(),
            key,
        })
    }
}

impl Rule for PushRule {
    fn covers(&self) -> &Covers {
        &self.covers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
