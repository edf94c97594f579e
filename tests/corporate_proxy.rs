//! Behind a corporate proxy: a real tinyproxy, started here on 127.0.0.1,
//! carries the EC2 API calls and the EICE WebSocket of `serve` and of
//! `connect`; `NO_PROXY` sends a matching endpoint direct; a proxy that is not
//! there is an error naming it. The proxy's own log says which connections it
//! carried. (Basic auth is checked by the unit tests of `net::proxy` so far:
//! the header, and the password kept out of every message.)

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::clients::{self, CONNECT, Dest};
use common::{Proxy, aws_command, prerequisites, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::process::{Child, Command};

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
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\n\
                 MaxClients 200\nAllow 127.0.0.1\n",
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
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once("): CONNECT ").map(|(_, rest)| rest))
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

/// A `serve` session behind a fresh tinyproxy (`ALL_PROXY`), with `NO_PROXY`
/// naming the simulated EICE when `eice_direct`; one tunnel to web-1 is
/// opened. Returns what tinyproxy carried, and the EC2 API's and EICE's
/// `host:port`.
async fn session(eice_direct: bool) -> (Vec<String>, String, String) {
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
    let proxy = Proxy::start_with(aws, "", &env).await;
    let s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel: {}", proxy.log_line("refused").await);
    };
    assert!(clients::banner(&mut s).await.contains("web-1"));
    (tiny.connects(), ec2, eice)
}

#[tokio::test]
async fn serve_reaches_aws_only_through_the_proxy() {
    if missing() {
        return;
    }
    let (carried, ec2, eice) = session(false).await;
    assert!(carried.contains(&ec2), "EC2 API {ec2} not in {carried:?}");
    assert!(carried.contains(&eice), "EICE {eice} not in {carried:?}");
}

#[tokio::test]
async fn no_proxy_sends_a_matching_endpoint_direct() {
    if missing() {
        return;
    }
    let (carried, ec2, eice) = session(true).await;
    assert!(carried.contains(&ec2), "{carried:?}");
    assert!(
        !carried.contains(&eice),
        "EICE went through the proxy: {carried:?}"
    );
}

#[tokio::test]
async fn a_proxy_that_is_not_there_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    cmd.env("HTTPS_PROXY", format!("http://127.0.0.1:{port}"))
        .env("HTTP_PROXY", format!("http://127.0.0.1:{port}"));
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "cannot connect to the proxy http://127.0.0.1:{port} (from HTTP"
        )),
        "{stderr}"
    );
}
