//! The SSH hop: connections to hosts that only a hop instance can reach,
//! carried as `direct-tcpip` channels of one SSH connection to the hop's
//! sshd, a real OpenSSH server standing for web-1's port 22 behind the
//! simulated EICE.
//!
//! Two kinds of private network are behind it: listeners on 127.0.0.1 that
//! only the hop is told to reach (`cidrs = ["127.0.0.0/8"]`, on ports EICE
//! refuses), and a [`HopNet`]: real PostgreSQL, HTTP and echo servers in a
//! network namespace whose only way in is the hop's sshd, under names only
//! the namespace resolves.

// Its private networks are Linux network namespaces.
#![cfg(target_os = "linux")]

mod common;

use std::io;
use std::process::Stdio;

use common::clients::{Dest, SocksFailure, socks5};
use common::hop::{
    WEB_1, account_with_hop, echoes, home, hop_config, hop_proxy, hop_sshd, service, svc_stream,
};
use common::hopnet::{
    DB_HOST, DB_PORT, ECHO_HOST, ECHO_PORT, HopNet, WEB_BODY, WEB_HOST, WEB_PORT,
};
use common::metrics::{METRICS, metrics_addr, sample, scrape_until};
use common::sshd::Sshd;
use common::{PATIENCE, Proxy, payload};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

/// Writes all of `data`, half-closes, and reads to the end: what came back,
/// or the error of either side. The writer is dropped once done, since a
/// pipe's shutdown alone does not close it.
async fn exchange<R, W>(mut r: R, mut w: W, data: &[u8]) -> (io::Result<()>, io::Result<Vec<u8>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut back = Vec::new();
    let (written, read) = timeout(PATIENCE, async {
        tokio::join!(
            async move {
                w.write_all(data).await?;
                w.shutdown().await
            },
            r.read_to_end(&mut back)
        )
    })
    .await
    .expect("the exchange ends");
    (written, read.map(|_| back))
}

#[tokio::test]
async fn many_streams_share_one_tunnel_and_survive_a_cut() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    let proxy = hop_proxy(&mut sshd, &known_hosts).await;
    let port = service("svc").await;

    // 50 streams at once, each with its own echo.
    let streams = (0..50).map(|i| {
        let addr = proxy.addr;
        tokio::spawn(async move {
            let mut s = svc_stream(addr, port).await;
            echoes(&mut s, &format!("stream {i}\n")).await;
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
    // The metrics count one EICE tunnel too, and the 50 streams on it.
    let metrics = metrics_addr(&proxy).await;
    scrape_until(metrics, "one tunnel, 50 hop streams", |page| {
        sample(page, "eice_proxy_open_tunnels") == 1
            && sample(page, "eice_proxy_hop_streams_open") == 50
    })
    .await;
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
    scrape_until(metrics, "no tunnel and no stream after the cut", |page| {
        sample(page, "eice_proxy_open_tunnels") == 0
            && sample(page, "eice_proxy_hop_streams_open") == 0
    })
    .await;
    // The next stream makes a new connection.
    svc_stream(proxy.addr, port).await;
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 2);
}

#[tokio::test]
async fn near_its_max_duration_a_connection_gives_new_streams_to_a_fresh_one() {
    let Some(mut sshd) = hop_sshd() else {
        return;
    };
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    let aws = account_with_hop(&mut sshd).await;
    // EICE would close the first tunnel at 6 s. What matters here happens
    // before that, so the simulator keeps tunnels open past the limit rather
    // than race it.
    aws.eice.keep_tunnels_past_max_duration();
    let config = format!(
        "max_tunnel_duration = 6\n{}{METRICS}",
        hop_config(&sshd, &known_hosts, "cidrs = [\"127.0.0.0/8\"]")
    );
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd))]).await;
    let metrics = metrics_addr(&proxy).await;
    let port = service("svc").await;
    // The first connection is made after this instant.
    let started = std::time::Instant::now();
    let mut old = svc_stream(proxy.addr, port).await;
    // New streams go to the first connection until it is five sixths of the
    // duration old (5 s), then to a second one.
    while proxy.aws.eice.stats().tunnels_opened < 2 {
        drop(svc_stream(proxy.addr, port).await);
        assert!(
            started.elapsed() < PATIENCE,
            "no fresh connection after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(5),
        "not before it is old"
    );
    proxy
        .log_line("replacing the hop's SSH connection before EICE's maxTunnelDuration ends it")
        .await;
    // The stream on the old connection goes on.
    echoes(&mut old, "still here\n").await;
    scrape_until(metrics, "both connections' tunnels", |page| {
        sample(page, "eice_proxy_open_tunnels") == 2
    })
    .await;
    // Its last stream gone, the old connection closes and frees its tunnel.
    drop(old);
    scrape_until(metrics, "the old tunnel released", |page| {
        sample(page, "eice_proxy_open_tunnels") == 1
    })
    .await;
    timeout(PATIENCE, proxy.aws.eice.wait_for(|s| s.tunnels_active == 1))
        .await
        .expect("the simulator sees the old tunnel closed");
    // And the fresh one carries what comes next.
    drop(svc_stream(proxy.addr, port).await);
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 2);
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
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (written, read) = exchange(stdout, stdin, input).await;
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("ssh exits")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    written.unwrap_or_else(|e| panic!("write to ssh -W {target}: {e}; {stderr}"));
    let back = read.unwrap();
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

