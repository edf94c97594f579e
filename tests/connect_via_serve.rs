//! `connect` through a running `serve` of the same profile: the real binaries
//! against the simulated AWS. With a serve, the tunnel is the serve's (its
//! metrics count a `control` connection) and the connect process itself
//! calls no AWS endpoint; with none, or a stale socket, connect opens the
//! tunnel itself; a serve's refusal is connect's answer, with no second try;
//! a socket others could have made is not used; a serve replaces a crashed
//! one's socket and removes its own when it stops.
#![cfg(unix)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use common::exchange::exchange;
use common::metrics::{METRICS, metrics_addr, sample, scrape_until};
use common::{Proxy, aws_command};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

fn control(outcome: &str) -> String {
    format!("eice_proxy_connections_total{{protocol=\"control\",outcome=\"{outcome}\"}}")
}

/// `eice-proxy connect TARGET 22` with `runtime` as `XDG_RUNTIME_DIR`,
/// logging at debug.
fn connect(
    aws: &SimAws,
    runtime: &Path,
    target: &str,
) -> (tokio::process::Command, tempfile::TempDir) {
    let (mut cmd, dir) = aws_command(aws, &["connect", target, "22"]);
    cmd.env("XDG_RUNTIME_DIR", runtime)
        .env("RUST_LOG", "eice_proxy=debug");
    (cmd, dir)
}

/// A port on which every AWS endpoint of a connect process is set: whatever
/// connects to it, the test sees.
struct Tripwire(TcpListener);

impl Tripwire {
    fn new() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        Tripwire(listener)
    }

    /// Points every AWS endpoint of `cmd` here.
    fn arm(&self, cmd: &mut tokio::process::Command) {
        let url = format!("http://{}", self.0.local_addr().unwrap());
        for name in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_EC2",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT",
            "EICE_PROXY_ENDPOINT_URL",
        ] {
            cmd.env(name, &url);
        }
    }

    /// Whether anything connected (asked once the process has exited, when
    /// a connection it made is already in the accept queue).
    fn tripped(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// A serve of the default profile with its control socket in `runtime`.
async fn serve(runtime: &Path) -> Proxy {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let runtime = runtime.to_str().unwrap();
    let proxy = Proxy::start_with(aws, METRICS, &[("XDG_RUNTIME_DIR", runtime)]).await;
    proxy.log_line("uses this serve through").await;
    proxy
}

fn socket(runtime: &Path) -> PathBuf {
    runtime.join("eice-proxy").join("serve-default.sock")
}

/// Leaves a crashed serve's socket in `runtime`: nothing listens on it.
fn stale_socket(runtime: &Path) {
    let path = socket(runtime);
    std::fs::create_dir(path.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        path.parent().unwrap(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
}

/// Logs in through connect; the instance's banner must come back, then our
/// greeting echoed. Returns connect's stderr.
async fn login(mut cmd: tokio::process::Command) -> String {
    let (out, output) = exchange(&mut cmd, b"hello").await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "the login failed: {stderr}");
    assert!(
        out.starts_with("SSH-2.0-eice-proxy-simulated ")
            && out.contains(WEB_1)
            && out.ends_with("\r\nhello"),
        "{out:?}"
    );
    stderr
}

#[tokio::test]
async fn connect_goes_through_a_running_serve_and_calls_no_aws_itself() {
    let runtime = tempfile::tempdir().unwrap();
    // A crashed serve's socket, which the new serve replaces.
    stale_socket(runtime.path());
    let mut proxy = serve(runtime.path()).await;
    let metrics = metrics_addr(&proxy).await;
    let tripwire = Tripwire::new();
    let (mut cmd, _dir) = connect(&proxy.aws, runtime.path(), "web-1");
    tripwire.arm(&mut cmd);
    login(cmd).await;
    assert!(!tripwire.tripped(), "the connect process called AWS itself");
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        1,
        "the serve's tunnel"
    );
    scrape_until(metrics, "one control connection", |page| {
        sample(page, &control("tunnelled")) == 1
    })
    .await;

    // A serve that stops takes its socket with it.
    proxy.signal("TERM");
    assert!(proxy.exit_status().await.success());
    assert!(
        !socket(runtime.path()).exists(),
        "the socket outlived its serve"
    );
}

#[tokio::test]
async fn with_no_serve_or_a_stale_socket_connect_opens_the_tunnel_itself() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let (cmd, _dir) = connect(&aws, runtime.path(), "web-1");
    let stderr = login(cmd).await;
    assert!(
        stderr.contains("no serve of profile default runs"),
        "{stderr}"
    );
    assert_eq!(
        aws.ec2.calls(Action::DescribeInstances),
        1,
        "its own lookup"
    );

    stale_socket(runtime.path());
    let (cmd, _dir) = connect(&aws, runtime.path(), "web-1");
    let stderr = login(cmd).await;
    assert!(stderr.contains("no serve answers on"), "{stderr}");
    assert_eq!(aws.ec2.calls(Action::DescribeInstances), 2);
    assert_eq!(aws.eice.stats().tunnels_opened, 2);
}

#[tokio::test]
async fn a_serve_that_refuses_the_target_is_the_answer() {
    let runtime = tempfile::tempdir().unwrap();
    let proxy = serve(runtime.path()).await;
    let metrics = metrics_addr(&proxy).await;
    let tripwire = Tripwire::new();
    let (mut cmd, _dir) = connect(&proxy.aws, runtime.path(), "no-such-host");
    tripwire.arm(&mut cmd);
    let (out, output) = exchange(&mut cmd, b"hello").await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(out.is_empty(), "{out:?}");
    assert!(
        stderr.contains("refused no-such-host:22 (404)") && stderr.contains("no-such-host"),
        "the serve's words: {stderr}"
    );
    assert!(
        !tripwire.tripped(),
        "connect tried the direct path after the refusal"
    );
    let page = scrape_until(metrics, "the refusal counted", |page| {
        page.contains("protocol=\"control\"")
    })
    .await;
    assert_eq!(sample(&page, &control("tunnelled")), 0, "{page}");
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 0);
}

#[tokio::test]
async fn a_control_socket_others_could_have_made_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let runtime = tempfile::tempdir().unwrap();
    let proxy = serve(runtime.path()).await;
    let metrics = metrics_addr(&proxy).await;
    let path = socket(runtime.path());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (cmd, _dir) = connect(&proxy.aws, runtime.path(), "web-1");
    let stderr = login(cmd).await;
    assert!(
        stderr.contains("not using the serve's control socket")
            && stderr.contains(&path.display().to_string())
            && stderr.contains("writable by its group and others"),
        "{stderr}"
    );

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owned_by_root = std::fs::metadata(&path).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    });
    if owned_by_root.unwrap() {
        // Root can give it away, and so play another user.
        std::os::unix::fs::chown(&path, Some(4242), Some(4242)).unwrap();
        let (cmd, _dir) = connect(&proxy.aws, runtime.path(), "web-1");
        let stderr = login(cmd).await;
        assert!(stderr.contains("owned by uid 4242"), "{stderr}");
    } else {
        eprintln!("skipping the other owner: only root can give the socket away");
    }
    // Every login above went direct: the serve counted none.
    let (_, page) = common::metrics::get(metrics, "/metrics").await;
    assert_eq!(sample(&page, &control("tunnelled")), 0, "{page}");
}
