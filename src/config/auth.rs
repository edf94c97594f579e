//! Proxy authentication: the credentials SOCKS5 (RFC 1929) and HTTP CONNECT
//! (`Proxy-Authorization: Basic`) clients must present.
//!
//! The password can sit in the config file, in a file of its own (a secret
//! mounted by the service manager) or in an environment variable, so the config
//! file itself can be shared and committed.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// `[auth]` as written: a username and one source for the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("password_env", &self.password_env)
            .finish()
    }
}

impl AuthConfig {
    /// Reads the password from its one source.
    pub fn load(&self) -> Result<ProxyAuth, String> {
        let password = match (&self.password, &self.password_file, &self.password_env) {
            (Some(p), None, None) => p.clone(),
            (None, Some(path), None) => std::fs::read_to_string(path)
                .map_err(|e| format!("[auth] password_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None, Some(var)) => std::env::var(var)
                .map_err(|_| format!("[auth] password_env names {var}, which is not set"))?,
            _ => {
                return Err(
                    "[auth] needs exactly one of password, password_file, password_env".into(),
                );
            }
        };
        if self.username.is_empty() || password.is_empty() {
            return Err("[auth] username and password cannot be empty".into());
        }
        if self.username.len() > 255 || password.len() > 255 {
            return Err("[auth] username and password are at most 255 bytes (RFC 1929)".into());
        }
        Ok(ProxyAuth {
            username: self.username.clone(),
            password,
        })
    }
}

/// Passwords shorter than this, in characters, draw a warning at start when
/// the proxy listens beyond loopback. Wrong passwords are slowed per client
/// address, not across many addresses, so the password itself must be out of
/// reach of guessing: 12 random characters are, a word or a name is not.
pub const SHORT_PASSWORD: usize = 12;

/// Proxy credentials. `Debug` never shows the password.
#[derive(Clone)]
pub struct ProxyAuth {
    pub username: String,
    pub password: String,
}

impl ProxyAuth {
    /// What to warn about a proxy listening on `listen` with this password:
    /// a short one on an address others can reach.
    pub fn exposure_warning(&self, listen: IpAddr) -> Option<String> {
        let length = self.password.chars().count();
        (!listen.is_loopback() && length < SHORT_PASSWORD).then(|| {
            format!(
                "the [auth] password has {length} characters and {listen} is reachable from \
                 other machines: use at least {SHORT_PASSWORD} random characters, since anyone \
                 who guesses it acts with your AWS identity"
            )
        })
    }

    /// Compares both fields in time independent of where they differ.
    pub fn check(&self, username: &str, password: &str) -> bool {
        constant_time_eq(self.username.as_bytes(), username.as_bytes())
            & constant_time_eq(self.password.as_bytes(), password.as_bytes())
    }
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(password: Option<&str>, file: Option<PathBuf>, env: Option<&str>) -> AuthConfig {
        AuthConfig {
            username: "u".into(),
            password: password.map(str::to_owned),
            password_file: file,
            password_env: env.map(str::to_owned),
        }
    }

    #[test]
    fn the_password_comes_from_exactly_one_source() {
        assert!(auth(Some("p"), None, None).load().unwrap().check("u", "p"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        assert!(
            auth(None, Some(file.clone()), None)
                .load()
                .unwrap()
                .check("u", "from-file")
        );
        assert!(
            auth(Some("p"), Some(file), None)
                .load()
                .unwrap_err()
                .contains("exactly one")
        );
        assert!(
            auth(None, None, Some("EICE_PROXY_TEST_UNSET_VAR"))
                .load()
                .unwrap_err()
                .contains("not set")
        );
        assert!(auth(None, None, None).load().is_err());
    }

    #[test]
    fn a_short_password_is_warned_about_only_beyond_loopback() {
        let auth = |password: &str| ProxyAuth {
            username: "alice".into(),
            password: password.into(),
        };
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let warning = auth("wonderland").exposure_warning(any).unwrap();
        assert!(
            warning.contains("10 characters") && warning.contains("at least 12"),
            "{warning}"
        );
        assert!(
            auth("wonderland")
                .exposure_warning("::".parse().unwrap())
                .is_some()
        );
        assert!(
            auth("wonderland")
                .exposure_warning("127.0.0.1".parse().unwrap())
                .is_none()
        );
        assert!(
            auth("wonderland")
                .exposure_warning("::1".parse().unwrap())
                .is_none()
        );
        assert!(auth("correct-horse").exposure_warning(any).is_none());
        // Characters, not bytes: eleven of them are short however encoded.
        assert!(auth("ééééééééééé").exposure_warning(any).is_some());
    }

    #[test]
    fn checks_are_exact_and_debug_hides_the_password() {
        let a = ProxyAuth {
            username: "alice".into(),
            password: "s3cret".into(),
        };
        assert!(a.check("alice", "s3cret"));
        assert!(
            !a.check("alice", "s3cre")
                && !a.check("alic", "s3cret")
                && !a.check("alice", "s3cret!")
        );
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
