//! The hop's host key, checked the way OpenSSH checks it.
//!
//! A hop is named by its instance id, so that is the alias its key is
//! recorded under (as `eice-proxy ssh` records it, with `HostKeyAlias`). Two
//! files are read, the user's `~/.ssh/known_hosts` first, then eice-proxy's
//! own, where keys are learned; [`hostfile`] reads them as ssh does (hashed
//! names, patterns, negations, `@revoked`, `@cert-authority`).
//!
//! The rules, in the order they are applied to the key the server proves it
//! holds:
//! 1. a key listed `@revoked` for the host is refused, even if also listed
//!    as good;
//! 2. a key recorded for the host is accepted;
//! 3. if any key at all is recorded for the host, of whatever type, the
//!    server's key is refused as changed: a server must not get past a pin by
//!    offering a key of another type;
//! 4. a host with only an `@cert-authority` line is refused: eice-proxy does
//!    not check certificates, and ignoring the line would let any key in;
//! 5. a host with nothing recorded is learned into the own file (trust on
//!    first use), unless `strict_host_key_checking = "yes"` forbids it.
//!
//! A line is trusted only from a file no one else could have written
//! ([`crate::private_fs`], as OpenSSH's `StrictModes`): a file or its
//! directory owned by another user, or writable by its group or others, is
//! refused whole, since anyone who can write `* ssh-ed25519 KEY` there passes
//! every hop's check. For the same reason the own file never falls back to a
//! shared directory such as `/tmp` when there is no home directory: that is
//! an error naming the fix; and its directory is created 0700.
//!
//! Before the key exchange, [`HostKeys::expect`] says which host-key
//! algorithms to ask for: only those of the recorded keys, as OpenSSH orders
//! `HostKeyAlgorithms` by known_hosts, so a server holding several keys
//! presents the pinned one, and one holding none of them fails the exchange
//! before any authentication.

use std::io::Write as _;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt as _;

use russh::keys::{Algorithm, HashAlg, PublicKey};

use super::hostfile::{self, Entry, Marker, key_kind};
use crate::config::StrictHostKeyChecking;
use crate::private_fs::{self, Untrusted};

/// The port hop connections go to, which decides the name keys are recorded under.
const SSH_PORT: u16 = 22;

/// The two files a host key is looked up in, and whether unknown keys may be learned.
#[derive(Debug, Clone)]
pub struct HostKeys {
    /// `~/.ssh/known_hosts`, read only.
    pub user_file: Option<PathBuf>,
    /// eice-proxy's own file, where unknown keys are learned.
    pub own_file: PathBuf,
    /// `[ssh] strict_host_key_checking`: `yes` never learns.
    pub strict: StrictHostKeyChecking,
}

/// How a key came to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Recorded in this file before.
    Known(PathBuf),
    /// Seen for the first time and written to this file.
    Learned(PathBuf),
}

/// A known_hosts line that names the host, and the file it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub file: PathBuf,
    pub entry: Entry,
}

impl std::fmt::Display for Recorded {
    /// `ED25519 key in FILE:LINE`, as ssh's "Offending … key in …" names it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} key in {}:{}",
            self.entry.kind(),
            self.file.display(),
            self.entry.line
        )
    }
}

/// What to ask of a host before the key exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The host-key algorithms to offer; `None` when nothing is recorded,
    /// so that any the client supports will do.
    pub algorithms: Option<Vec<Algorithm>>,
    /// The first key recorded for the host, named when a server offers none
    /// of the recorded types.
    pub pinned: Option<Recorded>,
}

