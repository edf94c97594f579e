//! `eice-proxy presign`: print the URL a tunnel would be opened with.

use std::time::SystemTime;

use crate::aws::CredentialCache;
use crate::cli::{AwsArgs, PresignArgs};
use crate::eice::TunnelRequest;
use crate::eice::sign::presign;
use crate::eice::transport::WsTarget;

pub(super) async fn run(aws_args: &AwsArgs, args: PresignArgs) -> anyhow::Result<()> {
    let (sdk, endpoint) = super::endpoint_from_args(aws_args, &args.endpoint).await?;
    let settings = super::tunnel_settings()?;
    let target = WsTarget::for_endpoint(&endpoint, &settings).map_err(anyhow::Error::msg)?;
    let credentials = CredentialCache::from_sdk_config(&sdk).get().await?;
    let request = TunnelRequest {
        endpoint,
        private_ip: args.private_ip,
        port: args.port,
        max_tunnel_duration: args.endpoint.max_tunnel_duration,
    };
    let url = presign(&request, &target, &credentials, SystemTime::now())?;
    println!("{}", url.expose());
    Ok(())
}
