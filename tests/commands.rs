//! The commands against a simulated account: `resolve` explains a route,
//! `connect` reaches an instance by any name, and `forward` (or a
//! `[[forward]]` of `serve`) joins every connection to its port to one target.

mod common;

use common::clients::{Dest, banner, ping, reaches};
use common::{PATIENCE, Proxy, addr_after, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const DB_1: &str = "i-0a1b2c3d4e5f60002";

#[tokio::test]
async fn resolve_prints_the_route_and_who_answered() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", "web-1", "i-0a1b2c3d4e5f60001:3389"]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "target      web-1:22",
        "instance    i-0a1b2c3d4e5f60001 (web-1, running)",
        "private ip  10.0.1.10",
        "vpc         vpc-0a1b2c3d4e5f60001",
        "subnet      subnet-0a1b2c3d4e5f60011",
        "endpoint    eice-0a1b2c3d4e5f60021 (subnet-0a1b2c3d4e5f60011, us-east-1a, ipv4)",
        "dns name    eice-0a1b2c3d4e5f60021.ec2-instance-connect-endpoint.us-east-1.amazonaws.com",
        "answered by name: EC2 API, endpoints: EC2 API",
        // The second target hits the caches the first one filled.
        "target      i-0a1b2c3d4e5f60001:3389",
        "answered by instance: cache, endpoints: cache",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn resolve_explains_an_ambiguous_address() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["resolve", "10.0.1.10"]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("several VPCs (vpc-0a1b2c3d4e5f60001, vpc-0a1b2c3d4e5f60002)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn connect_reaches_an_instance_by_its_name_tag() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["connect", "db-1", "22"]);
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello").await.unwrap();
    drop(stdin);
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    timeout(PATIENCE, stdout.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    assert_eq!(
        out,
        "SSH-2.0-eice-proxy-simulated i-0a1b2c3d4e5f60002 db-1 port 22\r\nhello"
    );
    assert!(status.success());
}

#[tokio::test]
async fn connect_to_a_stopped_instance_says_so_and_fails() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, _dir) = aws_command(&aws, &["connect", "old-1", "22"]);
    cmd.stdin(std::process::Stdio::null());
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(
        stderr.trim(),
        "eice-proxy: cannot open a tunnel to old-1:22: instance i-0a1b2c3d4e5f60003 is stopped, not running: start it first"
    );
}

/// Connects to a forward port and expects `instance`'s SSH banner, then a
/// live echo: the port leads to that instance.
async fn forwards_to(port: std::net::SocketAddr, instance: &str) {
    let mut s = TcpStream::connect(port).await.unwrap();
    let line = timeout(PATIENCE, banner(&mut s)).await.unwrap();
    assert!(
        line.starts_with("SSH-2.0-") && line.contains(instance) && line.contains("port 22"),
        "{line}"
    );
    ping(&mut s).await;
}

#[tokio::test]
async fn forward_joins_each_connection_to_its_one_target_until_sigterm() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let target = format!("{WEB_1}:22");
    let mut forward = Proxy::forward(aws, "", "127.0.0.1:0", &target).await;
    let line = forward.log_line("forwarding ").await;
    assert!(
        line.contains(&format!("forwarding {} → {target}", forward.addr)),
        "{line}"
    );
    // Two connections one after the other, each with a tunnel of its own.
    forwards_to(forward.addr, WEB_1).await;
    forwards_to(forward.addr, WEB_1).await;
    forward.log_count("tunnel closed", 2).await;
    assert_eq!(forward.aws.eice.stats().tunnels_opened, 2);

    forward.signal("TERM");
    assert!(forward.exit_status().await.success());
    forward.log_line("shutting down: no new connections").await;
}

#[tokio::test]
async fn serve_opens_each_forward_port_beside_the_proxy_port() {
    let config = "[[forward]]\nlisten = \"127.0.0.1:0\"\ntarget = \"db-1:22\"\n";
    let proxy = Proxy::start(World::demo(), config).await;
    let line = proxy.log_line("forwarding ").await;
    assert!(line.contains("→ db-1:22"), "{line}");
    let port = addr_after(&line, "forwarding ");
    assert_ne!(port, proxy.addr);
    forwards_to(port, DB_1).await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    forwards_to(port, DB_1).await;
}

