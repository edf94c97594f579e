//! `eice-proxy forward LOCAL_ADDR TARGET:PORT`: one local port whose every
//! connection gets its own tunnel to one target, for clients that speak no
//! SOCKS. It is `serve` with a forward port in place of the proxy port: the
//! same config (but for `listen`, `[[forward]]` and `[metrics]`, which are
//! serve's, so both can run side by side), limits and graceful shutdown.

use std::sync::Arc;

use super::serve::{
    apply, bind_metrics, check_forwards, log_forwards, shutdown_signal, start_metrics,
};
use crate::cli::{AwsArgs, ForwardArgs};
use crate::config::ForwardRule;
use crate::server;

pub(super) async fn run(aws_args: &AwsArgs, args: ForwardArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(&args.config, aws_args)?;
    apply(&args.options, &mut config);
    let rule = ForwardRule {
        listen: args.listen,
        target: args.target,
        allow_remote: args.allow_remote,
    };
    check_forwards(&config, std::slice::from_ref(&rule))?;
    let metrics_listener = bind_metrics(args.options.metrics_listen).await?;
    let proxy = Arc::new(super::build_serving_proxy(&config).await?);
    let listeners = vec![server::bind_forward(&rule).await?];
    start_metrics(metrics_listener, &proxy)?;
    log_forwards(&listeners)?;
    server::run(listeners, proxy, shutdown_signal()).await;
    Ok(())
}
