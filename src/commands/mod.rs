//! One `run` per subcommand. This is the program's edge: errors become one
//! line on stderr and an exit status here, nowhere deeper.

mod connect;
mod presign;

use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::aws;
use crate::cli::{AwsArgs, Cli, Command, EndpointArgs};
use crate::eice::{self, Endpoint};

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Connect(args) => connect::run(&cli.aws, args).await,
        Command::Presign(args) => presign::run(&cli.aws, args).await,
    }
}

/// The AWS configuration and the endpoint named on the command line, with its
/// region taken from `--region`, else the endpoint's DNS name, else the AWS config.
async fn endpoint_from_args(
    aws_args: &AwsArgs,
    args: &EndpointArgs,
) -> anyhow::Result<(aws_config::SdkConfig, Arc<Endpoint>)> {
    let region = aws_args
        .region
        .clone()
        .or_else(|| eice::region_from_dns_name(&args.dns_name).map(str::to_owned));
    let sdk = aws::load_sdk_config(region, aws_args.profile.clone()).await;
    let Some(region) = sdk.region().map(|r| r.to_string()) else {
        bail!("no AWS region: pass --region, or set AWS_REGION or a region in the AWS profile");
    };
    let endpoint = Endpoint {
        id: args.endpoint_id.clone(),
        region,
        dns_name: args.dns_name.clone(),
        fips_dns_name: args.fips_dns_name.clone(),
    };
    Ok((sdk, Arc::new(endpoint)))
}

/// The settings from the environment, with the variable named on failure.
fn tunnel_settings() -> anyhow::Result<crate::config::TunnelSettings> {
    crate::config::TunnelSettings::from_env().context("bad environment")
}
