//! Behind a corporate proxy: a real tinyproxy, started here on 127.0.0.1,
//! carries the EC2 API calls and the EICE WebSocket of `serve` and of
//! `connect`; `NO_PROXY` sends a matching endpoint direct; Basic auth works
//! with credentials in the URL and fails clearly without them, the password
//! never logged; a proxy that is not there is an error naming it. The
//! proxy's own log says which connections it carried.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::clients::{self, CONNECT, Dest};
use common::{Proxy, aws_command, prerequisites, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::process::{Child, Command};

const USER: &str = "alice";
const PASSWORD: &str = "pr0xy-s3cret";

/// A tinyproxy of this test's own, on a free loopback port.
struct Tinyproxy {
    port: u16,
    log: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Starts one; with `auth`, it asks for [`USER`] and [`PASSWORD`].
    async fn start(auth: bool) -> Tinyproxy {
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
            let mut text = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\n\
                 MaxClients 200\nAllow 127.0.0.1\n",
                log.display()
            );
            if auth {
                text += &format!("BasicAuth {USER} {PASSWORD}\n");
            }
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

    fn url(&self, credentials: Option<(&str, &str)>) -> String {
        match credentials {
            Some((user, password)) => format!("http://{user}:{password}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
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
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
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

fn host_port(url: &str) -> String {
    url.split("://").nth(1).unwrap().trim_end_matches('/').to_owned()
}

#[tokio::test]
async fn serve_reaches_aws_only_through_the_proxy() {
    if missing() {
        return;
    }
    let tiny = Tinyproxy::start(false).await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let (ec2, eice) = (host_port(&aws.ec2.url()), host_port(&aws.eice.url()));
    let url = tiny.url(None);
    let proxy = Proxy::start_with(aws, "", &[("ALL_PROXY", &url)]).await;
    let mut s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT)
        .await
        .expect("a tunnel through the corporate proxy");
    assert!(clients::banner(&mut s).await.contains("web-1"));
    let carried = tiny.connects();
    assert!(carried.contains(&ec2), "EC2 API {ec2} not in {carried:?}");
    assert!(carried.contains(&eice), "EICE {eice} not in {carried:?}");
}

#[tokio::test]
async fn no_proxy_sends_a_matching_endpoint_direct() {
    if missing() {
        return;
    }
    let tiny = Tinyproxy::start(false).await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let (ec2, eice) = (host_port(&aws.ec2.url()), host_port(&aws.eice.url()));
    let url = tiny.url(None);
    let proxy = Proxy::start_with(aws, "", &[("ALL_PROXY", &url), ("NO_PROXY", &eice)]).await;
    let mut s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT)
        .await
        .expect("a tunnel");
    assert!(clients::banner(&mut s).await.contains("web-1"));
    let carried = tiny.connects();
    assert!(carried.contains(&ec2), "{carried:?}");
    assert!(!carried.contains(&eice), "EICE went through the proxy: {carried:?}");
}

#[tokio::test]
async fn basic_auth_from_the_url_works_and_its_absence_is_named() {
    if missing() {
        return;
    }
    let tiny = Tinyproxy::start(true).await;
    let aws = SimAws::start(World::demo(), true).await.unwrap();

    // With the credentials, `connect` works, and a trace log holds no password.
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    cmd.env("ALL_PROXY", tiny.url(Some((USER, PASSWORD))))
        .env("RUST_LOG", "trace");
    let (status, stdout, stderr) = run(cmd).await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("web-1"), "{stdout}");
    assert!(!stderr.contains(PASSWORD), "the password was logged");
    assert!(tiny.connects().contains(&host_port(&aws.eice.url())));

    // Without them, the error names the proxy and what to do.
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    cmd.env("ALL_PROXY", tiny.url(None));
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains(&format!(
            "the proxy http://127.0.0.1:{} (from ALL_PROXY) requires authentication (HTTP 407)",
            tiny.port
        )),
        "{stderr}"
    );

    // With wrong ones, it says they were refused, without showing them.
    let (mut cmd, _d) = aws_command(&aws, &["connect", "web-1", "22"]);
    cmd.env("ALL_PROXY", tiny.url(Some((USER, "wrong-password"))));
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(stderr.contains("did not accept the credentials"), "{stderr}");
    assert!(!stderr.contains("wrong-password"), "{stderr}");
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
        stderr.contains(&format!("cannot connect to the proxy http://127.0.0.1:{port} (from HTTP")),
        "{stderr}"
    );
}
