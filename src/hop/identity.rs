//! Which keys a hop offers its sshd, in which order, and how each signs:
//! a key file, the ssh-agent's keys, or both, combined as OpenSSH combines
//! them.
//!
//! OpenSSH offers, in order: the configured key files the agent holds (the
//! agent signs), then the agent's other keys in the agent's order, then the
//! configured files the agent does not hold (read from disk). A hop does the
//! same. Naming one agent key (`agent_key`) offers that key alone, and a hop
//! that pushes its key offers only the key it pushed: the instance accepts
//! no other. A passphrase-protected key file is used only through an agent
//! that holds it; nothing here reads a passphrase.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::{PrivateKey, PublicKey as SshPublicKey};
use tracing::warn;

use crate::agent::{Agent, AgentError, AgentKey};
use crate::config::{HopConfig, expand_home, home_dir};
use crate::public_key::PublicKey;

/// What a hop logs in with, as configured and read at start-up.
pub struct Identity {
    /// The key file: `key`, or the default one found.
    file: Option<KeyFile>,
    /// Whether `key` names the file (a default file is only a candidate).
    explicit_file: bool,
    /// `agent_key`: one agent key by comment or fingerprint.
    agent_key: Option<String>,
    /// The hop pushes its key: only that one is offered.
    push: bool,
}

/// A key file, read without its passphrase.
struct KeyFile {
    path: PathBuf,
    public: SshPublicKey,
    /// `None` when the file is passphrase-protected or unreadable (only its
    /// `.pub` was): then only an agent holding it can sign.
    private: Option<Arc<PrivateKey>>,
}

/// One key offered to the hop's sshd, and what signs with it.
pub enum Offer {
    File { key: Arc<PrivateKey>, path: PathBuf },
    Agent(AgentKey),
}

impl Offer {
    /// The key's public half, as pushed.
    pub fn public_key(&self, agent: Option<&Agent>) -> Result<PublicKey, String> {
        match self {
            Offer::File { key, path } => {
                let line = key.public_key().to_openssh().map_err(|e| e.to_string())?;
                PublicKey::parse(&line, &pub_path(path))
            }
            Offer::Agent(key) => {
                let socket = agent.map_or(Path::new("ssh-agent"), Agent::socket);
                key.to_public_key(socket).map_err(|e| e.to_string())
            }
        }
    }

    /// The key, for messages: its file, or its fingerprint and comment.
    pub fn describe(&self) -> String {
        match self {
            Offer::File { path, .. } => path.display().to_string(),
            Offer::Agent(key) => format!("{} from the ssh-agent", key.describe()),
        }
    }
}

/// The keys of one login, in order, and the agent connection that signs
/// the agent's keys.
pub struct Offers {
    pub keys: Vec<Offer>,
    pub agent: Option<Agent>,
}

impl Identity {
    /// Reads the key file of `config` (without a passphrase). Fails when
    /// there is nothing to log in with, or when the file is
    /// passphrase-protected and no agent is set to hold it.
    pub fn load(config: &HopConfig, push: bool) -> Result<Identity, String> {
        let hop = &config.name;
        let agent_set = Agent::socket_from_env().is_some();
        if let Some(name) = &config.agent_key
            && !agent_set
        {
            return Err(format!(
                "[[hop]] {hop}: agent_key = {name:?} names a key of the ssh-agent, but \
                 SSH_AUTH_SOCK is not set (start one with `eval $(ssh-agent)` and ssh-add the key)"
            ));
        }
        let path = match (&config.key, &config.agent_key) {
            (Some(path), _) => Some(expand_home(path)),
            (None, Some(_)) => None,
            (None, None) => match default_key() {
                Some(path) => Some(path),
                None if agent_set => None,
                None => {
                    return Err(format!(
                        "[[hop]] {hop}: no key given, no ssh-agent (SSH_AUTH_SOCK), and neither \
                         ~/.ssh/id_ed25519 nor ~/.ssh/id_rsa exists; set key = \"~/.ssh/…\" or \
                         add a key to an ssh-agent"
                    ));
                }
            },
        };
        let file = path
            .map(|p| KeyFile::read(&p))
            .transpose()
            .map_err(|e| format!("[[hop]] {hop}: {e}"))?;
        if let Some(f) = &file
            && f.private.is_none()
            && !agent_set
        {
            let e = AgentError::NotInAgent {
                path: f.path.clone(),
                agent: None,
            };
            return Err(format!("[[hop]] {hop}: {e}"));
        }
        Ok(Identity {
            file,
            explicit_file: config.key.is_some(),
            agent_key: config.agent_key.clone(),
            push,
        })
    }

    /// What the hop logs in with, for `doctor`.
    pub fn describe(&self) -> String {
        match (&self.file, &self.agent_key) {
            (_, Some(name)) => format!("the ssh-agent's key {name:?}"),
            (Some(f), None) if Agent::socket_from_env().is_some() => {
                format!("{} and the ssh-agent's keys", f.path.display())
            }
            (Some(f), None) => f.path.display().to_string(),
            (None, None) => "the ssh-agent's keys".into(),
        }
    }

