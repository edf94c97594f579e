//! One `run` per subcommand. This is the program's edge: errors become one
//! line on stderr and an exit status here, nowhere deeper.

mod completions;
mod connect;
mod demo;
mod presign;
mod resolve;
mod serve;
mod ssh_config;
mod status;

use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::aws::{self, CredentialCache};
use crate::cli::{AwsArgs, Cli, Command, ConfigArgs};
use crate::config::{Config, TunnelSettings};
use crate::eice::Connector;
use crate::resolve::{Ec2, Resolver};
use crate::server::Proxy;

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(&cli.aws, args).await,
        Command::Connect(args) => connect::run(&cli.aws, args).await,
        Command::Resolve(args) => resolve::run(&cli.aws, args).await,
        Command::Presign(args) => presign::run(&cli.aws, args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::SshConfig(args) => ssh_config::run(&cli.aws, args),
        Command::Status(args) => status::run(args).await,
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

/// The config file named by `--config`, or the defaults.
fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    match &args.config {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

/// The shared AWS configuration, insisting on a region (`--region` wins over
/// `region`, which wins over the environment and profile).
async fn sdk_config(
    aws_args: &AwsArgs,
    region: Option<String>,
) -> anyhow::Result<(aws_config::SdkConfig, String)> {
    let sdk =
        aws::load_sdk_config(aws_args.region.clone().or(region), aws_args.profile.clone()).await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        bail!("no AWS region: pass --region, or set AWS_REGION or a region in the AWS profile");
    };
    Ok((sdk, region))
}

/// The tunnel opener, with settings from the environment and timeouts from `config`.
fn connector(sdk: &aws_config::SdkConfig, config: &Config) -> anyhow::Result<Connector> {
    let mut settings = TunnelSettings::from_env().context("bad environment")?;
    settings.open_timeout = std::time::Duration::from_secs(config.timeouts.open);
    Ok(Connector::new(
        settings,
        Arc::new(CredentialCache::from_sdk_config(sdk)),
    )?)
}

/// Everything `serve`, `connect` and `resolve` need: resolver, connector, policy.
async fn build_proxy(aws_args: &AwsArgs, config: &Config) -> anyhow::Result<Proxy> {
    let (sdk, region) = sdk_config(aws_args, None).await?;
    let resolver = Resolver::new(Ec2::new(aws_sdk_ec2::Client::new(&sdk)), region, config);
    Ok(Proxy::new(resolver, connector(&sdk, config)?, config))
}
