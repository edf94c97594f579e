//! Shared pieces of the integration tests: the simulated service, stand-in
//! instances on 127.0.0.1, and the `eice-proxy` binary run with the
//! environment a user would give it.

#![allow(dead_code)] // each test file uses a different part of this module

// A real ssh-agent on a Unix socket: Unix only, as are the tests that use it.
#[cfg(unix)]
pub mod agent;
pub mod clients;
// A shell script made executable: Unix only, as are the tests that use it.
#[cfg(unix)]
pub mod credential_process;
pub mod exchange;
// Network namespaces: Linux only, as are the tests that use them.
#[cfg(target_os = "linux")]
pub mod fleet;
pub mod hop;
// Network namespaces: Linux only, as are the tests that use them.
#[cfg(target_os = "linux")]
pub mod hopnet;
pub mod metrics;
pub mod request;
pub mod skip;
pub mod sshd;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use eice_sim::eice::{EiceSim, EiceSimConfig};
use eice_sim::sigv4::SimCredential;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::process::Command;

/// The access key the simulated service knows.
pub const ACCESS_KEY: &str = "AKIDSIMULATED0001";
/// Its secret.
pub const SECRET_KEY: &str = "simulated/secret/key/0000000000000000000";
/// The endpoint every test tunnels through.
pub const ENDPOINT_ID: &str = "eice-0123456789abcdef0";
/// Its DNS name (never resolved: `EICE_PROXY_ENDPOINT_URL` points at the sim).
pub const ENDPOINT_DNS: &str =
    "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";

/// A guard against a hung test: every wait is bounded by this.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Whether `tests` have everything they need (`missing` is empty). When
/// something is missing, the skip is recorded ([`skip::skip`]) and the test
/// skips, except under `CI=true`, where it fails: CI installs everything.
pub fn prerequisites(tests: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let why = format!("{tests} need {}", missing.join(", "));
    skip::skip("the whole test", &why);
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{why}");
    false
}

/// A running simulated service and the files the binary needs to trust it.
pub struct Sim {
    pub eice: EiceSim,
    dir: TempDir,
    ca_file: Option<PathBuf>,
}

impl Sim {
    /// Starts the simulated EICE service; `tls` selects wss with a test CA.
    pub async fn start(tls: bool) -> Sim {
        Sim::start_with(EiceSimConfig {
            tls,
            ..EiceSimConfig::default()
        })
        .await
    }

    /// Starts the service with `config`, adding the test credentials.
    pub async fn start_with(mut config: EiceSimConfig) -> Sim {
        config
            .credentials
            .insert(ACCESS_KEY.into(), SimCredential::new(SECRET_KEY));
        config.endpoint_ids = vec![ENDPOINT_ID.into()];
        let eice = EiceSim::start(config)
            .await
            .expect("start the simulated EICE");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = eice.ca_pem().map(|pem| {
            let path = dir.path().join("ca.pem");
            std::fs::write(&path, pem).unwrap();
            path
        });
        Sim { eice, dir, ca_file }
    }

    /// Writes a config file for the binary and returns its path.
    pub fn config_file(&self, toml: &str) -> String {
        let path = self
            .dir
            .path()
            .join(format!("config-{}.toml", sha256(toml.as_bytes())));
        std::fs::write(&path, toml).unwrap();
        path.display().to_string()
    }

    /// Makes `private` (an instance's address and port) lead to `local`.
    pub fn route(&self, private: &str, local: SocketAddr) {
        self.eice.add_target(private.parse().unwrap(), local);
    }

    /// The environment of a user whose AWS and endpoint settings point at the sim.
    pub fn env(&self) -> HashMap<String, String> {
        let mut env = HashMap::new();
        // Empty AWS config files: nothing from the developer's ~/.aws leaks in.
        let none = self.dir.path().join("empty-aws-config");
        std::fs::write(&none, "").unwrap();
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", none.display().to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", none.display().to_string()),
            ("EICE_PROXY_ENDPOINT_URL", self.eice.url()),
        ] {
            env.insert(k.to_string(), v);
        }
        if let Some(ca) = &self.ca_file {
            env.insert("AWS_CA_BUNDLE".into(), ca.display().to_string());
        }
        env
    }

    /// `eice-proxy ARGS…` with this sim's environment and piped stdio.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eice-proxy"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// `eice-proxy connect` to `ip port` through the test endpoint.
    pub fn connect(&self, ip: &str, port: u16, extra: &[&str]) -> Command {
        let port = port.to_string();
        let mut args = vec![
            "connect",
            "--endpoint-id",
            ENDPOINT_ID,
            "--dns-name",
            ENDPOINT_DNS,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[ip, &port]);
        self.command(&args)
    }
}

