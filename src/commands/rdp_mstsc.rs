//! Windows' own client, mstsc: it takes its settings from an `.rdp` file and
//! its credentials from Windows' credential store, so the file (in a private
//! temporary directory) holds no password, `cmdkey` stores it for the
//! loopback address under `TERMSRV/`, and both are removed when mstsc exits.

use std::net::SocketAddr;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use super::rdp_client::Login;

/// Runs `program` (mstsc) on a temporary `.rdp` file for `address`.
pub(super) async fn run(
    program: &str,
    address: SocketAddr,
    login: &Login,
    extra: &[String],
) -> anyhow::Result<u8> {
    let dir = tempfile::Builder::new()
        .prefix("eice-proxy-rdp-")
        .tempdir()
        .context("making a directory for the .rdp file")?;
    let file = dir
        .path()
        .join(format!("eice-proxy-{}.rdp", address.port()));
    std::fs::write(
        &file,
        format!(
            "full address:s:{address}\r\nusername:s:{}\r\nprompt for credentials:i:0\r\n\
             authentication level:i:0\r\n",
            login.user
        ),
    )
    .context("writing the .rdp file")?;
    let stored = match &login.password {
        Some(password) => Some(store(address, &login.user, password).await?),
        None => None,
    };
    let child = Command::new(program)
        .arg(&file)
        .args(extra)
        .spawn()
        .with_context(|| format!("running {program}"));
    let status = match child {
        Ok(child) => super::child::wait_until_exit(child).await,
        Err(e) => Err(e),
    };
    if let Some(target) = stored {
        let _ = Command::new("cmdkey")
            .arg(format!("/delete:{target}"))
            .stdout(Stdio::null())
            .status()
            .await;
    }
    drop(dir);
    status
}

/// Stores the password for `address` with cmdkey, which asks for it (`/pass`
/// with no value) rather than taking it on its command line: it is written
/// to cmdkey's stdin. The credential's name, for its removal.
async fn store(address: SocketAddr, user: &str, password: &str) -> anyhow::Result<String> {
    let target = format!("TERMSRV/{}", address.ip());
    let mut child = Command::new("cmdkey")
        .arg(format!("/generic:{target}"))
        .arg(format!("/user:{user}"))
        .arg("/pass")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("running cmdkey to store the password for mstsc")?;
    if let Some(mut stdin) = child.stdin.take() {
        let line = zeroize::Zeroizing::new(format!("{password}\r\n"));
        stdin.write_all(line.as_bytes()).await?;
    }
    let status = child.wait().await?;
    anyhow::ensure!(
        status.success(),
        "cmdkey could not store the password ({status})"
    );
    Ok(target)
}
