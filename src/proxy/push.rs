//! The SSH key pushed with EC2 Instance Connect before a port-22 tunnel:
//! the hop's own, or a `[[push_key]]` rule's (from a file or the ssh-agent).

use super::Proxy;
use crate::agent::{Agent, AgentError};
use crate::config::{RuleKey, first_match};
use crate::error::Error;
use crate::public_key::PublicKey;
use crate::resolve::Resolution;

impl Proxy {
    /// Pushes `key` for `os_user`, when given, else the key of the first
    /// `[[push_key]]` rule covering the resolution's instance, if any.
    pub(super) async fn push_key(
        &self,
        resolution: &Resolution,
        key: Option<(&str, &PublicKey)>,
    ) -> Result<(), Error> {
        if key.is_none() && self.push_rules.is_empty() {
            return Ok(());
        }
        let Some(instance) = self.resolver.instance_of(resolution).await? else {
            return Ok(());
        };
        let ip = resolution.tunnel().private_ip;
        let from_agent;
        let (os_user, key) = match key {
            Some(given) => given,
            None => match first_match(&self.push_rules, &instance, ip) {
                Some(rule) => match &rule.key {
                    RuleKey::File(key) => (rule.os_user.as_str(), key),
                    RuleKey::Agent(name) => {
                        from_agent = agent_key(name).await?;
                        (rule.os_user.as_str(), &from_agent)
                    }
                },
                None => return Ok(()),
            },
        };
        self.keys
            .push(&resolution.scope, &instance, os_user, key)
            .await?;
        tracing::debug!(instance = %instance.id, os_user, "SSH key pushed");
        Ok(())
    }
}

/// The public half of the ssh-agent's key `name` (comment or fingerprint),
/// asked of the agent at each push so a key added after start-up is found.
async fn agent_key(name: &str) -> Result<PublicKey, AgentError> {
    let mut agent = Agent::from_env().await?;
    let key = agent.named(name).await?;
    key.to_public_key(agent.socket())
}
