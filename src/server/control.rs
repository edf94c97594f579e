//! `serve`'s control socket: where `connect` asks a running `serve` for its
//! tunnel, so that a login through `connect` gets the serve's pool, warm
//! caches and hops instead of starting cold.
//!
//! The socket is `serve-PROFILE.sock` in `$XDG_RUNTIME_DIR/eice-proxy`, else
//! in the per-user cache directory (`$XDG_CACHE_HOME/eice-proxy`, else
//! `~/.cache/eice-proxy`): named by profile, so that a serve of another
//! profile is never used. The directory is 0700 and the socket 0600; its
//! permissions are the authentication, so the socket speaks HTTP CONNECT with
//! no password, through the same handler as the proxy port
//! ([`super::serve_http`]), and its connections count under the `control`
//! protocol. HTTP rather than SOCKS5 because a refusal carries the serve's
//! words, which `connect` prints.
//!
//! Before `connect` trusts a socket, [`crate::private_fs`] checks it and its
//! directory: one another user owns, or its group or others may write to, is
//! refused with a warning naming it. A socket left by a crashed serve is
//! replaced at the next start, but only if nothing answers on it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use tokio::net::{UnixListener, UnixStream};
use tracing::field::Empty;
use tracing::{Instrument, debug, error, info_span};

use super::{Conn, Shared, serve_http};
use crate::inbound::Protocol;
use crate::private_fs;

/// The control socket of the serve of `profile`, if there is a directory to
/// put it in.
pub fn path(profile: &str) -> Option<PathBuf> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("eice-proxy"));
    let dir = runtime.or_else(|| crate::config::xdg_dir("XDG_CACHE_HOME", ".cache"))?;
    Some(dir.join(format!("serve-{}.sock", private_fs::name_part(profile))))
}

/// A bound control socket; its file is removed when dropped.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` in a private directory, 0600. A socket already there is
    /// replaced if nothing answers on it (a crashed serve's); if something
    /// does, another serve of this profile runs, and this is an error.
    pub async fn bind(path: &Path) -> io::Result<ControlSocket> {
        if let Some(dir) = path.parent() {
            private_fs::create_private_dir(dir)?;
        }
        if std::fs::symlink_metadata(path).is_ok() {
            match UnixStream::connect(path).await {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "another serve of this profile answers on {}",
                            path.display()
                        ),
                    ));
                }
                Err(e) => {
                    debug!(error = %e, "replacing the stale control socket {}", path.display());
                    std::fs::remove_file(path)?;
                }
            }
        }
        let listener = UnixListener::bind(path)?;
        // The directory is 0700: no one else could connect before this.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The control socket's clients on the status page: they have no address.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Accepts on `control` under the shared limit, each connection served as an
/// HTTP CONNECT client without a password.
pub(super) async fn accept_loop(control: &ControlSocket, shared: &Shared<'_>) {
    loop {
        let permit = shared.permit().await;
        let socket = match control.listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                error!(error = %e, "accept on the control socket failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let id = shared.ids.fetch_add(1, Ordering::Relaxed);
        let guard = shared.guard(permit);
        let proxy = shared.proxy.clone();
        let conn = Conn {
            id,
            peer: PEER,
            metrics: proxy.metrics().clone(),
        };
        let mut shutdown = shared.notify_shutdown.subscribe();
        let span = info_span!("conn", id, client = "control", target = Empty);
        tokio::spawn(
            async move {
                let http = serve_http(proxy, socket, None, conn.clone(), guard, Protocol::Control);
                let outcome = tokio::select! {
                    outcome = http => outcome,
                    _ = shutdown.recv() => crate::metrics::Outcome::Shutdown,
                };
                conn.outcome(Some(Protocol::Control), outcome);
            }
            .instrument(span),
        );
    }
}

/// What `connect` found at a control socket.
pub enum Dial {
    /// A serve answered.
    Open(UnixStream),
    /// No serve: no socket, or nothing listening on it.
    Absent,
    /// A socket that is not to be trusted: the warning says why.
    Untrusted(private_fs::Untrusted),
}

/// Connects to the control socket at `path`, after checking that only this
/// user could have made it and its directory.
pub async fn dial(path: &Path) -> Dial {
    if std::fs::symlink_metadata(path).is_err() {
        return Dial::Absent;
    }
    let checked = path
        .parent()
        .map_or(Ok(()), private_fs::check_dir)
        .and_then(|()| private_fs::check_path(path));
    if let Err(untrusted) = checked {
        return Dial::Untrusted(untrusted);
    }
    match UnixStream::connect(path).await {
        Ok(stream) => Dial::Open(stream),
        Err(e) => {
            debug!(error = %e, "no serve answers on {}", path.display());
            Dial::Absent
        }
    }
}
