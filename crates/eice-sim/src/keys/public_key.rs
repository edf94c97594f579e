//! The checks EC2 Instance Connect makes of a pushed public key: an OpenSSH
//! `authorized_keys`-style line of a key type it supports, whose blob really is a
//! key of that type.
//!
//! The service supports RSA (at least 2048 bits) and Ed25519 keys. Security-key
//! types (`sk-…@openssh.com`) need a hardware authenticator at every login, which
//! a key pushed for 60 seconds cannot use, and ECDSA keys are not supported at all;
//! both are refused as `InvalidArgsException`, as is anything that does not parse.

use base64::Engine;

/// Why a key was refused; the text is the exception's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum KeyRejection {
    /// Not `type base64 [comment]`, bad base64, or a blob that is not a key of its type.
    #[error("The SSH public key is not valid: {0}")]
    Malformed(&'static str),
    /// A FIDO security-key type.
    #[error(
        "Security key types such as {0} are not supported. Use an RSA (2048 bits or more) or ED25519 key."
    )]
    SecurityKey(String),
    /// Any other unsupported type, ECDSA included.
    #[error("The key type {0} is not supported. Use an RSA (2048 bits or more) or ED25519 key.")]
    Unsupported(String),
    /// An RSA key below 2048 bits.
    #[error("The RSA key has {0} bits; keys must have at least 2048 bits.")]
    RsaTooShort(usize),
}

/// The line as it will be served to sshd (trimmed), if the key is acceptable.
pub(super) fn check(line: &str) -> Result<String, KeyRejection> {
    let line = line.trim();
    let mut fields = line.split_whitespace();
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err(KeyRejection::Malformed(
            "expected '<key type> <base64 key> [comment]'",
        ));
    };
    if kind.starts_with("sk-") {
        return Err(KeyRejection::SecurityKey(kind.to_owned()));
    }
    if kind != "ssh-rsa" && kind != "ssh-ed25519" {
        return Err(KeyRejection::Unsupported(kind.to_owned()));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| KeyRejection::Malformed("the key is not valid base64"))?;
    let mut reader = Reader(&blob);
    if reader.string()? != kind.as_bytes() {
        return Err(KeyRejection::Malformed(
            "the key's blob is not of its stated type",
        ));
    }
    if kind == "ssh-ed25519" {
        if reader.string()?.len() != 32 {
            return Err(KeyRejection::Malformed("an ED25519 key is 32 bytes"));
        }
    } else {
        let _exponent = reader.string()?;
        let modulus = reader.string()?;
        let bits = mpint_bits(modulus);
        if bits < 2048 {
            return Err(KeyRejection::RsaTooShort(bits));
        }
    }
    if !reader.0.is_empty() {
        return Err(KeyRejection::Malformed("the key's blob has trailing bytes"));
    }
    Ok(line.to_owned())
}

/// The SSH wire format's length-prefixed strings (RFC 4251 §5).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], KeyRejection> {
        let truncated = KeyRejection::Malformed("the key's blob is truncated");
        let (len, rest) = self.0.split_first_chunk::<4>().ok_or(truncated.clone())?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated);
        }
        let (value, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(value)
    }
}

/// The bit length of a positive mpint (big-endian, maybe with a leading zero byte).
fn mpint_bits(bytes: &[u8]) -> usize {
    let digits: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    (digits.len() - 1) * 8 + (8 - digits[0].leading_zeros() as usize)
}
