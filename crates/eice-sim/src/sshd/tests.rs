//! The real sshd in its demo shape: a server for one throwaway user refuses root
//! even with a valid pushed key, and logs that user in. Needs root and OpenSSH's
//! server (the project's test script installs it); skipped, saying so, elsewhere,
//! and a failure under `CI=true`, where everything is installed.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use tokio::time::timeout;

use super::*;
use crate::account::SimAws;
use crate::world::World;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";

/// A bound on every wait here; each is on a process ending.
const GUARD: Duration = Duration::from_secs(30);

/// Whether this machine can run sshd for these tests.
fn runnable(test: &str) -> bool {
    if SimSshd::available() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{test} needs root and {SSHD}");
    eprintln!("skipping {test}: it needs root and {SSHD}");
    false
}

/// `ssh -p PORT user@127.0.0.1 REMOTE` with `key` alone and no prompts.
async fn ssh(port: u16, key: &Path, user: &str, remote: &str) -> Output {
    let run = tokio::process::Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-p", &port.to_string(), "-i"])
        .arg(key)
        .arg(format!("{user}@127.0.0.1"))
        .arg(remote)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    timeout(GUARD, run).await.expect("ssh ends").unwrap()
}

/// Whether the system's user database knows `name`.
fn user_exists(name: &str) -> bool {
    std::process::Command::new("getent")
        .args(["passwd", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn a_server_for_one_user_refuses_root_with_a_valid_key_and_lets_that_user_in() {
    if !runnable("a_server_for_one_user_refuses_root…") {
        return;
    }
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = pushed_keys_dir("eice-sim-test-sshd-").unwrap();
    let user = ThrowawayUser::create("eice-test-").unwrap();
    let mut sshd = SimSshd::with_pushed_keys(dir.path(), &aws.ec2.url(), WEB_1).unwrap();
    sshd.only_user(user.name()).unwrap();
    let port = sshd.listen("web-1").await.unwrap().port();

    let client = tempfile::tempdir().unwrap();
    let key = client.path().join("key");
    keygen(&key).unwrap();
    let line = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    // The key is in for root as well as for the user: only sshd stands in the way.
    for who in ["root", user.name()] {
        aws.ec2.keys().push(WEB_1, who, line.trim().to_owned());
        assert_eq!(aws.ec2.keys().valid_keys(WEB_1, who).len(), 1);
    }

    let root = ssh(port, &key, "root", "id -u").await;
    assert!(
        !root.status.success(),
        "root logged in: {}",
        String::from_utf8_lossy(&root.stdout)
    );
    assert!(root.stdout.is_empty());
    let theirs = ssh(port, &key, user.name(), "echo $INSTANCE; id -u").await;
    let stdout = String::from_utf8_lossy(&theirs.stdout);
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("web-1"));
    assert_ne!(lines.next(), Some("0"), "the throwaway user is root");
}

#[test]
fn a_throwaway_user_exists_until_dropped_and_never_as_root() {
    if !runnable("a_throwaway_user_exists_until_dropped…") {
        return;
    }
    let user = ThrowawayUser::create("eice-test-").unwrap();
    let name = user.name().to_owned();
    assert!(user_exists(&name), "{name}");
    let uid = std::process::Command::new("id")
        .args(["-u", &name])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&uid.stdout).trim(), "0");
    let other = ThrowawayUser::create("eice-test-").unwrap();
    assert_ne!(other.name(), name, "two users share a name");
    drop(user);
    assert!(!user_exists(&name), "{name} is left behind");
}

#[test]
fn only_user_refuses_root_and_names_that_would_rewrite_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("authorized_keys");
    let mut sshd =
        SimSshd::with_authorized_keys(dir.path(), &keys).expect("ssh-keygen (openssh-client)");
    for bad in ["root", "", "a b", "a\nPermitRootLogin yes", "*"] {
        assert!(sshd.only_user(bad).is_err(), "{bad:?}");
    }
    sshd.only_user("eice-demo-0a1b2c3d").unwrap();
    let config = std::fs::read_to_string(dir.path().join("sshd_config")).unwrap();
    assert!(
        config.contains("PermitRootLogin no\nAllowUsers eice-demo-0a1b2c3d\n"),
        "{config}"
    );
    assert!(!config.contains("prohibit-password"), "{config}");
}
