//! `connect` through a running `serve` of the same profile: one HTTP CONNECT
//! on its control socket ([`crate::server::control`]), then stdin and stdout
//! spliced onto the answer, so that the login gets the serve's pool, caches
//! and hops. A serve that refuses the target is the answer: its words are
//! printed and `connect` fails, with no second try of its own.

use std::path::Path;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tracing::{debug, warn};

use crate::net::proxy::{header, read_head};
use crate::server::control::{self, Dial};
use crate::splice::{Finished, splice_streams};
use crate::target::Target;

/// The longest refusal read from a serve.
const BODY_LIMIT: usize = 16 * 1024;

/// The tunnel to `target` through the serve of `profile`, spliced onto stdin
/// and stdout; `None` when no serve of the profile answers (or its socket is
/// not to be trusted), for the caller to open the tunnel itself.
pub(super) async fn connect(profile: &str, target: &Target) -> anyhow::Result<Option<Finished>> {
    let Some(path) = control::path(profile) else {
        return Ok(None);
    };
    let stream = match control::dial(&path).await {
        Dial::Open(stream) => stream,
        Dial::Absent => {
            debug!("no serve of profile {profile} runs: opening the tunnel here");
            return Ok(None);
        }
        Dial::Untrusted(untrusted) => {
            warn!("not using the serve's control socket: {untrusted}");
            return Ok(None);
        }
    };
    let stream = ask(stream, target, &path).await?;
    debug!("the tunnel goes through the serve at {}", path.display());
    let stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
    Ok(Some(splice_streams(stdio, stream, ()).await))
}

/// Sends the CONNECT and reads the answer: the stream, ready for the
/// instance's bytes, or the serve's refusal as the error.
async fn ask(mut stream: UnixStream, target: &Target, path: &Path) -> anyhow::Result<UnixStream> {
    let serve = || format!("the serve at {}", path.display());
    let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .with_context(|| format!("cannot ask {} for {target}", serve()))?;
    let head = read_head(&mut stream)
        .await
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("no answer from {} for {target}", serve()))?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut answer = httparse::Response::new(&mut headers);
    let status = match answer.parse(&head) {
        Ok(httparse::Status::Complete(_)) => answer.code.unwrap_or_default(),
        _ => bail!("{} gave no HTTP answer for {target}", serve()),
    };
    if status == 200 {
        return Ok(stream);
    }
    let length = header(answer.headers, "content-length").and_then(|l| l.parse().ok());
    let mut body = vec![0u8; length.unwrap_or(0).min(BODY_LIMIT)];
    let _ = stream.read_exact(&mut body).await;
    let reason = String::from_utf8_lossy(&body);
    bail!(
        "{} refused {target} ({status}): {} (`connect --direct` opens it without the serve)",
        serve(),
        reason.trim()
    )
}
