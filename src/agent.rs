//! The user's ssh-agent (`SSH_AUTH_SOCK`): the keys it holds, in its order,
//! and signatures made with them.
//!
//! Keys kept in an agent (OpenSSH's, 1Password's, a hardware token's) never
//! leave it: eice-proxy asks for their public halves, to push one with EC2
//! Instance Connect or to offer it to a hop's sshd, and asks the agent to sign
//! the hop's login. It never reads a passphrase and never prompts; a
//! passphrase-protected key file is used through the agent that holds it.
//!
//! The agent is reached over a Unix socket, so on other systems every use of
//! it reports [`AgentError::Unsupported`].

use std::fmt;
use std::path::{Path, PathBuf};

use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::{AgentClient, AgentStream};
use russh::keys::{HashAlg, PublicKey as SshPublicKey};

use crate::public_key::PublicKey;

/// The variable that names the agent's socket, as OpenSSH reads it.
pub const AUTH_SOCK: &str = "SSH_AUTH_SOCK";

/// What went wrong with the agent, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "no ssh-agent: SSH_AUTH_SOCK is not set (start one with `eval $(ssh-agent)` and add keys with ssh-add)"
    )]
    NotSet,
    #[error(
        "cannot reach the ssh-agent at {socket} (SSH_AUTH_SOCK): {source}; is the agent running?"
    )]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the ssh-agent at {socket} (SSH_AUTH_SOCK) answered badly: {why}")]
    Protocol { socket: PathBuf, why: String },
    #[error("the ssh-agent at {socket} (SSH_AUTH_SOCK) holds no keys: add one with ssh-add")]
    Empty { socket: PathBuf },
    #[error(
        "the ssh-agent at {socket} (SSH_AUTH_SOCK) holds no key with the comment or fingerprint \
         {name:?}; it holds: {}",
        held.join(", ")
    )]
    NoMatch {
        socket: PathBuf,
        name: String,
        held: Vec<String>,
    },
    #[error(
        "the ssh-agent refused to sign with the key {key} (a confirm prompt declined, a token not touched, or the key removed)"
    )]
    Refused { key: String },
    #[error(
        "the key {} is passphrase-protected or unreadable, and {}: add it with `ssh-add {}` \
         (eice-proxy never asks for a passphrase)",
        path.display(),
        agent.as_deref().map_or_else(
            || "no ssh-agent is set (SSH_AUTH_SOCK)".to_owned(),
            |s| format!("the ssh-agent at {} does not hold it", s.display())
        ),
        path.display()
    )]
    NotInAgent {
        path: PathBuf,
        agent: Option<PathBuf>,
    },
    #[error("ssh-agent support needs a Unix socket; this system has none")]
    #[cfg_attr(unix, allow(dead_code))]
    Unsupported,
}

/// One key the agent holds: its public half and the comment `ssh-add` gave it.
#[derive(Clone)]
pub struct AgentKey {
    pub public: SshPublicKey,
    pub comment: String,
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentKey({} {})", self.fingerprint(), self.comment)
    }
}

impl AgentKey {
    /// `SHA256:…`, as `ssh-add -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.public.fingerprint(HashAlg::Sha256).to_string()
    }

    /// Whether `name` is this key's SHA256 fingerprint or its comment.
    pub fn is_named(&self, name: &str) -> bool {
        match name.strip_prefix("SHA256:") {
            Some(_) => self.fingerprint() == name,
            None => self.comment == name,
        }
    }

    /// The key as pushed with EC2 Instance Connect; `from` says where it came
    /// from in messages.
    pub fn to_public_key(&self, socket: &Path) -> Result<PublicKey, AgentError> {
        let line = self.public.to_openssh().map_err(|e| AgentError::Protocol {
            socket: socket.to_owned(),
            why: e.to_string(),
        })?;
        PublicKey::parse(&format!("{line} {}", self.comment), socket).map_err(|why| {
            AgentError::Protocol {
                socket: socket.to_owned(),
                why,
            }
        })
    }

    /// `FINGERPRINT (COMMENT)`, for messages.
    pub fn describe(&self) -> String {
        if self.comment.is_empty() {
            self.fingerprint()
        } else {
            format!("{} ({})", self.fingerprint(), self.comment)
        }
    }
}

/// A connection to the agent. Requests go one at a time, so a caller that
/// signs while another lists keys opens a connection of its own.
pub struct Agent {
    socket: PathBuf,
    client: AgentClient<Box<dyn AgentStream + Send + Unpin + 'static>>,
}

