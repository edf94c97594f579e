//! One real OpenSSH login (`ssh … echo x`), timed from starting ssh to its
//! exit, by each of the ways a user reaches an instance.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::process::Command;
use tokio::time::Instant;

use crate::sshd::Sshd;

/// How ssh reaches the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Plain ssh to the instance's sshd through the delayed link: the
    /// yardstick every other way is measured against.
    Direct,
    /// `ProxyCommand=nc -X 5 -x PROXY %h %p` to a running `eice-proxy serve`.
    Serve,
    /// `ProxyCommand=eice-proxy connect %h %p`.
    Connect,
    /// `eice-proxy ssh`: an EC2 Instance Connect key push, then ssh through
    /// `eice-proxy connect`.
    EiceSsh,
    /// `ProxyCommand=eice-proxy connect %h %p`, a `serve` of the profile
    /// running: the tunnel is the serve's, asked on its control socket.
    ConnectServe,
}

/// Everything a login command needs to know about the bench's world.
pub struct Logins<'a> {
    pub exe: &'a Path,
    /// The environment every client process gets (it starts cleared).
    pub env: Vec<(String, String)>,
    /// The sshd standing for web-1, reached by `Direct`, `Serve` and `Connect`.
    pub web: &'a Sshd,
    /// The sshd standing for db-1, which accepts only pushed keys (`EiceSsh`).
    pub db: &'a Sshd,
    /// The delayed link straight to web-1's sshd.
    pub direct: std::net::SocketAddr,
    /// The running `eice-proxy serve`, when one is.
    pub serve: Option<std::net::SocketAddr>,
    /// The serve's `XDG_RUNTIME_DIR`, where its control socket is: given to
    /// `ConnectServe` only.
    pub runtime: &'a Path,
    pub timeout: Duration,
}

impl Logins<'_> {
    /// The command for one login by `way`, with `home` as HOME and its
    /// `cache` directory as XDG_CACHE_HOME.
    fn command(&self, way: Way, home: &Path) -> Command {
        let mut cmd = match way {
            Way::Direct => {
                let mut cmd = Command::new("ssh");
                cmd.args(self.web.client_options())
                    .args(["-p", &self.direct.port().to_string()])
                    .arg(format!("{}@{}", self.web.user, self.direct.ip()));
                cmd
            }
            Way::Serve | Way::Connect | Way::ConnectServe => {
                let via = match (way, self.serve) {
                    (Way::Serve, Some(proxy)) => format!("nc -X 5 -x {proxy} %h %p"),
                    _ => format!("{} connect %h %p", self.exe.display()),
                };
                let mut cmd = Command::new("ssh");
                cmd.args(self.web.client_options())
                    .arg("-o")
                    .arg(format!("ProxyCommand={via}"))
                    .arg(format!("{}@web-1", self.web.user));
                cmd
            }
            Way::EiceSsh => {
                let mut cmd = Command::new(self.exe);
                cmd.arg("ssh")
                    .arg("-i")
                    .arg(&self.db.key)
                    .arg(format!("{}@db-1", self.db.user))
                    .arg("--")
                    .args(self.db.client_options());
                cmd
            }
        };
        cmd.arg("echo x")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("HOME", home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env(
                "XDG_RUNTIME_DIR",
                match way {
                    Way::ConnectServe => self.runtime.to_owned(),
                    _ => home.join("run"),
                },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Logs in once by `way`; returns when ssh started and how long it took.
    pub async fn login(&self, way: Way, home: &Path) -> anyhow::Result<(Instant, Duration)> {
        let mut cmd = self.command(way, home);
        let started = Instant::now();
        let child = cmd.spawn().context("starting ssh")?;
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .with_context(|| format!("{way:?} login did not finish within {:?}", self.timeout))??;
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || stdout.trim() != "x" {
            bail!(
                "{way:?} login failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((started, took))
    }
}

/// A fresh HOME for logins that must not share a cache with any other.
pub fn fresh_home() -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    std::fs::create_dir_all(path.join("cache"))?;
    Ok((dir, path))
}
