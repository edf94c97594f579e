//! The HTTP side: the accept loop, one hyper HTTP/1.1 connection per client, the
//! choice of service (EC2, STS, EC2 Instance Connect, or sshd's key listing) by a
//! request's credential scope, target or path, and the
//! translation of an [`Answer`] or [`ApiError`] into EC2's response documents.
//!
//! Connections live in a `JoinSet` owned by the accept loop, so aborting the loop
//! (when the simulator is dropped) ends every connection with it.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, DATE, HeaderValue, SERVER};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::error::ApiError;
use super::state::{Answer, Shared};
use super::xml;
use crate::keys::{self, Reply};
use crate::sigv4::claimed_scope;
use crate::sts;

/// EC2 Query requests are small; anything larger is a client bug or abuse.
const MAX_BODY_BYTES: usize = 1 << 20;

/// How long a client may take to send its headers, then its body; a stuck client
/// must not hold a connection task forever.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepts connections until the task is aborted.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    shared.peers.lock().unwrap_or_else(PoisonError::into_inner).push(peer);
                    shared.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(err) => {
                    // Usually descriptor exhaustion: back off rather than spin.
                    tracing::warn!(%err, "ec2 sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    // Answers are small writes that Nagle's algorithm would hold back until
    // the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = result {
        tracing::debug!(%err, "ec2 sim: connection ended with an error");
    }
}

/// The services served at this one URL, told apart by the signing name in the
/// request's credential scope; anything else (unsigned requests too) is EC2's.
/// EC2 Instance Connect is also recognised by its `X-Amz-Target`, so that even an
/// unsigned JSON request gets a JSON answer; and sshd's plain GET for pushed keys
/// by its path.
enum Service {
    Ec2,
    Sts,
    InstanceConnect,
    AuthorizedKeys,
}

impl Service {
    fn of(parts: &Parts) -> Service {
        if parts.method == Method::GET && parts.uri.path().starts_with(keys::AUTHORIZED_KEYS_PATH) {
            return Service::AuthorizedKeys;
        }
        let json_target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|target| target.starts_with(keys::TARGET_PREFIX));
        match claimed_scope(&parts.headers) {
            Some(scope) if scope.service == sts::SERVICE => Service::Sts,
            Some(scope) if scope.service == keys::SERVICE => Service::InstanceConnect,
            _ if json_target => Service::InstanceConnect,
            _ => Service::Ec2,
        }
    }
}

/// Answers one request, dated by the simulated clock as AWS dates its answers
/// (hyper's own `Date` would say the real time).
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut response = answer(shared, request).await;
    if let Ok(date) = HeaderValue::from_str(&shared.clock.http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// The answer to one request; every outcome is a document in its service's shape.
async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = shared.next_request_id();
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(err) => return failure(&err, &request_id),
    };
    match Service::of(&parts) {
        Service::Ec2 => match shared.answer(&parts, &body) {
            Ok(answer) => {
                shared.released(answer.action).await;
                success(&answer, &request_id)
            }
            Err(err) => failure(&err, &request_id),
        },
        Service::Sts => {
            let (status, document) = shared.answer_sts(&parts, &body, &request_id);
            respond(status, document, &request_id, None)
        }
        Service::InstanceConnect => {
            json(shared.answer_keys(&parts, &body, &request_id), &request_id)
        }
        Service::AuthorizedKeys => {
            let (status, text) = shared.authorized_keys(parts.uri.path());
            let mut response = Response::new(Full::new(Bytes::from(text)));
            *response.status_mut() = status;
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    }
}

/// A JSON 1.1 response, with `x-amzn-ErrorType` on errors.
fn json(reply: Reply, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(error_type) = reply.error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    let limited = Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout(READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) => Err(ApiError::MalformedQueryString(format!(
            "The request body could not be read: {err}"
        ))),
        Err(_) => Err(ApiError::MalformedQueryString(
            "The request body did not arrive in time.".into(),
        )),
    }
}

fn success(answer: &Answer, request_id: &str) -> Response<Full<Bytes>> {
    let document = xml::response(answer.action.as_str(), request_id, &answer.body);
    respond(StatusCode::OK, document, request_id, Some("AmazonEC2"))
}

fn failure(err: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let code = err.code();
    tracing::debug!(%code, message = %err, "ec2 sim: refusing a call");
    let document = xml::error_response(&code, &err.to_string(), request_id);
    respond(err.status(), document, request_id, Some("AmazonEC2"))
}

/// An XML response; `server` names EC2 in its `Server` header (STS sends none).
fn respond(
    status: StatusCode,
    document: String,
    request_id: &str,
    server: Option<&'static str>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(document)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    if let Some(server) = server {
        headers.insert(SERVER, HeaderValue::from_static(server));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}
