//! Where a tunnel's WebSocket goes: the endpoint's name (or its FIPS name, or
//! a loopback override), which is also the `host` that gets signed.

use super::Endpoint;
use super::TunnelSettings;

/// Where a tunnel's WebSocket connects, and the `host` that gets signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    tls: bool,
    host: String,
    port: u16,
}

impl WsTarget {
    /// A target from its parts; `host` is a DNS name or an IP (no brackets).
    pub fn new(tls: bool, host: String, port: u16) -> WsTarget {
        WsTarget { tls, host, port }
    }

    /// The endpoint's own address (`wss://DnsName`, or `FipsDnsName` when FIPS
    /// is asked for), unless the settings override every endpoint.
    pub fn for_endpoint(
        endpoint: &Endpoint,
        settings: &TunnelSettings,
    ) -> Result<WsTarget, String> {
        if let Some(o) = &settings.endpoint_override {
            return Ok(WsTarget::new(o.tls, o.host.clone(), o.port));
        }
        let host = if settings.use_fips {
            endpoint.fips_dns_name.clone().ok_or_else(|| {
                format!(
                    "FIPS endpoints were requested (AWS_USE_FIPS_ENDPOINT=true) but endpoint {} \
                     has no FipsDnsName in {}",
                    endpoint.id, endpoint.region
                )
            })?
        } else {
            endpoint.dns_name.clone()
        };
        Ok(WsTarget::new(true, host, 443))
    }

    /// Whether the connection is TLS (`wss`).
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The DNS name or IP connected to, and signed as `host`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `wss` or `ws`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "wss" } else { "ws" }
    }

    /// `host[:port]` as it appears in the URL and the `Host` header: the port
    /// only when it is not the scheme's default, IPv6 in brackets.
    pub fn authority(&self) -> String {
        crate::net::authority(self.tls, &self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_omits_default_ports_and_brackets_ipv6() {
        assert_eq!(
            WsTarget::new(true, "h.example".into(), 443).authority(),
            "h.example"
        );
        assert_eq!(
            WsTarget::new(false, "127.0.0.1".into(), 8080).authority(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            WsTarget::new(true, "::1".into(), 9443).authority(),
            "[::1]:9443"
        );
    }

    #[test]
    fn fips_without_a_fips_name_is_a_clear_error() {
        let endpoint = Endpoint {
            id: "eice-1".into(),
            region: "us-east-1".into(),
            dns_name: "eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com".into(),
            fips_dns_name: None,
        };
        let settings = TunnelSettings {
            use_fips: true,
            ..TunnelSettings::default()
        };
        let err = WsTarget::for_endpoint(&endpoint, &settings).unwrap_err();
        assert!(err.contains("no FipsDnsName"), "{err}");
    }
}
