//! Behind a corporate proxy: a real tinyproxy, started here on 127.0.0.1,
//! carries the EC2 API calls, the AWS SDK's calls (EC2 Instance Connect's
//! SendSSHPublicKey) and the EICE WebSocket of `serve` and of `connect`;
//! `NO_PROXY` sends a matching endpoint direct; a proxy that asks for Basic
//! auth is passed with the URL's credentials, refused clearly without them,
//! and never sees its password logged; a proxy that is not there is an error
//! naming it. The proxy's own log says which connections it carried.
//!
//! The simulated AWS listens on loopback, which never takes a proxy unless
//! `[network] proxy_loopback` says so: the tests that need the proxy on the
//! way say so ([`THROUGH_PROXY`]); one proves that nothing else does.
//!
//! tinyproxy makes its outgoing connections from 127.0.0.2 (`Bind`), so the
//! simulated services' record of who connected to them tells a carried
//! connection (from 127.0.0.2) from one that went around the proxy (from
//! 127.0.0.1): "only through the proxy" means no connection from elsewhere.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::clients::{self, CONNECT, Dest};
use common::{PATIENCE, Proxy, aws_command, prerequisites, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::process::{Child, Command};

/// Sends the simulated AWS's loopback addresses through the proxy too.
const THROUGH_PROXY: &str = "[network]\nproxy_loopback = true\n";

/// The address tinyproxy connects to the services from.
const TINYPROXY_OUTGOING: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Connections a `serve` session's simulated EICE accepts: the first
/// tunnel's, then the two the pool keeps ready after it (its default size).
const SESSION_EICE_CONNECTIONS: u64 = 1 + 2;

/// A tinyproxy of this test's own, on a free loopback port.
struct Tinyproxy {
    port: u16,
    log: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Starts one, asking for no credentials.
    async fn start() -> Tinyproxy {
        Tinyproxy::start_with("").await
    }

    /// Starts one that wants `user` and `password` (Basic auth).
    async fn with_basic_auth(user: &str, password: &str) -> Tinyproxy {
        Tinyproxy::start_with(&format!("BasicAuth {user} {password}\n")).await
    }

    /// Starts one with `extra` lines in its configuration.
    async fn start_with(extra: &str) -> Tinyproxy {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        // tinyproxy cannot be told to pick a port: a free one is taken and
        // released, and a start that loses the race is tried again.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let conf = dir.path().join("tinyproxy.conf");
            let text = format!(
                "Port {port}\nListen 127.0.0.1\nBind {TINYPROXY_OUTGOING}\nTimeout 60\n\
                 LogFile \"{}\"\nLogLevel Connect\nMaxClients 200\nAllow 127.0.0.1\n{extra}",
                log.display()
            );
            std::fs::write(&conf, text).unwrap();
            let child = Command::new("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("tinyproxy starts");
            if listening(port).await {
                return Tinyproxy {
                    port,
                    log,
                    _child: child,
                    _dir: dir,
                };
            }
        }
        panic!("tinyproxy did not listen on any of five ports");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `CONNECT` targets tinyproxy logged, in order.
    fn connects(&self) -> Vec<String> {
        self.requests("CONNECT")
    }

    /// The targets of the `method` requests tinyproxy logged, in order: a
    /// `host:port` for `CONNECT`, an absolute URL for the others.
    fn requests(&self, method: &str) -> Vec<String> {
        let marker = format!("): {method} ");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Request (file descriptor"))
            .filter_map(|l| l.split_once(marker.as_str()).map(|(_, rest)| rest))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    }
}

/// Whether something accepts connections on the port within a few seconds
/// (tinyproxy writes no line when it is ready).
async fn listening(port: u16) -> bool {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn missing() -> bool {
    let gone: Vec<String> = ["tinyproxy"]
        .into_iter()
        .filter(|p| which(p).is_none())
        .map(str::to_owned)
        .collect();
    !prerequisites("corporate proxy", &gone)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// The simulated EICE's CA, in a file for `AWS_CA_BUNDLE`.
fn ca_file(aws: &SimAws, dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, aws.eice.ca_pem().expect("a TLS simulator")).unwrap();
    path.display().to_string()
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// A config file in `dir` with [`THROUGH_PROXY`], for a command.
fn through_proxy(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("config.toml");
    std::fs::write(&path, THROUGH_PROXY).unwrap();
    path
}

/// The addresses in `peers` that are not tinyproxy's outgoing one: the
/// connections that did not come through it.
fn around_tinyproxy(peers: &[SocketAddr]) -> Vec<SocketAddr> {
    peers
        .iter()
        .filter(|p| p.ip() != TINYPROXY_OUTGOING)
        .copied()
        .collect()
}

/// How many of `targets` are `wanted`.
fn count(targets: &[String], wanted: &str) -> usize {
    targets.iter().filter(|t| *t == wanted).count()
}

/// What one session behind tinyproxy shows.
struct Carried {
    /// The `CONNECT` targets tinyproxy logged.
    connects: Vec<String>,
    /// The URLs of the plain-HTTP `POST`s it forwarded (the AWS SDK's calls
    /// to the loopback API; our own EC2 client uses `CONNECT` for all).
    posts: Vec<String>,
    /// The simulated EC2 API's and EICE's `host:port`.
    ec2: String,
    eice: String,
    /// Keys the simulated EC2 Instance Connect received.
    pushes: usize,
    /// Who connected to the simulated EC2 API (and EC2 Instance Connect), and
    /// to the simulated EICE, in order.
    ec2_peers: Vec<SocketAddr>,
    eice_peers: Vec<SocketAddr>,
}

/// A fresh ed25519 key pair in `dir`; the public key's path.
fn public_key(dir: &tempfile::TempDir) -> PathBuf {
    let key = dir.path().join("id_ed25519");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "proxy-test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    key.with_extension("pub")
}

/// A `serve` session behind a fresh tinyproxy (`ALL_PROXY`), with `NO_PROXY`
/// naming the simulated EICE when `eice_direct`, and a `[[push_key]]` rule so
/// that the AWS SDK has a call to make: one tunnel to web-1's port 22 is
/// opened, and the pool's ready connections after it are waited for.
async fn session(eice_direct: bool) -> Carried {
    let tiny = Tinyproxy::start().await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let (ec2, eice) = (host_port(&aws.ec2.url()), host_port(&aws.eice.url()));
    let url = tiny.url();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&aws, &dir);
    let mut env = vec![("ALL_PROXY", url.as_str()), ("AWS_CA_BUNDLE", ca.as_str())];
    if eice_direct {
        env.push(("NO_PROXY", eice.as_str()));
    }
    let config = format!(
        "{THROUGH_PROXY}[[push_key]]\nname = \"web-*\"\nos_user = \"ec2-user\"\npublic_key = \"{}\"\n",
        public_key(&dir).display()
    );
    let proxy = Proxy::start_with(aws, &config, &env).await;
    let s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel: {}", proxy.log_line("refused").await);
    };
    assert!(clients::banner(&mut s).await.contains("web-1"));
    let ready = proxy
        .aws
        .eice
        .wait_for(|s| s.connections_accepted >= SESSION_EICE_CONNECTIONS);
    let stats = tokio::time::timeout(PATIENCE, ready)
        .await
        .expect("the pool's connections arrive");
    Carried {
        connects: tiny.connects(),
        posts: tiny.requests("POST"),
        ec2,
        eice,
        pushes: proxy.aws.ec2.keys().calls(),
        ec2_peers: proxy.aws.ec2.peers(),
        eice_peers: stats.peers,
    }
}

#[tokio::test]
async fn serve_reaches_aws_only_through_the_proxy() {
    if missing() {
        return;
    }
    let c = session(false).await;
    assert!(
        c.connects.contains(&c.ec2),
        "EC2 API {} not in {:?}",
        c.ec2,
        c.connects
    );
    assert!(
        c.connects.contains(&c.eice),
        "EICE {} not in {:?}",
        c.eice,
        c.connects
    );
    assert_eq!(c.pushes, 1, "the key was pushed");
    let sdk = format!("http://{}/", c.ec2);
    assert!(
        c.posts.contains(&sdk),
        "SendSSHPublicKey (the AWS SDK's call) did not go through the proxy: {:?}",
        c.posts
    );
    // Every connection either service saw came from tinyproxy, and each
    // was one it logged a request for.
    assert_eq!(around_tinyproxy(&c.ec2_peers), [], "to EC2");
    assert_eq!(around_tinyproxy(&c.eice_peers), [], "to EICE");
    let ec2_requests = count(&c.connects, &c.ec2) + count(&c.posts, &sdk);
    assert!(
        c.ec2_peers.len() <= ec2_requests,
        "EC2 accepted {} connections, tinyproxy carried {ec2_requests}",
        c.ec2_peers.len()
    );
    assert!(
        c.eice_peers.len() <= count(&c.connects, &c.eice),
        "EICE accepted {} connections, tinyproxy CONNECTed {:?}",
        c.eice_peers.len(),
        c.connects
    );
}

#[tokio::test]
async fn no_proxy_sends_a_matching_endpoint_direct() {
    if missing() {
        return;
    }
    let c = session(true).await;
    assert!(c.connects.contains(&c.ec2), "{:?}", c.connects);
    assert!(
        !c.connects.contains(&c.eice),
        "EICE went through the proxy: {:?}",
        c.connects
    );
    assert_eq!(around_tinyproxy(&c.ec2_peers), [], "to EC2");
    assert_eq!(
        around_tinyproxy(&c.eice_peers).len(),
        c.eice_peers.len(),
        "EICE connections from tinyproxy: {:?}",
        c.eice_peers
    );
}

/// `eice-proxy connect web-1 22` with `proxy` as `ALL_PROXY` and every log
/// line on: whether it succeeded, what it printed, and its log.
async fn connect_through(aws: &SimAws, proxy: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(aws, &dir);
    let config = through_proxy(&dir);
    let (mut cmd, _d) = aws_command(aws, &["connect", "web-1", "22"]);
    cmd.env("ALL_PROXY", proxy)
        .env("AWS_CA_BUNDLE", &ca)
        .env("EICE_PROXY_CONFIG", &config)
        .env("RUST_LOG", "trace");
    let (status, stdout, stderr) = run(cmd).await;
    (status.success(), stdout, stderr)
}

#[tokio::test]
async fn connect_reaches_aws_only_through_the_proxy() {
    if missing() {
        return;
    }
    let tiny = Tinyproxy::start().await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let (ok, stdout, stderr) = connect_through(&aws, &tiny.url()).await;
    assert!(ok && stdout.contains("web-1"), "{stdout}\n{stderr}");
    let carried = tiny.connects();
    for api in [&aws.ec2.url(), &aws.eice.url()] {
        assert!(
            carried.contains(&host_port(api)),
            "{api} not in {carried:?}"
        );
    }
    assert_eq!(around_tinyproxy(&aws.ec2.peers()), [], "to EC2");
    assert_eq!(around_tinyproxy(&aws.eice.stats().peers), [], "to EICE");
}

#[tokio::test]
async fn a_proxy_wanting_basic_auth_takes_the_urls_credentials_and_never_logs_the_password() {
    if missing() {
        return;
    }
    let tiny = Tinyproxy::with_basic_auth("alice", "Pr0xyS3cret").await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let with = tiny.url().replace("http://", "http://alice:Pr0xyS3cret@");
    let (ok, stdout, stderr) = connect_through(&aws, &with).await;
    assert!(ok && stdout.contains("web-1"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("proxy") && !stderr.contains("Pr0xyS3cret"),
        "the trace log shows the password, or says nothing of the proxy:\n{stderr}"
    );
    assert!(tiny.connects().contains(&host_port(&aws.eice.url())));

    let (ok, _, stderr) = connect_through(&aws, &tiny.url()).await;
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "the proxy {} (from ALL_PROXY) requires authentication (HTTP 407)",
            tiny.url()
        )),
        "{stderr}"
    );

    let wrong = tiny.url().replace("http://", "http://alice:guess@");
    let (ok, _, stderr) = connect_through(&aws, &wrong).await;
    assert!(!ok);
    assert!(
        stderr.contains("did not accept the credentials in its URL (HTTP 40")
            && !stderr.contains("guess"),
        "{stderr}"
    );
    // Refused by the proxy, neither run went around it.
    assert_eq!(around_tinyproxy(&aws.ec2.peers()), [], "to EC2");
    assert_eq!(around_tinyproxy(&aws.eice.stats().peers), [], "to EICE");
}

#[tokio::test]
async fn a_proxy_that_is_not_there_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"))
        .env("EICE_PROXY_CONFIG", through_proxy(&dir));
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "cannot connect to the proxy http://127.0.0.1:{port} (from HTTP"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_proxy_that_accepts_and_never_answers_is_named() {
    // A "proxy" that takes the connection and says nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            kept.push(tcp);
        }
    });
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("{THROUGH_PROXY}[timeouts]\nopen = 1\n")).unwrap();
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    // The EC2 API direct, so that only the tunnel meets the silent proxy.
    cmd.env("ALL_PROXY", format!("http://127.0.0.1:{port}"))
        .env("NO_PROXY", host_port(&aws.ec2.url()))
        .env("EICE_PROXY_CONFIG", &config);
    let (status, _, stderr) = run(cmd).await;
    held.abort();
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "through the proxy http://127.0.0.1:{port} (from ALL_PROXY) timed out after 1s"
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn loopback_destinations_never_go_through_the_proxy() {
    // A "proxy" that counts the connections it is sent, and drops them.
    let counter = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", counter.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counting = tokio::spawn({
        let sent = sent.clone();
        async move {
            while let Ok((tcp, _)) = counter.accept().await {
                sent.fetch_add(1, Ordering::SeqCst);
                drop(tcp);
            }
        }
    });
    // Plain ws:// and http:// on loopback: what would cross the proxy in
    // clear text. A key push, so that the AWS SDK has a call to make too.
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &str)> = ["ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY", "http_proxy"]
        .into_iter()
        .map(|name| (name, url.as_str()))
        .collect();
    let config = format!(
        "[[push_key]]\nname = \"web-*\"\nos_user = \"ec2-user\"\npublic_key = \"{}\"\n",
        public_key(&dir).display()
    );
    let proxy = Proxy::start_with(aws, &config, &env).await;
    let s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel: {}", proxy.log_line("refused").await);
    };
    assert!(clients::banner(&mut s).await.contains("web-1"));
    assert_eq!(proxy.aws.ec2.keys().calls(), 1, "the key was pushed");
    counting.abort();
    assert_eq!(
        sent.load(Ordering::SeqCst),
        0,
        "a loopback connection went to the proxy"
    );
}
