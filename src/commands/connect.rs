//! `eice-proxy connect HOST PORT`: one tunnel joined to stdin and stdout, the
//! shape ssh's `ProxyCommand` expects. HOST takes every form the proxy
//! accepts; with `--endpoint-id` the lookup is skipped and HOST must be an IP.
//!
//! When a `serve` of the same profile runs, the tunnel is asked of it
//! ([`super::via_serve`], Unix only; not with `--endpoint-id`,
//! `--max-tunnel-duration` or `--direct`): the serve's config then applies.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use tracing::{Instrument, debug, info_span};

use super::early::EarlyStdin;
use crate::cli::{AwsArgs, ConnectArgs};
use crate::credentials::CredentialCache;
use crate::eice::{Endpoint, TunnelRequest, region_from_dns_name};
use crate::resolve::check_port;
use crate::splice::splice_tunnel;
use crate::target::{Host, Target};

pub(super) async fn run(aws_args: &AwsArgs, args: ConnectArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(&args.config, aws_args)?;
    if args.max_tunnel_duration.is_some() {
        config.max_tunnel_duration = args.max_tunnel_duration;
    }
    let target = Target {
        host: Host::parse(&args.host)?,
        port: args.port,
    };
    let span = info_span!("connect", %target);
    async move {
        // A tunnel duration asked on the command line is one the serve,
        // with its own, would not give.
        let via_serve =
            args.endpoint_id.is_none() && args.max_tunnel_duration.is_none() && !args.direct;
        #[cfg(unix)]
        if via_serve {
            let profile = super::profile_name(config.profile.as_deref());
            if let Some(finished) = super::via_serve::connect(&profile, &target).await? {
                return ended(finished, &target);
            }
        }
        #[cfg(not(unix))]
        let _ = via_serve;
        check_port(&config.allowed_ports, !config.hops.is_empty(), target.port)?;
        let finished = match (&args.endpoint_id, &args.dns_name) {
            (Some(id), Some(dns_name)) => {
                let Host::Ip(private_ip) = target.host else {
                    bail!(
                        "with --endpoint-id, HOST must be an IP address (got {})",
                        target.host
                    );
                };
                let (sdk, region) = super::sdk_config(
                    aws_args,
                    &super::settings(&config)?,
                    region_from_dns_name(dns_name).map(str::to_owned),
                )
                .await?;
                let request = TunnelRequest {
                    endpoint: Arc::new(Endpoint {
                        id: id.clone(),
                        region,
                        dns_name: dns_name.clone(),
                        fips_dns_name: args.fips_dns_name.clone(),
                        dualstack_dns_name: args.dualstack_dns_name.clone(),
                        dualstack_fips_dns_name: None,
                        use_fips: sdk.use_fips().unwrap_or(false),
                    }),
                    private_ip,
                    port: target.port,
                    max_tunnel_duration: config.max_tunnel_duration,
                };
                let credentials = CredentialCache::from_sdk_config(&sdk)
                    .for_profile(super::profile_name(aws_args.profile.as_deref()));
                let tunnel = super::connector(&config)?
                    .open(&request, &credentials)
                    .await
                    .with_context(|| format!("cannot open a tunnel to {target} through {id}"))?;
                debug!(request_id = ?tunnel.request_id, "tunnel open");
                let stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
                splice_tunnel(stdio, tunnel).await
            }
            _ => {
                let early = EarlyStdin::start();
                let proxy = super::build_login_proxy(&config, !args.no_cache).await?;
                let (opened, sent) = proxy
                    .open_early(&target, Some(&|| early.snapshot()))
                    .await
                    .with_context(|| format!("cannot open a tunnel to {target}"))?;
                debug!(sent, "client bytes sent as the tunnel opened");
                let stdin = early.finish(sent).await;
                opened
                    .splice(tokio::io::join(stdin, tokio::io::stdout()), ())
                    .await
            }
        };
        ended(finished, &target)
    }
    .instrument(span)
    .await
}

/// How the tunnel ended, for the exit status.
fn ended(finished: crate::splice::Finished, target: &Target) -> anyhow::Result<()> {
    debug!(
        up = finished.totals.up,
        down = finished.totals.down,
        "tunnel closed"
    );
    finished
        .result
        .with_context(|| format!("the tunnel to {target} failed"))
}
