//! The local HTTP endpoint: `GET /metrics` (Prometheus text) and `GET /status`
//! (JSON). Off unless configured, and loopback only: the status page names
//! clients and targets, and nothing on it asks who is reading.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE};
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
fn answer<B>(metrics: &Metrics, req: &Request<B>) -> Response<Full<Bytes>> {
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

fn page(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, content_type.parse().expect("static header"));
    response
}
