//! Idle tunnels survive: a real OpenSSH session left idle through the proxy
//! outlives the simulated EICE's idle limit because the proxy pings, is cut
//! by that limit when pings are off, and ends with a log line that says why
//! when the pings go unanswered — through `serve` and through `connect`.
//!
//! Neither ssh (`ServerAliveInterval=0`) nor sshd sends anything while the
//! session is idle, so only the proxy's pings can keep the tunnel open. Each
//! wait is on a condition the simulated service reports (its count of pings
//! received, its count of idle closes), bounded by a generous deadline.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::sshd::Sshd;
use common::{PATIENCE, Proxy};
use eice_sim::eice::{EiceStats, IDLE_TIMEOUT_REASON};
use eice_sim::world::World;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const WEB_1_IP: &str = "10.0.1.10";

/// The simulated EICE's idle limit in these tests.
const IDLE: Duration = Duration::from_millis(1500);

/// Pings every 250 ms: six or more inside each idle period.
const PINGING: &str = "[keepalive]\ninterval = 0.25\ntimeout = 30\n";

/// The proxy (`serve`) in front of the demo account with an idle limit, and
/// a real sshd standing for WEB_1.
async fn setup(config: &str) -> (Proxy, Sshd) {
    let proxy = Proxy::start(World::demo(), config).await;
    proxy.aws.eice.set_idle_timeout(Some(IDLE));
    let mut sshd = Sshd::new();
    let local = sshd.listen(WEB_1).await;
    let private = format!("{WEB_1_IP}:22").parse().unwrap();
    proxy.aws.eice.add_target(private, local);
    (proxy, sshd)
}

/// An interactive ssh session running `cat` on the instance: each line
/// written comes back while the session lives.
struct Session {
    ssh: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Session {
    /// `ssh` through `proxy_command`, with its own keepalives off.
    async fn open(sshd: &Sshd, proxy_command: &str) -> Session {
        Session::spawn(sshd.ssh_with(
            proxy_command,
            &["-o", "ServerAliveInterval=0", "-o", "TCPKeepAlive=no"],
            WEB_1,
            "cat",
        ))
        .await
    }

    async fn spawn(mut cmd: tokio::process::Command) -> Session {
        cmd.stdin(Stdio::piped());
        let mut ssh = cmd.spawn().expect("spawn ssh");
        let stdin = ssh.stdin.take().unwrap();
        let stdout = BufReader::new(ssh.stdout.take().unwrap()).lines();
        let mut session = Session { ssh, stdin, stdout };
        assert_eq!(session.echo("hello").await.as_deref(), Some("hello"));
        session
    }

    /// Sends `line` and reads the next line back; `None` once the session ended.
    async fn echo(&mut self, line: &str) -> Option<String> {
        if self
            .stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .is_err()
        {
            return None;
        }
        timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("the session answers or ends")
            .ok()
            .flatten()
    }

    /// Waits for ssh to exit (its input stays open, so only a closed
    /// connection ends it); its status and what it said on stderr.
    async fn ended(mut self) -> (std::process::ExitStatus, String) {
        let status = timeout(PATIENCE, self.ssh.wait())
            .await
            .expect("ssh exits once its connection is closed")
            .unwrap();
        let mut stderr = String::new();
        if let Some(mut err) = self.ssh.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = err.read_to_string(&mut stderr).await;
        }
        (status, stderr)
    }
}

async fn wait_for(proxy: &Proxy, what: &str, done: impl Fn(&EiceStats) -> bool) -> EiceStats {
    timeout(PATIENCE, proxy.aws.eice.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("{what}: {:?}", proxy.aws.eice.stats()))
}

fn nc_socks(proxy: &Proxy) -> String {
    format!("nc -X 5 -x {} %h %p", proxy.addr)
}

#[tokio::test]
async fn an_idle_ssh_session_outlives_the_eice_idle_limit_because_the_proxy_pings() {
    let (proxy, sshd) = setup(PINGING).await;
    let mut session = Session::open(&sshd, &nc_socks(&proxy)).await;
    let quiet_since = Instant::now();
    let before = proxy.aws.eice.stats().pings_received;
    // Ten more pings, each 250 ms after the last, span 2.25 s or more of
    // silence from the session: longer than the 1.5 s idle limit.
    let stats = wait_for(&proxy, "ten more pings", |s| {
        s.pings_received >= before + 10
    })
    .await;
    assert!(quiet_since.elapsed() > IDLE);
    assert_eq!(stats.idle_closes, 0, "{stats:?}");
    assert_eq!(
        session.echo("still here").await.as_deref(),
        Some("still here"),
        "the idle session works"
    );
}

#[tokio::test]
async fn with_pings_off_the_same_idle_session_is_cut_by_the_idle_limit() {
    let (proxy, sshd) = setup("[keepalive]\ninterval = 0\n").await;
    let mut session = Session::open(&sshd, &nc_socks(&proxy)).await;
    let stats = wait_for(&proxy, "the idle close", |s| s.idle_closes >= 1).await;
    assert_eq!(stats.pings_received, 0, "pings are off: {stats:?}");
    let line = proxy.log_line(IDLE_TIMEOUT_REASON).await;
    assert!(line.contains("1008"), "{line}");
    assert_eq!(session.echo("anyone?").await, None, "the session is gone");
    let (status, _) = session.ended().await;
    assert!(!status.success(), "ssh's connection was closed: {status}");
}

#[tokio::test]
async fn a_tunnel_whose_pings_go_unanswered_is_closed_and_the_log_says_so() {
    let (proxy, sshd) = setup("[keepalive]\ninterval = 0.2\ntimeout = 1\n").await;
    let mut session = Session::open(&sshd, &nc_socks(&proxy)).await;
    proxy.aws.eice.stop_answering_pings();
    let line = proxy.log_line("did not answer keepalive pings").await;
    assert!(
        line.contains("tunnel ended with an error") && line.contains("within 1s"),
        "{line}"
    );
    // nc keeps its half of a connection the proxy closed until it writes.
    assert_eq!(session.echo("anyone?").await, None, "the session is gone");
    let (status, _) = session.ended().await;
    assert!(!status.success(), "ssh's connection was closed: {status}");
}

#[tokio::test]
async fn connect_as_proxy_command_closes_a_tunnel_whose_pings_go_unanswered() {
    let (proxy, sshd) = setup("").await;
    let config = sshd.dir.path().join("keepalive.toml");
    std::fs::write(&config, "[keepalive]\ninterval = 0.2\ntimeout = 1\n").unwrap();
    let empty = sshd.dir.path().join("empty-aws-config");
    std::fs::write(&empty, "").unwrap();
    let connect = format!("{} connect %h %p", env!("CARGO_BIN_EXE_eice-proxy"));
    let mut cmd = sshd.ssh_with(
        &connect,
        &["-o", "ServerAliveInterval=0", "-o", "TCPKeepAlive=no"],
        WEB_1,
        "cat",
    );
    cmd.envs(proxy.aws.env())
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("XDG_CACHE_HOME", sshd.dir.path())
        .env("EICE_PROXY_CONFIG", &config);
    let session = Session::spawn(cmd).await;
    proxy.aws.eice.stop_answering_pings();
    let (status, stderr) = session.ended().await;
    assert!(!status.success(), "ssh's connection was closed: {status}");
    assert!(
        stderr.contains("did not answer keepalive pings within 1s"),
        "connect says why: {stderr}"
    );
}