#[tokio::test]
async fn a_refused_forward_connection_is_logged_and_closed() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let unknown = "i-0a1b2c3d4e5f6ffff";
    let forward = Proxy::forward(aws, "", "127.0.0.1:0", &format!("{unknown}:22")).await;
    let mut s = TcpStream::connect(forward.addr).await.unwrap();
    let mut got = Vec::new();
    // Closed, or reset: either way nothing arrives and the stream ends.
    let _ = timeout(PATIENCE, s.read_to_end(&mut got))
        .await
        .expect("the forward closes a refused connection");
    assert!(got.is_empty(), "{got:?}");
    let line = forward.log_line("refused: ").await;
    assert!(
        line.contains(unknown) && !line.contains("socks="),
        "one line naming the target, with no reply code: {line}"
    );
    assert_eq!(forward.aws.eice.stats().tunnels_opened, 0);
}

#[tokio::test]
async fn forward_refuses_at_start_what_could_never_work() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    for (args, expected) in [
        (
            ["forward", "0.0.0.0:0", "web-1:22"],
            "refusing to forward 0.0.0.0:0 to web-1:22: a forward port asks for no credentials",
        ),
        (
            ["forward", "0", "web-1:80"],
            "cannot forward 127.0.0.1:0 to web-1:80: port 80 is not allowed",
        ),
        (["forward", "0", "web-1"], "\"web-1\" has no port"),
    ] {
        let (cmd, _dir) = aws_command(&aws, &args);
        let (status, _, stderr) = run(cmd).await;
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_bad_forward_target_in_the_config_names_the_key_and_line() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    std::fs::write(
        &file,
        "allowed_ports = [22]\n\n[[forward]]\nlisten = \"5432\"\ntarget = \"i-0a1b:22\"\n",
    )
    .unwrap();
    let (cmd, _dir) = aws_command(&aws, &["serve", "--config", file.to_str().unwrap()]);
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(
        stderr.contains("line 5")
            && stderr.contains("[[forward]] target: \"i-0a1b\" looks like an instance id"),
        "{stderr}"
    );
}

#[test]
fn the_example_config_parses_with_its_commented_keys_enabled() {
    let text = include_str!("../config/eice-proxy.example.toml");
    let config = eice_proxy::config::Config::parse(text).expect("the example as shipped");
    assert_eq!(config.allowed_ports, vec![22, 3389]);
    // Uncomment every `# key = value` line and table: still valid.
    let enabled: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            // `# [table]` and `# key = value`, not prose.
            Some(t) if t.starts_with('[') => t,
            Some(t)
                if t.split_once(" = ").is_some_and(|(k, _)| {
                    k.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
                }) =>
            {
                t
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    // The example's password file, made real.
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("password");
    std::fs::write(&secret, "hunter2\n").unwrap();
    // And its public key.
    let public_key = dir.path().join("id_ed25519.pub");
    std::fs::write(
        &public_key,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@laptop\n",
    )
    .unwrap();
    let enabled = enabled
        .replace(
            "/run/secrets/eice-proxy-password",
            &secret.display().to_string(),
        )
        .replace("~/.ssh/id_ed25519.pub", &public_key.display().to_string());
    let config = eice_proxy::config::Config::parse(&enabled).expect("the example with every key");
    assert_eq!(config.max_tunnel_duration, Some(3600));
    assert_eq!(config.routes.len(), 4);
    assert!(
        config.routes[3].via.is_some(),
        "the last route goes via a hop"
    );
    assert_eq!(config.hops.len(), 1);
    assert_eq!(config.regions, vec!["us-east-1", "eu-west-1"]);
    assert_eq!(config.profile_for("eu-west-1"), Some("platform-prod-eu"));
    assert_eq!(config.profile_for("us-east-1"), Some("platform-dev"));
    assert!(config.auth.unwrap().check("alice", "hunter2"));
    assert_eq!(config.push_rules.len(), 1);
    assert_eq!(config.ssh.user.as_deref(), Some("ec2-user"));
    assert_eq!(config.timeouts.shutdown_grace, 30);
    assert_eq!(config.limits.tunnels_per_endpoint, 20);
    assert_eq!(config.metrics.listen, Some(([127, 0, 0, 1], 9180).into()));
    assert_eq!(config.forwards.len(), 1);
    assert_eq!(config.forwards[0].target.port, 3389);
}