/// The hop network, its sshd as web-1's port 22, and the known_hosts file the
/// proxy keeps; `None` where the machine cannot make the network.
async fn hop_network() -> Option<(HopNet, Sshd, SimAws, std::path::PathBuf)> {
    let net = HopNet::start().await?;
    let mut sshd = net.sshd();
    let aws = account_with_hop(&mut sshd).await;
    let known_hosts = sshd.dir.path().join("hop_known_hosts");
    Some((net, sshd, aws, known_hosts))
}

/// `eice-proxy forward` of a local port to the hop network's database, with
/// `extra` in the config. The database's name is one only the hop resolves;
/// a domain rule sends it there unresolved.
async fn db_forward(aws: SimAws, sshd: &Sshd, known_hosts: &std::path::Path, extra: &str) -> Proxy {
    let config = hop_config(sshd, known_hosts, "domains = [\"*.vpc.internal\"]") + extra;
    let target = format!("{DB_HOST}:{DB_PORT}");
    Proxy::forward_with(
        aws,
        &config,
        &[("HOME", &home(sshd))],
        "127.0.0.1:0",
        &target,
    )
    .await
}

#[tokio::test]
async fn psql_through_a_forward_port_queries_postgres_behind_the_hop() {
    let Some((net, sshd, aws, known_hosts)) = hop_network().await else {
        return;
    };
    let forward = db_forward(aws, &sshd, &known_hosts, "").await;
    let port = forward.addr.port().to_string();
    let psql = |query: &'static str| {
        let mut psql = Command::new("psql");
        psql.args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
            .args(["-d", "postgres", "-X", "-A", "-t", "-c", query])
            .env("PGCONNECT_TIMEOUT", "10")
            .env("PGSSLMODE", "disable")
            .kill_on_drop(true);
        psql
    };
    let (status, out, err) = common::run(psql("select 40 + 2")).await;
    assert!(status.success(), "psql: {err}");
    assert_eq!(out, "42\n");
    // The server it reached is the one in the hop's network.
    let (status, out, err) = common::run(psql("show data_directory")).await;
    assert!(status.success(), "psql: {err}");
    assert_eq!(out.trim_end(), net.pg_data().display().to_string());
    let line = forward.log_line("stream open through the hop").await;
    assert!(line.contains(DB_HOST), "{line}");
    assert_eq!(
        forward.aws.eice.stats().tunnels_opened,
        1,
        "both sessions on the one hop connection"
    );
    assert_eq!(
        forward.aws.ec2.calls(Action::DescribeInstances),
        1,
        "one instance lookup, of the hop; the name itself goes to the hop"
    );
}