/// Why a hop's host key was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error(
        "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @ IT IS POSSIBLE THAT SOMEONE IS DOING \
         SOMETHING NASTY! {alias} {offered}, which is not a key recorded for it. Offending \
         {recorded}. Host key verification failed. If the instance was replaced, remove the old \
         key with: ssh-keygen -R {alias} -f {}",
        recorded.file.display()
    )]
    Changed {
        alias: String,
        /// What the server showed: `sent the ECDSA key SHA256:…`, or `offers only … host keys`.
        offered: String,
        recorded: Recorded,
    },
    #[error(
        "@ WARNING: REVOKED HOST KEY DETECTED! @ The {kind} host key {fingerprint} of {alias} is \
         marked as revoked in {}:{line}. This could mean that a stolen key is being used to \
         impersonate this host. Host key verification failed.",
        file.display()
    )]
    Revoked {
        alias: String,
        kind: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },
    #[error(
        "{}:{line} trusts a certificate authority (@cert-authority) for {alias}, but eice-proxy \
         does not check host certificates, so it cannot verify the {kind} key {fingerprint} the \
         hop sent. Host key verification failed. Record the host's own key for {alias} in {} \
         (or ~/.ssh/known_hosts), beside or instead of the @cert-authority line",
        file.display(),
        own_file.display()
    )]
    CertAuthority {
        alias: String,
        kind: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
        own_file: PathBuf,
    },
    #[error(
        "no host key is recorded for {alias} and strict_host_key_checking is \"yes\": Host key \
         verification failed. The hop sent the {kind} key {fingerprint}; after checking it against \
         the instance's console output (aws ec2 get-console-output --instance-id {alias}), record \
         it by adding this line to {} (or ~/.ssh/known_hosts): {line}",
        own_file.display()
    )]
    Unknown {
        alias: String,
        kind: String,
        fingerprint: String,
        /// The known_hosts line that would record the key.
        line: String,
        own_file: PathBuf,
    },
    #[error(
        "the keys recorded for {alias} ({types}, first at {}:{line}) are of types eice-proxy cannot \
         check. Host key verification failed. Record an ed25519, ECDSA or RSA key for it",
        file.display()
    )]
    Unsupported {
        alias: String,
        types: String,
        file: PathBuf,
        line: usize,
    },
    #[error("hop host key file {}: {why}", file.display())]
    File { file: PathBuf, why: String },
    #[error(
        "the hop host keys in {} are not trusted: {why}. Host key verification failed",
        file.display()
    )]
    Untrusted { file: PathBuf, why: Untrusted },
    #[error(
        "no private place for the hops' learned host keys: neither XDG_STATE_HOME (an absolute \
         path) nor HOME is set, and a shared directory such as /tmp would let any local user \
         plant a key that every hop then trusts. Set HOME or XDG_STATE_HOME for this process \
         (a systemd service: User=, or Environment=), or name the file with [ssh] known_hosts"
    )]
    NoStateDir,
}

// These run once per SSH connection to a hop, never per stream or byte: a
// large error costs nothing there, and keeps every detail the message needs.
#[allow(clippy::result_large_err)]
impl HostKeys {
    /// The user's file under `$HOME`, and `own_file` (default
    /// `$XDG_STATE_HOME/eice-proxy/known_hosts`, else `~/.local/state/…`);
    /// an error with neither variable set and no `own_file`.
    pub fn new(
        own_file: Option<PathBuf>,
        strict: StrictHostKeyChecking,
    ) -> Result<HostKeys, HostKeyError> {
        let own_file = match own_file {
            Some(file) => file,
            None => crate::config::xdg_dir("XDG_STATE_HOME", ".local/state")
                .ok_or(HostKeyError::NoStateDir)?
                .join("known_hosts"),
        };
        Ok(HostKeys {
            user_file: crate::config::home_dir().map(|h| h.join(".ssh/known_hosts")),
            own_file,
            strict,
        })
    }

    /// Every line of both files that names `alias`, the user's file first.
    pub fn recorded(&self, alias: &str) -> Result<Vec<Recorded>, HostKeyError> {
        let name = hostfile::host_name(alias, SSH_PORT);
        let files = self.user_file.iter().chain(std::iter::once(&self.own_file));
        let mut found = Vec::new();
        for file in files {
            trusted(file)?;
            let entries = hostfile::read(file, &name).map_err(|e| HostKeyError::File {
                file: file.clone(),
                why: e.to_string(),
            })?;
            found.extend(entries.into_iter().map(|entry| Recorded {
                file: file.clone(),
                entry,
            }));
        }
        Ok(found)
    }

    /// The host-key algorithms to ask `alias` for: those of its recorded
    /// keys, in the order they are recorded, or any when none is.
    pub fn expect(&self, alias: &str) -> Result<Expected, HostKeyError> {
        let recorded = self.recorded(alias)?;
        let pinned: Vec<&Recorded> = recorded
            .iter()
            .filter(|r| r.entry.marker.is_none())
            .collect();
        let Some(first) = pinned.first() else {
            return Ok(Expected {
                algorithms: None,
                pinned: None,
            });
        };
        let mut algorithms: Vec<Algorithm> = Vec::new();
        for algorithm in pinned.iter().flat_map(|r| r.entry.algorithms()) {
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            let types: Vec<&str> = pinned.iter().map(|r| r.entry.key_type.as_str()).collect();
            return Err(HostKeyError::Unsupported {
                alias: alias.to_owned(),
                types: types.join(", "),
                file: first.file.clone(),
                line: first.entry.line,
            });
        }
        Ok(Expected {
            algorithms: Some(algorithms),
            pinned: Some((*first).clone()),
        })
    }

