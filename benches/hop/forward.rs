//! The workaround the hop replaces: OpenSSH's `ssh -N -L` with
//! `eice-proxy connect` as its ProxyCommand, forwarding a unix socket (no
//! free port to guess) to the sink. Also the CPU accounting of the
//! processes the harness does not own directly: ssh, its ProxyCommand and
//! the sshd sessions.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use eice_sim::account::SimAws;
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::process::cpu_secs;
use crate::sshd::Sshd;

/// How long ssh may take to log in and listen on the socket.
const READY_PATIENCE: Duration = Duration::from_secs(30);

/// How often the socket's existence is checked while ssh logs in.
const READY_POLL: Duration = Duration::from_millis(2);

/// A running `ssh -N -L SOCKET:TARGET`; dropping it kills ssh.
pub struct Forward {
    child: Child,
    pub pid: u32,
    /// The unix socket ssh listens on.
    pub socket: PathBuf,
    /// What ssh said on stderr, for the error when it fails.
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

impl Forward {
    /// Starts ssh as `sshd.user` with `sshd.key` to `host`, through
    /// `exe connect %h %p` against `aws`, with `options` before the
    /// destination; it returns at once (see [`Forward::ready`]).
    pub fn start(
        exe: &Path,
        aws: &SimAws,
        sshd: &Sshd,
        host: &str,
        target: SocketAddr,
        options: &[String],
    ) -> anyhow::Result<Forward> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("forward.sock");
        let empty = dir.path().join("empty-aws-config");
        std::fs::write(&empty, "")?;
        let mut command = Command::new("ssh");
        command
            .args(sshd.client_options())
            .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
            .arg(format!("{}:{target}", socket.display()))
            .args(options)
            .arg("-o")
            .arg(format!("ProxyCommand={} connect %h %p", exe.display()))
            .arg(format!("{}@{host}", sshd.user))
            .env_clear()
            .envs(aws.isolated_env(&empty))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("starting ssh (openssh-client)")?;
        let pid = child.id().ok_or_else(|| anyhow!("ssh exited at once"))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let said = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                said.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&text);
            }
        });
        Ok(Forward {
            child,
            pid,
            socket,
            stderr,
            _dir: dir,
        })
    }

    /// Waits (bounded) until ssh has logged in and listens on the socket.
    pub async fn ready(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        while !self.socket.exists() {
            if let Some(status) = self.child.try_wait()? {
                bail!("ssh exited ({status}): {}", self.said());
            }
            if start.elapsed() > READY_PATIENCE {
                bail!(
                    "ssh did not listen on {} within {READY_PATIENCE:?}: {}",
                    self.socket.display(),
                    self.said()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
        Ok(())
    }

    fn said(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        text.trim().to_owned()
    }

    /// ssh and its ProxyCommand (`eice-proxy connect`): the processes that
    /// do the work the proxy does on the hop path.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid];
        pids.extend(descendants(self.pid, None));
        pids
    }

    /// Kills ssh (and so its ProxyCommand) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Every process's (pid, parent, command name), from `/proc`.
fn processes() -> Vec<(u32, u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, tail) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let parent = tail.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent, name))
        })
        .collect()
}

/// The descendants of `root`, only those named `name` when it is given.
pub fn descendants(root: u32, name: Option<&str>) -> Vec<u32> {
    let all = processes();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(all.iter().filter(|p| p.1 == parent).map(|p| p.0));
        i += 1;
    }
    all.iter()
        .filter(|p| p.0 != root && tree.contains(&p.0))
        .filter(|p| name.is_none_or(|n| p.2 == n))
        .map(|p| p.0)
        .collect()
}

/// The sshd processes this harness started (one `sshd -i` and its
/// privilege-separated child per SSH connection).
pub fn sshd_pids() -> Vec<u32> {
    descendants(std::process::id(), Some("sshd"))
}

/// CPU seconds used so far by `pids` together (those still alive).
pub fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|&pid| cpu_secs(Some(pid)).ok())
        .sum()
}
