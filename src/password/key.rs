//! The launch key pair's private key, read from the `.pem` EC2 handed out,
//! and the RSA PKCS#1 v1.5 decryption of the password EC2 keeps.
//!
//! Reading goes through russh's key decoder, already linked for the SSH hop:
//! it reads every form a user may hold the key in (EC2's own PKCS#1
//! `BEGIN RSA PRIVATE KEY`, PKCS#8, PKCS#8 encrypted with a passphrase,
//! OpenSSH's format, PuTTY's). Decryption is aws-lc-rs's, the library rustls
//! already uses, and not the `rsa` crate's, whose PKCS#1 v1.5 decryption
//! leaks timing (RUSTSEC-2023-0071). Key material is zeroized when dropped.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine as _;
use zeroize::Zeroizing;

/// Why a `.pem` could not be used as a launch key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot read the key {}: {why}; give the .pem of the instance's key pair (EC2 hands \
         out PKCS#1 \"BEGIN RSA PRIVATE KEY\"; PKCS#8, encrypted PKCS#8 and OpenSSH keys work \
         too; convert others with: openssl pkcs8 -topk8 -in KEY -out KEY.p8.pem)",
        .path.display()
    )]
    Format { path: PathBuf, why: String },
    #[error(
        "the key {} is a {kind} key: Windows passwords are encrypted to RSA key pairs only \
         (EC2 creates no Windows instance with another)",
        .path.display()
    )]
    NotRsa { path: PathBuf, kind: String },
    #[error("the passphrase does not open the key {}", .path.display())]
    Passphrase { path: PathBuf },
    #[error("the key {} is encrypted, and its passphrase could not be asked: {why}", .path.display())]
    NoPassphrase { path: PathBuf, why: String },
}

/// The key did not decrypt the password: it belongs to another key pair (or
/// the data is damaged, which for EC2's answers amounts to the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the key does not decrypt the password")]
pub struct NotThisKey;

/// A launch key pair's private half, ready to decrypt.
pub struct LaunchKey {
    key: Pkcs1PrivateDecryptingKey,
    /// Where it was read from, for messages.
    path: PathBuf,
}

