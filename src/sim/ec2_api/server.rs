//! The HTTP side: the accept loop, one hyper HTTP/1.1 connection per client, and
//! the translation of an [`Answer`] or [`ApiError`] into EC2's response documents.
//!
//! Connections live in a `JoinSet` owned by the accept loop, so aborting the loop
//! (when the simulator is dropped) ends every connection with it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, SERVER};
use http::{Request, Response, StatusCode};
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
                Ok((stream, _)) => {
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

/// Answers one request; every outcome is an EC2-shaped document.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = shared.next_request_id();
    let (parts, body) = request.into_parts();
    let outcome = match read_body(body).await {
        Ok(body) => shared.answer(&parts, &body),
        Err(err) => Err(err),
    };
    match outcome {
        Ok(answer) => success(&answer, &request_id),
        Err(err) => failure(&err, &request_id),
    }
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
    respond(StatusCode::OK, document, request_id)
}

fn failure(err: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let code = err.code();
    tracing::debug!(%code, message = %err, "ec2 sim: refusing a call");
    let document = xml::error_response(&code, &err.to_string(), request_id);
    respond(err.status(), document, request_id)
}

fn respond(status: StatusCode, document: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(document)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    headers.insert(SERVER, HeaderValue::from_static("AmazonEC2"));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}
