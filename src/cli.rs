//! The command line: every subcommand and flag, in one place.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::target::Target;

/// Whether `demo` is built in, as a literal for `concat!`.
#[cfg(feature = "demo")]
macro_rules! demo_built_in {
    () => {
        "built in"
    };
}
#[cfg(not(feature = "demo"))]
macro_rules! demo_built_in {
    () => {
        "not built in (cargo feature `demo` off)"
    };
}

/// What `eice-proxy --version` prints after the name: what a bug report needs
/// (the version, the commit and target triple `build.rs` recorded, and whether
/// `demo` is built in). `-V` prints the version alone.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("EICE_PROXY_COMMIT"),
    "\ntarget: ",
    env!("EICE_PROXY_TARGET"),
    "\ndemo: ",
    demo_built_in!(),
);

/// Reach EC2 instances in private subnets through EC2 Instance Connect Endpoint tunnels.
#[derive(Debug, Parser)]
#[command(name = "eice-proxy", version, long_version = LONG_VERSION, about, propagate_version = true)]
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

/// Where AWS credentials and the regions come from. Both override the config
/// file, which overrides the standard chain (AWS_PROFILE, AWS_REGION, ~/.aws/config).
#[derive(Debug, Clone, Default, Args)]
pub struct AwsArgs {
    /// The AWS regions to search, comma-separated or repeated (overrides `regions`).
    #[arg(
        long = "region",
        global = true,
        value_name = "REGION",
        value_delimiter = ',',
        env = "EICE_PROXY_REGIONS"
    )]
    pub regions: Vec<String>,
    /// The AWS profile to take credentials (and the default region) from (overrides `profile`).
    #[arg(long, global = true, value_name = "NAME", env = "EICE_PROXY_PROFILE")]
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
    /// Forward a local port to one target, for clients that speak no SOCKS
    /// (psql, RDP clients, database GUIs).
    ///
    /// Every connection to LOCAL_ADDR goes to TARGET:PORT: a tunnel of its own,
    /// or a stream through a `[[hop]]` for a port EICE refuses. The config file
    /// applies as for `serve`, except its `listen`, `[[forward]]` and
    /// `[metrics]`, which are serve's own.
    ///
    /// Example: eice-proxy forward 13389 i-0123456789abcdef0:3389
    Forward(ForwardArgs),
    /// Open one tunnel and join it to stdin/stdout (for ssh's ProxyCommand).
    ///
    /// Example: ssh -o ProxyCommand='eice-proxy connect %h %p' ec2-user@i-0123456789abcdef0
    Connect(ConnectArgs),
    /// Print the route a target would take (instance, IP, VPC, subnet, endpoint, or the hop).
    Resolve(ResolveArgs),
    /// Run the proxy against a simulated AWS account on this machine (no AWS account needed).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Check the setup (config, credentials, identity, regions, permissions,
    /// endpoints, hops, listen address) and say how to fix what is wrong.
    Doctor(DoctorArgs),
    /// Print an ssh_config block that sends `ssh i-…` through eice-proxy.
    SshConfig(SshConfigArgs),
    /// Push an SSH key with EC2 Instance Connect, then run ssh through an EICE tunnel.
    ///
    /// Example: eice-proxy ssh ec2-user@web-1 -- -L 8080:localhost:80
    Ssh(SshArgs),
    /// Fetch a Windows instance's password, then run an RDP client through an EICE tunnel.
    ///
    /// Example: eice-proxy rdp win-1 --key ~/.ssh/my-key-pair.pem
    Rdp(RdpArgs),
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
    /// A TOML config file (default: $XDG_CONFIG_HOME/eice-proxy/config.toml if it exists).
    #[arg(long, value_name = "FILE", env = "EICE_PROXY_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to listen (overrides `listen`; default 127.0.0.1:1080).
    #[arg(long, value_name = "ADDR", env = "EICE_PROXY_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub options: ServeOptions,
}

/// What the long-running commands, `serve` and `forward`, share.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeOptions {
    /// Seconds after which the service closes each tunnel (1-3600; overrides `max_tunnel_duration`).
    #[arg(long, value_name = "SECONDS", env = "EICE_PROXY_MAX_TUNNEL_DURATION",
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_tunnel_duration: Option<u32>,
    /// Serve /metrics and /status on this loopback address (for `serve`, overrides
    /// `[metrics] listen`; default off).
    #[arg(long, value_name = "ADDR", env = "EICE_PROXY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

