//! `eice-proxy rdp` with a real client logging in to a real RDP server: a
//! local user whose password is the one the simulated AWS encrypted to
//! win-1's launch key, Debian's xrdp (with xorgxrdp) on loopback as win-1's
//! port 3389, and FreeRDP on an Xvfb display started by `rdp --key`.
//!
//! The login is proven by the user's X session itself: xrdp starts it only
//! after PAM accepted the password, and its `~/.xsession` writes a file,
//! then holds the session open until the test releases it, so that every
//! process's command line can be read while the client is connected.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use common::{PATIENCE, aws_command};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use eice_sim::world::windows::{ADMINISTRATOR_PASSWORD, LAUNCH_KEY_PEM};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// The user win-1's password belongs to.
const USER: &str = "Administrator";
/// win-1's address in the simulated world.
const WIN_1_RDP: &str = "10.0.1.70:3389";

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// What the test needs and this machine lacks.
fn missing() -> Vec<String> {
    let mut missing: Vec<String> = ["xrdp", "xrdp-sesman", "xfreerdp", "Xvfb", "useradd"]
        .into_iter()
        .filter(|p| !on_path(p))
        .map(str::to_owned)
        .collect();
    if !Path::new("/usr/lib/xorg/modules/drivers/xrdpdev_drv.so").exists() {
        missing.push("xorgxrdp".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (to add a local user)".into());
    }
    missing
}

/// The local user, removed with its home on drop, after its session (if
/// one still waits) is released to end.
struct LocalUser {
    home: PathBuf,
}

impl LocalUser {
    fn create(password: &str) -> LocalUser {
        // A user of this name is left only by an earlier run that was killed.
        let _ = StdCommand::new("userdel").args(["-r", "-f", USER]).output();
        let made = StdCommand::new("useradd")
            .args(["-m", "--badname", "-s", "/bin/sh", USER])
            .status()
            .unwrap();
        assert!(made.success(), "useradd {USER}");
        let mut chpasswd = StdCommand::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        chpasswd
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{USER}:{password}\n").as_bytes())
            .unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd");
        let home = PathBuf::from(format!("/home/{USER}"));
        LocalUser { home }
    }

    /// A `~/.xsession` that says the session began, then waits on a FIFO.
    fn hold_session(&self) -> (PathBuf, PathBuf) {
        let began = self.home.join("session-began");
        let release = self.home.join("release");
        let fifo = StdCommand::new("mkfifo").arg(&release).status().unwrap();
        assert!(fifo.success());
        let script = self.home.join(".xsession");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$USER\" > {began}\nread line < {release}\n",
                began = began.display(),
                release = release.display()
            ),
        )
        .unwrap();
        let owned = StdCommand::new("chown")
            .args([&format!("{USER}:{USER}"), &release.display().to_string()])
            .arg(&script)
            .status()
            .unwrap();
        assert!(owned.success());
        let mode = StdCommand::new("chmod")
            .arg("755")
            .arg(&script)
            .status()
            .unwrap();
        assert!(mode.success());
        (began, release)
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        // A test that failed midway leaves the session waiting on its FIFO:
        // a write that does not wait for a reader ends it, if it still runs.
        use std::os::unix::fs::OpenOptionsExt as _;
        if let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(self.home.join("release"))
        {
            use std::io::Write as _;
            let _ = fifo.write_all(b"done\n");
        }
        let _ = StdCommand::new("userdel").args(["-r", "-f", USER]).output();
    }
}

