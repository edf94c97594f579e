//! A real OpenSSH server standing behind a simulated instance.
//!
//! Each accepted TCP connection is handed to `sshd -i` (inetd mode) as its
//! stdin and stdout, so no fixed port is needed and nothing races for one.
//! The server has its own host key, authorized_keys and config in a temporary
//! directory; sessions see `INSTANCE` set to the label of the listener they
//! came through, so a test can tell which instance it reached.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::JoinHandle;

/// Where Debian installs the server and its SFTP subsystem.
const SSHD: &str = "/usr/sbin/sshd";
const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// An sshd configuration and the client key it accepts.
pub struct Sshd {
    pub dir: TempDir,
    /// The client's private key.
    pub key: PathBuf,
    /// The user ssh logs in as: whoever runs the tests.
    pub user: String,
    config: PathBuf,
    listeners: Vec<JoinHandle<()>>,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for l in &self.listeners {
            l.abort();
        }
    }
}

fn keygen(path: &Path) {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (Debian package openssh-client)");
    assert!(status.success());
}

impl Sshd {
    /// A server that accepts [`Sshd::key`] from its authorized_keys file.
    pub fn new() -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        let authorized = dir.path().join("authorized_keys");
        let keys = format!("AuthorizedKeysFile {}\n", authorized.display());
        let sshd = Sshd::with_keys(dir, &keys);
        std::fs::copy(sshd.key.with_extension("pub"), &authorized).unwrap();
        sshd
    }

    /// A server standing for `instance_id` that accepts only keys pushed to
    /// the simulated EC2 Instance Connect at `sim_url` and still valid, read
    /// through `AuthorizedKeysCommand` as Amazon Linux does. [`Sshd::key`]
    /// is in no authorized_keys file.
    pub fn with_pushed_keys(sim_url: &str, instance_id: &str) -> Sshd {
        // sshd refuses a command under a world-writable directory such as /tmp.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let script = eice_proxy::sim::keys::install_authorized_keys_command(
            dir.path(),
            sim_url,
            instance_id,
        )
        .unwrap();
        let keys = format!(
            "AuthorizedKeysFile none\nAuthorizedKeysCommand {} %u\nAuthorizedKeysCommandUser root\n",
            script.display()
        );
        Sshd::with_keys(dir, &keys)
    }

    fn with_keys(dir: TempDir, keys: &str) -> Sshd {
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&key);
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "HostKey {}\n{keys}PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n\
                 PidFile none\nAllowTcpForwarding yes\nSubsystem sftp {SFTP_SERVER}\nLogLevel ERROR\n",
                host_key.display(),
            ),
        )
        .unwrap();
        // sshd's privilege separation needs this directory (systemd makes it at boot).
        let _ = std::fs::create_dir_all("/run/sshd");
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
            config,
            listeners: Vec::new(),
        }
    }

    /// A TCP listener on 127.0.0.1 whose connections become `sshd -i` sessions
    /// with `INSTANCE=label`.
    pub async fn listen(&mut self, label: &str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (config, label) = (self.config.clone(), label.to_owned());
        let log = self.dir.path().join(format!("sshd-{label}.log"));
        self.listeners.push(tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let socket = socket.into_std().unwrap();
                socket.set_nonblocking(false).unwrap();
                let input: OwnedFd = socket.into();
                let output = input.try_clone().unwrap();
                let errors = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap();
                let child = Command::new(SSHD)
                    .arg("-i")
                    .arg("-f")
                    .arg(&config)
                    .arg("-o")
                    .arg(format!("SetEnv=INSTANCE={label}"))
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(output))
                    .stderr(Stdio::from(errors))
                    .spawn()
                    .expect("sshd (Debian package openssh-server)");
                tokio::spawn(async move {
                    let mut child = child;
                    let _ = child.wait().await;
                });
            }
        }));
        addr
    }

    /// The options every ssh/scp/rsync invocation here needs, ProxyCommand aside.
    pub fn client_options(&self) -> Vec<String> {
        let known_hosts = self.dir.path().join("known_hosts");
        [
            "-F".to_owned(),
            "/dev/null".to_owned(),
            "-i".to_owned(),
            self.key.display().to_string(),
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-o".to_owned(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".to_owned(),
            "StrictHostKeyChecking=accept-new".to_owned(),
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ]
        .into()
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
