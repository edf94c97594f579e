//! HTTP CONNECT (RFC 9110 §9.3.6) on hyper's HTTP/1.1 server.
//!
//! `CONNECT host:port` (or `[v6]:port`) opens a tunnel; the response status is
//! the outcome (200, or the [`Reply`]'s status with a one-line explanation in
//! the body, which curl shows). Other methods get 405: this is a tunnelling
//! proxy, not a forwarding one. With authentication configured, a request
//! without valid `Proxy-Authorization: Basic` gets 407. A request that
//! carried none keeps its connection, as a browser sends its credentials
//! after the challenge; wrong ones are answered (after the hold their
//! address has earned, [`Gate`]) with `Connection: close`, and the
//! connection closes: one connection, one guess.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_TYPE, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, info};

use super::throttle::Gate;
use crate::config::ProxyAuth;
use crate::reply::Reply;
use crate::target::{Host, Target};

/// The client's stream after a successful CONNECT.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Why a target was not connected, as the client will be told.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub reply: Reply,
    pub message: String,
}

/// A request answered without calling `open`: what the metrics count it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// A method other than CONNECT (405).
    Method,
    /// Missing or wrong `Proxy-Authorization` (407).
    Auth,
    /// A CONNECT target that is no `host:port`, or no possible host (400, 404).
    Target,
}

/// Serves HTTP/1.1 on `io` until the client leaves or a CONNECT succeeds,
/// wrong credentials answered at once.
///
/// `open` resolves a target and opens its tunnel (its error is the refusal);
/// `join` receives the upgraded client stream with what `open` returned.
pub async fn serve<T, O, OFut, V, J, JFut>(
    io: T,
    auth: Option<Arc<ProxyAuth>>,
    header_timeout: Duration,
    open: O,
    join: J,
) -> Result<(), hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    O: Fn(Target) -> OFut + Clone + Send + Sync + 'static,
    OFut: Future<Output = Result<V, Refusal>> + Send,
    V: Send + 'static,
    J: Fn(Upgraded, V) -> JFut + Clone + Send + Sync + 'static,
    JFut: Future<Output = ()> + Send + 'static,
{
    serve_reporting(io, auth.map(Gate::new), header_timeout, open, join)
        .await
        .0
}

/// [`serve`], the credentials checked at `gate` (which may hold a wrong
/// password's answer), also returning the last request it rejected before
/// `open`.
pub async fn serve_reporting<T, O, OFut, V, J, JFut>(
    io: T,
    gate: Option<Gate>,
    header_timeout: Duration,
    open: O,
    join: J,
) -> (Result<(), hyper::Error>, Option<Rejection>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    O: Fn(Target) -> OFut + Clone + Send + Sync + 'static,
    OFut: Future<Output = Result<V, Refusal>> + Send,
    V: Send + 'static,
    J: Fn(Upgraded, V) -> JFut + Clone + Send + Sync + 'static,
    JFut: Future<Output = ()> + Send + 'static,
{
    let rejected = Arc::new(Mutex::new(None));
    let last = rejected.clone();
    let service = service_fn(move |req| {
        let (gate, open, join) = (gate.clone(), open.clone(), join.clone());
        let rejected = rejected.clone();
        async move {
            let (response, rejection) = handle(req, gate.as_ref(), open, join).await;
            if rejection.is_some() {
                *rejected.lock().expect("rejection lock") = rejection;
            }
            Ok::<_, Infallible>(response)
        }
    });
    let result = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    let rejection = *last.lock().expect("rejection lock");
    (result, rejection)
}

async fn handle<O, OFut, V, J, JFut>(
    mut req: Request<Incoming>,
    gate: Option<&Gate>,
    open: O,
    join: J,
) -> (Response<Full<Bytes>>, Option<Rejection>)
where
    O: Fn(Target) -> OFut,
    OFut: Future<Output = Result<V, Refusal>>,
    V: Send + 'static,
    J: Fn(Upgraded, V) -> JFut + Send + 'static,
    JFut: Future<Output = ()> + Send + 'static,
{
    if req.method() != Method::CONNECT {
        info!(method = %req.method(), uri = %req.uri(), "refused a non-CONNECT HTTP request");
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "eice-proxy is a tunnelling proxy: send CONNECT host:port (curl --proxytunnel, nc -X connect)",
        );
        response
            .headers_mut()
            .insert(ALLOW, "CONNECT".parse().expect("static header"));
        return (response, Some(Rejection::Method));
    }
    if let Some(gate) = gate
        && let Some(response) = check(&req, gate).await
    {
        return (response, Some(Rejection::Auth));
    }
    let target = match connect_target(&req) {
        Ok(target) => target,
        Err((status, message)) => {
            info!(uri = %req.uri(), reason = %message, "refused a malformed CONNECT");
            return (text(status, &message), Some(Rejection::Target));
        }
    };
    let opened = match open(target).await {
        Ok(opened) => opened,
        Err(refusal) => return (text(refusal.reply.http_status(), &refusal.message), None),
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => join(TokioIo::new(upgraded), opened).await,
            Err(e) => debug!(error = %e, "the client left before the CONNECT upgrade"),
        }
    });
    (Response::new(Full::new(Bytes::new())), None)
}

