//! EC2 Instance Connect key push with the real OpenSSH client and server: a
//! key in no authorized_keys file is refused until it is pushed, accepted
//! after, and refused again once its 60 seconds are over; through
//! `eice-proxy ssh` and through the SOCKS proxy with a `[[push_key]]` rule.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::sshd::Sshd;
use common::{PATIENCE, Proxy, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

/// The simulated account, with a real sshd standing for web-1 (10.0.1.10)
/// that trusts only keys pushed to web-1.
async fn account() -> (SimAws, Sshd) {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let mut sshd = Sshd::with_pushed_keys(&aws.ec2.url(), WEB_1);
    let local = sshd.listen("web-1").await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), local);
    (aws, sshd)
}

/// [`common::eice_ssh`], its AWS config files left for the test's life.
fn eice_ssh(aws: &SimAws, home: &Path, args: &[&str], remote: &[&str]) -> Command {
    let (cmd, dir) = common::eice_ssh(aws, home, args, remote);
    std::mem::forget(dir);
    cmd
}

/// Plain ssh as `user` with `key`, through `eice-proxy connect`.
fn plain_ssh(aws: &SimAws, home: &Path, key: &Path, user: &str) -> Command {
    let exe = env!("CARGO_BIN_EXE_eice-proxy");
    let mut cmd = Command::new("ssh");
    cmd.args(common::sshd::ssh_options(&home.join("known_hosts_plain")))
        .args(["-o", "IdentitiesOnly=yes", "-i"])
        .arg(key)
        .arg("-o")
        .arg(format!("ProxyCommand={exe} connect %h %p"))
        .arg(format!("{user}@{WEB_1}"))
        .arg("echo logged-in-as-$INSTANCE")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", aws.ec2.url())
        .envs(aws.env())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

fn temp_entries(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("eice-proxy-key-"))
        })
        .collect()
}

#[tokio::test]
async fn a_fresh_key_is_refused_until_pushed_and_again_after_sixty_seconds() {
    let (aws, sshd) = account().await;
    let home = tempfile::tempdir().unwrap();

    let (status, _, stderr) = run(plain_ssh(&aws, home.path(), &sshd.key, &sshd.user)).await;
    assert_eq!(
        status.code(),
        Some(255),
        "refused before any push: {stderr}"
    );
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // `eice-proxy ssh -i KEY` pushes KEY.pub, then logs in with KEY.
    let key = sshd.key.display().to_string();
    let cmd = eice_ssh(
        &aws,
        home.path(),
        &["-i", &key, "-l", &sshd.user, "web-1"],
        &["echo logged-in-as-$INSTANCE"],
    );
    let (status, stdout, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "logged-in-as-web-1");
    assert_eq!(aws.ec2.keys().valid_keys(WEB_1, &sshd.user).len(), 1);

    // Within the key's 60 seconds, plain ssh with it works too.
    let (status, stdout, stderr) = run(plain_ssh(&aws, home.path(), &sshd.key, &sshd.user)).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "logged-in-as-web-1");

    aws.ec2.keys().clock().advance(Duration::from_secs(61));
    let (status, _, stderr) = run(plain_ssh(&aws, home.path(), &sshd.key, &sshd.user)).await;
    assert_eq!(status.code(), Some(255), "refused after 60 s: {stderr}");
}

#[tokio::test]
async fn without_a_key_a_temporary_one_is_made_used_and_removed() {
    let (aws, sshd) = account().await;
    let home = tempfile::tempdir().unwrap();
    // By address, with USER@: known_hosts still records the instance id.
    // (Both demo VPCs hold 10.0.1.10: a route in the user's config picks one.)
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        "[[route]]\ncidr = \"10.0.1.0/24\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n",
    )
    .unwrap();
    let destination = format!("{}@10.0.1.10", sshd.user);
    for _ in 0..2 {
        let mut cmd = eice_ssh(&aws, home.path(), &[&destination], &["echo $INSTANCE"]);
        cmd.env("EICE_PROXY_CONFIG", &config);
        let (status, stdout, stderr) = run(cmd).await;
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_eq!(stdout.trim(), "web-1");
        assert!(
            temp_entries(home.path()).is_empty(),
            "the temporary key is gone"
        );
    }
    let known_hosts = std::fs::read_to_string(home.path().join("known_hosts")).unwrap();
    let hosts: Vec<&str> = known_hosts
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(hosts, vec![WEB_1], "one entry, under the instance id");
}

