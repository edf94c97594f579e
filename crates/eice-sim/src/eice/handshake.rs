//! The HTTP side of `openTunnel`: route, WebSocket upgrade headers, SigV4, parameters,
//! then either an AWS-shaped JSON error or the 101 that hands the connection to a
//! tunnel.
//!
//! The checks run in the order the real service appears to apply them (authenticate
//! before looking at parameters), so a badly signed request with a bad port is
//! reported as a signature problem, as AWS would. Injected refusals come right
//! after authentication (where IAM and throttling decide on the real service);
//! an injected hang comes before anything, as a service that never answers.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_TYPE, DATE, HOST, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tracing::debug;

use super::conns::Conn;
use super::faults::UpgradeFault;
use super::tunnel::{self, TunnelRequest};
use super::{SERVICE, Shared};
use crate::sigv4::{self, Expected, PresignedRequest, SigV4Error, Verified};

/// The header AWS uses to identify a request in its logs; clients log it on failure.
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The service's default (and maximum) `maxTunnelDuration`.
const MAX_TUNNEL_SECS: u64 = 3600;

/// Why a request was refused; each maps to an HTTP status and an AWS `ErrorCode`.
#[derive(Debug, thiserror::Error)]
pub(super) enum Rejection {
    /// Any path but `/openTunnel`.
    #[error(
        "The requested resource '{0}' does not exist. This endpoint serves only GET /openTunnel."
    )]
    NotFound(String),
    /// `/openTunnel` with a method other than GET.
    #[error("The method {0} is not allowed for /openTunnel; use GET with a WebSocket upgrade.")]
    MethodNotAllowed(Method),
    /// A plain HTTP request, or an upgrade missing a required header.
    #[error("openTunnel requires a WebSocket upgrade: {0}")]
    NotWebSocket(&'static str),
    /// The presigned URL failed a SigV4 check.
    #[error(transparent)]
    Auth(#[from] SigV4Error),
    /// A parameter is missing or out of range.
    #[error("{0}")]
    InvalidParameter(String),
    /// `instanceConnectEndpointId` names no endpoint the simulator knows.
    #[error("The instance connect endpoint ID '{0}' does not exist.")]
    UnknownEndpoint(String),
    /// The `Host` is none of the endpoint's names (see `super::host`).
    #[error("{0}")]
    WrongHost(String),
    /// A refusal a test armed ([`super::EiceSim::fail_next_upgrades`]).
    #[error("{}", .0.message)]
    Injected(UpgradeFault),
    /// The endpoint already carries its quota of concurrent tunnels (see
    /// `super::quota` for why this answer).
    #[error(
        "The instance connect endpoint {endpoint} already has the maximum number of {limit} \
         concurrent connections. Close a connection and retry your request."
    )]
    EndpointFull { endpoint: String, limit: u64 },
}

impl Rejection {
    fn status(&self) -> StatusCode {
        match self {
            Rejection::NotFound(_) => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::Auth(_) => StatusCode::FORBIDDEN,
            Rejection::Injected(fault) => fault.status,
            Rejection::EndpointFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_code(&self) -> &str {
        match self {
            Rejection::NotFound(_) => "NotFound",
            Rejection::MethodNotAllowed(_) => "MethodNotAllowed",
            Rejection::NotWebSocket(_) => "InvalidRequest",
            Rejection::Auth(error) => error.error_code(),
            Rejection::InvalidParameter(_) => "InvalidParameter",
            Rejection::UnknownEndpoint(_) => "InvalidInstanceConnectEndpointId.NotFound",
            Rejection::WrongHost(_) => "InvalidHost",
            Rejection::Injected(fault) => &fault.error_code,
            Rejection::EndpointFull { .. } => super::quota::QUOTA_EXCEEDED,
        }
    }
}

/// The JSON error body, field order as AWS sends it.
#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "ErrorCode")]
    error_code: &'a str,
    #[serde(rename = "Message")]
    message: &'a str,
}

/// Serves one HTTP request: an error response, or a 101 with the tunnel spawned to
/// run once hyper hands over the upgraded connection. Either is dated by the
/// service's clock, as AWS dates its answers (hyper's own `Date` would say the
/// real time).
pub(super) async fn handle(
    request: Request<Incoming>,
    conn: Conn,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let clock = shared.clock.clone();
    let Ok(mut response) = answer(request, conn, shared).await;
    if let Ok(date) = HeaderValue::from_str(&clock.http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    Ok(response)
}

/// The answer to one request, undated.
async fn answer(
    mut request: Request<Incoming>,
    conn: Conn,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let peer = conn.peer;
    if shared.faults().take_hang() {
        return Ok(hang(&shared).await);
    }
    let request_id = new_request_id(&shared);
    let admitted =
        admit(&request, &shared, &request_id, peer).and_then(|admitted| {
            let (key, mut tunnel, access_key_id) = admitted;
            tunnel.place = Some(super::quota::take(&shared, &tunnel.endpoint_id).ok_or_else(
                || Rejection::EndpointFull {
                    endpoint: tunnel.endpoint_id.clone(),
                    limit: shared.quota.limit(),
                },
            )?);
            Ok((key, tunnel, access_key_id))
        });
    let (key, mut tunnel, access_key_id) = match admitted {
        Ok(admitted) => admitted,
        Err(rejection) => {
            debug!(%request_id, code = rejection.error_code(), %rejection, "openTunnel refused");
            let code = rejection.error_code().to_owned();
            let id = request_id.clone();
            shared.stats.update(|stats| {
                stats.rejected.push(code);
                stats.request_ids.push(id);
            });
            return Ok(error_response(&rejection, &request_id));
        }
    };
    tunnel.cut = shared.faults().take_cut();
    let id = request_id.clone();
    let host = host_of(&request).to_owned();
    shared.stats.update(|stats| {
        stats.request_ids.push(id);
        stats.access_keys.push(access_key_id);
        stats.hosts.push(host);
        stats.tunnel_connections.push(conn.number);
        stats.tunnel_sni.push(conn.sni);
    });
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => tunnel::run(TokioIo::new(upgraded), tunnel, shared).await,
            Err(error) => debug!(request_id = %tunnel.request_id, %error, "upgrade failed"),
        }
    });
    Ok(switching_protocols(&key, &request_id))
}

