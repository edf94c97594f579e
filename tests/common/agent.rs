//! A real OpenSSH `ssh-agent` per test, on a socket in a temporary
//! directory, and passphrase-protected keys added to it without a terminal
//! (`SSH_ASKPASS` with `SSH_ASKPASS_REQUIRE=force`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use super::PATIENCE;

/// The passphrase of every key the tests make.
pub const PASSPHRASE: &str = "correct horse battery staple";

/// A running ssh-agent, killed when dropped.
pub struct SshAgent {
    /// Its socket: the tests' `SSH_AUTH_SOCK`.
    pub socket: PathBuf,
    dir: TempDir,
    _child: Child,
    /// Kept open: nothing more is read from it.
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl SshAgent {
    /// Starts `ssh-agent -D -a SOCKET` and waits for the line it prints once
    /// it listens.
    pub async fn start() -> SshAgent {
        SshAgent::launch(false).await
    }

    /// An agent that declines every confirmation a key added with
    /// [`SshAgent::add_confirmed`] asks for: its askpass answers no.
    pub async fn declining() -> SshAgent {
        SshAgent::launch(true).await
    }

    async fn launch(declining: bool) -> SshAgent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let no = dir.path().join("askpass-no");
        std::fs::write(&no, "#!/bin/sh\nexit 1\n").unwrap();
        set_mode(&no, 0o700);
        let mut agent = Command::new("ssh-agent");
        if declining {
            agent
                .env("SSH_ASKPASS", &no)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("DISPLAY", ":0");
        }
        let mut child = agent
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("ssh-agent (Debian package openssh-client)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = timeout(PATIENCE, lines.next_line())
            .await
            .expect("ssh-agent starts")
            .unwrap()
            .unwrap_or_default();
        assert!(first.starts_with("SSH_AUTH_SOCK="), "{first}");
        SshAgent {
            socket,
            dir,
            _child: child,
            _stdout: lines,
        }
    }

    /// `ssh-add KEY`, its passphrase given by an askpass script.
    pub async fn add(&self, key: &Path) {
        self.add_with(key, &[]).await;
    }

    /// `ssh-add -c KEY`: the agent asks for a confirmation at each use.
    pub async fn add_confirmed(&self, key: &Path) {
        self.add_with(key, &["-c"]).await;
    }

    async fn add_with(&self, key: &Path, options: &[&str]) {
        let askpass = self.dir.path().join("askpass");
        std::fs::write(&askpass, "#!/bin/sh\nprintf '%s\\n' \"$TEST_PASSPHRASE\"\n").unwrap();
        set_mode(&askpass, 0o700);
        let output = timeout(
            PATIENCE,
            Command::new("ssh-add")
                .args(options)
                .arg(key)
                .env("SSH_AUTH_SOCK", &self.socket)
                .env("SSH_ASKPASS", &askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env("DISPLAY", ":0")
                .env("TEST_PASSPHRASE", PASSPHRASE)
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("ssh-add ends")
        .unwrap();
        assert!(
            output.status.success(),
            "ssh-add {}: {}",
            key.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `ssh-add -l`: `BITS SHA256:… COMMENT (TYPE)` per key, in the agent's order.
    pub async fn list(&self) -> String {
        let output = Command::new("ssh-add")
            .arg("-l")
            .env("SSH_AUTH_SOCK", &self.socket)
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `SSH_AUTH_SOCK` for a command's environment.
    pub fn env(&self) -> (&'static str, String) {
        ("SSH_AUTH_SOCK", self.socket.display().to_string())
    }
}

/// A passphrase-protected ed25519 key at `path` with `comment`; returns the
/// `.pub` line.
pub fn encrypted_key(path: &Path, comment: &str) -> String {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (Debian package openssh-client)");
    assert!(status.success());
    std::fs::read_to_string(pub_of(path)).unwrap()
}

/// `KEY.pub`.
pub fn pub_of(key: &Path) -> PathBuf {
    let mut name = key.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// The `SHA256:…` fingerprint of the key in `pub_file`.
pub fn fingerprint(pub_file: &Path) -> String {
    let output = std::process::Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(pub_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {text:?}"))
        .to_owned()
}

/// The base64 blob of a `.pub` line: the key, whatever its comment.
pub fn blob(line: &str) -> &str {
    line.split_whitespace().nth(1).unwrap()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
