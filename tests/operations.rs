//! What the person running `serve` sees: the metrics and status page, the
//! `status` command, and JSON logs, all against a simulated account.

mod common;

use std::time::Duration;

use common::clients::{CONNECT, Dest, SocksFailure, banner, http_connect, socks5};
use common::metrics::{METRICS, metrics_addr, sample, scrape_until, status};
use common::{PATIENCE, Proxy, aws_command, payload};
use eice_sim::account::SimAws;
use eice_sim::ec2_api::Action;
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const OLD_1: &str = "i-0a1b2c3d4e5f60003";
/// web-1's endpoint, in its subnet.
const WEB_1_ENDPOINT: &str = "eice-0a1b2c3d4e5f60021";

#[tokio::test]
async fn tunnel_byte_counters_equal_what_the_client_sent_and_received() {
    let proxy = Proxy::start(World::demo(), METRICS).await;
    let metrics = metrics_addr(&proxy).await;
    let mut received = 0;

    // A first tunnel: the banner only.
    let mut s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("tunnelled");
    received += banner(&mut s).await.len();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.unwrap();
    received += rest.len();

    // A second, to the same instance by name: 300 kB echoed back.
    let s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("tunnelled");
    let sent = payload(300_000, 7);
    let (mut reader, mut writer) = s.into_split();
    let upload = sent.clone();
    let writing = tokio::spawn(async move {
        writer.write_all(&upload).await.unwrap();
        writer.shutdown().await.unwrap();
    });
    let mut back = Vec::new();
    timeout(PATIENCE, reader.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    writing.await.unwrap();
    let greeting = back.split_inclusive(|b| *b == b'\n').next().unwrap().len();
    assert_eq!(&back[greeting..], &sent[..], "the instance echoes");
    received += back.len();

    let page = scrape_until(metrics, "closed both tunnels", |p| {
        sample(p, "eice_proxy_open_tunnels") == 0 && sample(p, "eice_proxy_open_connections") == 0
    })
    .await;
    assert_eq!(
        sample(&page, "eice_proxy_tunnel_bytes_total{direction=\"up\"}"),
        sent.len() as u64
    );
    assert_eq!(
        sample(&page, "eice_proxy_tunnel_bytes_total{direction=\"down\"}"),
        received as u64
    );
    assert_eq!(
        sample(
            &page,
            "eice_proxy_connections_total{protocol=\"socks5\",outcome=\"tunnelled\"}"
        ),
        2
    );
    assert_eq!(sample(&page, "eice_proxy_tunnel_setup_seconds_count"), 2);
    assert_eq!(
        sample(&page, "eice_proxy_tunnel_setup_seconds_bucket{le=\"+Inf\"}"),
        2
    );
    // The second tunnel's route came from the caches the first one filled.
    for (kind, result) in [
        ("instance", "miss"),
        ("instance", "hit"),
        ("endpoints", "miss"),
        ("endpoints", "hit"),
    ] {
        let series =
            format!("eice_proxy_cache_lookups_total{{kind=\"{kind}\",result=\"{result}\"}}");
        assert_eq!(sample(&page, &series), 1, "{series}:\n{page}");
    }
    // Every EC2 call the simulated API answered is counted, by action.
    for (action, name) in [
        (Action::DescribeInstances, "DescribeInstances"),
        (
            Action::DescribeInstanceConnectEndpoints,
            "DescribeInstanceConnectEndpoints",
        ),
    ] {
        let series = format!("eice_proxy_aws_api_calls_total{{action=\"{name}\",result=\"ok\"}}");
        assert_eq!(sample(&page, &series), 1, "{series}:\n{page}");
        assert_eq!(proxy.aws.ec2.calls(action), 1);
    }
    assert!(page.contains("# TYPE eice_proxy_tunnel_setup_seconds histogram"));
}

#[tokio::test]
async fn status_lists_an_open_tunnel_live_and_the_status_command_prints_it() {
    let proxy = Proxy::start(World::demo(), METRICS).await;
    let metrics = metrics_addr(&proxy).await;
    let mut s = socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT)
        .await
        .expect("tunnelled");
    let client = s.local_addr().unwrap();
    let greeting = banner(&mut s).await.len() as u64;
    s.write_all(b"hello").await.unwrap();
    let mut echo = [0u8; 5];
    s.read_exact(&mut echo).await.unwrap();

    // The counters move while the tunnel is open, not only at its end.
    let deadline = Instant::now() + PATIENCE;
    let tunnel = loop {
        let now = status(metrics).await;
        if let [t] = now.tunnels.as_slice()
            && (t.bytes_up, t.bytes_down) == (5, greeting + 5)
        {
            break t.clone();
        }
        assert!(Instant::now() < deadline, "never live: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(tunnel.client, client);
    assert_eq!(tunnel.target, "web-1:22");
    assert_eq!(tunnel.endpoint, WEB_1_ENDPOINT);
    assert_eq!(tunnel.instance.as_deref(), Some(WEB_1));
    assert_eq!(tunnel.protocol, "socks5");

    let addr = metrics.to_string();
    let (mut cmd, _dir) = aws_command(&proxy.aws, &["status", "--metrics", &addr]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains(", 1 open tunnel\n"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("web-1:22"))
        .unwrap_or_else(|| panic!("no row for the tunnel:\n{text}"));
    for cell in [
        &tunnel.id.to_string(),
        &client.to_string(),
        WEB_1_ENDPOINT,
        "5 B",
        &format!("{} B", greeting + 5),
    ] {
        assert!(row.contains(cell), "{cell:?} missing in {row:?}");
    }

    drop(s);
    let deadline = Instant::now() + PATIENCE;
    while !status(metrics).await.tunnels.is_empty() {
        assert!(Instant::now() < deadline, "the tunnel never left the page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (mut cmd, _dir) = aws_command(&proxy.aws, &["status", "--metrics", &addr]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(", 0 open tunnels"),
        "{output:?}"
    );
}

#[tokio::test]
async fn refusals_are_counted_by_reason_and_protocol() {
    let proxy = Proxy::start(World::demo(), METRICS).await;
    let metrics = metrics_addr(&proxy).await;
    // A stopped instance: host unreachable (0x04).
    let stopped = socks5(proxy.addr, Dest::Domain(OLD_1), 22, None, CONNECT).await;
    assert_eq!(stopped.err(), Some(SocksFailure::Reply(0x04)));
    // A port EICE refuses, over HTTP: 403.
    assert_eq!(
        http_connect(proxy.addr, &format!("{WEB_1}:5432"), None)
            .await
            .status,
        403
    );
    // BIND: a request the proxy does not serve.
    let bind = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, 0x02).await;
    assert_eq!(bind.err(), Some(SocksFailure::Reply(0x07)));
    // A SOCKS4 client: neither protocol.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0x04, 0x01, 0x00, 0x16]).await.unwrap();
    let _ = timeout(PATIENCE, s.read_to_end(&mut Vec::new()))
        .await
        .unwrap();

    let expected = [
        ("socks5", "refused_host_unreachable"),
        ("http", "refused_not_allowed"),
        ("socks5", "bad_request"),
        ("unknown", "bad_request"),
    ];
    let series = |(protocol, outcome): (&str, &str)| {
        format!("eice_proxy_connections_total{{protocol=\"{protocol}\",outcome=\"{outcome}\"}}")
    };
    let page = scrape_until(metrics, "counted four connections", |p| {
        expected.iter().all(|e| sample(p, &series(*e)) == 1)
    })
    .await;
    assert_eq!(
        sample(
            &page,
            "eice_proxy_connections_total{protocol=\"socks5\",outcome=\"tunnelled\"}"
        ),
        0
    );
    assert_eq!(sample(&page, "eice_proxy_tunnel_setup_seconds_count"), 0);
}

#[tokio::test]
async fn wrong_credentials_are_counted_as_auth_failures() {
    let config = format!("{METRICS}[auth]\nusername = \"alice\"\npassword = \"wonderland\"\n");
    let proxy = Proxy::start(World::demo(), &config).await;
    let metrics = metrics_addr(&proxy).await;
    let wrong = Some(("alice", "rabbit"));
    let socks = socks5(proxy.addr, Dest::Domain(WEB_1), 22, wrong, CONNECT).await;
    assert_eq!(socks.err(), Some(SocksFailure::Auth));
    assert_eq!(
        http_connect(proxy.addr, &format!("{WEB_1}:22"), wrong)
            .await
            .status,
        407
    );
    scrape_until(metrics, "counted both auth failures", |p| {
        ["socks5", "http"].iter().all(|protocol| {
            let series = format!(
                "eice_proxy_connections_total{{protocol=\"{protocol}\",outcome=\"auth_failed\"}}"
            );
            sample(p, &series) == 1
        })
    })
    .await;
}

/// `GET path` on the metrics address with `Host: host`: status and body.
async fn get_for(addr: std::net::SocketAddr, path: &str, host: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    timeout(PATIENCE, s.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

#[tokio::test]
async fn a_rebound_name_cannot_read_the_status_page() {
    let proxy = Proxy::start(World::demo(), METRICS).await;
    let metrics = metrics_addr(&proxy).await;
    // An open tunnel: a client, a target and an instance to give away.
    let mut s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("tunnelled");
    banner(&mut s).await;
    let client = s.local_addr().unwrap().to_string();
    let port = metrics.port();
    for path in ["/status", "/metrics", "/"] {
        for host in ["rebind.example", &format!("rebind.example:{port}")] {
            let (code, body) = get_for(metrics, path, host).await;
            assert_eq!(code, 421, "{path} for {host}: {body}");
            assert!(body.contains("only requests for localhost"), "{body}");
            assert!(!body.contains(WEB_1) && !body.contains(&client), "{body}");
        }
    }
    for host in [
        format!("127.0.0.1:{port}"),
        "localhost".into(),
        format!("localhost:{port}"),
    ] {
        let (code, body) = get_for(metrics, "/status", &host).await;
        assert_eq!(code, 200, "{host}: {body}");
        assert!(
            body.contains(WEB_1) && body.contains(&client),
            "{host}: {body}"
        );
    }
}

#[tokio::test]
async fn a_non_loopback_metrics_address_is_refused_at_start() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let (mut cmd, dir) = aws_command(&aws, &["serve", "--metrics-listen", "0.0.0.0:9180"]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("refusing to serve metrics and status on 0.0.0.0:9180")
            && stderr.contains("use a loopback address"),
        "{stderr}"
    );

    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"[::]:9180\"\n").unwrap();
    let config = config.display().to_string();
    let (mut cmd, _dir) = aws_command(&aws, &["serve", "--config", &config]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("refusing to serve metrics and status on [::]:9180"),
        "{stderr}"
    );
}

#[tokio::test]
async fn status_says_when_nothing_listens() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    // An address that was free a moment ago.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (mut cmd, _dir) = aws_command(&aws, &["status", "--metrics", &addr]);
    let output = timeout(PATIENCE, cmd.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("nothing listens on {addr}"))
            && stderr.contains("is `serve` running with [metrics] listen"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_logs_carry_the_connection_id_client_and_target() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let proxy = Proxy::start_with_args(aws, "", &["--log-format", "json"]).await;
    let mut s = socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT)
        .await
        .expect("tunnelled");
    let client = s.local_addr().unwrap().to_string();
    banner(&mut s).await;
    s.shutdown().await.unwrap();
    s.read_to_end(&mut Vec::new()).await.unwrap();
    proxy.log_line("tunnel closed").await;

    let lines: Vec<serde_json::Value> = proxy
        .full_log()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of_connection: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "conn")
        .collect();
    let messages: Vec<&str> = of_connection
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(&"tunnel open") && messages.contains(&"tunnel closed"),
        "{messages:?}"
    );
    for line in of_connection {
        let span = &line["span"];
        assert!(span["id"].as_u64().is_some(), "{line}");
        assert_eq!(span["client"], client.as_str(), "{line}");
        assert_eq!(span["target"], "web-1:22", "{line}");
    }
}

#[tokio::test]
async fn the_log_format_can_come_from_the_environment() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let proxy = Proxy::start_with(aws, "", &[("EICE_PROXY_LOG_FORMAT", "json")]).await;
    let line = proxy.log_line("listening on").await;
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["level"], "INFO");
}