    /// Checks `key` for the host known as `alias` by the rules in the module
    /// docs, learning it when nothing is recorded and learning is allowed.
    pub fn check(&self, alias: &str, key: &PublicKey) -> Result<Trust, HostKeyError> {
        let recorded = self.recorded(alias)?;
        let kind = key_kind(&key.algorithm());
        let with = |marker| recorded.iter().filter(move |r| r.entry.marker == marker);
        if let Some(revoked) = with(Some(Marker::Revoked)).find(|r| r.entry.holds(key)) {
            return Err(HostKeyError::Revoked {
                alias: alias.to_owned(),
                kind,
                fingerprint: fingerprint(key),
                file: revoked.file.clone(),
                line: revoked.entry.line,
            });
        }
        if let Some(known) = with(None).find(|r| r.entry.holds(key)) {
            return Ok(Trust::Known(known.file.clone()));
        }
        if let Some(other) = with(None).next() {
            return Err(HostKeyError::Changed {
                alias: alias.to_owned(),
                offered: format!("sent the {kind} key {}", fingerprint(key)),
                recorded: other.clone(),
            });
        }
        if let Some(ca) = with(Some(Marker::CertAuthority)).next() {
            return Err(HostKeyError::CertAuthority {
                alias: alias.to_owned(),
                kind,
                fingerprint: fingerprint(key),
                file: ca.file.clone(),
                line: ca.entry.line,
                own_file: self.own_file.clone(),
            });
        }
        let line = known_hosts_line(alias, key)?;
        match self.strict {
            StrictHostKeyChecking::Yes => Err(HostKeyError::Unknown {
                alias: alias.to_owned(),
                kind,
                fingerprint: fingerprint(key),
                line,
                own_file: self.own_file.clone(),
            }),
            StrictHostKeyChecking::AcceptNew => {
                learn(&self.own_file, &line)?;
                Ok(Trust::Learned(self.own_file.clone()))
            }
        }
    }
}

/// `ALIAS TYPE BASE64`: the line that records `key` for `alias`.
#[allow(clippy::result_large_err)]
fn known_hosts_line(alias: &str, key: &PublicKey) -> Result<String, HostKeyError> {
    let mut bare = key.clone();
    bare.set_comment("");
    let openssh = bare.to_openssh().map_err(|e| HostKeyError::File {
        file: PathBuf::from("(the offered key)"),
        why: e.to_string(),
    })?;
    Ok(format!(
        "{} {}",
        hostfile::host_name(alias, SSH_PORT),
        openssh.trim_end()
    ))
}

/// The directory `file` is in (`.` for a bare name).
fn dir_of(file: &Path) -> &Path {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Refuses `file` when it, or its directory, someone else could have written.
#[allow(clippy::result_large_err)]
fn trusted(file: &Path) -> Result<(), HostKeyError> {
    let refuse = |why| HostKeyError::Untrusted {
        file: file.to_owned(),
        why,
    };
    private_fs::check_dir(dir_of(file)).map_err(refuse)?;
    private_fs::check_path(file).map_err(refuse)
}

/// Appends `line`, creating the file (0600) and its directory (0700) private
/// to the user, and refusing one that is not.
#[allow(clippy::result_large_err)]
fn learn(file: &Path, line: &str) -> Result<(), HostKeyError> {
    let failed = |e: &dyn std::fmt::Display| HostKeyError::File {
        file: file.to_owned(),
        why: e.to_string(),
    };
    private_fs::create_private_dir(dir_of(file)).map_err(|e| failed(&e))?;
    let ends_open = std::fs::read(file).is_ok_and(|text| text.last().is_some_and(|b| *b != b'\n'));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options.open(file).map_err(|e| failed(&e))?;
    private_fs::check_file(&out, file).map_err(|why| HostKeyError::Untrusted {
        file: file.to_owned(),
        why,
    })?;
    let newline = if ends_open { "\n" } else { "" };
    out.write_all(format!("{newline}{line}\n").as_bytes())
        .map_err(|e| failed(&e))?;
    Ok(())
}

/// `SHA256:…`, as ssh prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(all(test, unix))]
mod planted;
#[cfg(test)]
mod tests;
