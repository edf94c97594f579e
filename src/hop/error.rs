//! Why a stream through a hop could not be opened, in words that say what
//! to check, and what a proxy client is told of it.

use std::time::Duration;

use russh::{AlgorithmKind, ChannelOpenFailure};

use super::carrier::CarrierError;
use super::known_hosts::HostKeyError;
use crate::agent::AgentError;
use crate::reply::Reply;

/// Why a stream through a hop could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum HopError {
    #[error("hop {hop}: cannot reach the hop instance: {source}")]
    Tunnel {
        hop: String,
        source: Box<CarrierError>,
    },
    #[error("hop {hop}: {source}")]
    HostKey { hop: String, source: HostKeyError },
    #[error("hop {hop}: {why}")]
    HostKeyRefused { hop: String, why: String },
    /// The key exchange found no host-key type both sides have: the server
    /// holds none of the types asked for (see [`HostKeys::expect`]).
    #[error(
        "hop {hop}: the hop's sshd has no host key of the types asked for ({}); it offers {}",
        ours.join(", "),
        theirs.join(", ")
    )]
    NoCommonHostKey {
        hop: String,
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    #[error("hop {hop}: {instance} refused {keys} for user {user}: {hint}")]
    AuthFailed {
        hop: String,
        instance: String,
        user: String,
        /// The keys offered, by file or by fingerprint and comment.
        keys: String,
        hint: &'static str,
    },
    /// The ssh-agent could not be used: not reachable, not holding the key
    /// named (or a passphrase-protected key file), or refusing to sign.
    #[error("hop {hop}: {source}")]
    Agent { hop: String, source: AgentError },
    #[error("hop {hop}: cannot open a stream to {host}:{port}: {}", refusal(why))]
    ChannelRefused {
        hop: String,
        host: String,
        port: u16,
        why: ChannelOpenFailure,
    },
    #[error("hop {hop}: {step} took over {}s", after.as_secs())]
    Timeout {
        hop: String,
        step: &'static str,
        after: Duration,
    },
    #[error("hop {hop}: the SSH connection failed: {why}")]
    Ssh { hop: String, why: String },
}

/// The server's reason for refusing a channel, in words that say what to check.
fn refusal(why: &ChannelOpenFailure) -> String {
    match why {
        ChannelOpenFailure::AdministrativelyProhibited => {
            "the hop's sshd forbids forwarding (AllowTcpForwarding / PermitOpen in its sshd_config)"
                .into()
        }
        ChannelOpenFailure::ConnectFailed => {
            "the hop could not connect (nothing listens there, a security group or firewall \
             blocks it, or the name does not resolve in the VPC)"
                .into()
        }
        ChannelOpenFailure::ResourceShortage => "the hop's sshd is out of resources".into(),
        ChannelOpenFailure::UnknownChannelType => "the hop's sshd does not forward TCP".into(),
        ChannelOpenFailure::Other { code, reason } => format!("code {code}: {reason}"),
    }
}

impl HopError {
    /// What a proxy client is told.
    pub fn reply(&self) -> Reply {
        match self {
            HopError::Tunnel { source, .. } => source.reply(),
            HopError::HostKey {
                source: HostKeyError::File { .. },
                ..
            } => Reply::GeneralFailure,
            HopError::HostKey { .. }
            | HopError::HostKeyRefused { .. }
            | HopError::NoCommonHostKey { .. }
            | HopError::AuthFailed { .. } => Reply::NotAllowed,
            HopError::ChannelRefused { why, .. } => match why {
                ChannelOpenFailure::AdministrativelyProhibited => Reply::NotAllowed,
                ChannelOpenFailure::ConnectFailed => Reply::ConnectionRefused,
                _ => Reply::GeneralFailure,
            },
            HopError::Timeout { .. } => Reply::TimedOut,
            HopError::Agent { source, .. } => match source {
                AgentError::NotSet
                | AgentError::Connect { .. }
                | AgentError::Protocol { .. }
                | AgentError::Unsupported => Reply::GeneralFailure,
                _ => Reply::NotAllowed,
            },
            HopError::Ssh { .. } => Reply::GeneralFailure,
        }
    }
}

/// russh reports its own failures through the handler's error type; the
/// hop's name is filled in by [`Hop::named`].
impl From<russh::Error> for HopError {
    fn from(e: russh::Error) -> HopError {
        match e {
            russh::Error::NoCommonAlgo {
                kind: AlgorithmKind::Key,
                ours,
                theirs,
            } => HopError::NoCommonHostKey {
                hop: String::new(),
                ours,
                theirs,
            },
            e => HopError::Ssh {
                hop: String::new(),
                why: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_host_key_negotiation_is_its_own_refusal() {
        let e = HopError::from(russh::Error::NoCommonAlgo {
            kind: AlgorithmKind::Key,
            ours: vec!["ssh-ed25519".into()],
            theirs: vec!["ecdsa-sha2-nistp256".into()],
        });
        assert!(matches!(e, HopError::NoCommonHostKey { .. }), "{e}");
        assert_eq!(e.reply(), Reply::NotAllowed);
        let cipher = HopError::from(russh::Error::NoCommonAlgo {
            kind: AlgorithmKind::Cipher,
            ours: vec![],
            theirs: vec![],
        });
        assert!(matches!(cipher, HopError::Ssh { .. }), "{cipher}");
    }

    #[test]
    fn channel_refusals_map_to_replies_that_say_what_to_check() {
        let refused = |why| HopError::ChannelRefused {
            hop: "prod".into(),
            host: "db.internal".into(),
            port: 5432,
            why,
        };
        let e = refused(ChannelOpenFailure::AdministrativelyProhibited);
        assert_eq!(e.reply(), Reply::NotAllowed);
        assert!(e.to_string().contains("AllowTcpForwarding"), "{e}");
        let e = refused(ChannelOpenFailure::ConnectFailed);
        assert_eq!(e.reply(), Reply::ConnectionRefused);
        assert!(
            e.to_string().starts_with(
                "hop prod: cannot open a stream to db.internal:5432: the hop could not connect"
            ),
            "{e}"
        );
    }
}
