//! The RDP client `rdp` starts, and how the login reaches it without the
//! password showing in the process list or in a file that outlives the
//! session: FreeRDP reads it from stdin (`/from-stdin`); mstsc takes it from
//! Windows' credential store (`cmdkey`, removed on exit); Remmina, macOS's
//! client and any `--client` of the user's are shown it on the terminal.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;
use zeroize::Zeroizing;

/// Who logs in, and with what (none when the client is to ask).
pub(super) struct Login {
    pub user: String,
    pub password: Option<Zeroizing<String>>,
}

/// The FreeRDP programs, newest first, then Remmina, as looked for on PATH.
const LINUX_CLIENTS: [&str; 5] = [
    "xfreerdp3",
    "xfreerdp",
    "sdl-freerdp3",
    "sdl-freerdp",
    "remmina",
];

/// A client, by the way it is driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Client {
    /// FreeRDP (`xfreerdp`, `sdl-freerdp`, …): `/v:`, `/u:`, `/from-stdin`.
    FreeRdp(String),
    /// Remmina: an `rdp://USER@ADDRESS` to connect to.
    Remmina(String),
    /// Windows' `mstsc`: a temporary `.rdp` file, `cmdkey` credentials.
    Mstsc(String),
    /// macOS: `open -W rdp://…`, for Microsoft's client.
    Open(String),
    /// Anything else: ADDRESS as its last argument.
    Other(String),
}

impl Client {
    /// `--client CMD` told apart by its name, else the platform's own.
    pub(super) fn choose(given: Option<&str>) -> anyhow::Result<Client> {
        if let Some(program) = given {
            return Ok(Client::of(program));
        }
        if cfg!(windows) {
            return Ok(Client::Mstsc("mstsc".into()));
        }
        if cfg!(target_os = "macos") {
            return Ok(Client::Open("open".into()));
        }
        match LINUX_CLIENTS.iter().find(|name| on_path(name)) {
            Some(name) => Ok(Client::of(name)),
            None => bail!(
                "no RDP client found (looked for {} on PATH): install FreeRDP (Debian and \
                 Ubuntu: apt install freerdp2-x11), name one with --client CMD, or pass --print \
                 for the address, user and password",
                LINUX_CLIENTS.join(", ")
            ),
        }
    }

    /// The kind of client `program` is, by its file name.
    fn of(program: &str) -> Client {
        // Either separator: a Windows path is told apart on any platform.
        let file = program.rsplit(['/', '\\']).next().unwrap_or(program);
        let name = file.to_ascii_lowercase();
        let name = name.strip_suffix(".exe").unwrap_or(&name);
        let program = program.to_owned();
        if name.contains("freerdp") {
            Client::FreeRdp(program)
        } else if name == "remmina" {
            Client::Remmina(program)
        } else if name == "mstsc" {
            Client::Mstsc(program)
        } else if name == "open" {
            Client::Open(program)
        } else {
            Client::Other(program)
        }
    }

    /// Starts the client on `address`, hands it the login, and waits for it
    /// to exit: its exit status.
    pub(super) async fn run(
        &self,
        address: SocketAddr,
        login: &Login,
        extra: &[String],
    ) -> anyhow::Result<u8> {
        match self {
            Client::FreeRdp(program) => free_rdp(program, address, login, extra).await,
            Client::Mstsc(program) => super::rdp_mstsc::run(program, address, login, extra).await,
            Client::Remmina(program) => {
                show(address, login);
                let mut cmd = Command::new(program);
                cmd.arg("-c")
                    .arg(format!("rdp://{}@{address}", login.user))
                    .args(extra);
                spawn_and_wait(cmd, program).await
            }
            Client::Open(program) => {
                show(address, login);
                let mut cmd = Command::new(program);
                // -W: wait until the client quits, so the port stays open as long.
                cmd.args(["-W", "-n"])
                    .arg(format!(
                        "rdp://full%20address=s:{address}&username=s:{}",
                        login.user
                    ))
                    .args(extra);
                spawn_and_wait(cmd, program).await
            }
            Client::Other(program) => {
                show(address, login);
                let mut cmd = Command::new(program);
                cmd.args(extra).arg(address.to_string());
                spawn_and_wait(cmd, program).await
            }
        }
    }
}

/// FreeRDP, the password on its stdin: `/from-stdin:force` reads what
/// the command line left out (here only the password) before it connects.
async fn free_rdp(
    program: &str,
    address: SocketAddr,
    login: &Login,
    extra: &[String],
) -> anyhow::Result<u8> {
    let mut cmd = Command::new(program);
    cmd.arg(format!("/v:{address}"))
        .arg(format!("/u:{}", login.user))
        // Every session has a port of its own, so a stored certificate
        // would never match again: the tunnel is what is trusted.
        .arg("/cert:tofu");
    let Some(password) = &login.password else {
        cmd.args(extra);
        return spawn_and_wait(cmd, program).await;
    };
    // An empty domain (a local user) is given, or FreeRDP would ask for
    // one on stdin before the password.
    if !extra.iter().any(|a| a.starts_with("/d:")) {
        cmd.arg("/d:");
    }
    cmd.arg("/from-stdin:force")
        .args(extra)
        .stdin(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("running the RDP client {program}"))?;
    let mut stdin = child.stdin.take().context("the client's stdin")?;
    let mut answers = Zeroizing::new(String::with_capacity(password.len() + 1));
    answers.push_str(password);
    answers.push('\n');
    stdin
        .write_all(answers.as_bytes())
        .await
        .with_context(|| format!("giving {program} the password on its stdin"))?;
    drop(stdin);
    super::child::wait_until_exit(child).await
}

/// Starts `cmd` with our terminal and waits for it.
async fn spawn_and_wait(mut cmd: Command, program: &str) -> anyhow::Result<u8> {
    let child = cmd
        .spawn()
        .with_context(|| format!("running the RDP client {program}"))?;
    super::child::wait_until_exit(child).await
}

/// The login on the terminal, for a client that cannot be handed it.
fn show(address: SocketAddr, login: &Login) {
    eprintln!("RDP to {address} as {}", login.user);
    if let Some(password) = &login.password {
        eprintln!("password: {}", password.as_str());
    }
}

/// Whether `name` is an executable file in a directory of PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let file = dir.join(name);
            file.is_file() && is_executable(&file)
        })
    })
}

#[cfg(unix)]
fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_: &Path) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_driven_by_its_name() {
        assert_eq!(
            Client::of("/usr/bin/xfreerdp3"),
            Client::FreeRdp("/usr/bin/xfreerdp3".into())
        );
        assert_eq!(
            Client::of("sdl-freerdp"),
            Client::FreeRdp("sdl-freerdp".into())
        );
        assert_eq!(Client::of("remmina"), Client::Remmina("remmina".into()));
        assert_eq!(
            Client::of(r"C:\Windows\System32\mstsc.exe"),
            Client::Mstsc(r"C:\Windows\System32\mstsc.exe".into())
        );
        assert_eq!(Client::of("my-rdp"), Client::Other("my-rdp".into()));
    }
}
