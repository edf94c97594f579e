//! The hop's host key, checked the way ssh checks it.
//!
//! A hop is named by its instance id, so that is the alias its key is
//! recorded under (as `eice-proxy ssh` records it, with `HostKeyAlias`). The
//! user's `~/.ssh/known_hosts` is asked first, so a key the user already
//! trusts, hashed or not, is used as is; otherwise eice-proxy's own file
//! answers, and a key seen for the first time is written there (trust on
//! first use) with a log line. A key that differs from a recorded one is
//! refused with ssh's words: that is what a man in the middle looks like.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use russh::keys::known_hosts::check_known_hosts_path;
use russh::keys::{HashAlg, PublicKey};

use super::HopError;

/// The two files a host key is looked up in.
#[derive(Debug, Clone)]
pub struct HostKeys {
    /// `~/.ssh/known_hosts`, read only.
    pub user_file: Option<PathBuf>,
    /// eice-proxy's own file, where unknown keys are learned.
    pub own_file: PathBuf,
}

/// How a key came to be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Recorded in this file before.
    Known(PathBuf),
    /// Seen for the first time and written to this file.
    Learned(PathBuf),
}

impl HostKeys {
    /// The user's file under `$HOME`, and `own_file` (default
    /// `$XDG_STATE_HOME/eice-proxy/known_hosts`, else `~/.local/state/…`).
    pub fn new(own_file: Option<PathBuf>) -> HostKeys {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".local/state")))
            .unwrap_or_else(std::env::temp_dir);
        HostKeys {
            user_file: home.map(|h| h.join(".ssh/known_hosts")),
            own_file: own_file.unwrap_or_else(|| state.join("eice-proxy/known_hosts")),
        }
    }

    /// Checks `key` for the host known as `alias`: known in either file,
    /// else learned into the own file; a different key of the same type is
    /// refused.
    pub fn check(&self, alias: &str, key: &PublicKey) -> Result<Trust, HopError> {
        let files = self.user_file.iter().chain(std::iter::once(&self.own_file));
        for file in files {
            match check_known_hosts_path(alias, 22, key, file) {
                Ok(true) => return Ok(Trust::Known(file.clone())),
                Ok(false) => {}
                Err(russh::keys::Error::KeyChanged { line }) => {
                    return Err(HopError::HostKeyChanged {
                        alias: alias.to_owned(),
                        key_type: key.algorithm().to_string(),
                        fingerprint: fingerprint(key),
                        file: file.clone(),
                        line,
                    });
                }
                Err(e) => {
                    return Err(HopError::KnownHosts {
                        file: file.clone(),
                        why: e.to_string(),
                    });
                }
            }
        }
        learn(&self.own_file, alias, key)?;
        Ok(Trust::Learned(self.own_file.clone()))
    }
}

/// Appends the key, creating the file (and its directory) private to the user.
fn learn(file: &Path, alias: &str, key: &PublicKey) -> Result<(), HopError> {
    let failed = |e: &dyn std::fmt::Display| HopError::KnownHosts {
        file: file.to_owned(),
        why: e.to_string(),
    };
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(&e))?;
    }
    // Written here rather than by russh, which starts a new file with an
    // empty line.
    let line = key.to_openssh().map_err(|e| failed(&e))?;
    let ends_open = std::fs::read(file).is_ok_and(|text| text.last().is_some_and(|b| *b != b'\n'));
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| failed(&e))?;
    let newline = if ends_open { "\n" } else { "" };
    out.write_all(format!("{newline}{alias} {line}\n").as_bytes())
        .map_err(|e| failed(&e))?;
    restrict(file);
    Ok(())
}

#[cfg(unix)]
fn restrict(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict(_: &Path) {}

/// `SHA256:…`, as ssh prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PublicKey {
        let private = russh::keys::PrivateKey::from(
            russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]),
        );
        private.public_key().clone()
    }

    fn keys_in(dir: &Path) -> HostKeys {
        HostKeys {
            user_file: Some(dir.join("user_known_hosts")),
            own_file: dir.join("state/known_hosts"),
        }
    }

    #[test]
    fn first_use_learns_then_knows_then_refuses_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_in(dir.path());
        let alias = "i-0123456789abcdef0";
        assert_eq!(
            keys.check(alias, &key(1)).unwrap(),
            Trust::Learned(keys.own_file.clone())
        );
        assert_eq!(
            keys.check(alias, &key(1)).unwrap(),
            Trust::Known(keys.own_file.clone())
        );
        let e = keys.check(alias, &key(2)).unwrap_err();
        assert!(matches!(e, HopError::HostKeyChanged { line: 1, .. }), "{e}");
        assert!(
            e.to_string()
                .contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
            "{e}"
        );
        // Another alias is another host.
        assert!(matches!(
            keys.check("i-0fedcba9876543210", &key(2)).unwrap(),
            Trust::Learned(_)
        ));
    }

    #[test]
    fn the_users_file_is_asked_first_and_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_in(dir.path());
        let user = keys.user_file.clone().unwrap();
        let line = format!("i-0123456789abcdef0 {}\n", key(3).to_openssh().unwrap());
        std::fs::write(&user, &line).unwrap();
        assert_eq!(
            keys.check("i-0123456789abcdef0", &key(3)).unwrap(),
            Trust::Known(user.clone())
        );
        assert!(keys.check("i-0123456789abcdef0", &key(4)).is_err());
        assert_eq!(std::fs::read_to_string(&user).unwrap(), line);
        assert!(!keys.own_file.exists());
    }
}
