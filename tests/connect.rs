//! `eice-proxy connect` end to end: the real binary, the simulated EICE
//! service (over TLS where it matters) and TCP listeners standing for instances.

mod common;

use std::process::Stdio;

use common::{PATIENCE, Sim, aws_command, instance_listener, payload, sha256};
use eice_sim::account::SimAws;
use eice_sim::world::World;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn sixty_four_mib_each_way_at_once_arrive_intact_over_tls() {
    let sim = Sim::start(true).await;
    let (listener, addr) = instance_listener().await;
    sim.route("10.0.1.25:22", addr);

    let to_instance = payload(64 * MIB, 1);
    let from_instance = payload(64 * MIB, 2);
    // The instance reads everything while it writes its own 64 MiB, and
    // closes only when both are done: WebSocket has no half-close from the
    // service's side, so EICE ends the whole tunnel when the instance closes.
    let instance = tokio::spawn({
        let from_instance = from_instance.clone();
        async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (mut rd, mut wr) = socket.into_split();
            let writer = tokio::spawn(async move {
                wr.write_all(&from_instance).await.unwrap();
                wr
            });
            let mut hasher = Sha256::new();
            let mut buf = vec![0; 256 * 1024];
            let mut total = 0;
            loop {
                let n = rd.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                hasher.update(&buf[..n]);
            }
            writer.await.unwrap().shutdown().await.unwrap();
            (total, hex::encode(hasher.finalize()))
        }
    });

    let mut child = sim.connect("10.0.1.25", 22, &[]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let sent = to_instance.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&sent).await.unwrap();
        drop(stdin); // EOF: the tunnel's client side is done
    });
    let reader = tokio::spawn(async move {
        let mut got = Vec::with_capacity(64 * MIB);
        stdout.read_to_end(&mut got).await.unwrap();
        got
    });

    let got = timeout(PATIENCE, reader)
        .await
        .expect("stdout ends")
        .unwrap();
    writer.await.unwrap();
    let (total, instance_hash) = timeout(PATIENCE, instance).await.unwrap().unwrap();
    let status = timeout(PATIENCE, child.wait()).await.unwrap().unwrap();

    assert_eq!(total, to_instance.len(), "bytes the instance received");
    assert_eq!(instance_hash, sha256(&to_instance), "client → instance");
    assert_eq!(got.len(), from_instance.len(), "bytes the client received");
    assert_eq!(sha256(&got), sha256(&from_instance), "instance → client");
    assert!(
        status.success(),
        "connect exits 0 when both sides are done: {status}"
    );
}

#[tokio::test]
async fn client_eof_reaches_the_instance_and_its_answer_still_comes_back() {
    let sim = Sim::start(false).await;
    let (listener, addr) = instance_listener().await;
    sim.route("10.0.1.25:22", addr);
    // The instance answers only after it has seen the client's EOF.
    let instance = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        socket.read_to_end(&mut request).await.unwrap();
        let answer = format!("{} bytes, sha256 {}", request.len(), sha256(&request));
        socket.write_all(answer.as_bytes()).await.unwrap();
    });

    let mut child = sim.connect("10.0.1.25", 22, &[]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let request = payload(3 * MIB + 17, 3);
    stdin.write_all(&request).await.unwrap();
    drop(stdin);
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    instance.await.unwrap();

    let expected = format!("{} bytes, sha256 {}", request.len(), sha256(&request));
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn instance_eof_reaches_the_client_and_connect_exits_with_stdin_still_open() {
    let sim = Sim::start(false).await;
    let (listener, addr) = instance_listener().await;
    sim.route("10.0.1.25:22", addr);
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    // The instance waits for the client's greeting, sends its banner and
    // closes its write side, then reports what it read until EOF.
    let instance = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = socket.into_split();
        let mut hello = [0u8; 5];
        rd.read_exact(&mut hello).await.unwrap();
        wr.write_all(b"SSH-2.0-simulated\r\n").await.unwrap();
        wr.shutdown().await.unwrap();
        let mut rest = Vec::new();
        rd.read_to_end(&mut rest).await.unwrap();
        let _ = seen_tx.send((hello, rest));
    });

    let mut child = sim.connect("10.0.1.25", 22, &[]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello").await.unwrap();
    stdin.flush().await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut banner = Vec::new();
    timeout(PATIENCE, stdout.read_to_end(&mut banner))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(banner, b"SSH-2.0-simulated\r\n", "the banner, then EOF");

    // stdin is still open: the service's close alone ends the process.
    let status = timeout(PATIENCE, child.wait())
        .await
        .expect("connect exits")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(stdin);
    instance.await.unwrap();
    let (hello, rest) = seen_rx.await.unwrap();
    assert_eq!(&hello, b"hello");
    assert!(rest.is_empty());
}

