//! OpenSSH's known_hosts format, read as `ssh` reads it.
//!
//! This module only answers "which lines of this file speak of this host";
//! what to do with them (accept, refuse, learn) is [`super::known_hosts`]'s
//! policy. The grammar follows sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT":
//!
//! ```text
//! [@revoked|@cert-authority] hostnames keytype base64-key [comment]
//! ```
//!
//! `hostnames` is either one hashed name (`|1|base64(salt)|base64(HMAC-SHA1(salt, host))`,
//! what `ssh-keygen -H` and `HashKnownHosts` write) or a comma-separated list
//! of patterns: `*` and `?` wildcards, `!` to negate (a negated match excludes
//! the line whatever else matches), and `[host]:port` for a port other than
//! 22. Names compare case-insensitively. Lines that cannot be parsed are
//! skipped, as ssh skips them; a key type we cannot parse is still a key
//! recorded for the host, so the host counts as known and is never learned
//! again under another key.

use std::io;
use std::path::Path;

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use russh::keys::{Algorithm, HashAlg, PublicKey};

use crate::glob::glob_ignore_ascii_case as glob;

/// What a `@` marker at the start of a line says of its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `@revoked`: this key must never be accepted, whatever else is listed.
    Revoked,
    /// `@cert-authority`: this key signs host certificates for the names.
    CertAuthority,
}

/// One line that names the host asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based, as ssh and editors number lines.
    pub line: usize,
    pub marker: Option<Marker>,
    /// The key type as written (`ssh-ed25519`, `ecdsa-sha2-nistp256`, …).
    pub key_type: String,
    /// The key in SSH wire encoding (the base64 field, decoded).
    blob: Vec<u8>,
}

impl Entry {
    /// Whether this line's key is `key`: the same type and the same bytes.
    pub fn holds(&self, key: &PublicKey) -> bool {
        key.to_bytes().is_ok_and(|bytes| bytes == self.blob)
    }

    /// The host-key algorithms that make a server present this key, most
    /// preferred first. An RSA key is asked for with SHA-2 signatures only,
    /// as OpenSSH has done since 8.8: `ssh-rsa` (SHA-1) would be a downgrade.
    /// Empty for a type russh cannot negotiate.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        match Algorithm::new(&self.key_type) {
            Ok(Algorithm::Rsa { .. }) => vec![
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha512),
                },
                Algorithm::Rsa {
                    hash: Some(HashAlg::Sha256),
                },
            ],
            Ok(a @ (Algorithm::Ed25519 | Algorithm::Ecdsa { .. })) => vec![a],
            _ => Vec::new(),
        }
    }

    /// The key type as ssh names it in its messages (`ED25519`, `ECDSA`, `RSA`).
    pub fn kind(&self) -> String {
        Algorithm::new(&self.key_type)
            .map(|a| key_kind(&a))
            .unwrap_or_else(|_| self.key_type.clone())
    }
}

/// `ED25519`, `ECDSA`, `RSA`…: the words ssh uses for a key's type.
pub fn key_kind(algorithm: &Algorithm) -> String {
    match algorithm {
        Algorithm::Ed25519 => "ED25519".into(),
        Algorithm::Ecdsa { .. } => "ECDSA".into(),
        Algorithm::Rsa { .. } => "RSA".into(),
        other => other.as_str().to_uppercase(),
    }
}

/// The name a host's keys are recorded under: `host` for port 22, else
/// `[host]:port`, lower-cased as ssh does before any lookup.
pub fn host_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// The lines of `file` that name `host` (as [`host_name`] writes it). A
/// missing file holds none.
pub fn read(file: &Path, host: &str) -> io::Result<Vec<Entry>> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(entries(&text, host)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The lines of a known_hosts text that name `host`.
pub fn entries(text: &str, host: &str) -> Vec<Entry> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| parse_line(line, host, i + 1))
        .collect()
}

/// One line, if it is well formed and names `host`.
fn parse_line(line: &str, host: &str, number: usize) -> Option<Entry> {
    let mut fields = line.split_ascii_whitespace();
    let mut first = fields.next()?;
    if first.starts_with('#') {
        return None;
    }
    let marker = match first {
        "@revoked" => Some(Marker::Revoked),
        "@cert-authority" => Some(Marker::CertAuthority),
        // An unknown marker: ssh skips the line rather than guess.
        m if m.starts_with('@') => return None,
        _ => None,
    };
    if marker.is_some() {
        first = fields.next()?;
    }
    if !names_match(first, host) {
        return None;
    }
    let key_type = fields.next()?;
    let blob = BASE64.decode(fields.next()?).ok()?;
    // The key's own first field is its type; a line whose two disagree is damaged.
    if wire_type(&blob)? != key_type.as_bytes() {
        return None;
    }
    Some(Entry {
        line: number,
        marker,
        key_type: key_type.to_owned(),
        blob,
    })
}

/// The algorithm name an SSH wire-encoded key starts with.
fn wire_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4usize.checked_add(len)?)
}

/// Whether a hostnames field names `host`: a hashed name, or a pattern list
/// with at least one positive match and no negated one.
fn names_match(field: &str, host: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, host);
    }
    let mut positive = false;
    for pattern in field.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if glob(negated, host) => return false,
            Some(_) => {}
            None => positive |= glob(pattern, host),
        }
    }
    positive
}

/// `salt|hash` (both base64): whether HMAC-SHA1 keyed with the salt over
/// `host` is the hash. Compared in constant time.
fn hashed_match(hashed: &str, host: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt), BASE64.decode(hash)) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    hmac::verify(&key, host.as_bytes(), &hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn a_negated_pattern_excludes_the_line() {
        assert!(names_match("i-*,!i-bad", "i-good"));
        assert!(!names_match("i-*,!i-bad", "i-bad"));
        assert!(!names_match("!i-bad,i-*", "i-bad"));
        // A negation alone matches nothing.
        assert!(!names_match("!i-bad", "i-good"));
        assert!(names_match("web,i-1,db", "i-1"));
    }

    #[test]
    fn markers_ports_and_damaged_lines() {
        let text = format!(
            "# a comment\n\n@revoked * {ED25519}\n@cert-authority i-* {ED25519} ca\n\
             [i-1]:2222 {ED25519}\ni-1 {ED25519} comment here\n@unknown i-1 {ED25519}\n\
             i-1 ssh-rsa {}\ni-1 ssh-ed25519 !!notbase64\n",
            ED25519.split(' ').nth(1).unwrap()
        );
        let found = entries(&text, "i-1");
        let lines: Vec<(usize, Option<Marker>)> =
            found.iter().map(|e| (e.line, e.marker)).collect();
        assert_eq!(
            lines,
            [
                (3, Some(Marker::Revoked)),
                (4, Some(Marker::CertAuthority)),
                (6, None)
            ]
        );
        // `*` and the `[i-1]:2222` line; `i-*` does not match a bracketed name.
        assert_eq!(entries(&text, &host_name("I-1", 2222)).len(), 2);
        assert_eq!(host_name("I-1", 2222), "[i-1]:2222");
    }
}
