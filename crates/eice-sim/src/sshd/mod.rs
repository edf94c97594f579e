//! A real OpenSSH server standing behind a simulated instance.
//!
//! Each accepted TCP connection is handed to `sshd -i` (inetd mode) as its
//! stdin and stdout, so no fixed port is needed and nothing races for one.
//! The server has its own host key and config in a directory of its own;
//! sessions see `INSTANCE` set to the label of the listener they came
//! through, so a client can tell which instance it reached. Which keys it
//! trusts is the caller's choice: a plain authorized_keys file, or the keys
//! pushed to the simulated EC2 Instance Connect, read through
//! `AuthorizedKeysCommand` as on Amazon Linux.
//!
//! Tests log in as whoever runs them, root included. A server that other users
//! of the machine can reach (the demo's) logs in one user alone and never root
//! ([`SimSshd::only_user`]): a [`ThrowawayUser`] made for the purpose.
//!
//! A server may also run its sessions inside a network namespace
//! ([`SimSshd::in_netns`]) to stand for a hop host: the accepted socket stays
//! in ours, but whatever sshd itself connects to (a `direct-tcpip` channel's
//! target) is looked up and reached from inside the namespace.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::keys::install_authorized_keys_command;

#[cfg(test)]
mod tests;
mod user;

pub use user::ThrowawayUser;

/// Where Debian installs the server and its SFTP subsystem.
pub const SSHD: &str = "/usr/sbin/sshd";
const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// An sshd configuration and the listeners that start it.
pub struct SimSshd {
    dir: PathBuf,
    config: PathBuf,
    /// The `HostKey` files, in the order sshd is told them.
    host_keys: Vec<PathBuf>,
    /// Which keys it trusts: the `AuthorizedKeys…` lines.
    keys: String,
    /// sshd's `LogLevel`, into `sshd-LABEL.log`.
    log_level: &'static str,
    /// The network namespace sessions run in; `None` runs them in ours.
    netns: Option<String>,
    /// The one user sessions may log in; `None` lets in any user with a key,
    /// root too.
    only_user: Option<String>,
    listeners: Vec<JoinHandle<()>>,
}

impl Drop for SimSshd {
    fn drop(&mut self) {
        for l in &self.listeners {
            l.abort();
        }
    }
}

/// Makes an ed25519 key pair at `path` and `path.pub` with OpenSSH's ssh-keygen.
pub fn keygen(path: &Path) -> io::Result<()> {
    keygen_of(path, "ed25519")
}

/// Makes a key pair of `kind` (`ed25519`, `ecdsa`, `rsa`: ssh-keygen's `-t`)
/// at `path` and `path.pub`.
pub fn keygen_of(path: &Path, kind: &str) -> io::Result<()> {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-N", "", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("ssh-keygen failed: {status}")))
    }
}

/// A new directory for [`SimSshd::with_pushed_keys`], named `prefix…`, under
/// `~/.cache`: sshd runs an `AuthorizedKeysCommand` only if root alone can
/// write to it and to every directory above it, which rules out `/tmp` and
/// anything below it (a checkout there, its `target/`).
pub fn pushed_keys_dir(prefix: &str) -> io::Result<tempfile::TempDir> {
    let home = std::env::var_os("HOME")
        .ok_or_else(|| io::Error::other("HOME is not set: no place for sshd's key command"))?;
    let cache = PathBuf::from(home).join(".cache");
    std::fs::create_dir_all(&cache)?;
    tempfile::Builder::new().prefix(prefix).tempdir_in(&cache)
}

impl SimSshd {
    /// Whether this machine can run one: OpenSSH's server is installed and
    /// we are root (sshd accepts an `AuthorizedKeysCommand` only from root,
    /// and only root can log other users in).
    pub fn available() -> bool {
        Path::new(SSHD).exists() && is_root()
    }

    /// A server in `dir` trusting the keys in `authorized_keys`.
    pub fn with_authorized_keys(dir: &Path, authorized_keys: &Path) -> io::Result<SimSshd> {
        let keys = format!("AuthorizedKeysFile {}\n", authorized_keys.display());
        SimSshd::configure(dir, &keys)
    }

    /// A server in `dir` standing for `instance_id` that trusts only keys
    /// pushed to the simulated EC2 Instance Connect at `sim_url` and still
    /// valid. `dir` and its ancestors must be writable by root alone (see
    /// [`pushed_keys_dir`]): sshd refuses the command otherwise.
    pub fn with_pushed_keys(dir: &Path, sim_url: &str, instance_id: &str) -> io::Result<SimSshd> {
        let script = install_authorized_keys_command(dir, sim_url, instance_id)?;
        let keys = format!(
            "AuthorizedKeysFile none\nAuthorizedKeysCommand {} %u\nAuthorizedKeysCommandUser root\n",
            script.display()
        );
        SimSshd::configure(dir, &keys)
    }