/// Runs `connect` expecting failure; returns its stderr.
async fn failing_connect(sim: &Sim, ip: &str, port: u16, extra: &[&str]) -> String {
    let mut cmd = sim.connect(ip, port, extra);
    cmd.stdin(Stdio::null());
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "connect must fail; stderr: {stderr}"
    );
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line for the user: {stderr}"
    );
    stderr
}

#[tokio::test]
async fn a_wrong_secret_is_reported_as_a_signature_mismatch() {
    let sim = Sim::start(true).await;
    let mut cmd = sim.connect("10.0.1.25", 22, &[]);
    cmd.env("AWS_SECRET_ACCESS_KEY", "not-the-right-secret")
        .stdin(Stdio::null());
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("HTTP 403 SignatureDoesNotMatch"),
        "{stderr}"
    );
    assert!(stderr.contains("check the credentials"), "{stderr}");
    assert!(
        !stderr.contains("X-Amz-Signature"),
        "no URL in messages: {stderr}"
    );
}

/// With no EC2 call to learn AWS's time from (`--endpoint-id`), a URL the
/// service refuses for the clock is signed again at the time its refusal's
/// `Date` tells, and the user is told once that the clock is off.
#[tokio::test]
async fn a_url_refused_for_the_clock_is_signed_again_at_the_services_time() {
    for skew in [600, -600] {
        let sim = Sim::start_with(eice_sim::eice::EiceSimConfig {
            clock: eice_sim::clock::SimClock::skewed(skew),
            tls: true,
            ..Default::default()
        })
        .await;
        let (listener, addr) = instance_listener().await;
        sim.route("10.0.1.25:22", addr);
        let instance = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            socket.read_to_end(&mut request).await.unwrap();
            socket.write_all(&request).await.unwrap();
        });
        let mut cmd = sim.connect("10.0.1.25", 22, &[]);
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"hello").await.unwrap();
        drop(stdin);
        let output = timeout(PATIENCE, child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        timeout(PATIENCE, instance).await.unwrap().unwrap();
        assert_eq!(output.stdout, b"hello");
        assert_eq!(sim.eice.stats().rejected, ["InvalidSignatureException"]);
        let warnings: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("clock is"))
            .collect();
        assert_eq!(warnings.len(), 1, "{stderr}");
        let way = if skew > 0 {
            "behind AWS's"
        } else {
            "ahead of AWS's"
        };
        assert!(warnings[0].contains(way), "{stderr}");
    }
}

#[tokio::test]
async fn a_port_other_than_22_or_3389_is_refused_before_any_aws_call() {
    let sim = Sim::start(false).await;
    let stderr = failing_connect(&sim, "10.0.1.25", 8080, &[]).await;
    assert!(
        stderr.contains("port 8080 is not allowed: EICE accepts only ports 22 and 3389"),
        "{stderr}"
    );
    let stats = sim.eice.stats();
    assert_eq!(
        (stats.tunnels_opened, stats.rejected.len()),
        (0, 0),
        "the service was not asked"
    );
}

#[tokio::test]
async fn a_port_the_service_refuses_gets_the_service_words() {
    let sim = Sim::start(false).await;
    // Widen the local policy so the request reaches the service, which refuses it.
    let config = sim.config_file("allowed_ports = [22, 3389, 8080]\n");
    let stderr = failing_connect(&sim, "10.0.1.25", 8080, &["--config", &config]).await;
    assert!(stderr.contains("HTTP 400 InvalidParameter"), "{stderr}");
    assert!(
        stderr.contains("Specify either 22 or 3389 as the RemotePort"),
        "{stderr}"
    );
    assert_eq!(sim.eice.stats().rejected, ["InvalidParameter"]);
}

