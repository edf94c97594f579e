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
//! WebSocket over TLS ([`net`]) and turns any refusal into a
//! [`eice::TunnelError`] that says what to fix, and [`splice`] then copies the
//! client's byte stream onto binary WebSocket frames both ways until either side
//! closes. An open tunnel can also be used as a plain byte stream
//! ([`eice::TunnelStream`]) by code that wants `AsyncRead + AsyncWrite`.
//!
//! # Module map
//!
//! In reading order, bottom first: each module uses only modules above it in
//! this table, never one below (`scripts/module-graph` checks this order and
//! that no two modules need each other, even around a circle). Small shared
//! values sit at the bottom; the crate-wide [`error::Error`] gathers the
//! domain errors near the top, and no domain module holds it.
//!
//! | module | job |
//! | --- | --- |
//! | [`reply`] | what a SOCKS5 or HTTP client is told of a failure: one table for both |
//! | [`clock`] | AWS's time: the skew learned from the `Date` of AWS's answers, which every signature (EC2 calls, presigned URLs) is corrected by |
//! | [`target`] | what the client asked for: instance id, IP, private DNS name, Name tag |
//! | [`glob`] | `*` and `?` wildcards, for `[[push_key]]` rules and known_hosts patterns |
//! | [`partitions`] | the AWS partitions as the SDKs' endpoint rules see them: DNS suffixes, FIPS and dual-stack, region names |
//! | [`aws_names`] | the shapes of the ids and endpoint names AWS issues, checked wherever one comes in (EC2 answers, the route cache) |
//! | [`private_fs`] | files and directories only the user can have written (owner and mode, as OpenSSH's `StrictModes`), and private ones created |
//! | [`reach`] | security groups and network ACLs between an endpoint and an instance, evaluated as AWS does |
//! | [`public_key`] | an OpenSSH public key read from a `.pub` file, as pushed |
//! | [`agent`] | the user's ssh-agent (`SSH_AUTH_SOCK`): its keys, in its order, and signatures |
//! | [`credentials`] | the AWS credential chain, cached for signing |
//! | [`net`] | TCP and TLS to AWS, one trust store (webpki, the system, `AWS_CA_BUNDLE`), through a corporate HTTP proxy where one is set (never for loopback), IPv6 and IPv4 raced (Happy Eyeballs) where not; a pool of ready connections to endpoints in recent use; the AWS SDK's HTTP client, routed through the same proxies |
//! | [`eice`] | the EICE client: settings, presign, dial (a pooled connection or a fresh one), upgrade, the tunnel's own WebSocket framing (`eice::ws`), keepalive, stream view |
//! | [`splice`] | byte stream ⇄ WebSocket copy with back-pressure and half-close |
//! | [`metrics`] | counters and open tunnels, fed plain values, served on loopback at `/metrics` and `/status`, to requests for a loopback name only |
//! | [`ec2`] | the EC2 API calls the proxy makes (Query protocol: sign, send, retry, pages) |
//! | [`password`] | a Windows instance's Administrator password: `GetPasswordData`, decrypted with the launch key pair's `.pem`, for `rdp` |
//! | [`diagnose`] | "why can't I reach it?": a path's rules read from the EC2 API and checked |
//! | [`config`] | the config file, every table of it (`[[hop]]`, `[[push_key]]`, `[[route]]`, …) |
//! | [`inbound`] | SOCKS5 and HTTP CONNECT, told apart by the first byte; the credentials checked at one gate that slows guessing per client address |
//! | [`resolve`] | target → route through caches (and, for `connect` and `ssh`, the route cache on disk, `resolve::disk`); `way` is the one place that decides direct or hop |
//! | [`keys`] | EC2 Instance Connect key push, for `[[push_key]]` rules, hops and `eice-proxy ssh` |
//! | [`hop`] | the SSH hop: any port in a VPC through one SSH connection over one EICE tunnel |
//! | [`error`] | the crate-wide error: every domain error, and what each tells the client |
//! | [`proxy`] | shared policy: ports, per-endpoint tunnel limits, timeouts; target → open tunnel |
//! | [`server`] | the listeners (limits, shutdown), the per-connection handler, forward ports |
//! | [`cli`] | clap definitions of every subcommand |
//! | [`commands`] | one small `run` per subcommand (`serve`, `forward`, `connect`, `ssh`, `rdp`, …); the edge, where `anyhow` lives |
//!
//! The simulated AWS that tests, benches and `demo` run against is a crate of
//! its own, `eice-sim` (`crates/eice-sim`): it imports nothing of this crate,
//! and the product links it only with the `demo` cargo feature (on by default).
//!
//! The library's interface is what the binary, the tests, the benches and the
//! fuzz targets use; the modules only the crate itself uses (`agent`, `error`,
//! `glob`, `private_fs`, `public_key`, `keys`, `hop`, `proxy`, `server`) are
//! `pub(crate)`.

pub(crate) mod agent;
pub mod aws_names;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod credentials;
pub mod diagnose;
pub mod ec2;
pub mod eice;
pub(crate) mod error;
pub(crate) mod glob;
pub(crate) mod hop;
pub mod inbound;
pub(crate) mod keys;
pub mod metrics;
pub mod net;
pub mod partitions;
pub mod password;
pub(crate) mod private_fs;
pub(crate) mod proxy;
pub(crate) mod public_key;
pub mod reach;
pub mod reply;
pub mod resolve;
pub(crate) mod server;
pub mod splice;
pub mod target;
