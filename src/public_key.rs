//! An OpenSSH public key as pushed: one `TYPE BASE64 [COMMENT]` line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A public key read from a `.pub` file, checked enough that a wrong file
/// (a private key, an empty file) is caught before it is sent to AWS.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    /// The line as sent, without its trailing newline.
    line: String,
    /// Where it came from, for messages.
    path: PathBuf,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} from {})", self.kind(), self.path.display())
    }
}

impl PublicKey {
    /// Reads and checks the first line of `path`.
    pub fn read(path: &Path) -> Result<PublicKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the public key {}: {e}", path.display()))?;
        PublicKey::parse(text.lines().next().unwrap_or(""), path)
    }

    /// Checks one `TYPE BASE64 [COMMENT]` line.
    pub fn parse(line: &str, path: &Path) -> Result<PublicKey, String> {
        let line = line.trim();
        let mut words = line.split_whitespace();
        let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
            return Err(format!(
                "{} is not an OpenSSH public key (expected a line like \"ssh-ed25519 AAAA… comment\")",
                path.display()
            ));
        };
        let plausible_kind =
            kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-");
        let plausible_blob = blob.starts_with("AAAA")
            && blob
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
        if !plausible_kind || !plausible_blob {
            return Err(format!(
                "{} is not an OpenSSH public key (it starts with {kind:?}; give the .pub file)",
                path.display()
            ));
        }
        Ok(PublicKey {
            line: line.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The key line, as sent to SendSSHPublicKey.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The key type: `ssh-ed25519`, `ssh-rsa`, `sk-ssh-ed25519@openssh.com`, …
    pub fn kind(&self) -> &str {
        self.line.split_whitespace().next().unwrap_or("")
    }

    /// A security-key (FIDO) type, which EC2 Instance Connect refuses.
    pub fn is_security_key(&self) -> bool {
        self.kind().starts_with("sk-")
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_line_is_accepted_and_a_private_key_is_not() {
        let path = Path::new("k.pub");
        let key =
            PublicKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host\n", path).unwrap();
        assert_eq!(key.kind(), "ssh-ed25519");
        assert!(!key.is_security_key());
        let sk = PublicKey::parse("sk-ssh-ed25519@openssh.com AAAAGnNr x", path).unwrap();
        assert!(sk.is_security_key());
        let err = PublicKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----", path).unwrap_err();
        assert!(err.contains("not an OpenSSH public key"), "{err}");
        assert!(PublicKey::parse("", path).is_err());
    }
}
