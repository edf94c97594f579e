//! `[[forward]]`: a local port that `serve` forwards to one fixed target, for
//! clients that speak no SOCKS (psql, an RDP client, a database GUI).
//! `eice-proxy forward LOCAL_ADDR TARGET:PORT` builds the same rule from its
//! arguments, so both read their addresses with the same two parsers.
//!
//! Both values are checked while the file is deserialized, as in `check`, so
//! a typo is reported with the key and its line.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::target::Target;

/// One forwarded port.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardRule {
    /// Where to listen: `127.0.0.1:5432`, `[::1]:5432`, or a port alone
    /// (on 127.0.0.1).
    #[serde(deserialize_with = "listen")]
    pub listen: SocketAddr,
    /// Where every connection to `listen` goes: `HOST:PORT`, the host in any
    /// form a SOCKS client may name.
    #[serde(deserialize_with = "target")]
    pub target: Target,
    /// Listen on a non-loopback address anyway. A forward port asks for no
    /// credentials (`[auth]` cannot apply: there is no handshake to carry
    /// them), so without this anyone who reaches it would open tunnels with
    /// the user's AWS identity.
    #[serde(default)]
    pub allow_remote: bool,
}

/// `LOCAL_ADDR`: an address and port, or a port alone, which means
/// 127.0.0.1 (the safe default for a port that asks for no credentials).
pub fn local_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse().map_err(|_| {
        format!("{text:?} is not a local address: write IP:PORT (127.0.0.1:5432, [::1]:5432) or a port alone")
    })
}

/// `listen` in `[[forward]]`.
fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    local_addr(&text).map_err(|e| de::Error::custom(format!("[[forward]] listen: {e}")))
}

/// `target` in `[[forward]]`.
fn target<'de, D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
    let text = String::deserialize(d)?;
    Target::parse(&text).map_err(|e| de::Error::custom(format!("[[forward]] target: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::target::Host;

    #[test]
    fn a_port_alone_listens_on_loopback() {
        assert_eq!(local_addr("5432").unwrap().to_string(), "127.0.0.1:5432");
        assert_eq!(local_addr("[::1]:0").unwrap().to_string(), "[::1]:0");
        assert!(
            local_addr("localhost:5432")
                .unwrap_err()
                .contains("IP:PORT")
        );
    }

    #[test]
    fn forwards_are_read_with_their_targets() {
        let c = Config::parse(
            "[[forward]]\nlisten = \"13389\"\ntarget = \"i-0123456789abcdef0:3389\"\n\
             [[forward]]\nlisten = \"0.0.0.0:2222\"\ntarget = \"web-1:22\"\nallow_remote = true\n",
        )
        .unwrap();
        assert_eq!(c.forwards.len(), 2);
        assert_eq!(c.forwards[0].listen.to_string(), "127.0.0.1:13389");
        assert_eq!(
            c.forwards[0].target.host,
            Host::InstanceId("i-0123456789abcdef0".into())
        );
        assert!(!c.forwards[0].allow_remote);
        assert_eq!(c.forwards[1].target.to_string(), "web-1:22");
        assert!(c.forwards[1].allow_remote);
    }

    #[test]
    fn a_bad_forward_names_the_key_and_line() {
        let err =
            Config::parse("[[forward]]\nlisten = \"127.0.0.1:5432\"\ntarget = \"i-xyz:22\"\n")
                .unwrap_err();
        assert!(
            err.contains("line 3")
                && err.contains("[[forward]] target")
                && err.contains("looks like an instance id"),
            "{err}"
        );
        let err =
            Config::parse("[[forward]]\nlisten = \"5432\"\ntarget = \"web-1\"\n").unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("has no port"),
            "{err}"
        );
        let err = Config::parse("\n[[forward]]\nlisten = \"nowhere\"\ntarget = \"web-1:22\"\n")
            .unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("[[forward]] listen"),
            "{err}"
        );
        let err = Config::parse("[[forward]]\nlisten = \"5432\"\n").unwrap_err();
        assert!(err.contains("missing field `target`"), "{err}");
    }
}
