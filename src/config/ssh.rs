//! `[ssh]`: how `eice-proxy ssh` logs in and how the hops' host keys are
//! trusted.

use serde::Deserialize;

/// `[ssh]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The OS user to log in as when the command line names none
    /// (default `ec2-user`).
    pub user: Option<String>,
    /// Where hop host keys not in `~/.ssh/known_hosts` are trusted on first
    /// use (default `$XDG_STATE_HOME/eice-proxy/known_hosts`).
    pub known_hosts: Option<std::path::PathBuf>,
    /// Whether a hop whose host key is recorded nowhere may be trusted on
    /// first use. Spelled as in ssh_config too, so a line can be carried over.
    #[serde(default, alias = "StrictHostKeyChecking")]
    pub strict_host_key_checking: StrictHostKeyChecking,
}

/// OpenSSH's `StrictHostKeyChecking`, for the hops' host keys: the two
/// values that never let a changed key through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum StrictHostKeyChecking {
    /// Never learn a key: every hop's key must be recorded beforehand (a
    /// team that distributes its known_hosts file).
    Yes,
    /// Learn the key of a host that has none recorded; refuse any other.
    #[default]
    AcceptNew,
}

impl TryFrom<String> for StrictHostKeyChecking {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "yes" | "true" => Ok(StrictHostKeyChecking::Yes),
            "accept-new" => Ok(StrictHostKeyChecking::AcceptNew),
            "no" | "off" | "false" => Err(format!(
                "strict_host_key_checking = {value:?} is not offered: it would let a changed host \
                 key through; use \"accept-new\" (learn only unknown hosts) or \"yes\""
            )),
            "ask" => Err(
                "strict_host_key_checking = \"ask\" is not offered: a proxy has no terminal to ask \
                 on; use \"yes\" or \"accept-new\""
                    .into(),
            ),
            _ => Err(format!(
                "strict_host_key_checking must be \"yes\" or \"accept-new\", got {value:?}"
            )),
        }
    }
}
