//! The HTTP/1.1 WebSocket upgrade (RFC 6455 §4.1), done by hand.
//!
//! Why not the WebSocket library's own handshake: when EICE refuses a tunnel
//! the reason is in the response body, and the library hands back only the
//! bytes that happened to arrive with the headers. Reading the response
//! ourselves lets us read the whole body (up to `Content-Length`) and so always
//! show the service's `ErrorCode` and `Message`.

use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::net::proxy::header;

/// Response heads larger than this are not from EICE.
const MAX_HEAD: usize = 16 * 1024;

/// Error bodies larger than this are cut (the useful part is the first line).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The `User-Agent` the tunnel requests carry, so CloudTrail shows the tool.
pub const USER_AGENT: &str = concat!("eice-proxy/", env!("CARGO_PKG_VERSION"));

/// What the server answered.
#[derive(Debug)]
pub enum Upgrade {
    /// 101 with a valid accept key; `tail` holds bytes read past the head
    /// (the first WebSocket frames, if the server was quick).
    Switched {
        request_id: Option<String>,
        tail: Vec<u8>,
        timing: Timing,
    },
    /// Any other status, with as much of the body as was sent.
    Refused {
        status: u16,
        request_id: Option<String>,
        body: Vec<u8>,
        timing: Timing,
    },
}

impl Upgrade {
    /// When the exchange happened, by both clocks.
    pub fn timing(&self) -> &Timing {
        match self {
            Upgrade::Switched { timing, .. } | Upgrade::Refused { timing, .. } => timing,
        }
    }
}

/// When the request left and its answer came (by this machine's clock), and
/// the answer's `Date` (by the service's): what [`crate::clock`] learns the
/// skew from.
#[derive(Debug, Clone)]
pub struct Timing {
    pub sent: SystemTime,
    pub received: SystemTime,
    pub date: Option<String>,
}

/// Why an upgrade failed: an I/O failure or a response that is not HTTP/1.1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandshakeError {
    message: String,
    /// Whether any byte of a response arrived before the failure.
    answered: bool,
}

impl HandshakeError {
    fn new(message: impl Into<String>, answered: bool) -> HandshakeError {
        HandshakeError {
            message: message.into(),
            answered,
        }
    }

    /// The connection failed before the server answered anything: the
    /// server may never have seen the request (it closed the connection as
    /// the request was on its way), so it may be sent again elsewhere.
    pub fn unanswered(&self) -> bool {
        !self.answered
    }
}

/// Sends the upgrade request for `path_and_query` on `io` and reads the answer.
///
/// The request leaves in one write (one TLS record, one TCP segment while
/// it fits), so no part of it waits on the network for another.
pub async fn upgrade<S>(
    io: &mut S,
    authority: &str,
    path_and_query: &str,
) -> Result<Upgrade, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key = generate_key();
    let request = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: {key}\r\n\r\n"
    );
    let unsent =
        |e: std::io::Error| HandshakeError::new(format!("sending the upgrade request: {e}"), false);
    let sent = SystemTime::now();
    io.write_all(request.as_bytes()).await.map_err(unsent)?;
    io.flush().await.map_err(unsent)?;

    let mut buf = Vec::with_capacity(4096);
    let head = read_head(io, &mut buf)
        .await
        .map_err(|message| HandshakeError::new(message, !buf.is_empty()))?;
    let timing = Timing {
        sent,
        received: SystemTime::now(),
        date: head.date,
    };
    let tail = buf.split_off(head.len);
    if head.status == 101 {
        let expected = derive_accept_key(key.as_bytes());
        if head.accept.as_deref() != Some(expected.as_str()) {
            return Err(HandshakeError::new(
                "the server switched protocols without a valid Sec-WebSocket-Accept",
                true,
            ));
        }
        return Ok(Upgrade::Switched {
            request_id: head.request_id,
            tail,
            timing,
        });
    }
    let body = read_body(io, tail, head.content_length).await;
    Ok(Upgrade::Refused {
        status: head.status,
        request_id: head.request_id,
        body,
        timing,
    })
}

/// The parts of a response head that matter here.
struct Head {
    len: usize,
    status: u16,
    accept: Option<String>,
    request_id: Option<String>,
    content_length: Option<usize>,
    /// `Date`: the service's clock, for the skew.
    date: Option<String>,
}

