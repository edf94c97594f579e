//! Where a tunnel's WebSocket goes: the endpoint's name (IPv4 or dual-stack,
//! each plain or FIPS, or a loopback override), which is also the `host`
//! that gets signed.

use super::Endpoint;
use super::TunnelSettings;
use super::settings::EndpointDns;

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

    /// The endpoint's own address, unless the settings override every
    /// endpoint: `wss://` to the name `[network] endpoint_dns` chooses, in
    /// its FIPS form when the endpoint's AWS configuration asks for FIPS.
    ///
    /// A missing dual-stack name is an error rather than a quiet fall back to
    /// the IPv4 name: whoever chose dualstack is likely on a network where
    /// the IPv4 name cannot be reached, and a refusal naming the endpoint says
    /// more than a connection timing out would.
    pub fn for_endpoint(
        endpoint: &Endpoint,
        settings: &TunnelSettings,
    ) -> Result<WsTarget, String> {
        if let Some(o) = &settings.endpoint_override {
            return Ok(WsTarget::new(o.tls, o.host.clone(), o.port));
        }
        let (name, what) = match (settings.endpoint_dns, endpoint.use_fips) {
            (EndpointDns::Ipv4, false) => (Some(&endpoint.dns_name), "DnsName"),
            (EndpointDns::Ipv4, true) => (endpoint.fips_dns_name.as_ref(), "FipsDnsName"),
            (EndpointDns::Dualstack, false) => (
                endpoint.dualstack_dns_name.as_ref(),
                "dual-stack DnsName (PublicDnsNames.Dualstack)",
            ),
            (EndpointDns::Dualstack, true) => (
                endpoint.dualstack_fips_dns_name.as_ref(),
                "dual-stack FipsDnsName (PublicDnsNames.Dualstack)",
            ),
        };
        let Some(host) = name else {
            return Err(missing_name(endpoint, settings, what));
        };
        Ok(WsTarget::new(true, host.clone(), 443))
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

/// Why the name the settings ask for cannot be dialled, and what to change.
fn missing_name(endpoint: &Endpoint, settings: &TunnelSettings, what: &str) -> String {
    let mut asked = Vec::new();
    if endpoint.use_fips {
        asked.push("FIPS endpoints (use_fips_endpoint or AWS_USE_FIPS_ENDPOINT)".to_owned());
    }
    if settings.endpoint_dns == EndpointDns::Dualstack {
        asked.push("dual-stack names ([network] endpoint_dns = \"dualstack\")".to_owned());
    }
    let mut text = format!(
        "{} were requested but endpoint {} has no {what} in {}",
        asked.join(" and "),
        endpoint.id,
        endpoint.region
    );
    if settings.endpoint_dns == EndpointDns::Dualstack {
        text.push_str(
            "; use endpoint_dns = \"ipv4\" for it if this network has IPv4, or recreate the \
             endpoint where dual-stack names are offered",
        );
    }
    text
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
            dualstack_dns_name: None,
            dualstack_fips_dns_name: None,
            use_fips: true,
        };
        let err = WsTarget::for_endpoint(&endpoint, &TunnelSettings::default()).unwrap_err();
        assert!(err.contains("no FipsDnsName"), "{err}");
    }

    fn endpoint_with_every_name() -> Endpoint {
        let name = |fips: &str, domain: &str| {
            format!("eice-1.{fips}ec2-instance-connect-endpoint.us-east-1.{domain}")
        };
        Endpoint {
            id: "eice-1".into(),
            region: "us-east-1".into(),
            dns_name: name("", "amazonaws.com"),
            fips_dns_name: Some(name("fips.", "amazonaws.com")),
            dualstack_dns_name: Some(name("", "api.aws")),
            dualstack_fips_dns_name: Some(name("fips.", "api.aws")),
            use_fips: false,
        }
    }

    #[test]
    fn endpoint_dns_and_fips_choose_one_of_four_names() {
        let host = |endpoint_dns, use_fips| {
            let settings = TunnelSettings {
                endpoint_dns,
                ..TunnelSettings::default()
            };
            let endpoint = Endpoint {
                use_fips,
                ..endpoint_with_every_name()
            };
            let target = WsTarget::for_endpoint(&endpoint, &settings).unwrap();
            assert_eq!((target.tls(), target.port()), (true, 443));
            target.authority()
        };
        let e = &endpoint_with_every_name();
        assert_eq!(host(EndpointDns::Ipv4, false), e.dns_name);
        assert_eq!(
            host(EndpointDns::Ipv4, true),
            *e.fips_dns_name.as_ref().unwrap()
        );
        assert_eq!(
            host(EndpointDns::Dualstack, false),
            *e.dualstack_dns_name.as_ref().unwrap()
        );
        assert_eq!(
            host(EndpointDns::Dualstack, true),
            *e.dualstack_fips_dns_name.as_ref().unwrap()
        );
    }

    #[test]
    fn dualstack_without_a_dualstack_name_is_a_clear_error_not_a_fallback() {
        let endpoint = Endpoint {
            dualstack_dns_name: None,
            ..endpoint_with_every_name()
        };
        let settings = TunnelSettings {
            endpoint_dns: EndpointDns::Dualstack,
            ..TunnelSettings::default()
        };
        let err = WsTarget::for_endpoint(&endpoint, &settings).unwrap_err();
        assert!(err.contains("eice-1 has no dual-stack DnsName"), "{err}");
        assert!(err.contains("endpoint_dns = \"ipv4\""), "{err}");
    }
}