/// An upgrade request left unanswered until the service is dropped (hyper then
/// gets a 503 to send, which nobody is likely to read).
async fn hang(shared: &Shared) -> Response<Full<Bytes>> {
    shared.stats.update(|stats| stats.upgrades_hung += 1);
    debug!("openTunnel left unanswered, as armed");
    let mut stopped = shared.stopped.clone();
    // Only the sender's drop (the service stopping) ends this wait.
    while stopped.changed().await.is_ok() {}
    let shutting_down = UpgradeFault::new(
        503,
        "ServiceUnavailableException",
        "The service is shutting down.",
    );
    error_response(&Rejection::Injected(shutting_down), &new_request_id(shared))
}

/// Every check, in order; the WebSocket key, the tunnel to open and the access
/// key that signed it on success.
fn admit(
    request: &Request<Incoming>,
    shared: &Shared,
    request_id: &str,
    peer: SocketAddr,
) -> Result<(String, TunnelRequest, String), Rejection> {
    check_route(request)?;
    let key = check_upgrade(request.headers())?;
    let verified = authenticate(request, shared)?;
    let endpoint = verified.param("instanceConnectEndpointId");
    if let Some(fault) = shared.faults().take_refusal(endpoint) {
        return Err(Rejection::Injected(fault));
    }
    let tunnel = tunnel_request(&verified, shared, request_id, peer.ip())?;
    super::host::check(host_of(request), &tunnel.endpoint_id, &shared.worlds)
        .map_err(Rejection::WrongHost)?;
    debug!(
        %request_id,
        access_key_id = %verified.access_key_id,
        endpoint = %tunnel.endpoint_id,
        target = %tunnel.private,
        max_secs = tunnel.max_duration.as_secs(),
        "openTunnel accepted"
    );
    Ok((key, tunnel, verified.access_key_id))
}

fn check_route(request: &Request<Incoming>) -> Result<(), Rejection> {
    if request.uri().path() != "/openTunnel" {
        return Err(Rejection::NotFound(request.uri().path().to_owned()));
    }
    if request.method() != Method::GET {
        return Err(Rejection::MethodNotAllowed(request.method().clone()));
    }
    Ok(())
}