#[tokio::test]
async fn curl_reaches_a_vpc_only_name_through_the_default_hop() {
    let Some((_net, sshd, aws, known_hosts)) = hop_network().await else {
        return;
    };
    // No domain rule: a dotted name that is no instance's Name tag goes to
    // the default hop.
    let config = hop_config(&sshd, &known_hosts, "default = true");
    let proxy = Proxy::start_with(aws, &config, &[("HOME", &home(&sshd))]).await;
    let url = format!("http://{WEB_HOST}:{WEB_PORT}/");
    let proxy_addr = proxy.addr.to_string();
    for via in [
        vec!["--socks5-hostname", proxy_addr.as_str()],
        vec!["--proxytunnel", "--proxy", proxy_addr.as_str()],
    ] {
        let mut curl = Command::new("curl");
        curl.args(["--silent", "--show-error", "--fail", "--max-time", "30"])
            .args(&via)
            .arg(&url)
            .kill_on_drop(true);
        let (status, out, err) = common::run(curl).await;
        assert!(status.success(), "curl {via:?}: {err}");
        assert_eq!(out, WEB_BODY, "curl {via:?}");
    }
    // The echo server, a quarter MiB each way, over SOCKS5 with the name.
    let mut s = socks5(proxy.addr, Dest::Domain(ECHO_HOST), ECHO_PORT, None, 0x01)
        .await
        .expect("a stream to the echo server");
    let data = payload(256 * 1024, 7);
    let (r, w) = s.split();
    let (written, read) = exchange(r, w, &data).await;
    written.unwrap();
    assert!(read.unwrap() == data, "the echo came back whole");
    let line = proxy.log_line("stream open through the hop").await;
    assert!(line.contains(WEB_HOST), "{line}");
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 1);
}

/// An interactive psql session through `forward` and the hop, left idle past
/// the simulated EICE's idle limit: the proxy's pings keep its tunnel open,
/// so the next query on the same connection is answered. psql and the
/// server send nothing while idle (no TCP keepalive in a test this short),
/// so nothing but the pings crosses the tunnel.
#[tokio::test]
async fn an_idle_psql_session_through_the_hop_outlives_the_eice_idle_limit() {
    let Some((_net, sshd, aws, known_hosts)) = hop_network().await else {
        return;
    };
    let idle = std::time::Duration::from_millis(1500);
    // Before the tunnel opens: the limit applies to tunnels opened later.
    aws.eice.set_idle_timeout(Some(idle));
    let pinging = "[keepalive]\ninterval = 0.25\ntimeout = 30\n";
    let forward = db_forward(aws, &sshd, &known_hosts, pinging).await;
    let port = forward.addr.port().to_string();
    let mut psql = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
        .args(["-d", "postgres", "-X", "-A", "-t", "-q"])
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("psql starts");
    let mut input = psql.stdin.take().unwrap();
    let mut output = BufReader::new(psql.stdout.take().unwrap()).lines();
    let mut ask = async |query: &str| {
        input.write_all(query.as_bytes()).await.unwrap();
        timeout(PATIENCE, output.next_line())
            .await
            .expect("psql answers or ends")
            .unwrap()
    };
    assert_eq!(ask("select 40 + 2;\n").await.as_deref(), Some("42"));

    // Ten more pings, 250 ms apart: 2.25 s or more of silence from psql.
    let before = forward.aws.eice.stats().pings_received;
    let stats = timeout(
        PATIENCE,
        forward
            .aws
            .eice
            .wait_for(|s| s.pings_received >= before + 10),
    )
    .await
    .expect("the proxy pings the idle tunnel");
    assert_eq!(stats.idle_closes, 0, "{stats:?}");
    assert_eq!(
        ask("select 'still ' || 'here';\n").await.as_deref(),
        Some("still here"),
        "the idle session's next query is answered"
    );
    assert_eq!(
        forward.aws.eice.stats().tunnels_opened,
        1,
        "on the same tunnel"
    );
}
