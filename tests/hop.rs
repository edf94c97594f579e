//! The SSH hop: connections to hosts that only a hop instance can reach,
//! carried as `direct-tcpip` channels of one SSH connection to the hop's sshd.
//!
//! The hop's private network is a [`HopNet`]: real PostgreSQL, HTTP and echo
//! servers in a network namespace whose only way in is the hop's sshd.

mod common;

use std::process::Stdio;

use common::hopnet::{
    DB_HOST, DB_PORT, ECHO_HOST, ECHO_PORT, HopNet, WEB_BODY, WEB_HOST, WEB_PORT,
};
use common::sshd::Sshd;
use common::{PATIENCE, payload};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

/// OpenSSH's `ssh OPTIONS… user@127.0.0.1 REMOTE…` to the hop listening on
/// `port`, with piped stdio.
fn ssh(sshd: &Sshd, port: u16, options: &[&str], remote: &[&str]) -> Command {
    let mut cmd = Command::new("ssh");
    cmd.args(sshd.client_options())
        .args(["-p", &port.to_string()])
        .args(options)
        .arg(format!("{}@127.0.0.1", sshd.user))
        .args(remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Sends `input` through `ssh -W host:port`, half-closes, and returns all
/// that came back.
async fn through_stdio_forward(sshd: &Sshd, port: u16, target: &str, input: &[u8]) -> Vec<u8> {
    let mut child = ssh(sshd, port, &["-W", target], &[]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (mut back, input) = (Vec::new(), input.to_vec());
    let (written, read) = timeout(PATIENCE, async {
        tokio::join!(
            async move {
                stdin.write_all(&input).await?;
                stdin.shutdown().await
            },
            stdout.read_to_end(&mut back)
        )
    })
    .await
    .expect("the forward ends");
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("ssh exits")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    written.unwrap_or_else(|e| panic!("write to ssh -W {target}: {e}; {stderr}"));
    read.unwrap();
    assert!(output.status.success(), "ssh -W {target}: {stderr}");
    back
}

#[tokio::test]
async fn hop_network_services_answer_through_the_hop_sshd_and_are_gone_after_drop() {
    let Some(net) = HopNet::start().await else {
        return;
    };
    let mut sshd = net.sshd();
    let port = sshd.listen("hop").await.port();

    // HTTP and echo through `ssh -W`: sshd resolves the names in the namespace.
    let request = format!("GET / HTTP/1.1\r\nHost: {WEB_HOST}\r\nConnection: close\r\n\r\n");
    let web = format!("{WEB_HOST}:{WEB_PORT}");
    let response = through_stdio_forward(&sshd, port, &web, request.as_bytes()).await;
    let response = String::from_utf8(response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(&format!("\r\n\r\n{WEB_BODY}")),
        "{response}"
    );
    let data = payload(256 * 1024, 1);
    let echo = format!("{ECHO_HOST}:{ECHO_PORT}");
    assert!(through_stdio_forward(&sshd, port, &echo, &data).await == data);

    // psql through a unix socket forwarded with `ssh -L` reaches our cluster.
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join(format!(".s.PGSQL.{DB_PORT}"));
    let forward = format!("{}:{DB_HOST}:{DB_PORT}", socket.display());
    let mut tunnel = ssh(
        &sshd,
        port,
        &["-o", "ExitOnForwardFailure=yes", "-L", &forward],
        &["echo forwarding; exec cat"],
    )
    .spawn()
    .unwrap();
    // ssh sets up its forwards before it opens the session, so the first
    // line from the remote command means the socket listens.
    let mut lines = BufReader::new(tunnel.stdout.take().unwrap()).lines();
    let first = timeout(PATIENCE, lines.next_line()).await.unwrap().unwrap();
    assert_eq!(first.as_deref(), Some("forwarding"));
    let mut psql = Command::new("psql");
    psql.arg("-h")
        .arg(socket_dir.path())
        .args([
            "-p",
            &DB_PORT.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "select 40 + 2",
            "-c",
            "show data_directory",
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .kill_on_drop(true);
    let (status, out, err) = common::run(psql).await;
    assert!(status.success(), "psql: {err}");
    assert_eq!(out, format!("42\n{}\n", net.pg_data().display()));
    drop(tunnel.stdin.take());
    let ended = timeout(PATIENCE, tunnel.wait()).await.expect("ssh -L ends");
    assert!(ended.unwrap().success());

    // The names resolve inside the namespace, whose only link is loopback,
    // and not outside it.
    let (status, out, _) = net.run("getent", &["hosts", WEB_HOST]).await;
    assert!(status.success());
    assert!(out.starts_with("127.0.0.1"), "{out}");
    let (status, out, _) = net.run("ip", &["-o", "link"]).await;
    assert!(status.success());
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(": lo:"), "{out}");
    for host in [DB_HOST, WEB_HOST, ECHO_HOST] {
        let mut getent = Command::new("getent");
        getent.args(["hosts", host]);
        let (status, out, _) = common::run(getent).await;
        assert!(!status.success(), "{host} resolves outside the hop: {out}");
    }

    // Dropping it removes the namespace, its files and its processes.
    let (name, dir, pids) = (net.netns().to_owned(), net.dir().to_owned(), net.pids());
    assert_eq!(pids.len(), 2);
    drop(sshd);
    drop(net);
    let (_, list, _) = common::run({
        let mut ip = Command::new("ip");
        ip.args(["netns", "list"]);
        ip
    })
    .await;
    assert!(
        !list.split_whitespace().any(|n| n == name),
        "{name} is left: {list}"
    );
    assert!(!std::path::Path::new("/etc/netns").join(&name).exists());
    assert!(!dir.exists(), "{} is left", dir.display());
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is left"
        );
    }
}
