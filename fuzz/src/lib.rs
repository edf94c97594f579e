//! What the fuzz targets share: one runtime for the whole fuzzing process, a
//! scripted client that plays the fuzzer's bytes against a server over an
//! in-memory duplex stream, and the oracles of `tests/oracle/` (what each
//! input must be answered), the same files the property tests use. Nothing
//! here opens a socket.
//!
//! The runtime's clock is paused: whenever every task is waiting, tokio jumps
//! the clock to the next timer. A server stuck waiting for bytes that will never
//! come therefore reaches [`DEADLINE`] at once, in no real time, and the run
//! fails as a hang instead of stalling the fuzzer.

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::runtime::Runtime;

#[path = "../../tests/oracle/http_connect.rs"]
pub mod http_oracle;
#[path = "../../tests/oracle/socks5.rs"]
pub mod socks5_oracle;

/// How long (on the paused clock) one exchange may take before it counts as a hang.
/// Longer than [`LINGER`] and any timeout a server under test is given, so those fire first.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How long (paused clock) the client waits after its last byte before it
/// closes. The clock only moves when every task is waiting, so this means "once
/// the server has done all it can with the bytes so far": a parsable request
/// gets its answer before the close (hyper drops a CONNECT whose client has
/// already half-closed), and an incomplete one then meets the close.
pub const LINGER: Duration = Duration::from_secs(1);

/// Room in each direction of the duplex; the client drains its side while it
/// writes, so this only sets how often the two sides take turns.
const PIPE: usize = 16 * 1024;

/// Built once: a runtime per run would cost more than most runs.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
});

/// Writes `input` as the client, lingers (see [`LINGER`]), closes the client's
/// write half, and reads whatever `server` sends until it drops its end.
/// Returns the server's bytes.
///
/// Panics (a finding) if the exchange has not finished by [`DEADLINE`].
pub fn exchange<S, F>(input: &[u8], server: S) -> Vec<u8>
where
    S: FnOnce(DuplexStream) -> F,
    F: Future<Output = ()>,
{
    RUNTIME.block_on(async {
        let (client, server_end) = tokio::io::duplex(PIPE);
        let (mut from_server, mut to_server) = tokio::io::split(client);
        let write = async move {
            // The server may stop reading early and drop its end: not an error here.
            let _ = to_server.write_all(input).await;
            tokio::time::sleep(LINGER).await;
            let _ = to_server.shutdown().await;
        };
        let read = async move {
            let mut reply = Vec::new();
            let _ = from_server.read_to_end(&mut reply).await;
            reply
        };
        let all = async { tokio::join!(write, read, server(server_end)).1 };
        match tokio::time::timeout(DEADLINE, all).await {
            Ok(reply) => reply,
            Err(_) => panic!(
                "hang: no end within {DEADLINE:?} (paused clock) for {} input bytes",
                input.len()
            ),
        }
    })
}

/// Status codes of the complete HTTP/1.1 responses (head and `Content-Length`
/// body) at the start of `bytes`, and whether every byte belonged to one of them.
pub fn response_statuses(mut bytes: &[u8]) -> (Vec<u16>, bool) {
    let mut statuses = Vec::new();
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let (Ok(httparse::Status::Complete(head)), Some(code)) =
            (response.parse(bytes), response.code)
        else {
            return (statuses, false);
        };
        let body = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .unwrap_or(0usize);
        let Some(rest) = bytes.get(head + body..) else {
            return (statuses, false);
        };
        statuses.push(code);
        bytes = rest;
    }
    (statuses, true)
}
