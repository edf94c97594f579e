//! A real OpenSSH server standing behind a simulated instance
//! ([`SimSshd`]), with the client key and options the tests log in with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use eice_sim::sshd::{SimSshd, keygen, pushed_keys_dir};
use tempfile::TempDir;
use tokio::process::Command;

/// A real sshd for the tests, and the client key and user that log in to it.
pub struct Sshd {
    pub dir: TempDir,
    /// The client's private key.
    pub key: PathBuf,
    /// The user ssh logs in as: whoever runs the tests.
    pub user: String,
    server: SimSshd,
}

impl Sshd {
    /// A server that accepts [`Sshd::key`] from its authorized_keys file.
    pub fn new() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let key = client_key(&dir);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).unwrap();
        let server = SimSshd::with_authorized_keys(dir.path(), &authorized).unwrap();
        Sshd::with_server(dir, key, server)
    }

    /// A server standing for `instance_id` that accepts only keys pushed to
    /// the simulated EC2 Instance Connect at `sim_url` and still valid.
    /// [`Sshd::key`] is in no authorized_keys file.
    pub fn with_pushed_keys(sim_url: &str, instance_id: &str) -> Sshd {
        let dir = pushed_keys_dir("eice-proxy-test-sshd-").unwrap();
        let key = client_key(&dir);
        let server = SimSshd::with_pushed_keys(dir.path(), sim_url, instance_id).unwrap();
        Sshd::with_server(dir, key, server)
    }

    fn with_server(dir: TempDir, key: PathBuf, server: SimSshd) -> Sshd {
        let user = String::from_utf8(
            std::process::Command::new("id")
                .arg("-un")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_owned();
        Sshd {
            dir,
            key,
            user,
            server,
        }
    }

    /// Makes the sessions of listeners started from now on run inside the
    /// network namespace `name`, as on a hop host (see `common::hopnet`).
    pub fn in_netns(&mut self, name: &str) {
        self.server.in_netns(name);
    }

    /// Gives the server new host keys of `kinds` (`ed25519`, `ecdsa`, `rsa`)
    /// in place of its one ed25519 key; returns their `.pub` files.
    pub fn host_keys(&mut self, kinds: &[&str]) -> Vec<PathBuf> {
        self.server.host_keys(kinds).expect("ssh-keygen")
    }

    /// Makes sshd log at `level` (e.g. `DEBUG1`: every authentication attempt).
    pub fn log_level(&mut self, level: &'static str) {
        self.server.log_level(level).unwrap();
    }

    /// What the sessions of the listener labelled `label` logged so far.
    pub fn log(&self, label: &str) -> String {
        std::fs::read_to_string(self.server.log_file(label)).unwrap_or_default()
    }

    /// A TCP listener on 127.0.0.1 whose connections become `sshd -i` sessions
    /// with `INSTANCE=label`.
    pub async fn listen(&mut self, label: &str) -> SocketAddr {
        self.server
            .listen(label)
            .await
            .expect("sshd (Debian package openssh-server)")
    }

    /// The options every ssh/scp/rsync invocation here needs, ProxyCommand aside.
    pub fn client_options(&self) -> Vec<String> {
        let mut options = ssh_options(&self.dir.path().join("known_hosts"));
        let key = self.key.display().to_string();
        options.extend([
            "-i".to_owned(),
            key,
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
        ]);
        options
    }

    /// `ssh … -o ProxyCommand=PROXY_COMMAND user@host REMOTE_COMMAND`.
    pub fn ssh(&self, proxy_command: &str, host: &str, remote: &str) -> Command {
        self.ssh_with(proxy_command, &[], host, remote)
    }

    /// [`Sshd::ssh`] with more options before the destination (`-L …`).
    pub fn ssh_with(
        &self,
        proxy_command: &str,
        options: &[&str],
        host: &str,
        remote: &str,
    ) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(self.client_options())
            .args(options)
            .arg("-o")
            .arg(format!("ProxyCommand={proxy_command}"))
            .arg(format!("{}@{host}", self.user))
            .arg(remote)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }
}

fn client_key(dir: &TempDir) -> PathBuf {
    let key = dir.path().join("client_key");
    keygen(&key).expect("ssh-keygen (Debian package openssh-client)");
    key
}

/// What every ssh here needs besides a key: no user config, a known_hosts
/// file of the test's own, no prompts.
pub fn ssh_options(known_hosts: &Path) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-o",
        &format!("UserKnownHostsFile={}", known_hosts.display()),
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "BatchMode=yes",
        "-o",
        "LogLevel=ERROR",
    ]
    .map(str::to_owned)
    .into()
}
