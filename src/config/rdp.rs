//! `[[rdp]]`: which launch key pair's `.pem` decrypts the Windows password
//! of which instances, for `eice-proxy rdp` without `--key`. Rules match as
//! `[[push_key]]` rules do ([`super::covers`]); the first matching one wins.
//!
//! The key file is read only when `rdp` uses it (it may ask for a
//! passphrase), so a rule for a key kept elsewhere never stops `serve`.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use super::covers::{Covers, Rule};
use super::expand_home;

/// `[[rdp]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdpConfig {
    /// A glob on the instance id (`i-0abc*`).
    pub instance: Option<String>,
    /// A glob on the Name tag (`win-*`), ignoring case.
    pub name: Option<String>,
    /// The instance's private address lies inside this block.
    pub cidr: Option<IpNet>,
    /// The instance is in this VPC.
    pub vpc: Option<String>,
    /// The private key (`.pem`) of the key pair the instances were launched
    /// with (`~/` is the home directory).
    pub key: PathBuf,
}

/// A rule, loaded.
#[derive(Debug, Clone)]
pub struct RdpRule {
    /// Which instances it covers.
    pub covers: Covers,
    /// The `.pem`, `~/` expanded.
    pub key: PathBuf,
}

impl RdpConfig {
    /// Checks the rule says what it matches and names a key.
    pub fn load(&self) -> Result<RdpRule, String> {
        let covers = Covers::new(
            "rdp",
            self.instance.clone(),
            self.name.clone(),
            self.cidr,
            self.vpc.clone(),
        )?;
        if self.key.as_os_str().is_empty() {
            return Err("[[rdp]] key cannot be empty: give the key pair's .pem".into());
        }
        Ok(RdpRule {
            covers,
            key: expand_home(&self.key),
        })
    }
}

impl Rule for RdpRule {
    fn covers(&self) -> &Covers {
        &self.covers
    }
}
