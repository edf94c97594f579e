//! The command line: every subcommand and flag, in one place.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Reach EC2 instances in private subnets through EC2 Instance Connect Endpoint tunnels.
#[derive(Debug, Parser)]
#[command(name = "eice-proxy", version, about, propagate_version = true)]
pub struct Cli {
    /// AWS region and profile.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, env = "EICE_PROXY_LOG_FORMAT",
          default_value_t = LogFormat::Human, value_name = "FORMAT")]
    pub log_format: LogFormat,
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

/// The log's format on stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event, with the connection's span in front.
    #[default]
    Human,
    /// One JSON object per line, with the span's fields (connection id, client, target).
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the local SOCKS5 and HTTP CONNECT proxy.
    ///
    /// Example: ssh -o ProxyCommand='nc -X 5 -x localhost:1080 %h %p' ec2-user@i-0123456789abcdef0
    Serve(ServeArgs),
    /// Open one tunnel and join it to stdin/stdout (for ssh's ProxyCommand).
    ///
    /// Example: ssh -o ProxyCommand='eice-proxy connect %h %p' ec2-user@i-0123456789abcdef0
    Connect(ConnectArgs),
    /// Print the route a target would take (instance, IP, VPC, subnet, endpoint).
    Resolve(ResolveArgs),
    /// Run the proxy against a simulated AWS account on this machine (no AWS account needed).
    Demo(DemoArgs),
    /// Print an ssh_config block that sends `ssh i-…` through eice-proxy.
    SshConfig(SshConfigArgs),
    /// Show the open tunnels of a running `serve` (from its metrics address).
    Status(StatusArgs),
    /// Print a shell completion script (e.g. eice-proxy completions bash > /etc/bash_completion.d/eice-proxy).
    Completions(CompletionsArgs),
    /// Print the man page in roff (e.g. eice-proxy man | man -l -).
    Man(ManArgs),
    /// Print a presigned openTunnel URL (a debugging aid; the URL grants a tunnel for 60 s).
    Presign(PresignArgs),
}

/// The config file.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// A TOML config file (see config/eice-proxy.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to listen (default 127.0.0.1:1080, or `listen` in the config file).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve /metrics and /status on this loopback address (or `[metrics] listen`; default off).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo proxy listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1080")]
    pub listen: SocketAddr,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The metrics address of the running `serve`.
    #[arg(long, value_name = "ADDR", default_value = crate::metrics::http::DEFAULT_ADDR)]
    pub metrics: SocketAddr,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// A subcommand's own page (eice-proxy-serve(1), …) instead of the main one.
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

#[derive(Debug, Args)]
pub struct SshConfigArgs {
    /// The ssh_config Host pattern the block applies to.
    #[arg(default_value = "i-*", value_name = "PATTERN")]
    pub pattern: String,
    /// Go through a running `eice-proxy serve` at ADDR (with nc) instead of `eice-proxy connect`.
    #[arg(long, value_name = "ADDR")]
    pub via: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Targets: an instance id, private IP, private DNS name or Name tag, with an optional :PORT.
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
}

/// An endpoint named on the command line instead of looked up.
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
    pub config: ConfigArgs,
    /// Skip the lookup: tunnel through this endpoint (HOST must then be an IP).
    #[arg(long, value_name = "ID", requires = "dns_name")]
    pub endpoint_id: Option<String>,
    /// The DnsName of --endpoint-id.
    #[arg(long, value_name = "HOST", requires = "endpoint_id")]
    pub dns_name: Option<String>,
    /// The FipsDnsName of --endpoint-id, used when AWS_USE_FIPS_ENDPOINT=true.
    #[arg(long, value_name = "HOST", requires = "endpoint_id")]
    pub fips_dns_name: Option<String>,
    /// Seconds after which the service closes the tunnel (1-3600; overrides the config file).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_tunnel_duration: Option<u32>,
    /// An instance id, private IP, private DNS name or Name tag (ssh's %h).
    pub host: String,
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
