//! A throwaway unprivileged OS user, for a real sshd to log in when the server
//! must not log in whoever started it (root, for the demo).
//!
//! The account is made with `useradd` and removed with `userdel` when the value
//! is dropped; its name carries random characters, so no one can have prepared an
//! account of that name, nor guess it in advance.

use std::io;
use std::process::{Command, Stdio};

/// A system account in a group of its own, removed on drop.
#[derive(Debug)]
pub struct ThrowawayUser {
    name: String,
}

impl ThrowawayUser {
    /// Creates `{prefix}{8 random hex digits}` (the prefix must keep the whole
    /// name a valid user name of at most 32 characters). Its shell is `/bin/sh`
    /// and its home `/`, so a login can run a command and leaves nothing to
    /// clean up; its password is `*`, which no password matches, rather than
    /// useradd's locked `!`: sshd without PAM refuses a locked account's keys too.
    /// Needs root.
    pub fn create(prefix: &str) -> io::Result<ThrowawayUser> {
        let mut random = [0u8; 4];
        crate::random::fill(&mut random)?;
        let name = format!("{prefix}{}", hex::encode(random));
        let output = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--home-dir", "/", "--shell", "/bin/sh", "--password", "*"])
            .arg(&name)
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "useradd {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(ThrowawayUser { name })
    }

    /// The account's name, for `AllowUsers`, `SendSSHPublicKey` and `ssh -l`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        let removed = Command::new("userdel")
            .arg(&self.name)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match removed {
            Ok(out) if out.status.success() => {}
            Ok(out) => tracing::warn!(
                "could not remove the throwaway user {} (userdel: {}); remove it by hand",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => tracing::warn!(
                "could not remove the throwaway user {} ({e}); remove it by hand",
                self.name
            ),
        }
    }
}
