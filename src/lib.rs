//! eice-proxy: reach EC2 instances in private subnets through EC2 Instance
//! Connect Endpoint (EICE) tunnels, with no bastion, no public IP and no agent.
//!
//! # The life of a connection
//!
//! A client asks for a target (or connects to a forward port, which names one
//! for it): an instance id, a private IP or DNS name, or a Name tag, and a port. [`resolve`] turns it into a [`eice::TunnelRequest`]
//! (which endpoint, which private IP, which port) through caches, searching
//! every configured region; for port 22, [`keys`] may first push an SSH key. [`eice::sign`] presigns a fresh
//! SigV4 `openTunnel` URL for it with the caller's AWS credentials
//! ([`credentials::CredentialCache`]), [`eice::Connector`] opens that URL as a
//! WebSocket over TLS ([`eice::transport`]) and turns any refusal into a
//! [`eice::TunnelError`] that says what to fix, and [`splice`] then copies the
//! client's byte stream onto binary WebSocket frames both ways until either side
//! closes. An open tunnel can also be used as a plain byte stream
//! ([`eice::TunnelStream`]) by code that wants `AsyncRead + AsyncWrite`.
//!
//! # Module map
//!
//! | module | job |
//! | --- | --- |
//! | [`cli`] | clap definitions of every subcommand |
//! | [`commands`] | one small `run` per subcommand (`serve`, `forward`, `connect`, …) |
//! | [`config`] | settings and their environment overrides (`EICE_PROXY_ENDPOINT_URL`, `AWS_CA_BUNDLE`) |
//! | [`credentials`] | the AWS credential chain, cached for signing |
//! | [`eice`] | the EICE client: presign, transport, tunnel open, stream view |
//! | [`server`] | the listeners (limits, shutdown), the per-connection handler, forward ports |
//! | [`proxy`] | shared policy: ports, per-endpoint tunnel limits, timeouts; target → open tunnel |
//! | [`inbound`] | SOCKS5 and HTTP CONNECT, told apart by the first byte |
//! | [`target`] | what the client asked for: instance id, IP, private DNS name, Name tag |
//! | [`resolve`] | target → route through caches: the one place that decides how a target is reached |
//! | [`keys`] | EC2 Instance Connect key push: `[[push_key]]` rules and `eice-proxy ssh` |
//! | [`hop`] | the SSH hop: any port in a VPC through one SSH connection over one EICE tunnel |
//! | [`splice`] | byte stream ⇄ WebSocket copy with back-pressure and half-close |
//! | [`error`] | what each failure tells a SOCKS or HTTP client |
//! | [`metrics`] | counters and open tunnels, served on loopback at `/metrics` and `/status` |

pub mod cli;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod eice;
pub mod error;
pub mod hop;
pub mod inbound;
pub mod keys;
pub mod metrics;
pub mod proxy;
pub mod public_key;
pub mod reply;
pub mod resolve;
pub mod server;
pub mod splice;
pub mod target;