/// A free loopback port for xrdp, which takes its port as a number.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// xrdp-sesman (unless one already serves the machine's config) and xrdp on
/// `port` of 127.0.0.1, both from Debian's config but for the address.
async fn start_xrdp(dir: &Path, port: u16) -> Vec<Child> {
    std::fs::create_dir_all("/run/xrdp/sockdir").unwrap();
    let mut children = Vec::new();
    if std::net::TcpStream::connect("[::1]:3350").is_err()
        && std::net::TcpStream::connect("127.0.0.1:3350").is_err()
    {
        children.push(
            Command::new("xrdp-sesman")
                .arg("--nodaemon")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        );
    }
    let ini = std::fs::read_to_string("/etc/xrdp/xrdp.ini").unwrap();
    let ini: String = ini
        .lines()
        .map(|l| {
            if l.starts_with("port=") && !l.contains("-1") && !l.contains("ask") {
                format!("port=tcp://127.0.0.1:{port}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let config = dir.join("xrdp.ini");
    std::fs::write(&config, ini).unwrap();
    children.push(
        Command::new("xrdp")
            .arg("--nodaemon")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap(),
    );
    children
}

/// An Xvfb display for FreeRDP's window: the server and its `:N`.
async fn start_xvfb() -> (Child, String) {
    let mut xvfb = Command::new("Xvfb")
        .args(["-displayfd", "1", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(xvfb.stdout.take().unwrap()).lines();
    let display = timeout(PATIENCE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("Xvfb names its display");
    (xvfb, format!(":{}", display.trim()))
}

/// Waits for `path` to exist (the user's session to begin), at most PATIENCE.
async fn appears(path: &Path) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Every process whose command line holds `needle`: pid and command line.
fn command_lines_holding(needle: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(line) = std::fs::read(entry.path().join("cmdline")) {
            let line = String::from_utf8_lossy(&line).replace('\0', " ");
            if line.contains(needle) {
                found.push((name, line));
            }
        }
    }
    found
}

#[tokio::test]
async fn freerdp_logs_in_to_xrdp_with_the_decrypted_password_which_no_command_line_shows() {
    if !common::prerequisites("the xrdp login test", &missing()) {
        return;
    }
    let user = LocalUser::create(ADMINISTRATOR_PASSWORD);
    let (began, release) = user.hold_session();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _xrdp = start_xrdp(dir.path(), port).await;
    let (_xvfb, display) = start_xvfb().await;
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let xrdp: SocketAddr = ([127, 0, 0, 1], port).into();
    aws.eice.add_target(WIN_1_RDP.parse().unwrap(), xrdp);
    let key = dir.path().join("eice-sim-windows.pem");
    std::fs::write(&key, LAUNCH_KEY_PEM).unwrap();
    let key = key.display().to_string();
    let (mut cmd, _env) = aws_command(
        &aws,
        &["rdp", "win-1", "--key", &key, "--client", "xfreerdp"],
    );
    cmd.env("RUST_LOG", "trace")
        .env("DISPLAY", &display)
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    // xrdp listens once its port accepts: the client must not race it.
    let listening = async {
        while std::net::TcpStream::connect(xrdp).is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    timeout(PATIENCE, listening).await.expect("xrdp listens");
    let mut rdp = cmd.spawn().unwrap();

    assert!(
        appears(&began).await,
        "the user's session never began: the login failed"
    );
    assert_eq!(std::fs::read_to_string(&began).unwrap().trim(), USER);
    // The client is connected (the session it started holds): no process
    // shows the password on its command line.
    let shown = command_lines_holding(ADMINISTRATOR_PASSWORD);
    assert!(
        shown.is_empty(),
        "the password is on command lines: {shown:?}"
    );
    let clients = command_lines_holding("/from-stdin");
    assert!(!clients.is_empty(), "FreeRDP is running while scanned");

    // Ending the session ends the client, and the client's exit ends rdp.
    // Opening the FIFO waits for the session's reader, which is there.
    let released = tokio::task::spawn_blocking(move || std::fs::write(&release, "done\n"));
    timeout(PATIENCE, released)
        .await
        .expect("the session reads its FIFO")
        .unwrap()
        .unwrap();
    timeout(PATIENCE, rdp.wait())
        .await
        .expect("rdp exits")
        .unwrap();
    let mut log = String::new();
    rdp.stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .await
        .unwrap();
    assert!(log.contains("DEBUG"), "verbose logging is on: {log}");
    assert!(
        !log.contains(ADMINISTRATOR_PASSWORD),
        "the password is in the log"
    );
    drop(user);
}
