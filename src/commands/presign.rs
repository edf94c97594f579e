//! `eice-proxy presign`: print the URL a tunnel would be opened with.

use std::sync::Arc;
use std::time::SystemTime;

use crate::cli::{AwsArgs, PresignArgs};
use crate::credentials::CredentialCache;
use crate::eice::sign::presign;
use crate::eice::target::WsTarget;
use crate::eice::{Endpoint, TunnelRequest, region_from_dns_name};
use crate::eice::{EndpointDns, TunnelSettings};

pub(super) async fn run(aws_args: &AwsArgs, args: PresignArgs) -> anyhow::Result<()> {
    let e = &args.endpoint;
    let mut settings = TunnelSettings::from_env()?;
    let (sdk, region) = super::sdk_config(
        aws_args,
        &settings,
        region_from_dns_name(&e.dns_name).map(str::to_owned),
    )
    .await?;
    let endpoint = Endpoint {
        id: e.endpoint_id.clone(),
        region,
        dns_name: e.dns_name.clone(),
        fips_dns_name: e.fips_dns_name.clone(),
        dualstack_dns_name: e.dualstack_dns_name.clone(),
        dualstack_fips_dns_name: None,
        use_fips: sdk.use_fips().unwrap_or(false),
    };
    if endpoint.dualstack_dns_name.is_some() {
        settings.endpoint_dns = EndpointDns::Dualstack;
    }
    let target = WsTarget::for_endpoint(&endpoint, &settings).map_err(anyhow::Error::msg)?;
    let credentials = CredentialCache::from_sdk_config(&sdk).get().await?;
    let request = TunnelRequest {
        endpoint: Arc::new(endpoint),
        private_ip: args.private_ip,
        port: args.port,
        max_tunnel_duration: e.max_tunnel_duration,
    };
    let url = presign(&request, &target, &credentials, SystemTime::now())?;
    println!("{}", url.expose());
    Ok(())
}