impl Agent {
    /// The agent's socket, from `SSH_AUTH_SOCK`; `None` when it is unset or empty.
    pub fn socket_from_env() -> Option<PathBuf> {
        std::env::var_os(AUTH_SOCK)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// Connects to the agent `SSH_AUTH_SOCK` names.
    pub async fn from_env() -> Result<Agent, AgentError> {
        let socket = Agent::socket_from_env().ok_or(AgentError::NotSet)?;
        Agent::connect(&socket).await
    }

    /// Connects to the agent listening on `socket`.
    #[cfg(unix)]
    pub async fn connect(socket: &Path) -> Result<Agent, AgentError> {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|source| AgentError::Connect {
                socket: socket.to_owned(),
                source,
            })?;
        Ok(Agent {
            socket: socket.to_owned(),
            client: AgentClient::connect(stream).dynamic(),
        })
    }

    /// No Unix sockets here: the agent cannot be reached.
    #[cfg(not(unix))]
    pub async fn connect(_socket: &Path) -> Result<Agent, AgentError> {
        Err(AgentError::Unsupported)
    }

    /// Where the agent listens.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The plain keys the agent holds, in its order (the order OpenSSH
    /// offers them in). Certificates are left out: EC2 Instance Connect
    /// takes plain keys, and the agent holds the key of each certificate too.
    pub async fn keys(&mut self) -> Result<Vec<AgentKey>, AgentError> {
        let identities = self
            .client
            .request_identities()
            .await
            .map_err(|e| self.protocol(e))?;
        Ok(identities
            .into_iter()
            .filter_map(|identity| match identity {
                AgentIdentity::PublicKey { key, comment } => Some(AgentKey {
                    public: key,
                    comment,
                }),
                AgentIdentity::Certificate { .. } => None,
            })
            .collect())
    }

    /// The agent's first key, the one OpenSSH offers first.
    pub async fn first(&mut self) -> Result<AgentKey, AgentError> {
        let keys = self.keys().await?;
        keys.into_iter().next().ok_or_else(|| AgentError::Empty {
            socket: self.socket.clone(),
        })
    }

    /// The key named `name`: its `SHA256:` fingerprint or its comment.
    pub async fn named(&mut self, name: &str) -> Result<AgentKey, AgentError> {
        let keys = self.keys().await?;
        if keys.is_empty() {
            return Err(AgentError::Empty {
                socket: self.socket.clone(),
            });
        }
        let held = keys.iter().map(AgentKey::describe).collect();
        keys.into_iter()
            .find(|k| k.is_named(name))
            .ok_or_else(|| AgentError::NoMatch {
                socket: self.socket.clone(),
                name: name.to_owned(),
                held,
            })
    }

    /// The client, to sign an SSH login with (it is russh's `Signer`).
    pub fn signer(&mut self) -> &mut AgentClient<Box<dyn AgentStream + Send + Unpin + 'static>> {
        &mut self.client
    }

    fn protocol(&self, e: russh::keys::Error) -> AgentError {
        AgentError::Protocol {
            socket: self.socket.clone(),
            why: e.to_string(),
        }
    }

    /// The error of a refused or failed signature with `key`.
    pub fn sign_error(&self, key: &AgentKey, e: russh::AgentAuthError) -> AgentError {
        match e {
            russh::AgentAuthError::Key(russh::keys::Error::AgentFailure) => AgentError::Refused {
                key: key.describe(),
            },
            e => AgentError::Protocol {
                socket: self.socket.clone(),
                why: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(comment: &str) -> AgentKey {
        AgentKey {
            public: SshPublicKey::from_openssh(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICk2Be7osBfYAZb99+OWr676aC33VsPdYgo8MvtuXyRQ",
            )
            .unwrap(),
            comment: comment.into(),
        }
    }

    #[test]
    fn a_key_is_named_by_its_comment_or_its_sha256_fingerprint() {
        let k = key("me@laptop");
        assert!(k.is_named("me@laptop"));
        assert!(!k.is_named("me@desktop"));
        let fp = k.fingerprint();
        assert!(fp.starts_with("SHA256:"), "{fp}");
        assert!(k.is_named(&fp));
        assert!(!k.is_named("SHA256:AAAA"));
        assert_eq!(k.describe(), format!("{fp} (me@laptop)"));
        let pushed = k.to_public_key(Path::new("agent.sock")).unwrap();
        assert_eq!(pushed.kind(), "ssh-ed25519");
        assert!(pushed.line().ends_with(" me@laptop"), "{}", pushed.line());
    }

    #[test]
    fn a_locked_key_file_says_to_ssh_add_it() {
        let e = AgentError::NotInAgent {
            path: "/home/me/.ssh/id_ed25519".into(),
            agent: None,
        };
        let text = e.to_string();
        assert!(
            text.contains("`ssh-add /home/me/.ssh/id_ed25519`"),
            "{text}"
        );
        assert!(text.contains("SSH_AUTH_SOCK"), "{text}");
        let e = AgentError::NotInAgent {
            path: "k".into(),
            agent: Some("/run/agent.sock".into()),
        };
        assert!(
            e.to_string()
                .contains("the ssh-agent at /run/agent.sock does not hold it"),
            "{e}"
        );
    }
}
