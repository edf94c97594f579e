//! More than 20 connections through one endpoint with a `[[hop]]` for the
//! VPC: those that find the endpoint full go through the hop's one SSH
//! connection (a real sshd), and the simulated AWS, which refuses a 21st
//! tunnel, never sees more than 20. Then real Ansible against 40 instances
//! behind one endpoint, each a real sshd session: with a hop, and without
//! one, waiting its turn.
//!
//! The hop reaches the instances' private addresses in a [`FleetNet`].

// Its private network is a Linux network namespace.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::clients::{CONNECT, Dest, banner, socks5};
use common::fleet::{self, FleetNet};
use common::hop::{home, hop_config};
use common::hopnet::sshd_missing;
use common::metrics::{METRICS, metrics_addr, sample, scrape_until};
use common::sshd::Sshd;
use common::{PATIENCE, Proxy};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::process::Command;
use tokio::time::timeout;

/// web-dup's second instance: behind web-1's endpoint, in the hop's VPC.
const WEB_DUP_B: (&str, &str) = ("i-0a1b2c3d4e5f60005", "10.0.1.50");
const DEMO_ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";
const DEMO_VPC: &str = "vpc-0a1b2c3d4e5f60001";

fn prerequisites(ansible: bool) -> bool {
    let mut missing = sshd_missing();
    if ansible && !on_path("ansible") {
        missing.push("ansible (Debian package ansible-core)".to_owned());
    }
    common::prerequisites("the fleet tests", &missing)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

#[tokio::test]
async fn twenty_five_clients_get_banners_through_a_hop_and_the_endpoint_never_carries_more_than_twenty()
 {
    if !prerequisites(false) {
        return;
    }
    let mut sshd = Sshd::new();
    let targets = [(WEB_DUP_B.0.to_owned(), WEB_DUP_B.1.to_owned())];
    let net = FleetNet::start(&sshd, &targets).await;
    sshd.in_netns(net.name());
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    // The hop is web-1, its port 22 the real sshd.
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    let config = hop_config(&sshd, &known_hosts, &format!("vpc = \"{DEMO_VPC}\"")) + METRICS;
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd))]).await;

    let clients: Vec<_> = (0..25)
        .map(|_| {
            let addr = proxy.addr;
            tokio::spawn(async move {
                let dest = Dest::Domain(WEB_DUP_B.0);
                let mut s = timeout(PATIENCE, socks5(addr, dest, 22, None, CONNECT))
                    .await
                    .expect("a stream in time")
                    .expect("a stream");
                let first = banner(&mut s).await;
                (first, s)
            })
        })
        .collect();
    let mut banners = Vec::new();
    let mut open = Vec::new();
    for c in clients {
        let (first, s) = timeout(PATIENCE, c).await.unwrap().unwrap();
        banners.push(first);
        open.push(s);
    }
    // The simulator's stand-in names the instance; through the hop, the
    // namespace's sshd answers for it.
    let direct = banners.iter().filter(|b| b.contains(WEB_DUP_B.0)).count();
    let hopped = banners
        .iter()
        .filter(|b| b.starts_with("SSH-2.0-OpenSSH"))
        .count();
    assert_eq!((direct, hopped), (19, 6), "{banners:?}");
    let stats = proxy.aws.eice.stats();
    assert_eq!(
        stats.endpoint_peaks[DEMO_ENDPOINT], 20,
        "19 direct and the hop's"
    );
    assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
    let metrics = metrics_addr(&proxy).await;
    scrape_until(metrics, "six overflowed", |p| {
        sample(p, "eice_proxy_overflow_total") == 6
    })
    .await;
    proxy
        .log_count("going through hop web (it serves vpc-0a1b2c3d4e5f60001)", 6)
        .await;
}

