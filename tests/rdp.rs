//! `eice-proxy rdp` against the simulated account: `--print` fetches and
//! decrypts win-1's password and opens a port to its 3389; each way the
//! password cannot be had ends with its own words and a failure status; and
//! the password is in no log line, even at `RUST_LOG=trace`. The real FreeRDP
//! logging in to a real xrdp is `rdp_xrdp.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{PATIENCE, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::{Action, Fault};
use eice_sim::world::World;
use eice_sim::world::windows::{ADMINISTRATOR_PASSWORD, LAUNCH_KEY_PEM, WIN_1};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// The launch key's `.pem`, written where the command can read it.
fn launch_key(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("eice-sim-windows.pem");
    std::fs::write(&path, LAUNCH_KEY_PEM).unwrap();
    path
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

/// `rdp ARGS --print` run to its end (it fails before it would print):
/// its status and stderr.
async fn refused(aws: &SimAws, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut all = vec!["rdp", "--print"];
    all.extend_from_slice(args);
    let (cmd, _dir) = aws_command(aws, &all);
    let (status, _, stderr) = run(cmd).await;
    (status, stderr)
}

#[tokio::test]
async fn print_fetches_the_password_and_opens_a_port_to_3389_logging_no_password() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = launch_key(&dir).display().to_string();
    let (mut cmd, _env) = aws_command(&aws, &["rdp", "win-1", "--key", &key, "--print"]);
    cmd.env("RUST_LOG", "trace").stdin(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.starts_with("password")) {
        let line = timeout(PATIENCE, stdout.next_line())
            .await
            .unwrap()
            .unwrap();
        printed.push(line.expect("rdp --print prints the password"));
    }
    let field = |name: &str| {
        let line = printed.iter().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..].trim().to_owned()
    };
    assert_eq!(field("user"), "Administrator", "{printed:?}");
    assert_eq!(field("password"), ADMINISTRATOR_PASSWORD, "{printed:?}");
    // The port leads to win-1's 3389 (the simulated instance answers HTTP there).
    let mut socket = TcpStream::connect(field("address")).await.unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    timeout(PATIENCE, socket.read_to_string(&mut page))
        .await
        .unwrap()
        .unwrap();
    assert!(page.contains(&format!("{WIN_1} win-1 port 3389")), "{page}");
    assert_eq!(aws.ec2.calls(Action::GetPasswordData), 1);
    common::signal_pid(child.id().unwrap(), "TERM");
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("DEBUG"), "verbose logging is on: {stderr}");
    assert!(
        !stderr.contains(ADMINISTRATOR_PASSWORD),
        "the password is in the log"
    );
}

#[tokio::test]
async fn an_rdp_rule_names_the_key_and_other_key_forms_decrypt_alike() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = launch_key(&dir);
    // A rule for another VPC comes first and must not match.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[rdp]]\nvpc = \"vpc-0a1b2c3d4e5f60002\"\nkey = \"{}\"\n\n\
             [[rdp]]\nname = \"WIN-*\"\nkey = \"{}\"\n",
            data("rdp-other-key.pem"),
            key.display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    for args in [
        vec!["win-1", "--config", &config],
        // By its id, with the key as PKCS#8.
        vec![WIN_1, "--key", &data("rdp-launch-key-pkcs8.pem")],
    ] {
        let mut all = vec!["rdp", "--print"];
        all.extend_from_slice(&args);
        let (mut cmd, _env) = aws_command(&aws, &all);
        cmd.stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let password = loop {
            let line = timeout(PATIENCE, stdout.next_line())
                .await
                .unwrap()
                .unwrap();
            let Some(line) = line else {
                let mut stderr = String::new();
                let mut pipe = child.stderr.take().unwrap();
                pipe.read_to_string(&mut stderr).await.unwrap();
                panic!("{args:?}: no password printed: {stderr}");
            };
            if let Some(rest) = line.strip_prefix("password") {
                break rest.trim().to_owned();
            }
        };
        assert_eq!(password, ADMINISTRATOR_PASSWORD, "{args:?}");
        common::signal_pid(child.id().unwrap(), "TERM");
        timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_wrong_key_names_the_launch_key_pair() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (status, stderr) = refused(&aws, &["win-1", "--key", &data("rdp-other-key.pem")]).await;
    assert!(!status.success());
    assert!(
        stderr.contains("not the key pair this instance was launched with: eice-sim-windows"),
        "{stderr}"
    );
}

#[tokio::test]
async fn no_password_yet_says_windows_is_still_generating_it() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = launch_key(&dir).display().to_string();
    let (status, stderr) = refused(&aws, &["win-new", "--key", &key]).await;
    assert!(!status.success());
    assert!(
        stderr.contains("Windows is still generating it; try again in a few minutes after launch"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_denied_get_password_data_names_the_permission() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    aws.ec2
        .fail_always(Action::GetPasswordData, Fault::AccessDenied);
    let dir = tempfile::tempdir().unwrap();
    let key = launch_key(&dir).display().to_string();
    let (status, stderr) = refused(&aws, &["win-1", "--key", &key]).await;
    assert!(!status.success());
    assert!(
        stderr.contains("the caller needs the IAM permission ec2:GetPasswordData"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_linux_instance_has_no_password_to_fetch() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = launch_key(&dir).display().to_string();
    let (status, stderr) = refused(&aws, &["web-1", "--key", &key]).await;
    assert!(!status.success());
    assert!(stderr.contains("is not a Windows instance"), "{stderr}");
    assert_eq!(aws.ec2.calls(Action::GetPasswordData), 0);
}

#[tokio::test]
async fn a_refused_tunnel_ends_with_the_doctor_command_that_explains_it() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    // locked-1's security group does not admit the endpoint: its tunnel is
    // refused. curl stands for a client (it gets the address last) and
    // fails when the port closes on it.
    let (cmd, _env) = aws_command(
        &aws,
        &[
            "rdp", "locked-1", "--user", "someone", "--client", "curl", "--", "-sS",
        ],
    );
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("`eice-proxy doctor locked-1:3389` checks the path to it"),
        "{stderr}"
    );
    assert_eq!(aws.ec2.calls(Action::GetPasswordData), 0);
}
