//! A tunnel request for tests that drive the library's `Connector` directly,
//! without a resolver: what several test files otherwise spelled out field
//! by field.

use std::sync::Arc;

use eice_proxy::eice::{Endpoint, TunnelRequest};

/// A request for port 22 of `private_ip` through endpoint `id` of
/// `us-east-1`, under the endpoint's own (IPv4, non-FIPS) DNS name.
pub fn tunnel_request(id: &str, private_ip: &str) -> TunnelRequest {
    TunnelRequest {
        endpoint: Arc::new(Endpoint {
            id: id.into(),
            region: "us-east-1".into(),
            dns_name: format!("{id}.ec2-instance-connect-endpoint.us-east-1.amazonaws.com"),
            fips_dns_name: None,
            dualstack_dns_name: None,
            dualstack_fips_dns_name: None,
            use_fips: false,
        }),
        private_ip: private_ip.parse().unwrap(),
        port: 22,
        max_tunnel_duration: None,
    }
}
