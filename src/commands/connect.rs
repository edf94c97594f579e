//! `eice-proxy connect HOST PORT`: one tunnel joined to stdin and stdout, the
//! shape ssh's `ProxyCommand` expects.

use std::sync::Arc;

use anyhow::Context as _;
use tracing::{Instrument, debug, info_span};

use crate::aws::CredentialCache;
use crate::cli::{AwsArgs, ConnectArgs};
use crate::eice::{Connector, TunnelRequest};
use crate::splice::splice;

pub(super) async fn run(aws_args: &AwsArgs, args: ConnectArgs) -> anyhow::Result<()> {
    let (sdk, endpoint) = super::endpoint_from_args(aws_args, &args.endpoint).await?;
    let credentials = Arc::new(CredentialCache::from_sdk_config(&sdk));
    let connector = Connector::new(super::tunnel_settings()?, credentials)?;
    let request = TunnelRequest {
        endpoint,
        private_ip: args.host,
        port: args.port,
        max_tunnel_duration: args.endpoint.max_tunnel_duration,
    };
    let target = format!("{}:{}", request.private_ip, request.port);
    let span = info_span!("connect", %target, endpoint = %request.endpoint.id);
    async move {
        let tunnel = connector.open(&request).await.with_context(|| {
            format!(
                "cannot open a tunnel to {target} through {}",
                request.endpoint.id
            )
        })?;
        debug!(request_id = ?tunnel.request_id, "tunnel open");
        let finished = splice(
            tokio::io::join(tokio::io::stdin(), tokio::io::stdout()),
            tunnel.ws,
        )
        .await;
        debug!(
            up = finished.totals.up,
            down = finished.totals.down,
            "tunnel closed"
        );
        finished
            .result
            .with_context(|| format!("the tunnel to {target} failed"))
    }
    .instrument(span)
    .await
}