#[tokio::test]
async fn reaching_the_maximum_tunnel_duration_is_an_error_with_the_reason() {
    let sim = Sim::start(false).await;
    let (listener, addr) = instance_listener().await;
    sim.route("10.0.1.25:22", addr);
    // An instance that accepts and stays silent: only the duration ends the tunnel.
    let _instance = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut socket = socket;
        let mut sink = Vec::new();
        let _ = socket.read_to_end(&mut sink).await;
    });
    let mut cmd = sim.connect("10.0.1.25", 22, &["--max-tunnel-duration", "1"]);
    // Keep stdin open, as ssh does: the service's close must end the process.
    let mut child = cmd.spawn().unwrap();
    let _stdin = child.stdin.take();
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("code 1008"), "{stderr}");
    assert!(
        stderr.contains("maximum tunnel duration of 1 seconds"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_instance_port_is_reported() {
    let sim = Sim::start(false).await;
    // No listener routed for this address: the service cannot connect.
    let stderr = failing_connect(&sim, "10.0.9.9", 22, &[]).await;
    assert!(stderr.contains("code 1011"), "{stderr}");
    assert!(stderr.contains("10.0.9.9:22"), "{stderr}");
}

#[tokio::test]
async fn presign_prints_a_url_the_service_accepts() {
    let sim = Sim::start(false).await;
    let (listener, addr) = instance_listener().await;
    sim.route("10.0.1.25:22", addr);
    let mut cmd = sim.command(&[
        "presign",
        "--endpoint-id",
        common::ENDPOINT_ID,
        "--dns-name",
        common::ENDPOINT_DNS,
        "--private-ip",
        "10.0.1.25",
        "--port",
        "22",
        "--max-tunnel-duration",
        "600",
    ]);
    cmd.stdin(Stdio::null());
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let url = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(
        url.starts_with(&format!(
            "{}/openTunnel?instanceConnectEndpointId=",
            sim.eice.url()
        )),
        "{url}"
    );
    assert!(url.contains("&maxTunnelDuration=600&"), "{url}");
    assert!(url.contains("X-Amz-Expires=60"), "{url}");

    // The printed URL opens a tunnel as it is.
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("the URL is accepted");
    let (mut socket, _) = listener.accept().await.unwrap();
    socket.write_all(b"pong").await.unwrap();
    use futures_util::StreamExt;
    let msg = timeout(PATIENCE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(msg.into_data().as_ref(), b"pong");
}

/// An instance that waits for its client to speak before it answers, as an
/// SSH server waits for the client's banner before its key exchange, is
/// answered at once through the lookup path: what ssh wrote into `connect`
/// goes through the tunnel as soon as it opens, not after the instance's
/// first bytes, which here never come (the wait for them is an hour).
#[tokio::test]
async fn what_the_client_wrote_goes_through_as_soon_as_the_tunnel_opens() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (listener, addr) = instance_listener().await;
    aws.eice.add_target("10.0.1.10:22".parse().unwrap(), addr);
    let instance = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut greeting = [0u8; 6];
        socket.read_exact(&mut greeting).await.unwrap();
        socket.write_all(b"you said ").await.unwrap();
        socket.write_all(&greeting).await.unwrap();
        socket
    });
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(&config, "[timeouts]\nfirst_data = 3600\n").unwrap();
    let config = config.display().to_string();
    let (mut cmd, _dir) = aws_command(&aws, &["connect", "--config", &config, "web-1", "22"]);
    let mut child = cmd.env("XDG_CACHE_HOME", home.path()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut answer = [0u8; 15];
    timeout(PATIENCE, stdout.read_exact(&mut answer))
        .await
        .expect("the instance answered what the client wrote before the tunnel opened")
        .unwrap();
    assert_eq!(&answer, b"you said hello\n");
    // The connection stays usable after the early bytes: stdin goes on.
    let mut socket = instance.await.unwrap();
    stdin.write_all(b"and more").await.unwrap();
    let mut more = [0u8; 8];
    timeout(PATIENCE, socket.read_exact(&mut more))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&more, b"and more");
}