#[tokio::test]
async fn ssh_exit_status_remote_commands_and_forwards_pass_through() {
    let (aws, sshd) = account().await;
    let home = tempfile::tempdir().unwrap();
    let key = sshd.key.display().to_string();

    let cmd = eice_ssh(
        &aws,
        home.path(),
        &["-i", &key, "-l", &sshd.user, WEB_1],
        &["exit 7"],
    );
    let (status, _, stderr) = run(cmd).await;
    assert_eq!(
        status.code(),
        Some(7),
        "ssh's exit status is ours: {stderr}"
    );

    // -L to a service beside the "instance", through a Unix socket here.
    let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let service_addr = service.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = service.accept().await.unwrap();
        s.write_all(b"forwarded\n").await.unwrap();
    });
    let socket = home.path().join("forward.sock");
    let forward = format!("{}:{service_addr}", socket.display());
    let mut cmd = eice_ssh(
        &aws,
        home.path(),
        &["-i", &key, "-l", &sshd.user, WEB_1],
        &[
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            &forward,
            "echo ready; exec cat",
        ],
    );
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // With ExitOnForwardFailure, the forward is up before the command runs.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = timeout(PATIENCE, stdout.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ready.as_deref(), Some("ready"));
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let mut answer = [0u8; 10];
    timeout(PATIENCE, stream.read_exact(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&answer, b"forwarded\n");
    // ssh ends once the remote `cat` has and no forwarded channel is open.
    drop(stream);
    drop(child.stdin.take());
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn failed_pushes_say_why_and_exit_non_zero() {
    let (aws, sshd) = account().await;
    let home = tempfile::tempdir().unwrap();
    let key = sshd.key.display().to_string();

    aws.ec2.keys().deny(WEB_1, &sshd.user);
    let cmd = eice_ssh(
        &aws,
        home.path(),
        &["-i", &key, "-l", &sshd.user, "web-1"],
        &["true"],
    );
    let (status, _, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("ec2-instance-connect:SendSSHPublicKey")
            && stderr.contains(&format!(
                "arn:aws:ec2:us-east-1:123456789012:instance/{WEB_1}"
            ))
            && stderr.contains(&format!("ec2:osuser = {}", sshd.user)),
        "{stderr}"
    );

    let cmd = eice_ssh(&aws, home.path(), &["old-1"], &["true"]);
    let (status, _, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("is stopped, not running: start it first"),
        "{stderr}"
    );

    let sk = home.path().join("id_sk.pub");
    std::fs::write(
        &sk,
        "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIGZha2UAAAAEc3NoOg== me\n",
    )
    .unwrap();
    let cmd = eice_ssh(
        &aws,
        home.path(),
        &["-i", sk.to_str().unwrap(), "ec2-user@web-1"],
        &["true"],
    );
    let (status, _, stderr) = run(cmd).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("refuses security-key (sk-ssh-ed25519@openssh.com) keys")
            && stderr.contains("ed25519 or RSA"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_push_key_rule_lets_plain_ssh_through_the_socks_proxy_log_in() {
    let (aws, sshd) = account().await;
    let config = format!(
        "[[push_key]]\nname = \"web-*\"\nos_user = \"{}\"\npublic_key = \"{}.pub\"\n",
        sshd.user,
        sshd.key.display()
    );
    let proxy = Proxy::start_with(aws, &config, &[]).await;
    let home = tempfile::tempdir().unwrap();
    let via = format!("nc -X 5 -x {} %h %p", proxy.addr);
    for _ in 0..2 {
        let mut cmd = Command::new("ssh");
        cmd.args(common::sshd::ssh_options(&home.path().join("known_hosts")))
            .args(["-o", "IdentitiesOnly=yes", "-i"])
            .arg(&sshd.key)
            .arg("-o")
            .arg(format!("ProxyCommand={via}"))
            .arg(format!("{}@web-1", sshd.user))
            .arg("echo $INSTANCE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let (status, stdout, stderr) = run(cmd).await;
        assert_eq!(status.code(), Some(0), "{stderr}");
        assert_eq!(stdout.trim(), "web-1");
    }
    assert_eq!(
        proxy.aws.ec2.keys().calls(),
        1,
        "the second login reuses the push"
    );
}

#[tokio::test]
async fn strict_host_key_checking_yes_holds_for_eice_proxy_ssh_too() {
    let (aws, sshd) = account().await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(&config, "[ssh]\nstrict_host_key_checking = \"yes\"\n").unwrap();
    let login = || {
        let mut cmd = eice_ssh(
            &aws,
            home.path(),
            &[&format!("{}@{WEB_1}", sshd.user)],
            &["echo $INSTANCE"],
        );
        cmd.env("EICE_PROXY_CONFIG", &config);
        run(cmd)
    };
    // The test's own `StrictHostKeyChecking=accept-new` comes after ours and loses.
    let (status, _, stderr) = login().await;
    assert_eq!(status.code(), Some(255), "{stderr}");
    assert!(stderr.contains("Host key verification failed"), "{stderr}");
    let known_hosts = home.path().join("known_hosts");
    assert!(!known_hosts.exists(), "nothing learned");
    // Recorded under the instance id, as a team would distribute it: in.
    let public = std::fs::read_to_string(sshd.dir.path().join("host_key.pub")).unwrap();
    let key: Vec<&str> = public.split_whitespace().take(2).collect();
    std::fs::write(&known_hosts, format!("{WEB_1} {}\n", key.join(" "))).unwrap();
    let (status, stdout, stderr) = login().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "web-1");
}

/// An ed25519 public key line (any 32 bytes make one the service accepts).
fn ed25519_line(seed: u8) -> String {
    use base64::Engine as _;
    let mut blob = Vec::new();
    for part in [&b"ssh-ed25519"[..], &[seed; 32][..]] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(blob);
    format!("ssh-ed25519 {encoded} test@secondary\n")
}

#[tokio::test]
async fn an_instance_reached_by_a_secondary_address_gets_its_key() {
    // db-1 holds 10.0.2.20 and, as a secondary address, 10.0.2.21; both
    // demo VPCs hold 10.0.0.0/16, so a route pins the address to db-1's.
    const DB_1: &str = "i-0a1b2c3d4e5f60002";
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pub");
    std::fs::write(&key, ed25519_line(7)).unwrap();
    let config = format!(
        "[[route]]\ncidr = \"10.0.2.0/24\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n\
         [[push_key]]\ninstance = \"{DB_1}\"\nos_user = \"ec2-user\"\npublic_key = \"{}\"\n",
        key.display()
    );
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let proxy = Proxy::start_with(aws, &config, &[]).await;
    let ip = "10.0.2.21".parse().unwrap();
    let socks = common::clients::socks5(
        proxy.addr,
        common::clients::Dest::Ip(ip),
        22,
        None,
        common::clients::CONNECT,
    );
    let Ok(mut s) = socks.await else {
        panic!("no tunnel: {:?}", proxy.full_log());
    };
    assert!(common::clients::banner(&mut s).await.contains("db-1"));
    // The push found the instance behind the address: the lookup matched
    // every address of its interface, not only the primary one.
    assert_eq!(
        proxy.aws.ec2.keys().valid_keys(DB_1, "ec2-user").len(),
        1,
        "{:?}",
        proxy.full_log()
    );
}