    fn configure(dir: &Path, keys: &str) -> io::Result<SimSshd> {
        let host_key = dir.join("host_key");
        keygen(&host_key)?;
        // sshd's privilege separation needs this directory (systemd makes it at boot).
        let _ = std::fs::create_dir_all("/run/sshd");
        let sshd = SimSshd {
            dir: dir.to_owned(),
            config: dir.join("sshd_config"),
            host_keys: vec![host_key],
            keys: keys.to_owned(),
            log_level: "ERROR",
            netns: None,
            only_user: None,
            listeners: Vec::new(),
        };
        sshd.write_config()?;
        Ok(sshd)
    }

    fn write_config(&self) -> io::Result<()> {
        let host_keys: String = self
            .host_keys
            .iter()
            .map(|k| format!("HostKey {}\n", k.display()))
            .collect();
        let logins = match &self.only_user {
            Some(user) => format!("PermitRootLogin no\nAllowUsers {user}\n"),
            None => "PermitRootLogin prohibit-password\n".to_owned(),
        };
        std::fs::write(
            &self.config,
            format!(
                "{host_keys}{}PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n{logins}StrictModes no\nUsePAM no\n\
                 PidFile none\nAllowTcpForwarding yes\nSubsystem sftp {SFTP_SERVER}\nLogLevel {}\n",
                self.keys, self.log_level,
            ),
        )
    }

    /// Replaces the server's host key with new ones of `kinds` (ssh-keygen's
    /// `-t` names), for sessions started from now on; returns each key's
    /// `.pub` file, in the order given. A server holding only an ECDSA key,
    /// or several, is what a host-key check must be tested against.
    pub fn host_keys(&mut self, kinds: &[&str]) -> io::Result<Vec<PathBuf>> {
        let mut keys = Vec::new();
        for kind in kinds {
            let key = self.dir.join(format!("host_key_{kind}"));
            keygen_of(&key, kind)?;
            keys.push(key);
        }
        let public = keys.iter().map(|k| k.with_extension("pub")).collect();
        self.host_keys = keys;
        self.write_config()?;
        Ok(public)
    }

    /// Lets sessions started from now on log in `user` alone, and root never
    /// (`AllowUsers`, `PermitRootLogin no`), whatever keys the server trusts:
    /// for a server that users other than its starter can reach, such as the
    /// demo's, where a key that got in for root would be a root shell.
    pub fn only_user(&mut self, user: &str) -> io::Result<()> {
        // The name goes into sshd_config: nothing there may start another word or line.
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if user.is_empty() || user == "root" || !user.chars().all(plain) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{user:?} cannot be the one user sshd lets in"),
            ));
        }
        self.only_user = Some(user.to_owned());
        self.write_config()
    }

    /// Sets sshd's `LogLevel` (`ERROR` unless told) for sessions started
    /// from now on, e.g. `DEBUG1` so that its log shows every step of a
    /// session, authentication attempts included.
    pub fn log_level(&mut self, level: &'static str) -> io::Result<()> {
        self.log_level = level;
        self.write_config()
    }

    /// Where the sessions of the listener labelled `label` log.
    pub fn log_file(&self, label: &str) -> PathBuf {
        self.dir.join(format!("sshd-{label}.log"))
    }

    /// Runs the sessions of listeners started from now on inside the network
    /// namespace `name` (as `ip netns exec NAME sshd -i …`), so forwarded
    /// connections reach what that namespace reaches and names resolve from
    /// its `/etc/netns/NAME/hosts`. The namespace must exist; creating and
    /// removing it is the caller's job.
    pub fn in_netns(&mut self, name: &str) {
        self.netns = Some(name.to_owned());
    }

    /// A TCP listener on 127.0.0.1 whose connections become `sshd -i` sessions
    /// with `INSTANCE=label`; each session's errors go to `sshd-LABEL.log`.
    pub async fn listen(&mut self, label: &str) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (config, label) = (self.config.clone(), label.to_owned());
        let netns = self.netns.clone();
        let log = self.log_file(&label);
        self.listeners.push(tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                if let Err(e) = session(socket, &config, netns.as_deref(), &label, &log) {
                    tracing::warn!("cannot start sshd for {label}: {e}");
                }
            }
        }));
        Ok(addr)
    }
}

/// One `sshd -i` on `socket`, inside `netns` if given.
fn session(
    socket: tokio::net::TcpStream,
    config: &Path,
    netns: Option<&str>,
    label: &str,
    log: &Path,
) -> io::Result<()> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    let input: OwnedFd = socket.into();
    let output = input.try_clone()?;
    let errors = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = match netns {
        Some(name) => {
            let mut ip = Command::new("ip");
            ip.args(["netns", "exec", name, SSHD]);
            ip
        }
        None => Command::new(SSHD),
    };
    let mut child = command
        // -e: log to stderr (the log file) rather than to a syslog that may not exist.
        .arg("-i")
        .arg("-e")
        .arg("-f")
        .arg(config)
        .arg("-o")
        .arg(format!("SetEnv=INSTANCE={label}"))
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(output))
        .stderr(Stdio::from(errors))
        .spawn()?;
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
