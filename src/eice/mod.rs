//! The EICE client: everything between "open a tunnel to this IP and port
//! through this endpoint" and a WebSocket carrying the bytes.
//!
//! - [`sign`] presigns the `openTunnel` URL (SigV4 in the query string);
//! - [`target`] says where the WebSocket goes (and so which `host` is signed);
//!   [`crate::net`] makes the TCP and TLS connection it runs on;
//! - [`tunnel`] performs the upgrade and turns refusals and close frames into
//!   [`TunnelError`]s that say what to fix;
//! - [`handshake`] is the HTTP/1.1 upgrade, read by hand to keep error bodies;
//! - [`dial`] gets the connection the upgrade goes on: a ready one from
//!   [`crate::net::pool`] when there is one, else a new one;
//! - [`stream`] offers an open tunnel as `AsyncRead + AsyncWrite`;
//! - [`keepalive`] pings a quiet tunnel and closes one whose pings go unanswered;
//! - [`settings`] is what the client is told besides each request (an
//!   endpoint override, extra CA roots, which of an endpoint's names to
//!   dial), read from the environment and the config file; whether a FIPS
//!   name is dialled is each [`Endpoint`]'s, from the AWS configuration.
//!
//! It depends on nothing of the proxy but [`crate::credentials`] and
//! [`crate::clock`] (to sign), [`crate::net`] (to connect) and
//! [`crate::reply`] (what each refusal tells a client).

mod dial;
mod error;
mod handshake;
pub mod keepalive;
pub mod settings;
pub mod sign;
pub mod stream;
pub mod target;
pub mod tunnel;
pub mod ws;

use std::net::IpAddr;
use std::sync::Arc;

pub use keepalive::{Heartbeat, Keepalive};
pub use settings::{
    CA_BUNDLE_ENV, ENDPOINT_ADDRS_ENV, ENDPOINT_URL_ENV, EndpointDns, EndpointOverride,
    SettingsError, TunnelSettings,
};
pub use stream::TunnelStream;
pub use tunnel::{Connector, ServiceError, Tunnel, TunnelError};

/// The remote ports EICE accepts (enforced by the service since 2023-06-28).
pub const SERVICE_PORTS: [u16; 2] = [22, 3389];

/// An EC2 Instance Connect Endpoint, as much of it as a tunnel needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `eice-…`, sent as `instanceConnectEndpointId`.
    pub id: String,
    /// The region the endpoint lives in, which is also the signing region.
    pub region: String,
    /// Where the WebSocket goes: `eice-….ec2-instance-connect-endpoint.<region>.amazonaws.com`.
    pub dns_name: String,
    /// The FIPS variant of `dns_name`, absent in regions without one.
    pub fips_dns_name: Option<String>,
    /// `PublicDnsNames.Dualstack.DnsName`: the name with both IPv6 and IPv4
    /// addresses, dialled when `[network] endpoint_dns = "dualstack"` (an
    /// IPv6-only client cannot reach `dns_name`). Absent on endpoints that
    /// do not publish one.
    pub dualstack_dns_name: Option<String>,
    /// `PublicDnsNames.Dualstack.FipsDnsName`: the dual-stack FIPS name.
    pub dualstack_fips_dns_name: Option<String>,
    /// Dial (and sign) a FIPS name: the AWS configuration the endpoint was
    /// found with asks for FIPS endpoints (the profile's
    /// `use_fips_endpoint`, or `AWS_USE_FIPS_ENDPOINT`), the one answer the
    /// EC2 API follows too.
    pub use_fips: bool,
}

/// One tunnel to open: through which endpoint, to which address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRequest {
    /// The endpoint in the target's VPC.
    pub endpoint: Arc<Endpoint>,
    /// The instance's private address (IPv6 only through a dualstack or ipv6 endpoint).
    pub private_ip: IpAddr,
    /// The remote port; the service accepts [`SERVICE_PORTS`].
    pub port: u16,
    /// Seconds before the service closes the tunnel (1–3600). `None` leaves the
    /// service default (3600), which an IAM policy capping the duration refuses.
    pub max_tunnel_duration: Option<u32>,
}

/// Reads the region out of an endpoint DNS name
/// (`eice-….ec2-instance-connect-endpoint.<region>.amazonaws.com`, with an
/// optional `fips.` label before the service label), so a user who gives the
/// DNS name need not give the region too.
pub fn region_from_dns_name(dns_name: &str) -> Option<&str> {
    let mut labels = dns_name.split('.');
    labels.find(|label| *label == "ec2-instance-connect-endpoint")?;
    labels.next().filter(|region| !region.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_read_from_plain_and_fips_dns_names() {
        let plain = "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";
        let fips = "eice-0123.fips.ec2-instance-connect-endpoint.us-gov-west-1.amazonaws.com";
        assert_eq!(region_from_dns_name(plain), Some("us-east-1"));
        assert_eq!(region_from_dns_name(fips), Some("us-gov-west-1"));
        assert_eq!(region_from_dns_name("127.0.0.1"), None);
    }
}