/// A listener on 127.0.0.1 standing for an instance's port.
pub async fn instance_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Deterministic pseudo-random bytes, cheap even in a debug build.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Hex SHA-256.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `eice-proxy serve` running against a whole simulated account.
pub struct Proxy {
    pub aws: eice_sim::account::SimAws,
    pub addr: SocketAddr,
    child: tokio::process::Child,
    /// Everything the proxy logged so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Woken at each new log line.
    logged: std::sync::Arc<tokio::sync::Notify>,
    _dir: TempDir,
}

impl Proxy {
    /// Starts the simulated account for `world` and the proxy with `config`.
    pub async fn start(world: eice_sim::world::World, config: &str) -> Proxy {
        let aws = eice_sim::account::SimAws::start(world, false)
            .await
            .expect("simulated AWS");
        Proxy::start_with(aws, config, &[]).await
    }

    /// Starts the proxy against `aws` with `config` and extra environment.
    pub async fn start_with(
        aws: eice_sim::account::SimAws,
        config: &str,
        extra_env: &[(&str, &str)],
    ) -> Proxy {
        Proxy::start_with_env(aws, config, extra_env, &[]).await
    }

    /// [`Proxy::start_with`], with the variables named in `removed` taken out
    /// of the environment (e.g. the static keys, to use a profile instead).
    pub async fn start_with_env(
        aws: eice_sim::account::SimAws,
        config: &str,
        extra_env: &[(&str, &str)],
        removed: &[&str],
    ) -> Proxy {
        Proxy::launch(aws, config, extra_env, removed, &[]).await
    }

    /// [`Proxy::start_with`], with `args` added to `serve`'s command line.
    pub async fn start_with_args(
        aws: eice_sim::account::SimAws,
        config: &str,
        args: &[&str],
    ) -> Proxy {
        Proxy::launch(aws, config, &[], &[], args).await
    }

    /// `eice-proxy forward LOCAL TARGET` against `aws` with `config`; its
    /// `addr` is the forward port.
    pub async fn forward(
        aws: eice_sim::account::SimAws,
        config: &str,
        local: &str,
        target: &str,
    ) -> Proxy {
        Proxy::forward_with(aws, config, &[], local, target).await
    }

    /// [`Proxy::forward`] with extra environment.
    pub async fn forward_with(
        aws: eice_sim::account::SimAws,
        config: &str,
        extra_env: &[(&str, &str)],
        local: &str,
        target: &str,
    ) -> Proxy {
        Proxy::spawn(
            aws,
            config,
            extra_env,
            &[],
            &["forward"],
            &[local, target],
            "forwarding ",
        )
        .await
    }

    async fn launch(
        aws: eice_sim::account::SimAws,
        config: &str,
        extra_env: &[(&str, &str)],
        removed: &[&str],
        args: &[&str],
    ) -> Proxy {
        let serve = ["serve", "--listen", "127.0.0.1:0"];
        Proxy::spawn(
            aws,
            config,
            extra_env,
            removed,
            &serve,
            args,
            "listening on ",
        )
        .await
    }