/// Runs `ansible all -m raw -a 'echo $INSTANCE'` with `forks` against
/// `hosts` through `proxy`, and checks every host answered with its own id;
/// returns how long the run took.
async fn ansible(proxy: &Proxy, sshd: &Sshd, hosts: &[(String, String)], forks: usize) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory");
    let names: Vec<&str> = hosts.iter().map(|(id, _)| id.as_str()).collect();
    std::fs::write(&inventory, format!("[fleet]\n{}\n", names.join("\n"))).unwrap();
    // ControlPersist short: each host's ssh master, and so its tunnel, is
    // held 2 s after its task, as Ansible's 60 s would hold it longer.
    let ssh_args = format!(
        "-o ControlMaster=auto -o ControlPersist=2s -o IdentitiesOnly=yes \
         -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no -o LogLevel=ERROR \
         -o ProxyCommand=\"nc -X 5 -x {} %h %p\"",
        proxy.addr
    );
    let mut cmd = Command::new("ansible");
    cmd.arg("fleet")
        .arg("-i")
        .arg(&inventory)
        .args([
            "-f",
            &forks.to_string(),
            "-m",
            "raw",
            "-a",
            "echo $INSTANCE",
            "-o",
        ])
        .args(["-u", &sshd.user, "--private-key"])
        .arg(&sshd.key)
        .env("ANSIBLE_HOME", dir.path())
        .env("ANSIBLE_LOCAL_TEMP", dir.path().join("tmp"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", dir.path().join("cp"))
        .env("ANSIBLE_SSH_ARGS", ssh_args)
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_TIMEOUT", "30")
        .env("ANSIBLE_NOCOLOR", "1")
        .kill_on_drop(true);
    let started = Instant::now();
    let output = timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("ansible ends")
        .expect("run ansible");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "ansible failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("UNREACHABLE"), "{stdout}");
    // Each host answered with its own id. The login shell may print before
    // it: sshd runs the account's shell, which reads the account's rc files
    // (here, a pyenv rehash that races with itself under forty logins at
    // once said so on stdout), so the id is looked for among the lines of
    // the command's output (`\r\n`, as Ansible prints them), not first.
    for id in &names {
        let head = format!("{id} | CHANGED | rc=0 | (stdout) ");
        let answered = stdout.lines().any(|l| {
            l.strip_prefix(&head)
                .is_some_and(|out| out.split("\\r\\n").any(|line| line == *id))
        });
        assert!(answered, "no {head:?} answering {id} in:\n{stdout}");
    }
    took
}

/// The fleet's account, every instance's port 22 a session of `sshd`, the
/// hop's too.
async fn fleet_account(sshd: &mut Sshd, hosts: &[(String, String)]) -> SimAws {
    let aws = SimAws::start(fleet::world(hosts), false).await.unwrap();
    for (id, ip) in hosts
        .iter()
        .chain([&(fleet::HOP.0.to_owned(), fleet::HOP.1.to_owned())])
    {
        let local = sshd.listen(id).await;
        aws.eice
            .add_target(format!("{ip}:22").parse().unwrap(), local);
    }
    aws
}

#[tokio::test]
async fn ansible_with_forty_forks_reaches_forty_instances_behind_one_endpoint() {
    if !prerequisites(true) {
        return;
    }
    let hosts = fleet::instances(40);
    let mut sshd = Sshd::new();
    let net = FleetNet::start(&sshd, &hosts).await;
    sshd.in_netns(net.name());

    // With a hop for the VPC: 40 at once, the overflow through the hop.
    let aws = fleet_account(&mut sshd, &hosts).await;
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    let hop = hop_config(&sshd, &known_hosts, &format!("vpc = \"{}\"", fleet::VPC))
        .replace(common::hop::WEB_1, fleet::HOP.0);
    let proxy = Proxy::start_with(aws, &(hop + METRICS), &[("HOME", &home(&sshd))]).await;
    let took = ansible(&proxy, &sshd, &hosts, 40).await;
    let stats = proxy.aws.eice.stats();
    let peak = stats.endpoint_peaks[fleet::ENDPOINT];
    let page = common::metrics::get(metrics_addr(&proxy).await, "/metrics")
        .await
        .1;
    let overflow = sample(&page, "eice_proxy_overflow_total");
    eprintln!(
        "ansible forks=40 with a hop: {took:.1?}, peak {peak} tunnels, {overflow} through the hop"
    );
    assert!(peak <= 21, "peak {peak}");
    assert!(overflow > 0, "nothing went through the hop");
    assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
    drop(proxy);

    // Without one: 25 at once, short tasks, the rest wait their turn.
    let aws = fleet_account(&mut sshd, &hosts).await;
    let proxy = Proxy::start_with(aws, METRICS, &[("HOME", &home(&sshd))]).await;
    let took = ansible(&proxy, &sshd, &hosts[..25], 25).await;
    let stats = proxy.aws.eice.stats();
    let peak = stats.endpoint_peaks[fleet::ENDPOINT];
    let page = common::metrics::get(metrics_addr(&proxy).await, "/metrics")
        .await
        .1;
    let waited = sample(&page, "eice_proxy_endpoint_waits_total{result=\"tunnel\"}");
    eprintln!("ansible forks=25 without a hop: {took:.1?}, peak {peak} tunnels, {waited} waited");
    assert!(peak <= 20, "peak {peak}");
    assert!(stats.rejected.is_empty(), "{:?}", stats.rejected);
}
