//! The one-shot commands against a simulated account: `resolve` explains a
//! route, `connect` reaches an instance by any name.

mod common;

use common::{PATIENCE, aws_command};
use eice_proxy::sim::aws::SimAws;
use eice_proxy::sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

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
    assert_eq!(config.routes.len(), 3);
    assert_eq!(config.regions, vec!["us-east-1", "eu-west-1"]);
    assert_eq!(config.profile_for("eu-west-1"), Some("platform-prod-eu"));
    assert_eq!(config.profile_for("us-east-1"), Some("platform-dev"));
    assert!(config.auth.unwrap().check("alice", "hunter2"));
    assert_eq!(config.push_rules.len(), 1);
    assert_eq!(config.ssh.user.as_deref(), Some("ec2-user"));
    assert_eq!(config.timeouts.shutdown_grace, 30);
    assert_eq!(config.limits.tunnels_per_endpoint, 20);
    assert_eq!(config.metrics.listen, Some(([127, 0, 0, 1], 9180).into()));
}
