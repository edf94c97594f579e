//! A client program run in our terminal until it exits (ssh for `ssh`, the
//! RDP client for `rdp`), whose exit status becomes ours: what is cleaned up
//! after it (a temporary key, a listening port, stored credentials) is
//! cleaned up however it ends.

use tokio::process::Child;

/// Waits for `child`, passing SIGTERM and SIGHUP on to it and outliving a
/// Ctrl-C (which the terminal sends to the child too).
#[cfg(unix)]
pub(super) async fn wait_until_exit(mut child: Child) -> anyhow::Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = interrupt.recv() => {}
            _ = terminate.recv() => forward(&child, "TERM"),
            _ = hangup.recv() => forward(&child, "HUP"),
        }
    };
    // ssh exits 255 for its own errors; a signal death is 128 + the signal.
    Ok(match status.code() {
        Some(code) => u8::try_from(code).unwrap_or(255),
        None => {
            use std::os::unix::process::ExitStatusExt;
            128 + status.signal().map_or(0, |s| s as u8 & 0x7f)
        }
    })
}

/// Sends `signal` to the child with kill(1): tokio offers only SIGKILL.
#[cfg(unix)]
fn forward(child: &Child, signal: &str) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status();
    }
}

/// Waits for `child` (sharing our console), outliving a Ctrl-C, which the
/// console delivers to the child as well; there are no other signals to pass on.
#[cfg(not(unix))]
pub(super) async fn wait_until_exit(mut child: Child) -> anyhow::Result<u8> {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    Ok(status
        .code()
        .map_or(255, |c| u8::try_from(c).unwrap_or(255)))
}
