//! `[keepalive]`: the WebSocket pings that keep idle tunnels open, read
//! here and handed to the tunnel client as its own [`Keepalive`].

use std::time::Duration;

use serde::Deserialize;

use super::check;
use crate::eice::Keepalive;

/// `[keepalive]`, in seconds (fractions allowed). Every tunnel is pinged
/// while quiet so that NATs, firewalls and EICE's own idle limit do not drop
/// a session the client leaves idle; see [`Keepalive`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveConfig {
    /// Time between WebSocket pings on a quiet tunnel; 0 sends none.
    #[serde(deserialize_with = "check::seconds")]
    pub interval: Duration,
    /// A tunnel whose service sends nothing for this long after a ping is
    /// closed as dead.
    #[serde(deserialize_with = "check::positive_seconds")]
    pub timeout: Duration,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        let defaults = Keepalive::default();
        KeepaliveConfig {
            interval: defaults.interval.unwrap_or_default(),
            timeout: defaults.timeout,
        }
    }
}

impl KeepaliveConfig {
    /// What the tunnel client is told.
    pub fn settings(&self) -> Keepalive {
        Keepalive {
            interval: Some(self.interval).filter(|i| !i.is_zero()),
            timeout: self.timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn keepalive_takes_fractions_of_seconds_and_zero_turns_pings_off() {
        let keepalive = |text: &str| Config::parse(text).unwrap().keepalive.settings();
        assert_eq!(keepalive(""), Keepalive::default());
        let fast = keepalive("[keepalive]\ninterval = 0.25\ntimeout = 2\n");
        assert_eq!(fast.interval, Some(Duration::from_millis(250)));
        assert_eq!(fast.timeout, Duration::from_secs(2));
        assert_eq!(keepalive("[keepalive]\ninterval = 0\n").interval, None);
    }
}
