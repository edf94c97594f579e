//! A fleet behind one endpoint, for the tests of more than 20 connections at
//! once: a world of many instances in one subnet, and a private network in
//! which a hop reaches them.
//!
//! [`FleetNet`] is a network namespace where every address of 10.0.0.0/16 is
//! local, and a real sshd (`sshd -D`, the same configuration and host key as
//! the [`Sshd`] whose sessions stand for the instances behind EICE) listens
//! on port 22 of all of them. A hop whose sessions run in the namespace
//! ([`Sshd::in_netns`]) reaches an instance's 10.0.1.x:22 there, and a
//! session sees `INSTANCE` set to the instance's id by the address it came
//! to, as a session through EICE sees its listener's label: so a client can
//! tell which instance it reached whichever way it went. Nothing in the
//! namespace has a link out; it is removed, sshd with it, when dropped.

use std::fmt::Write as _;
use std::process::Stdio;

use eice_sim::world::World;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use super::PATIENCE;
use super::hopnet::add_netns;
use super::sshd::Sshd;

/// The fleet's VPC, subnet and endpoint.
pub const VPC: &str = "vpc-0f1ee7000000000a1";
pub const SUBNET: &str = "subnet-0f1ee7000000000b1";
pub const ENDPOINT: &str = "eice-0f1ee7000000000e1";
/// The hop instance, in the same subnet.
pub const HOP: (&str, &str) = ("i-0f1ee70000000fff0", "10.0.1.250");

/// `n` instances (id, private IP) in one subnet behind one endpoint.
pub fn instances(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("i-0f1ee700000000{i:03x}"),
                format!("10.0.1.{}", 10 + i),
            )
        })
        .collect()
}

/// The world of `instances` and the hop.
pub fn world(instances: &[(String, String)]) -> World {
    let mut text = format!(
        "region = \"us-east-1\"\n[[vpc]]\nid = \"{VPC}\"\ncidrs = [\"10.0.0.0/16\"]\n\
         [[subnet]]\nid = \"{SUBNET}\"\nvpc = \"{VPC}\"\ncidr = \"10.0.1.0/24\"\n\
         availability_zone = \"us-east-1a\"\n\
         [[endpoint]]\nid = \"{ENDPOINT}\"\nsubnet = \"{SUBNET}\"\nstate = \"create-complete\"\n"
    );
    let hop = (HOP.0.to_owned(), HOP.1.to_owned());
    for (id, ip) in instances.iter().chain([&hop]) {
        let _ = write!(
            text,
            "[[instance]]\nid = \"{id}\"\nsubnet = \"{SUBNET}\"\nprivate_ip = \"{ip}\"\n\
             state = \"running\"\n"
        );
    }
    World::from_toml(&text).expect("the fleet's world")
}

/// A namespace in which all of 10.0.0.0/16 is this host, with sshd on port 22.
pub struct FleetNet {
    name: String,
    sshd: Option<Child>,
}

impl FleetNet {
    /// Builds the namespace and starts sshd in it, with `sshd`'s
    /// configuration; a session to an address of `instances` sees
    /// `INSTANCE` set to that instance's id.
    pub async fn start(sshd: &Sshd, instances: &[(String, String)]) -> FleetNet {
        let mut net = FleetNet {
            name: add_netns(),
            sshd: None,
        };
        let local = std::process::Command::new("ip")
            .args([
                "-n",
                &net.name,
                "route",
                "add",
                "local",
                "10.0.0.0/16",
                "dev",
                "lo",
            ])
            .status()
            .expect("run ip");
        assert!(local.success(), "make 10.0.0.0/16 local in {}", net.name);
        let base = sshd.dir.path().join("sshd_config");
        let mut config = std::fs::read_to_string(&base).expect("the sshd's configuration");
        for (id, ip) in instances {
            let _ = write!(
                config,
                "Match LocalAddress {ip}\n    SetEnv INSTANCE={id}\n"
            );
        }
        let path = sshd.dir.path().join("sshd_config_fleet");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &net.name,
                eice_sim::sshd::SSHD,
                "-D",
                "-e",
                "-f",
            ])
            .arg(&path)
            // One daemon answers for every instance here, where each real
            // instance has its own: its limit on connections not yet logged
            // in (10, then random drops) must not stand for a fleet's.
            .args(["-o", "ListenAddress=0.0.0.0:22", "-o", "LogLevel=INFO"])
            .args(["-o", "MaxStartups=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start sshd in the namespace");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        net.sshd = Some(child);
        timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Server listening on 0.0.0.0 port 22") {
                    return;
                }
            }
            panic!("sshd in the namespace exited before listening");
        })
        .await
        .expect("sshd listens in the namespace");
        // Its log goes on (a line per session): keep the pipe drained.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        net
    }

    /// The namespace's name, for [`Sshd::in_netns`].
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for FleetNet {
    fn drop(&mut self) {
        if let Some(mut sshd) = self.sshd.take() {
            let _ = sshd.start_kill();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