    /// The keys to offer now, in OpenSSH's order, asking the agent what it
    /// holds (it may have changed since the last login).
    pub async fn offers(&self) -> Result<Offers, AgentError> {
        let mut agent = self.agent().await?;
        let held = match agent.as_mut() {
            Some(a) => match a.keys().await {
                Ok(keys) => keys,
                Err(e) if self.needs_agent() => return Err(e),
                Err(e) => {
                    warn!("not using the ssh-agent: {e}");
                    agent = None;
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let keys = match &self.agent_key {
            Some(name) => vec![Offer::Agent(pick(agent.as_ref(), held, name)?)],
            None => self.ordered(agent.as_ref(), held)?,
        };
        let keys = if self.push {
            keys.into_iter().take(1).collect()
        } else {
            keys
        };
        if keys.is_empty() {
            return Err(match agent {
                Some(a) => AgentError::Empty {
                    socket: a.socket().to_owned(),
                },
                None => AgentError::NotSet,
            });
        }
        Ok(Offers { keys, agent })
    }

    /// The agent, when one is set; `None` when none is, or when it cannot
    /// be reached and a key file can do without it (as OpenSSH goes on).
    async fn agent(&self) -> Result<Option<Agent>, AgentError> {
        if Agent::socket_from_env().is_none() && !self.needs_agent() {
            return Ok(None);
        }
        match Agent::from_env().await {
            Ok(agent) => Ok(Some(agent)),
            Err(e) if self.needs_agent() => Err(self.locked(e)),
            Err(e) => {
                warn!("not using the ssh-agent: {e}");
                Ok(None)
            }
        }
    }

    /// Whether only the agent can sign: an agent key is named, or the file
    /// cannot be read without it, or there is no file.
    fn needs_agent(&self) -> bool {
        self.agent_key.is_some() || self.file.as_ref().is_none_or(|f| f.private.is_none())
    }

    /// A missing agent, for a locked key file: the words say to ssh-add it.
    fn locked(&self, e: AgentError) -> AgentError {
        match &self.file {
            Some(f) if f.private.is_none() && self.agent_key.is_none() => AgentError::NotInAgent {
                path: f.path.clone(),
                agent: Agent::socket_from_env(),
            },
            _ => e,
        }
    }

    /// The file if the agent holds it, the agent's other keys, then the file
    /// if it does not. With a push (or a named file) the file comes first:
    /// it is the key the user chose.
    fn ordered(
        &self,
        agent: Option<&Agent>,
        held: Vec<AgentKey>,
    ) -> Result<Vec<Offer>, AgentError> {
        let Some(file) = &self.file else {
            return Ok(held.into_iter().map(Offer::Agent).collect());
        };
        let in_agent = held
            .iter()
            .position(|k| k.public.key_data() == file.public.key_data());
        let mut offers = Vec::with_capacity(held.len() + 1);
        let mut others = Vec::with_capacity(held.len());
        for (i, key) in held.into_iter().enumerate() {
            if Some(i) == in_agent {
                offers.push(Offer::Agent(key));
            } else {
                others.push(Offer::Agent(key));
            }
        }
        if in_agent.is_none() {
            match &file.private {
                Some(key) if self.push && self.explicit_file => offers.push(Offer::File {
                    key: Arc::clone(key),
                    path: file.path.clone(),
                }),
                Some(key) => others.push(Offer::File {
                    key: Arc::clone(key),
                    path: file.path.clone(),
                }),
                None if self.explicit_file => {
                    return Err(AgentError::NotInAgent {
                        path: file.path.clone(),
                        agent: agent.map(|a| a.socket().to_owned()),
                    });
                }
                // A default file that is locked and not in the agent: OpenSSH
                // would prompt for it; the agent's keys are offered instead.
                None => {}
            }
        }
        offers.extend(others);
        Ok(offers)
    }
}

/// The agent key `name` names, from the keys the agent `held`.
fn pick(agent: Option<&Agent>, held: Vec<AgentKey>, name: &str) -> Result<AgentKey, AgentError> {
    let socket = agent.map(|a| a.socket().to_owned()).unwrap_or_default();
    if held.is_empty() {
        return Err(AgentError::Empty { socket });
    }
    let described = held.iter().map(AgentKey::describe).collect();
    held.into_iter()
        .find(|k| k.is_named(name))
        .ok_or_else(|| AgentError::NoMatch {
            socket,
            name: name.to_owned(),
            held: described,
        })
}

impl KeyFile {
    /// The private key if it can be read without a passphrase; else its
    /// public half alone, from the file's unencrypted header or its `.pub`.
    fn read(path: &Path) -> Result<KeyFile, String> {
        let text = std::fs::read_to_string(path);
        if let Ok(text) = &text {
            if let Ok(key) = PrivateKey::from_openssh(text)
                && key.is_encrypted()
            {
                return Ok(KeyFile {
                    path: path.to_owned(),
                    public: key.public_key().clone(),
                    private: None,
                });
            }
            if let Ok(key) = russh::keys::decode_secret_key(text, None) {
                return Ok(KeyFile {
                    path: path.to_owned(),
                    public: key.public_key().clone(),
                    private: Some(Arc::new(key)),
                });
            }
        }
        // Unreadable, or a format whose public half is not in the clear: the
        // `.pub` beside it says which key the agent must hold.
        let public = russh::keys::load_public_key(pub_path(path)).map_err(|pub_error| {
            let why = match &text {
                Err(e) => e.to_string(),
                Ok(_) => "not a private key this program reads without a passphrase".into(),
            };
            format!(
                "cannot use the key {}: {why}; nor its public key {}: {pub_error}",
                path.display(),
                pub_path(path).display()
            )
        })?;
        Ok(KeyFile {
            path: path.to_owned(),
            public,
            private: None,
        })
    }
}

/// `KEY.pub`.
fn pub_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// `~/.ssh/id_ed25519`, else `~/.ssh/id_rsa`, as `eice-proxy ssh` picks
/// (either file, or its `.pub` alone for a key kept in an agent).
fn default_key() -> Option<PathBuf> {
    let ssh = home_dir()?.join(".ssh");
    ["id_ed25519", "id_rsa"]
        .iter()
        .map(|name| ssh.join(name))
        .find(|path| path.exists() || pub_path(path).exists())
}
