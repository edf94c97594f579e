//! The local HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /status`
//! (JSON). Off unless configured, and loopback only: the status page names
//! clients and targets, and nothing on it asks who is reading.
//!
//! Binding loopback keeps other machines out, not web pages: a page whose
//! name the attacker re-points at 127.0.0.1 (DNS rebinding) is, to the
//! browser, its own origin, and could read `/status`. Its requests still carry
//! the attacker's name in `Host`, so every page answers only a `Host` that
//! names loopback itself ([`loopback_host`]); anything else gets 421.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tracing::debug;

use super::Metrics;

/// The address `eice-proxy status` asks when given none.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9180";

/// How long one scrape may take, request and answer; a client that stalls
/// longer is dropped.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "refusing to serve metrics and status on {0}: the status page lists clients and targets \
         and asks for no credentials; use a loopback address such as {DEFAULT_ADDR}"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot serve metrics on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

/// Binds `addr`, refusing any address but loopback.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    if !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback(addr));
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}

/// Answers scrapes on `listener` for as long as the process runs.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                // Out of file descriptors and the like: the proxy matters more.
                debug!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let page = answer(&metrics, &req);
                async move { Ok::<_, Infallible>(page) }
            });
            let exchange = http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(socket), service);
            match timeout(EXCHANGE_TIMEOUT, exchange).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(error = %e, "metrics request failed"),
                Err(_) => debug!("metrics client too slow: dropped"),
            }
        });
    }
}

/// The page for one request.
pub(super) fn answer<B>(metrics: &Metrics, req: &Request<B>) -> Response<Full<Bytes>> {
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    // An absolute-form target (`GET http://name/…`) names a host too.
    let target = req.uri().authority().map(|a| a.as_str());
    if !host.is_some_and(loopback_host) || !target.is_none_or(loopback_host) {
        debug!(?host, "metrics request for another host refused");
        return page(
            StatusCode::MISDIRECTED_REQUEST,
            "text/plain",
            "this page answers only requests for localhost or a loopback address \
             (Host: 127.0.0.1:PORT, [::1]:PORT or localhost): a web page must not \
             read it under a name of its own\n"
                .into(),
        );
    }
    let path = req.uri().path();
    if !matches!(path, "/" | "/metrics" | "/status") {
        return page(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    }
    if req.method() != Method::GET {
        let mut response = page(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, "GET".parse().expect("static header"));
        return response;
    }
    match path {
        "/metrics" => page(
            StatusCode::OK,
            super::prometheus::CONTENT_TYPE,
            metrics.render(),
        ),
        "/status" => {
            let mut json =
                serde_json::to_string_pretty(&metrics.status()).expect("the status serializes");
            json.push('\n');
            page(StatusCode::OK, "application/json", json)
        }
        _ => page(
            StatusCode::OK,
            "text/plain",
            "eice-proxy: /metrics (Prometheus) and /status (JSON)\n".into(),
        ),
    }
}

/// Whether a `Host` value (`HOST[:PORT]`) names this machine's loopback:
/// `localhost`, 127.0.0.0/8 or `[::1]`, with or without a port. A name that
/// merely resolves there (the rebinding attacker's) is refused.
pub(super) fn loopback_host(value: &str) -> bool {
    let (host, port) = match value.rsplit_once(':') {
        // `[::1]` alone: its colons are the address's.
        Some((host, port)) if !port.ends_with(']') => (host, Some(port)),
        _ => (value, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    let bracketed = host.starts_with('[') && host.ends_with(']');
    // An IPv6 address is written only in brackets, an IPv4 one never.
    let well_formed = bracketed == host.contains(':');
    port_ok && well_formed && crate::net::is_loopback_host(host)
}

fn page(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, content_type.parse().expect("static header"));
    response
}