/// The RFC 6455 §4.2.1 handshake headers; returns `Sec-WebSocket-Key`.
fn check_upgrade(headers: &HeaderMap) -> Result<String, Rejection> {
    if !has_token(headers, UPGRADE, "websocket") {
        return Err(Rejection::NotWebSocket(
            "expected the header Upgrade: websocket.",
        ));
    }
    if !has_token(headers, CONNECTION, "upgrade") {
        return Err(Rejection::NotWebSocket(
            "expected the header Connection: upgrade.",
        ));
    }
    if headers.get(SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(Rejection::NotWebSocket(
            "expected the header Sec-WebSocket-Version: 13.",
        ));
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD.decode(key.trim());
    if decoded.map(|bytes| bytes.len()) != Ok(16) {
        return Err(Rejection::NotWebSocket(
            "expected a Sec-WebSocket-Key of 16 base64-encoded bytes.",
        ));
    }
    Ok(key.trim().to_owned())
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// The `Host` header, or "" when absent or not text.
fn host_of(request: &Request<Incoming>) -> &str {
    request
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn authenticate(request: &Request<Incoming>, shared: &Shared) -> Result<Verified, Rejection> {
    let host = host_of(request);
    let query = request.uri().query().unwrap_or("");
    let presigned = PresignedRequest {
        method: request.method().as_str(),
        path: request.uri().path(),
        query,
        host,
    };
    // The endpoint's region decides which scope is right; reading the (not yet
    // verified) parameter is safe because it is itself covered by the signature.
    let params = sigv4::decode_query(query).unwrap_or_default();
    let endpoint = params
        .iter()
        .find(|(key, _)| key == "instanceConnectEndpointId")
        .map(|(_, value)| value.as_str());
    let expected = Expected {
        service: SERVICE,
        region: shared.region_of(endpoint),
        now: shared.now(),
    };
    Ok(sigv4::verify_presigned(
        &presigned,
        &shared.credentials,
        &expected,
    )?)
}

/// The `openTunnel` parameters, validated as the real service does.
fn tunnel_request(
    verified: &Verified,
    shared: &Shared,
    request_id: &str,
    client: IpAddr,
) -> Result<TunnelRequest, Rejection> {
    let endpoint_id = endpoint_id(
        verified.param("instanceConnectEndpointId"),
        &shared
            .endpoint_ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )?;
    let port = remote_port(verified.param("remotePort"), &shared.allowed_ports)?;
    let ip = private_ip(verified.param("privateIpAddress"))?;
    let max_duration = max_duration(verified.param("maxTunnelDuration"))?;
    Ok(TunnelRequest {
        request_id: request_id.to_owned(),
        endpoint_id,
        private: SocketAddr::new(ip, port),
        client,
        max_duration,
        cut: None,
        place: None,
    })
}

fn missing(name: &str) -> Rejection {
    Rejection::InvalidParameter(format!("The request must contain the parameter {name}."))
}

fn endpoint_id(value: Option<&str>, known: &[String]) -> Result<String, Rejection> {
    let id = value
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing("instanceConnectEndpointId"))?;
    if known.is_empty() || known.iter().any(|k| k == id) {
        Ok(id.to_owned())
    } else {
        Err(Rejection::UnknownEndpoint(id.to_owned()))
    }
}

fn remote_port(value: Option<&str>, allowed: &[u16]) -> Result<u16, Rejection> {
    let port = value.and_then(parse_decimal::<u16>);
    match port {
        Some(port) if allowed.contains(&port) => Ok(port),
        _ => Err(Rejection::InvalidParameter(format!(
            "The specified RemotePort is not valid. Specify {} as the RemotePort and retry your request.",
            port_choices(allowed)
        ))),
    }
}

/// "either 22 or 3389" for the real service's ports, so its message is reproduced
/// exactly; other lists read naturally too.
fn port_choices(allowed: &[u16]) -> String {
    let names: Vec<String> = allowed.iter().map(u16::to_string).collect();
    match names.as_slice() {
        [] => "a supported port".to_owned(),
        [only] => only.clone(),
        [first, second] => format!("either {first} or {second}"),
        [rest @ .., last] => format!("one of {} or {last}", rest.join(", ")),
    }
}

/// IPv4 or IPv6 (already percent-decoded by the verifier: `fd00%3A%3A5` → `fd00::5`).
fn private_ip(value: Option<&str>) -> Result<IpAddr, Rejection> {
    let text = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("privateIpAddress"))?;
    text.parse().map_err(|_| {
        Rejection::InvalidParameter(format!(
            "The specified PrivateIpAddress '{text}' is not a valid IPv4 or IPv6 address."
        ))
    })
}

fn max_duration(value: Option<&str>) -> Result<Duration, Rejection> {
    let Some(text) = value else {
        return Ok(Duration::from_secs(MAX_TUNNEL_SECS));
    };
    match parse_decimal::<u64>(text) {
        Some(secs @ 1..=MAX_TUNNEL_SECS) => Ok(Duration::from_secs(secs)),
        _ => Err(Rejection::InvalidParameter(format!(
            "The specified MaxTunnelDuration '{text}' is not valid. Specify a value from 1 to {MAX_TUNNEL_SECS} seconds and retry your request."
        ))),
    }
}

/// Plain decimal digits only: Rust's `parse` would also take `+22`, which the
/// service has no reason to accept.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

fn error_response(rejection: &Rejection, request_id: &str) -> Response<Full<Bytes>> {
    let message = rejection.to_string();
    let body = ErrorBody {
        error_code: rejection.error_code(),
        message: &message,
    };
    let json = serde_json::to_vec(&body).expect("an error body always serialises");
    Response::builder()
        .status(rejection.status())
        .header(CONTENT_TYPE, "application/json")
        .header(REQUEST_ID_HEADER, request_id)
        .body(Full::new(Bytes::from(json)))
        .expect("static headers are valid")
}

fn switching_protocols(key: &str, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "Upgrade")
        .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .header(REQUEST_ID_HEADER, request_id)
        .body(Full::new(Bytes::new()))
        .expect("static headers are valid")
}

/// A random id shaped like AWS's (a version-4 UUID), from aws-lc-rs randomness.
fn new_request_id(shared: &Shared) -> String {
    let mut bytes = [0u8; 16];
    if shared.random.fill(&mut bytes).is_err() {
        // Only uniqueness matters for a simulator's request id; fall back to the clock.
        let nanos = shared
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        bytes = nanos.as_nanos().to_be_bytes();
    }
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