async fn read_head<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Result<Head, String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let field = |name: &str| header(response.headers, name).map(str::to_owned);
                return Ok(Head {
                    len,
                    status: response.code.unwrap_or(0),
                    accept: field("sec-websocket-accept"),
                    request_id: field("x-amzn-requestid"),
                    content_length: field("content-length").and_then(|v| v.parse().ok()),
                    date: field("date"),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err("the response head is too large".into()),
            Err(e) => return Err(format!("the response is not HTTP: {e}")),
        }
        let n = io
            .read_buf(buf)
            .await
            .map_err(|e| format!("reading the upgrade response: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection before answering the upgrade".into());
        }
    }
}

/// Reads the rest of an error body; a body cut short is returned as it is,
/// since a partial message still beats none.
async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    mut body: Vec<u8>,
    content_length: Option<usize>,
) -> Vec<u8> {
    let want = content_length.unwrap_or(MAX_ERROR_BODY).min(MAX_ERROR_BODY);
    while body.len() < want {
        match io.read_buf(&mut body).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    body.truncate(want);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays a server that answers with `response` (with `{accept}` replaced by
    /// the right key) in two writes, to exercise reads that arrive in pieces.
    async fn exchange(response: &'static str) -> Result<Upgrade, HandshakeError> {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut buf = vec![0; 4096];
            let n = server.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let key = request
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .to_owned();
            let text = response.replace("{accept}", &derive_accept_key(key.as_bytes()));
            let (a, b) = text.split_at(text.len() / 2);
            server.write_all(a.as_bytes()).await.unwrap();
            server.write_all(b.as_bytes()).await.unwrap();
            request
        });
        let result = upgrade(&mut client, "h:1", "/openTunnel?x=1").await;
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /openTunnel?x=1 HTTP/1.1\r\nHost: h:1\r\n"),
            "{request}"
        );
        result
    }

    #[tokio::test]
    async fn a_switch_with_the_right_key_is_accepted_and_keeps_early_frames() {
        let r = exchange("HTTP/1.1 101 Switching Protocols\r\nx-amzn-RequestId: r1\r\nSec-WebSocket-Accept: {accept}\r\n\r\nearly").await;
        match r.unwrap() {
            Upgrade::Switched {
                request_id, tail, ..
            } => {
                assert_eq!(request_id.as_deref(), Some("r1"));
                assert_eq!(tail, b"early");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_switch_with_a_wrong_key_is_refused() {
        let r = exchange("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: bogus\r\n\r\n")
            .await;
        let err = r.unwrap_err();
        assert!(err.to_string().contains("Sec-WebSocket-Accept"));
        assert!(!err.unanswered(), "an answer came, so no retry");
    }

    #[tokio::test]
    async fn an_error_body_is_read_whole_even_when_it_arrives_late() {
        let r = exchange("HTTP/1.1 400 Bad Request\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 27\r\n\r\n{\"ErrorCode\":\"Bad\",\"M\":1}\n\n").await;
        match r.unwrap() {
            Upgrade::Refused {
                status,
                body,
                timing,
                ..
            } => {
                assert_eq!(status, 400);
                assert_eq!(body.len(), 27);
                // The service's clock, for the skew.
                assert_eq!(
                    timing.date.as_deref(),
                    Some("Sun, 06 Nov 1994 08:49:37 GMT")
                );
                assert!(timing.sent <= timing.received);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Counts the writes a request is sent in, and answers nothing.
    struct Writes {
        count: usize,
        bytes: Vec<u8>,
    }

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.count += 1;
            self.bytes.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    impl AsyncRead for Writes {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(())) // EOF: the server closed
        }
    }

    #[tokio::test]
    async fn the_request_leaves_in_one_write_and_a_silent_close_is_unanswered() {
        let mut io = Writes {
            count: 0,
            bytes: Vec::new(),
        };
        let path = format!("/openTunnel?{}", "X-Amz-Security-Token=t&".repeat(200));
        let err = upgrade(&mut io, "h", &path).await.unwrap_err();
        assert_eq!(io.count, 1, "one write for head and tail alike");
        assert!(io.bytes.ends_with(b"\r\n\r\n"));
        assert!(err.unanswered(), "{err}");
        assert!(err.to_string().contains("before answering"), "{err}");
    }
}
