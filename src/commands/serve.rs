//! `eice-proxy serve`: the long-running local proxy, with a port beside it
//! for each `[[forward]]`. `forward` starts and stops through the same steps.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::cli::{AwsArgs, ServeArgs, ServeOptions};
use crate::config::{Config, ForwardRule};
use crate::metrics;
use crate::resolve::check_port;
use crate::server::{self, Front, Listener, Proxy};

pub(super) async fn run(aws_args: &AwsArgs, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = super::load_config(&args.config, aws_args)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    apply(&args.options, &mut config);
    check_forwards(&config, &config.forwards)?;
    let listen = config.listen;
    // Bound first, so that a refused address stops the proxy before it starts.
    let metrics_listener =
        bind_metrics(args.options.metrics_listen.or(config.metrics.listen)).await?;
    let proxy = Arc::new(super::build_serving_proxy(&config).await?);
    let mut listeners = vec![Listener {
        socket: server::bind(listen, config.auth.is_some()).await?,
        front: Front::Proxy,
    }];
    if let Some(warning) = config
        .auth
        .as_ref()
        .and_then(|auth| auth.exposure_warning(listen.ip()))
    {
        warn!("{warning}");
    }
    for rule in &config.forwards {
        listeners.push(server::bind_forward(rule).await?);
    }
    start_metrics(metrics_listener, &proxy)?;
    info!(
        "listening on {} for SOCKS5 and HTTP CONNECT (regions: {})",
        listeners[0].socket.local_addr()?,
        proxy.resolver().regions().join(", ")
    );
    log_forwards(&listeners)?;
    let control = bind_control(&config).await;
    server::run_with_control(listeners, control, proxy, shutdown_signal()).await;
    Ok(())
}

/// The control socket `connect` asks for its tunnels (Unix only). A serve
/// runs without one, with a warning, when it cannot have it (another serve
/// of the profile holds it, say): the proxy port is what it is for.
#[cfg(unix)]
async fn bind_control(config: &Config) -> Option<server::Control> {
    let profile = super::profile_name(config.profile.as_deref());
    let Some(path) = server::control::path(&profile) else {
        warn!("no runtime or home directory: `connect` will not use this serve");
        return None;
    };
    match server::control::ControlSocket::bind(&path).await {
        Ok(control) => {
            info!(
                "`connect` of profile {profile} uses this serve through {}",
                path.display()
            );
            Some(control)
        }
        Err(e) => {
            warn!(
                "no control socket at {}: {e}; `connect` will not use this serve",
                path.display()
            );
            None
        }
    }
}

/// `connect` uses a serve only through a Unix socket.
#[cfg(not(unix))]
async fn bind_control(_: &Config) -> Option<server::Control> {
    None
}

/// The command line's options over the config file's.
pub(super) fn apply(options: &ServeOptions, config: &mut Config) {
    if options.max_tunnel_duration.is_some() {
        config.max_tunnel_duration = options.max_tunnel_duration;
    }
}

/// Refuses, before any AWS call, a forward whose every connection would be
/// refused for its port: one EICE does not carry, with no hop to carry it.
pub(super) fn check_forwards(config: &Config, rules: &[ForwardRule]) -> anyhow::Result<()> {
    let hops = !config.hops.is_empty();
    for rule in rules {
        check_port(&config.allowed_ports, hops, rule.target.port)
            .with_context(|| format!("cannot forward {} to {}", rule.listen, rule.target))?;
    }
    Ok(())
}

/// The metrics address bound, if one is asked for.
pub(super) async fn bind_metrics(
    addr: Option<std::net::SocketAddr>,
) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => Ok(Some(metrics::http::bind(addr).await?)),
        None => Ok(None),
    }
}

/// Serves `/metrics` and `/status` of `proxy` on `listener`, if there is one.
pub(super) fn start_metrics(listener: Option<TcpListener>, proxy: &Proxy) -> anyhow::Result<()> {
    if let Some(listener) = listener {
        info!(
            "metrics at http://{}/metrics, open tunnels at /status",
            listener.local_addr()?
        );
        tokio::spawn(metrics::http::serve(listener, proxy.metrics().clone()));
    }
    Ok(())
}

/// Logs where each forward port leads, with the address it is bound to (port
/// 0 picks one, and tests read it from this line).
pub(super) fn log_forwards(listeners: &[Listener]) -> anyhow::Result<()> {
    for listener in listeners {
        if let Front::Forward(target) = &listener.front {
            info!("forwarding {} → {target}", listener.socket.local_addr()?);
        }
    }
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