/// The authority of a CONNECT request as a target; the port is mandatory.
/// A malformed request is 400; a host that cannot exist is 404.
fn connect_target<B>(req: &Request<B>) -> Result<Target, (StatusCode, String)> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let authority = req
        .uri()
        .authority()
        .ok_or_else(|| bad("CONNECT needs host:port as its target".into()))?;
    let port = authority
        .port_u16()
        .ok_or_else(|| bad(format!("CONNECT {authority}: a port is required")))?;
    let host = Host::parse(authority.host())
        .map_err(|e| (Reply::HostUnreachable.http_status(), e.to_string()))?;
    Ok(Target { host, port })
}

/// The 407 for a request whose credentials `gate` did not admit; none when
/// they are right.
async fn check<B>(req: &Request<B>, gate: &Gate) -> Option<Response<Full<Bytes>>> {
    let admitted = match presented(req) {
        Presented::Nothing => {
            info!("refused an HTTP CONNECT without Proxy-Authorization");
            return Some(challenge());
        }
        Presented::Unreadable => {
            gate.refuse().await;
            false
        }
        Presented::Basic(user, pass) => gate.admit(&user, &pass).await,
    };
    if admitted {
        return None;
    }
    info!("refused an HTTP CONNECT with wrong Proxy-Authorization: closing the connection");
    let mut response = challenge();
    response
        .headers_mut()
        .insert(CONNECTION, "close".parse().expect("static header"));
    Some(response)
}

/// 407 with the challenge that asks for Basic credentials.
fn challenge() -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        "proxy authentication required",
    );
    response.headers_mut().insert(
        PROXY_AUTHENTICATE,
        "Basic realm=\"eice-proxy\"".parse().expect("static header"),
    );
    response
}

/// What a request's `Proxy-Authorization` holds.
#[derive(Debug, PartialEq, Eq)]
enum Presented {
    /// No header: the client has not tried yet.
    Nothing,
    /// A header that is no `Basic` user and password.
    Unreadable,
    Basic(String, String),
}

fn presented<B>(req: &Request<B>) -> Presented {
    let Some(value) = req.headers().get(PROXY_AUTHORIZATION) else {
        return Presented::Nothing;
    };
    let basic = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok());
    match basic.as_deref().and_then(|d| d.split_once(':')) {
        Some((user, pass)) => Presented::Basic(user.to_owned(), pass.to_owned()),
        None => Presented::Unreadable,
    }
}

fn text(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("static header"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(uri: &str) -> Request<()> {
        Request::builder()
            .method(Method::CONNECT)
            .uri(uri)
            .body(())
            .unwrap()
    }

    #[test]
    fn targets_come_from_the_authority() {
        assert_eq!(
            connect_target(&connect("10.0.1.25:22"))
                .unwrap()
                .to_string(),
            "10.0.1.25:22"
        );
        assert_eq!(
            connect_target(&connect("[fd00::1]:3389"))
                .unwrap()
                .to_string(),
            "[fd00::1]:3389"
        );
        assert_eq!(
            connect_target(&connect("i-0123456789abcdef0:22"))
                .unwrap()
                .port,
            22
        );
    }

    fn with(value: &str) -> Request<()> {
        Request::builder()
            .method(Method::CONNECT)
            .uri("h:22")
            .header(PROXY_AUTHORIZATION, value)
            .body(())
            .unwrap()
    }

    #[test]
    fn basic_credentials_are_read_and_anything_else_is_unreadable() {
        let pair = base64::engine::general_purpose::STANDARD.encode("alice:s3:cret");
        assert_eq!(
            presented(&with(&format!("Basic {pair}"))),
            Presented::Basic("alice".into(), "s3:cret".into())
        );
        assert_eq!(presented(&with("Bearer x")), Presented::Unreadable);
        assert_eq!(presented(&with("Basic !!")), Presented::Unreadable);
        let no_colon = base64::engine::general_purpose::STANDARD.encode("alice");
        assert_eq!(
            presented(&with(&format!("Basic {no_colon}"))),
            Presented::Unreadable
        );
        assert_eq!(presented(&connect("h:22")), Presented::Nothing);
    }

    #[tokio::test]
    async fn only_wrong_credentials_close_the_connection() {
        let gate = Gate::new(Arc::new(ProxyAuth {
            username: "alice".into(),
            password: "s3cret".into(),
        }));
        let basic = |pair: &str| {
            with(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        };
        assert!(check(&basic("alice:s3cret"), &gate).await.is_none());
        let closes = |r: Option<Response<Full<Bytes>>>| {
            let r = r.expect("a 407");
            assert_eq!(r.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
            assert!(r.headers().contains_key(PROXY_AUTHENTICATE));
            r.headers().get(CONNECTION).is_some_and(|v| v == "close")
        };
        assert!(closes(check(&basic("alice:wrong"), &gate).await));
        assert!(closes(check(&with("Bearer x"), &gate).await));
        assert!(!closes(check(&connect("h:22"), &gate).await));
    }
}
