//! The SSH hop's shared set-up: web-1's port 22 is a real sshd behind the
//! simulated EICE, a config whose `[[hop]]` logs in to it, and stand-in
//! services the hop reaches on 127.0.0.1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use eice_sim::account::{SimAws, banner as sim_banner, spawn_instance};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::clients::{Dest, banner, socks5};
use super::hopnet::sshd_missing;
use super::metrics::METRICS;
use super::sshd::Sshd;
use super::{PATIENCE, Proxy};

/// The hop instance: web-1 of the demo world.
pub const WEB_1: &str = "i-0a1b2c3d4e5f60001";
/// Where the stand-in services listen, reached through the hop.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The hop's real sshd, where this machine can run one (see
/// [`super::prerequisites`]).
pub fn hop_sshd() -> Option<Sshd> {
    super::prerequisites("the hop tests", &sshd_missing()).then(Sshd::new)
}

/// The simulated account with web-1's port 22 the real `sshd`.
pub async fn account_with_hop(sshd: &mut Sshd) -> SimAws {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    aws
}

/// A config whose one `[[hop]]` is web-1, logging in to `sshd`, serving what
/// `serves` says (`cidrs = […]`, `domains = […]`, `default = true`).
pub fn hop_config(sshd: &Sshd, known_hosts: &Path, serves: &str) -> String {
    format!(
        "[ssh]\nknown_hosts = {:?}\n\n[[hop]]\nname = \"web\"\ninstance = \"{WEB_1}\"\n\
         os_user = {:?}\nkey = {:?}\n{serves}\n",
        known_hosts.display().to_string(),
        sshd.user,
        sshd.key.display().to_string(),
    )
}

/// The environment the proxy runs with: `HOME` is the sshd's directory, so
/// no known_hosts of this machine's user is read.
pub fn home(sshd: &Sshd) -> String {
    sshd.dir.path().display().to_string()
}

/// The simulated account and a proxy whose `[[hop]]` is web-1 serving
/// 127.0.0.0/8.
pub async fn hop_proxy(sshd: &mut Sshd, known_hosts: &Path) -> Proxy {
    let aws = account_with_hop(sshd).await;
    let config = hop_config(sshd, known_hosts, "cidrs = [\"127.0.0.0/8\"]") + METRICS;
    Proxy::start_with(aws, &config, &[("HOME", &home(sshd))]).await
}

/// A stand-in service on 127.0.0.1: a banner, then an echo.
pub async fn service(label: &str) -> u16 {
    let (addr, task) = spawn_instance(label.to_owned(), false).await.unwrap();
    std::mem::forget(task);
    addr.port()
}

/// A SOCKS5 stream through `proxy` to the `svc` [`service`] on `port`, its
/// banner read.
pub async fn svc_stream(proxy: SocketAddr, port: u16) -> TcpStream {
    let mut s = timeout(
        PATIENCE,
        socks5(proxy, Dest::Ip(LOOPBACK), port, None, 0x01),
    )
    .await
    .expect("a stream in time")
    .expect("a stream through the hop");
    assert_eq!(banner(&mut s).await, sim_banner("svc"));
    s
}

/// Sends `line` on an echoing stream and checks it comes back.
pub async fn echoes(s: &mut TcpStream, line: &str) {
    s.write_all(line.as_bytes()).await.unwrap();
    let mut back = vec![0u8; line.len()];
    timeout(PATIENCE, s.read_exact(&mut back))
        .await
        .expect("the echo in time")
        .unwrap();
    assert_eq!(back, line.as_bytes());
}
