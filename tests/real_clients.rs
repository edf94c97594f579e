//! Real programs through the proxy: OpenSSH's ssh, scp and port forwarding,
//! rsync, netcat's SOCKS5 and HTTP CONNECT, and curl, against a real sshd
//! standing behind simulated instances.

mod common;

use std::process::Stdio;

use common::sshd::Sshd;
use common::{PATIENCE, Proxy, payload, sha256};
use eice_sim::world::World;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const DB_1: &str = "i-0a1b2c3d4e5f60002";
const WEB_DUP_B: &str = "i-0a1b2c3d4e5f60005";

/// The proxy in front of the demo account, with `instances` (id, private IP)
/// served on port 22 by a real sshd.
async fn setup(instances: &[(&str, &str)]) -> (Proxy, Sshd) {
    let proxy = Proxy::start(World::demo(), "").await;
    let mut sshd = Sshd::new();
    for (id, ip) in instances {
        let local = sshd.listen(id).await;
        proxy
            .aws
            .eice
            .add_target(format!("{ip}:22").parse().unwrap(), local);
    }
    (proxy, sshd)
}

async fn run(mut cmd: tokio::process::Command) -> String {
    let output = timeout(PATIENCE, cmd.output())
        .await
        .expect("the command ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{:?} failed: {stderr}",
        cmd.as_std()
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn ssh_runs_a_command_through_socks5_http_connect_and_connect_mode() {
    let (proxy, sshd) = setup(&[(WEB_1, "10.0.1.10")]).await;
    let socks = format!("nc -X 5 -x {} %h %p", proxy.addr);
    let http = format!("nc -X connect -x {} %h %p", proxy.addr);
    for proxy_command in [&socks, &http] {
        let out = run(sshd.ssh(proxy_command, WEB_1, "echo $INSTANCE ok")).await;
        assert_eq!(out, format!("{WEB_1} ok\n"), "via {proxy_command}");
    }
    // ProxyCommand='eice-proxy connect %h %p', by Name tag, with the same account.
    let connect = format!("{} connect %h %p", env!("CARGO_BIN_EXE_eice-proxy"));
    let mut cmd = sshd.ssh(&connect, "web-1", "echo $INSTANCE ok");
    let empty = sshd.dir.path().join("empty-aws-config");
    std::fs::write(&empty, "").unwrap();
    cmd.envs(proxy.aws.env())
        .env("AWS_CONFIG_FILE", &empty)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("XDG_CACHE_HOME", sshd.dir.path());
    assert_eq!(run(cmd).await, format!("{WEB_1} ok\n"));
}

#[tokio::test]
async fn scp_copies_100_mib_each_way_intact() {
    let (proxy, sshd) = setup(&[(WEB_1, "10.0.1.10")]).await;
    let dir = sshd.dir.path();
    let data = payload(100 * 1024 * 1024, 7);
    let (local, remote, back) = (
        dir.join("up.bin"),
        dir.join("remote.bin"),
        dir.join("down.bin"),
    );
    std::fs::write(&local, &data).unwrap();
    let proxy_command = format!("ProxyCommand=nc -X 5 -x {} %h %p", proxy.addr);
    let scp = |from: String, to: String| {
        let mut cmd = tokio::process::Command::new("scp");
        cmd.args(sshd.client_options())
            .args(["-q", "-o", &proxy_command, &from, &to])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };
    let at = |path: &std::path::Path| format!("{}@{WEB_1}:{}", sshd.user, path.display());
    run(scp(local.display().to_string(), at(&remote))).await;
    assert_eq!(
        sha256(&std::fs::read(&remote).unwrap()),
        sha256(&data),
        "upload"
    );
    run(scp(at(&remote), back.display().to_string())).await;
    assert_eq!(
        sha256(&std::fs::read(&back).unwrap()),
        sha256(&data),
        "download"
    );
}

#[tokio::test]
async fn rsync_and_ssh_port_forwarding_work_over_the_tunnel() {
    let (proxy, sshd) = setup(&[(DB_1, "10.0.2.20")]).await;
    let dir = sshd.dir.path();
    let proxy_command = format!("nc -X 5 -x {} %h %p", proxy.addr);

    // rsync a small tree over ssh.
    let src = dir.join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.bin"), payload(300_000, 9)).unwrap();
    let dst = dir.join("copy");
    let ssh = format!(
        "ssh {} -o 'ProxyCommand={proxy_command}'",
        sshd.client_options().join(" ")
    );
    let mut rsync = tokio::process::Command::new("rsync");
    rsync
        .args(["-a", "-e", &ssh])
        .arg(format!("{}/", src.display()))
        .arg(format!("{}@{DB_1}:{}/", sshd.user, dst.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    run(rsync).await;
    assert_eq!(
        std::fs::read_to_string(dst.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        sha256(&std::fs::read(dst.join("sub/b.bin")).unwrap()),
        sha256(&payload(300_000, 9))
    );

    // ssh -L to a service "inside the VPC" (an echo server on loopback),
    // through a Unix socket so no local port is guessed.
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = echo.accept().await.unwrap();
        let (mut rd, mut wr) = s.split();
        let _ = tokio::io::copy(&mut rd, &mut wr).await;
    });
    let socket = dir.join("forward.sock");
    let forward_spec = format!("{}:{echo_addr}", socket.display());
    let options = ["-L", &forward_spec, "-o", "ExitOnForwardFailure=yes"];
    let mut forward = sshd.ssh_with(&proxy_command, &options, DB_1, "echo ready; exec cat");
    forward.stdin(Stdio::piped());
    let mut child = forward.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = timeout(PATIENCE, stdout.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ready.as_deref(),
        Some("ready"),
        "the forward is set up before the session runs"
    );
    let mut s = tokio::net::UnixStream::connect(&socket).await.unwrap();
    s.write_all(b"through -L").await.unwrap();
    let mut got = [0u8; 10];
    timeout(PATIENCE, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"through -L");
    // ssh ends once the forwarded connection and the session are both done.
    drop(s);
    drop(child.stdin.take());
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn curl_reaches_port_3389_through_socks5_and_http_connect() {
    let proxy = Proxy::start(World::demo(), "").await;
    for args in [
        vec!["--socks5-hostname".to_owned(), proxy.addr.to_string()],
        vec![
            "--proxytunnel".to_owned(),
            "-x".to_owned(),
            format!("http://{}", proxy.addr),
        ],
    ] {
        let mut curl = tokio::process::Command::new("curl");
        curl.args(["-sS", "--max-time", "30"])
            .args(&args)
            .arg("http://web-1:3389/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let page = run(curl).await;
        assert_eq!(
            page,
            format!("hello from {WEB_1} web-1 port 3389\n"),
            "{args:?}"
        );
    }
    // A refused port shows as curl's CONNECT failure with the proxy's status.
    let output = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-p",
            "-x",
            &format!("http://{}", proxy.addr),
            "http://web-1:8080/",
        ])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn twenty_parallel_ssh_sessions_reach_three_instances_behind_two_endpoints() {
    let instances = [
        (WEB_1, "10.0.1.10"),
        (WEB_DUP_B, "10.0.1.50"),
        (DB_1, "10.0.2.20"),
    ];
    let (proxy, sshd) = setup(&instances).await;
    let proxy_command = format!("nc -X 5 -x {} %h %p", proxy.addr);
    let mut sessions = Vec::new();
    for i in 0..20 {
        let id = instances[i % instances.len()].0;
        let cmd = sshd.ssh(&proxy_command, id, "echo $INSTANCE");
        sessions.push((id, tokio::spawn(run(cmd))));
    }
    for (id, session) in sessions {
        assert_eq!(session.await.unwrap(), format!("{id}\n"));
    }
    let stats = proxy.aws.eice.stats();
    assert_eq!(stats.tunnels_opened, 20);
    // web-1 and the second web-dup live in subnet 1 (endpoint …21), db-1 in subnet 2 (…22).
    for (instance, endpoint) in [(WEB_1, "21"), (WEB_DUP_B, "21"), (DB_1, "22")] {
        let line = proxy.log_line(&format!("instance=\"{instance}\"")).await;
        assert!(
            line.contains(&format!("endpoint=eice-0a1b2c3d4e5f600{endpoint}")),
            "{line}"
        );
    }
}

#[tokio::test]
async fn the_generated_ssh_config_block_is_all_ssh_needs() {
    let (proxy, sshd) = setup(&[(WEB_1, "10.0.1.10")]).await;
    let mut generate = tokio::process::Command::new(env!("CARGO_BIN_EXE_eice-proxy"));
    generate.args(["ssh-config", "--via", &proxy.addr.to_string()]);
    let block = run(generate).await;
    assert!(block.contains("Host i-*"), "{block}");
    let config = sshd.dir.path().join("ssh_config");
    std::fs::write(&config, &block).unwrap();
    let mut options = sshd.client_options();
    options[1] = config.display().to_string(); // -F <generated file> instead of /dev/null
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args(options)
        .arg(format!("{}@{WEB_1}", sshd.user))
        .arg("echo $INSTANCE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    assert_eq!(run(ssh).await, format!("{WEB_1}\n"));
    // The host key is remembered under the instance id, not an address.
    let known = std::fs::read_to_string(sshd.dir.path().join("known_hosts")).unwrap();
    assert!(known.starts_with(WEB_1), "{known}");
}