    /// Runs `eice-proxy COMMAND… --config FILE ARGS…` and waits for the log
    /// line with `ready` in front of the address it listens on.
    async fn spawn(
        aws: eice_sim::account::SimAws,
        config: &str,
        extra_env: &[(&str, &str)],
        removed: &[&str],
        command: &[&str],
        args: &[&str],
        ready: &str,
    ) -> Proxy {
        use tokio::io::AsyncBufReadExt;
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let empty = dir.path().join("empty-aws-config");
        std::fs::write(&empty, "").unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eice-proxy"));
        cmd.args(command)
            .arg("--config")
            .arg(&config_path)
            .args(args)
            .env_clear()
            .envs(aws.isolated_env(&empty))
            .env("RUST_LOG", "info")
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for name in removed {
            cmd.env_remove(name);
        }
        let mut child = cmd.spawn().expect("spawn eice-proxy");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                log.lock().unwrap().push(line.clone());
                if line.contains(ready) {
                    return addr_after(&line, ready);
                }
            }
            panic!(
                "the proxy exited before listening: {:?}",
                log.lock().unwrap()
            );
        })
        .await
        .expect("the proxy starts listening");
        let (sink, logged) = (log.clone(), std::sync::Arc::new(tokio::sync::Notify::new()));
        let wake = logged.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
                wake.notify_waiters();
            }
        });
        Proxy {
            aws,
            addr,
            child,
            log,
            logged,
            _dir: dir,
        }
    }

    /// Waits until a log line contains `needle` and returns it.
    pub async fn log_line(&self, needle: &str) -> String {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let next = self.logged.notified();
                if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                    return line.clone();
                }
                next.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "no log line contains {needle:?}: {:?}",
                self.log.lock().unwrap()
            )
        })
    }

    /// Waits until at least `n` log lines contain `needle`.
    pub async fn log_count(&self, needle: &str, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let next = self.logged.notified();
                if self
                    .log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|l| l.contains(needle))
                    .count()
                    >= n
                {
                    return;
                }
                next.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "fewer than {n} log lines contain {needle:?}: {:?}",
                self.log.lock().unwrap()
            )
        })
    }

    /// Every line logged so far.
    pub fn full_log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the proxy is running")
    }

    /// Sends `signal` (`TERM`, `INT`) to the proxy.
    pub fn signal(&self, signal: &str) {
        signal_pid(self.pid(), signal);
    }

    /// Waits for the proxy to exit.
    pub async fn exit_status(&mut self) -> std::process::ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the proxy exits")
            .unwrap()
    }

    /// Whether the proxy process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Sends `signal` (`TERM`, `INT`, …) to the process `pid`, with kill(1).
pub fn signal_pid(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The address that follows `needle` in a log line (`listening on ADDR …`,
/// `forwarding ADDR → TARGET`).
pub fn addr_after(line: &str, needle: &str) -> SocketAddr {
    let rest = line
        .split(needle)
        .nth(1)
        .unwrap_or_else(|| panic!("no {needle:?} in {line:?}"));
    let addr = rest.split_whitespace().next().unwrap_or_default();
    addr.parse()
        .unwrap_or_else(|_| panic!("no address after {needle:?} in {line:?}"))
}

/// Runs a one-shot command to its end: its exit status, stdout and stderr.
pub async fn run(mut cmd: Command) -> (std::process::ExitStatus, String, String) {
    let output = tokio::time::timeout(PATIENCE, cmd.output())
        .await
        .expect("the command ends")
        .unwrap();
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A one-shot `eice-proxy ARGS…` pointed at `aws`; keep the returned
/// directory alive while the command runs (it holds empty AWS config files).
pub fn aws_command(aws: &eice_sim::account::SimAws, args: &[&str]) -> (Command, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-aws-config");
    std::fs::write(&empty, "").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eice-proxy"));
    cmd.args(args)
        .env_clear()
        .envs(aws.isolated_env(&empty))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    (cmd, dir)
}

/// `eice-proxy ssh ARGS… -- OPTIONS… REMOTE…` against `aws`, with HOME and
/// TMPDIR in `home` and its known_hosts there; the directory of the
/// command's AWS config files must outlive it.
pub fn eice_ssh(
    aws: &eice_sim::account::SimAws,
    home: &std::path::Path,
    args: &[&str],
    remote: &[&str],
) -> (Command, tempfile::TempDir) {
    let mut all: Vec<String> = ["ssh"].iter().chain(args).map(|a| a.to_string()).collect();
    all.push("--".into());
    all.extend(sshd::ssh_options(&home.join("known_hosts")));
    all.extend(remote.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let (mut cmd, dir) = aws_command(aws, &all);
    cmd.env("HOME", home).env("TMPDIR", home);
    (cmd, dir)
}
