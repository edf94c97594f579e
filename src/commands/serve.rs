//! `eice-proxy serve`: the long-running local proxy.

use std::sync::Arc;

use tracing::info;

use crate::cli::{AwsArgs, ServeArgs};
use crate::{metrics, server};

pub(super) async fn run(aws_args: &AwsArgs, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(&args.config, aws_args)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.max_tunnel_duration.is_some() {
        config.max_tunnel_duration = args.max_tunnel_duration;
    }
    let listen = config.listen;
    // Bound first, so that a refused address stops the proxy before it starts.
    let metrics_listener = match args.metrics_listen.or(config.metrics.listen) {
        Some(addr) => Some(metrics::http::bind(addr).await?),
        None => None,
    };
    let proxy = Arc::new(super::build_proxy(&config).await?);
    let listener = server::bind(listen, config.auth.is_some()).await?;
    if let Some(metrics_listener) = metrics_listener {
        info!(
            "metrics at http://{}/metrics, open tunnels at /status",
            metrics_listener.local_addr()?
        );
        tokio::spawn(metrics::http::serve(
            metrics_listener,
            proxy.metrics().clone(),
        ));
    }
    info!(
        "listening on {} for SOCKS5 and HTTP CONNECT (regions: {})",
        listener.local_addr()?,
        proxy.resolver().regions().join(", ")
    );
    server::run(listener, proxy, shutdown_signal()).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(super) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