#[derive(Debug, Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub options: ServeOptions,
    /// Listen on a non-loopback LOCAL_ADDR, although a forward port asks for
    /// no credentials: anyone who reaches it uses your AWS identity.
    #[arg(long)]
    pub allow_remote: bool,
    /// Where to listen: IP:PORT, or a port alone on 127.0.0.1 (port 0 picks a free one).
    #[arg(value_name = "LOCAL_ADDR", value_parser = crate::config::local_addr)]
    pub listen: SocketAddr,
    /// Where every connection goes: an instance id, private IP, private DNS
    /// name or Name tag (or, through a hop, any name the VPC resolves), and
    /// the port (EICE accepts 22 and 3389; a hop carries any other).
    #[arg(value_name = "TARGET:PORT", value_parser = Target::parse)]
    pub target: Target,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Check the path to one target instead (instance id, Name tag, private IP
    /// or DNS name; port 22 unless given): its route, then each security group
    /// and network ACL rule between the endpoint and the instance.
    #[arg(value_name = "TARGET[:PORT]")]
    pub target: Option<String>,
    /// Print the checks as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "demo")]
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
pub struct SshArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The private key to log in with; its KEY.pub is pushed. KEY may be a
    /// key the ssh-agent holds (its private file passphrase-protected or
    /// absent, KEY.pub present). Default: the ssh-agent's first key, then
    /// ~/.ssh/id_ed25519, then ~/.ssh/id_rsa, else a temporary key made for this login.
    #[arg(short = 'i', value_name = "KEY")]
    pub identity: Option<PathBuf>,
    /// The OS user to log in as (default: USER@ in the destination, then
    /// `[ssh] user` in the config, then ec2-user).
    #[arg(short = 'l', value_name = "USER")]
    pub user: Option<String>,
    /// [USER@]TARGET: an instance id, private IP, private DNS name or Name tag.
    #[arg(value_name = "[USER@]TARGET")]
    pub destination: String,
    /// Given to ssh: options (-L, -D, -o …), then a remote command.
    #[arg(last = true, value_name = "SSH_ARGS")]
    pub ssh_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RdpArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The private key (.pem) of the key pair the instance was launched with,
    /// which decrypts its Administrator password (default: the key of the
    /// first matching [[rdp]] rule). An encrypted key's passphrase is asked
    /// on the terminal.
    #[arg(long, value_name = "KEY.pem", conflicts_with = "user")]
    pub key: Option<PathBuf>,
    /// Log in as USER (a domain or other local user) and let the client ask
    /// for the password: none is fetched.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The RDP client to run (default: xfreerdp3, xfreerdp, sdl-freerdp or
    /// remmina on Linux, mstsc on Windows, `open` on macOS). A FreeRDP,
    /// Remmina or mstsc program is driven as such; any other is given the
    /// address as its last argument, and the login is shown on the terminal.
    #[arg(long, value_name = "CMD", conflicts_with = "print")]
    pub client: Option<String>,
    /// Start no client: print the address, user and password, and keep the
    /// port open until Ctrl-C.
    #[arg(long)]
    pub print: bool,
    /// An instance id, private IP, private DNS name or Name tag.
    pub target: String,
    /// Given to the client, after the address and login.
    #[arg(last = true, value_name = "CLIENT_ARGS")]
    pub client_args: Vec<String>,
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
    /// The endpoint's dual-stack DnsName (PublicDnsNames.Dualstack); given, the URL is signed for it.
    #[arg(long, value_name = "HOST")]
    pub dualstack_dns_name: Option<String>,
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
    /// The dual-stack DnsName of --endpoint-id, used with `[network] endpoint_dns = "dualstack"`.
    #[arg(long, value_name = "HOST", requires = "endpoint_id")]
    pub dualstack_dns_name: Option<String>,
    /// Seconds after which the service closes the tunnel (1-3600; overrides the config file).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_tunnel_duration: Option<u32>,
    /// Neither read nor write the route cache on disk: ask the EC2 API.
    #[arg(long)]
    pub no_cache: bool,
    /// Open the tunnel from this process even when a `serve` of the profile runs.
    #[arg(long, env = "EICE_PROXY_DIRECT")]
    pub direct: bool,
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