impl fmt::Debug for LaunchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LaunchKey {
    /// Reads the key at `path`; an encrypted one is opened with the
    /// passphrase `ask` returns (asked only then).
    pub fn read(
        path: &Path,
        ask: impl FnOnce(&Path) -> std::io::Result<Zeroizing<String>>,
    ) -> Result<LaunchKey, KeyError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| KeyError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            );
        LaunchKey::parse(&text, path, ask)
    }

    /// [`LaunchKey::read`] of a key already in memory (`path` names it).
    pub fn parse(
        text: &str,
        path: &Path,
        ask: impl FnOnce(&Path) -> std::io::Result<Zeroizing<String>>,
    ) -> Result<LaunchKey, KeyError> {
        use russh::keys::Error as Ssh;
        let format = |why: String| KeyError::Format {
            path: path.to_owned(),
            why,
        };
        // PKCS#8 and PKCS#1 say so in the clear; OpenSSH's format is told
        // apart by the decoder.
        let first = if text.contains("ENCRYPTED") {
            Err(Ssh::KeyIsEncrypted)
        } else {
            russh::keys::decode_secret_key(text, None)
        };
        let private = match first {
            Ok(key) => key,
            Err(Ssh::KeyIsEncrypted) => {
                let passphrase = ask(path).map_err(|e| KeyError::NoPassphrase {
                    path: path.to_owned(),
                    why: e.to_string(),
                })?;
                russh::keys::decode_secret_key(text, Some(&passphrase)).map_err(|e| match e {
                    Ssh::CouldNotReadKey | Ssh::KeyIsCorrupt | Ssh::KeyIsEncrypted => {
                        KeyError::Passphrase {
                            path: path.to_owned(),
                        }
                    }
                    // A wrong passphrase garbles PKCS#8's inner document.
                    other if text.contains("BEGIN ENCRYPTED PRIVATE KEY") => {
                        tracing::debug!("opening the key failed: {other}");
                        KeyError::Passphrase {
                            path: path.to_owned(),
                        }
                    }
                    other => format(other.to_string()),
                })?
            }
            Err(e) => return Err(format(e.to_string())),
        };
        if private.key_data().rsa().is_none() {
            return Err(KeyError::NotRsa {
                path: path.to_owned(),
                kind: private.algorithm().to_string(),
            });
        }
        let der = Zeroizing::new(
            russh::keys::pkcs8::encode_pkcs8(&private).map_err(|e| format(e.to_string()))?,
        );
        let key = PrivateDecryptingKey::from_pkcs8(&der).map_err(|e| format(e.to_string()))?;
        let key = Pkcs1PrivateDecryptingKey::new(key).map_err(|e| format(e.to_string()))?;
        Ok(LaunchKey {
            key,
            path: path.to_owned(),
        })
    }

    /// Where the key was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The password in `data` (EC2's base64 `passwordData`). A Windows
    /// password is printable ASCII; anything else is another key's garbage,
    /// whatever the padding check said.
    pub fn decrypt(&self, data: &str) -> Result<Zeroizing<String>, NotThisKey> {
        let ciphertext = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| NotThisKey)?;
        if ciphertext.len() != self.key.key_size_bytes() {
            return Err(NotThisKey);
        }
        let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let plain = self
            .key
            .decrypt(&ciphertext, &mut out)
            .map_err(|_| NotThisKey)?;
        if plain.is_empty() || !plain.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Err(NotThisKey);
        }
        let text = std::str::from_utf8(plain).map_err(|_| NotThisKey)?;
        Ok(Zeroizing::new(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS1: &str = include_str!("../../crates/eice-sim/src/world/windows/launch-key.pem");
    const PKCS8: &str = include_str!("../../tests/data/rdp-launch-key-pkcs8.pem");
    const ENCRYPTED: &str = include_str!("../../tests/data/rdp-launch-key-encrypted.pem");
    const OTHER: &str = include_str!("../../tests/data/rdp-other-key.pem");
    /// win-1's `password_data` in the simulated world: [`PASSWORD`]
    /// encrypted to the launch key by openssl.
    fn data() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/crates/eice-sim/src/world/demo-world.toml"
        ))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("password_data = \""))
        .map(|l| l.trim_end_matches('"').to_owned())
        .unwrap()
    }

    fn no_passphrase(_: &Path) -> std::io::Result<Zeroizing<String>> {
        panic!("no passphrase is asked for an unencrypted key")
    }

    const PASSWORD: &str = "Tq7#vK2m!Rz9pW4x";

    #[test]
    fn pkcs1_pkcs8_and_encrypted_pkcs8_keys_decrypt_the_password() {
        let path = Path::new("k.pem");
        for text in [PKCS1, PKCS8] {
            let key = LaunchKey::parse(text, path, no_passphrase).unwrap();
            assert_eq!(key.decrypt(&data()).unwrap().as_str(), PASSWORD);
        }
        let mut asked = 0;
        let key = LaunchKey::parse(ENCRYPTED, path, |p| {
            asked += 1;
            assert_eq!(p, path);
            Ok(Zeroizing::new("launch-passphrase".into()))
        })
        .unwrap();
        assert_eq!(asked, 1);
        assert_eq!(key.decrypt(&data()).unwrap().as_str(), PASSWORD);
        let wrong = LaunchKey::parse(ENCRYPTED, path, |_| Ok(Zeroizing::new("nope".into())));
        assert!(
            matches!(wrong, Err(KeyError::Passphrase { .. })),
            "{wrong:?}"
        );
    }

    #[test]
    fn another_key_pair_or_damaged_data_is_not_this_key() {
        let other = LaunchKey::parse(OTHER, Path::new("o.pem"), no_passphrase).unwrap();
        assert_eq!(other.decrypt(&data()), Err(NotThisKey));
        let key = LaunchKey::parse(PKCS1, Path::new("k.pem"), no_passphrase).unwrap();
        assert_eq!(key.decrypt("not base64!"), Err(NotThisKey));
        assert_eq!(key.decrypt("AAAA"), Err(NotThisKey));
        let e = LaunchKey::parse("hello", Path::new("h.pem"), no_passphrase).unwrap_err();
        assert!(e.to_string().contains("cannot read the key h.pem"), "{e}");
    }
}
