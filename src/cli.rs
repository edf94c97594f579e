//! The command line: every subcommand and flag, in one place.

use std::net::IpAddr;

use clap::{Args, Parser, Subcommand};

/// Reach EC2 instances in private subnets through EC2 Instance Connect Endpoint tunnels.
#[derive(Debug, Parser)]
#[command(name = "eice-proxy", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where AWS credentials and the region come from; both default to the
/// standard chain (AWS_PROFILE, AWS_REGION, ~/.aws/config).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// The AWS region (default: from the endpoint's DNS name, else the AWS config).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// The AWS profile to take credentials and region from.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open one tunnel and join it to stdin/stdout (for ssh's ProxyCommand).
    ///
    /// Example: ssh -o ProxyCommand='eice-proxy connect --endpoint-id eice-0abc
    /// --dns-name eice-0abc.ec2-instance-connect-endpoint.us-east-1.amazonaws.com %h %p' ec2-user@10.0.1.25
    Connect(ConnectArgs),
    /// Print a presigned openTunnel URL (a debugging aid; the URL grants a tunnel for 60 s).
    Presign(PresignArgs),
}

/// The endpoint a tunnel goes through.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    /// The EC2 Instance Connect Endpoint id (eice-…).
    #[arg(long, value_name = "ID")]
    pub endpoint_id: String,
    /// The endpoint's DnsName (from `aws ec2 describe-instance-connect-endpoints`).
    #[arg(long, value_name = "HOST")]
    pub dns_name: String,
    /// The endpoint's FipsDnsName, used when AWS_USE_FIPS_ENDPOINT=true.
    #[arg(long, value_name = "HOST")]
    pub fips_dns_name: Option<String>,
    /// Seconds after which the service closes the tunnel (1-3600; default: the service's 3600).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_tunnel_duration: Option<u32>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// The instance's private IP address.
    pub host: IpAddr,
    /// The remote port (EICE accepts 22 and 3389).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

#[derive(Debug, Args)]
pub struct PresignArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    /// The instance's private IP address.
    #[arg(long, value_name = "IP")]
    pub private_ip: IpAddr,
    /// The remote port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}
