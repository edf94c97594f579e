//! The SSH hop against a real sshd on loopback: the hop instance (web-1) is
//! an OpenSSH server behind the simulated EICE, and the targets are
//! listeners on 127.0.0.1 that only the hop is told to reach (through
//! `cidrs = ["127.0.0.0/8"]`, on ports EICE refuses).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use common::clients::{Dest, SocksFailure, banner, socks5};
use common::sshd::Sshd;
use common::{PATIENCE, Proxy};
use eice_proxy::sim::aws::{SimAws, banner as sim_banner, spawn_instance};
use eice_proxy::sim::sshd::SimSshd;
use eice_proxy::sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The simulated account with web-1's port 22 a real sshd, and a proxy
/// whose `[[hop]]` is web-1 serving 127.0.0.0/8.
async fn hop_proxy(sshd: &mut Sshd, known_hosts: &Path) -> Proxy {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    let config = format!(
        "[ssh]\nknown_hosts = {:?}\n\n[[hop]]\nname = \"web\"\ninstance = \"{WEB_1}\"\n\
         os_user = {:?}\nkey = {:?}\ncidrs = [\"127.0.0.0/8\"]\n",
        known_hosts.display().to_string(),
        sshd.user,
        sshd.key.display().to_string(),
    );
    let home = sshd.dir.path().display().to_string();
    Proxy::start_with(aws, &config, &[("HOME", &home)]).await
}

/// A stand-in service on 127.0.0.1: a banner, then an echo.
async fn service(label: &str) -> u16 {
    let (addr, task) = spawn_instance(label.to_owned(), false).await.unwrap();
    std::mem::forget(task);
    addr.port()
}

#[tokio::test]
async fn many_streams_share_one_tunnel_and_survive_a_cut() {
    if !SimSshd::available() {
        eprintln!("skipped: needs root and openssh-server");
        return;
    }
    let mut sshd = Sshd::new();
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &known_hosts).await;
    let port = service("svc").await;

    // 50 streams at once, each with its own echo.
    let streams = (0..50).map(|i| {
        let addr = proxy.addr;
        tokio::spawn(async move {
            let mut s = socks5(addr, Dest::Ip(LOOPBACK), port, None, 0x01)
                .await
                .expect("a stream through the hop");
            assert_eq!(banner(&mut s).await, sim_banner("svc"));
            let msg = format!("stream {i}\n");
            s.write_all(msg.as_bytes()).await.unwrap();
            let mut back = vec![0u8; msg.len()];
            s.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg.as_bytes());
            s
        })
    });
    let mut open = Vec::new();
    for s in streams {
        open.push(timeout(PATIENCE, s).await.unwrap().unwrap());
    }
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        1,
        "one EICE tunnel for 50 streams"
    );
    proxy
        .log_line("permanently added the ssh-ed25519 host key")
        .await;
    let recorded = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(
        recorded.starts_with(&format!("{WEB_1} ssh-ed25519 ")),
        "{recorded}"
    );

    // The service cuts the tunnel: open streams end, none hangs.
    proxy
        .aws
        .eice
        .cut_open_tunnels(1011, "connection reset by instance");
    for mut s in open {
        let mut rest = Vec::new();
        // EOF or a reset: either way the stream ends instead of hanging.
        let _ = timeout(PATIENCE, s.read_to_end(&mut rest))
            .await
            .expect("a stream on the cut connection ends");
        assert!(rest.is_empty(), "nothing arrives after the cut");
    }
    // The next stream makes a new connection.
    let mut s = timeout(
        PATIENCE,
        socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01),
    )
    .await
    .unwrap()
    .expect("a stream after the cut");
    assert_eq!(banner(&mut s).await, sim_banner("svc"));
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 2);
}

#[tokio::test]
async fn a_changed_host_key_is_refused() {
    if !SimSshd::available() {
        eprintln!("skipped: needs root and openssh-server");
        return;
    }
    let mut sshd = Sshd::new();
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    // Another key recorded for web-1: what a man in the middle would look like.
    let other = sshd.dir.path().join("other_host_key");
    eice_proxy::sim::sshd::keygen(&other).unwrap();
    let other_pub = std::fs::read_to_string(other.with_extension("pub")).unwrap();
    let key_part: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(&known_hosts, format!("{WEB_1} {}\n", key_part.join(" "))).unwrap();
    let proxy = hop_proxy(&mut sshd, &known_hosts).await;
    let port = service("svc").await;
    let refused = socks5(proxy.addr, Dest::Ip(LOOPBACK), port, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x02)));
    let line = proxy
        .log_line("REMOTE HOST IDENTIFICATION HAS CHANGED")
        .await;
    assert!(line.contains(&format!("ssh-keygen -R {WEB_1}")), "{line}");
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 1);
}

#[tokio::test]
async fn a_port_eice_refuses_names_the_fix_without_a_hop() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let proxy = Proxy::start_with(aws, "", &[]).await;
    let refused = socks5(proxy.addr, Dest::Domain(WEB_1), 5432, None, 0x01).await;
    assert_eq!(refused.err(), Some(SocksFailure::Reply(0x02)));
    let line = proxy.log_line("port 5432 is not allowed").await;
    assert!(line.contains("add a [[hop]]"), "{line}");
    assert_eq!(
        proxy.aws.ec2.calls_total(),
        0,
        "refused before any AWS call"
    );
}
