//! The simulated AWS: the project's stand-in for AWS in tests, benches and the demo.
//!
//! Nothing here talks to AWS, and this crate imports nothing of the product: it
//! exists so the proxy can be exercised end to end on 127.0.0.1 with realistic
//! behaviour, and the product links it only for `eice-proxy demo` (its `demo`
//! feature). [`account`] starts a whole simulated account at once. [`world`]
//! describes one region of a simulated account (VPCs, subnets, instances,
//! endpoints, security groups, network ACLs) in TOML; [`ec2_api`] serves the EC2
//! Query API calls the product makes over one world per region, and at the same
//! URL [`sts`] (`GetCallerIdentity`) and [`keys`] (EC2 Instance Connect
//! `SendSSHPublicKey`, and the pushed keys for a real sshd); [`eice`] serves EICE
//! `openTunnel` WebSockets in front of local TCP listeners that stand for
//! instances, refusing a tunnel whose path [`firewall`] finds blocked by security
//! groups or network ACLs, evaluated independently of the product; [`sigv4`] is an
//! independent SigV4 verifier that checks the product's signer; [`clock`] is the
//! clock tests move to expire pushed keys, and AWS's time, which every service
//! checks signatures against and dates its answers by, set apart from the
//! client's to play a machine whose clock is off; [`tls`] makes a throwaway CA so the
//! simulated endpoint can speak `wss://`.

pub mod account;
pub mod clock;
pub mod ec2_api;
pub mod eice;
pub mod firewall;
pub mod keys;
mod random;
pub mod sigv4;
pub mod sshd;
pub mod sts;
pub mod tls;
pub mod world;
mod ws;
