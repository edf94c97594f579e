//! The access key a simulated account accepts. Tests and benches sign with AWS's
//! documentation example pair, which anyone knows; an account that the whole
//! machine can reach (the demo's) has a fresh random pair instead, so that only
//! whoever reads the pair where it was printed can sign for that account.

use std::fmt;
use std::io;

use base64::Engine as _;

use crate::eice::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY};

/// The characters of a real access key id after its `AKIA` prefix (base32's).
const ID_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A long-term access key: its id and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// `AWS_ACCESS_KEY_ID`.
    pub id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret: String,
}

/// The secret stays out of logs and panic messages.
impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

impl AccessKey {
    /// AWS's documentation example pair (`AKIDEXAMPLE`): public, so fit only for
    /// an account that nothing but its own test talks to.
    pub fn example() -> AccessKey {
        AccessKey {
            id: EXAMPLE_ACCESS_KEY_ID.to_owned(),
            secret: EXAMPLE_SECRET_ACCESS_KEY.to_owned(),
        }
    }

    /// A new pair shaped like AWS's (`AKIA` and 16 base32 characters; a secret
    /// of 40 base64 characters, 240 random bits), from a secret random source.
    pub fn random() -> io::Result<AccessKey> {
        let mut bytes = [0u8; 16 + 30];
        crate::random::fill(&mut bytes)?;
        let (id, secret) = bytes.split_at(16);
        // 256 is a multiple of 32: every character is equally likely.
        let id: String = id
            .iter()
            .map(|b| char::from(ID_ALPHABET[usize::from(b % 32)]))
            .collect();
        Ok(AccessKey {
            id: format!("AKIA{id}"),
            secret: base64::engine::general_purpose::STANDARD.encode(secret),
        })
    }
}
