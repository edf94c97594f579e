//! `eice-proxy serve` end to end against a whole simulated account: SOCKS5
//! and HTTP CONNECT, every target form, every refusal and its reply code, and
//! the caches measured by the simulated EC2 API's call counters.

mod common;

use std::net::IpAddr;

use common::clients::{CONNECT, Dest, SocksFailure, banner, hello, http_connect, reaches, socks5};
use common::{PATIENCE, Proxy};
use eice_sim::ec2_api::Action;
use eice_sim::world::{IpAddressType, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WEB_1: &str = "i-0a1b2c3d4e5f60001";
const DB_1: &str = "i-0a1b2c3d4e5f60002";
const OLD_1: &str = "i-0a1b2c3d4e5f60003";

/// The demo VPCs share 10.0.0.0/16; this pins it to the first one.
const PIN_FIRST_VPC: &str = "[[route]]\ncidr = \"10.0.0.0/16\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n";

const AUTH: &str = "[auth]\nusername = \"alice\"\npassword = \"wonderland\"\n";

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

async fn socks_reply(proxy: &Proxy, dest: Dest<'_>, port: u16) -> SocksFailure {
    match timeout(PATIENCE, socks5(proxy.addr, dest, port, None, CONNECT))
        .await
        .unwrap()
    {
        Ok(_) => panic!("expected a refusal"),
        Err(failure) => failure,
    }
}

#[tokio::test]
async fn every_target_form_reaches_the_right_instance_over_socks5() {
    let proxy = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain("web-1"), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain("WEB-1."), 3389, WEB_1).await;
    reaches(proxy.addr, Dest::Domain("db-1"), 22, DB_1).await;
    reaches(proxy.addr, Dest::Ip(ip("10.0.2.20")), 22, DB_1).await;
    reaches(proxy.addr, Dest::Domain("10.0.1.10"), 3389, WEB_1).await;
    reaches(
        proxy.addr,
        Dest::Domain("ip-10-0-1-10.ec2.internal"),
        22,
        WEB_1,
    )
    .await;
    reaches(
        proxy.addr,
        Dest::Domain("ip-10-0-2-20.us-east-1.compute.internal"),
        22,
        DB_1,
    )
    .await;
    // IPv6 goes through the VPC's dual-stack endpoint.
    reaches(proxy.addr, Dest::Ip(ip("fd00:10::20")), 22, DB_1).await;
}

#[tokio::test]
async fn http_connect_reaches_instances_and_refuses_other_methods() {
    let proxy = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    for (authority, port, instance) in [
        (format!("{WEB_1}:22"), 22, WEB_1),
        ("web-1:3389".into(), 3389, WEB_1),
        ("10.0.1.10:22".into(), 22, WEB_1),
        ("[fd00:10::20]:22".into(), 22, DB_1),
    ] {
        let answer = http_connect(proxy.addr, &authority, None).await;
        assert_eq!(answer.status, 200, "{authority}: {}", answer.head);
        let mut stream = answer.stream.unwrap();
        let first = hello(&mut stream, port).await;
        assert!(first.contains(instance), "{authority}: {first}");
    }
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(b"GET http://web-1/ HTTP/1.1\r\nHost: web-1\r\n\r\n")
        .await
        .unwrap();
    let answer = common::clients::read_http_answer(tokio::io::BufReader::new(s)).await;
    assert_eq!(answer.status, 405);
    assert!(
        answer.head.to_ascii_lowercase().contains("allow: connect"),
        "{}",
        answer.head
    );
    assert!(answer.body.contains("tunnelling proxy"), "{}", answer.body);
}

#[tokio::test]
async fn authentication_is_required_when_configured() {
    let proxy = Proxy::start(World::demo(), AUTH).await;
    // SOCKS5: right and wrong passwords, and no credentials at all.
    let mut s = socks5(
        proxy.addr,
        Dest::Domain(WEB_1),
        22,
        Some(("alice", "wonderland")),
        CONNECT,
    )
    .await
    .expect("authenticated");
    assert!(banner(&mut s).await.contains(WEB_1));
    let wrong = socks5(
        proxy.addr,
        Dest::Domain(WEB_1),
        22,
        Some(("alice", "rabbit")),
        CONNECT,
    )
    .await;
    assert_eq!(wrong.err(), Some(SocksFailure::Auth));
    let none = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT).await;
    assert_eq!(none.err(), Some(SocksFailure::Auth));
    proxy.log_line("SOCKS5 authentication failed").await;

    // HTTP CONNECT: 407 with a challenge, then 200 with credentials.
    let answer = http_connect(proxy.addr, &format!("{WEB_1}:22"), None).await;
    assert_eq!(answer.status, 407);
    assert!(
        answer.head.contains("Basic realm=\"eice-proxy\""),
        "{}",
        answer.head
    );
    let answer = http_connect(
        proxy.addr,
        &format!("{WEB_1}:22"),
        Some(("alice", "rabbit")),
    )
    .await;
    assert_eq!(answer.status, 407);
    let answer = http_connect(
        proxy.addr,
        &format!("{WEB_1}:22"),
        Some(("alice", "wonderland")),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.head);
}

#[tokio::test]
async fn an_address_in_overlapping_vpcs_is_refused_until_a_route_pins_it() {
    let proxy = Proxy::start(World::demo(), "").await;
    assert_eq!(
        socks_reply(&proxy, Dest::Ip(ip("10.0.1.10")), 22).await,
        SocksFailure::Reply(0x04)
    );
    let line = proxy.log_line("several VPCs").await;
    assert!(
        line.contains("vpc-0a1b2c3d4e5f60001") && line.contains("vpc-0a1b2c3d4e5f60002"),
        "{line}"
    );
    let answer = http_connect(proxy.addr, "10.0.1.10:22", None).await;
    assert_eq!(answer.status, 404);
    assert!(
        answer.body.contains("[[route]] cidr = \"10.0.1.10/32\""),
        "{}",
        answer.body
    );
    // Instance ids stay unambiguous.
    reaches(
        proxy.addr,
        Dest::Domain("other-vpc"),
        22,
        "i-0a1b2c3d4e5f60006",
    )
    .await;

    let pinned = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    reaches(pinned.addr, Dest::Ip(ip("10.0.1.10")), 22, WEB_1).await;
}

#[tokio::test]
async fn each_refusal_gets_its_reply_code_and_a_log_line() {
    let proxy = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    // A stopped instance names its state.
    assert_eq!(
        socks_reply(&proxy, Dest::Domain(OLD_1), 22).await,
        SocksFailure::Reply(0x04)
    );
    proxy.log_line("is stopped, not running").await;
    let answer = http_connect(proxy.addr, &format!("{OLD_1}:22"), None).await;
    assert_eq!(
        (answer.status, answer.body.trim()),
        (
            404,
            "instance i-0a1b2c3d4e5f60003 is stopped, not running: start it first"
        )
    );
    // An unknown instance.
    assert_eq!(
        socks_reply(&proxy, Dest::Domain("i-0123456789abcdef9"), 22).await,
        SocksFailure::Reply(0x04)
    );
    proxy
        .log_line("instance i-0123456789abcdef9 was not found in us-east-1")
        .await;
    // A name two instances share lists both.
    let answer = http_connect(proxy.addr, "web-dup:22", None).await;
    assert_eq!(answer.status, 404);
    assert!(
        answer.body.contains("i-0a1b2c3d4e5f60004") && answer.body.contains("i-0a1b2c3d4e5f60005"),
        "{}",
        answer.body
    );
    // BIND is not supported.
    let bind = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, 0x02).await;
    assert_eq!(bind.err(), Some(SocksFailure::Reply(0x07)));
    proxy.log_line("SOCKS5 BIND is not supported").await;
}

#[tokio::test]
async fn a_wrong_port_is_refused_before_any_aws_call() {
    let proxy = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    assert_eq!(
        socks_reply(&proxy, Dest::Domain(WEB_1), 8080).await,
        SocksFailure::Reply(0x02)
    );
    let answer = http_connect(proxy.addr, &format!("{WEB_1}:5432"), None).await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("port 5432 is not allowed"),
        "{}",
        answer.body
    );
    assert_eq!(
        proxy.aws.ec2.calls_total(),
        0,
        "no EC2 call for a refused port"
    );
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 0);
}

#[tokio::test]
async fn ipv6_behind_an_ipv4_only_endpoint_is_address_type_not_supported() {
    let mut world = World::demo();
    for endpoint in &mut world.endpoints {
        endpoint.ip_address_type = IpAddressType::Ipv4;
    }
    let proxy = Proxy::start(world, "").await;
    assert_eq!(
        socks_reply(&proxy, Dest::Ip(ip("fd00:10::20")), 22).await,
        SocksFailure::Reply(0x08)
    );
    let answer = http_connect(proxy.addr, "[fd00:10::20]:22", None).await;
    assert_eq!(answer.status, 502);
    assert!(
        answer.body.contains("IpAddressType is ipv4"),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn a_warm_target_costs_no_ec2_call() {
    let proxy = Proxy::start(World::demo(), PIN_FIRST_VPC).await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain("db-1"), 22, DB_1).await;
    reaches(proxy.addr, Dest::Ip(ip("10.0.1.10")), 22, WEB_1).await;
    let cold = proxy.aws.ec2.calls_total();
    assert!(cold > 0);
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    reaches(proxy.addr, Dest::Domain("DB-1"), 3389, DB_1).await;
    reaches(proxy.addr, Dest::Ip(ip("10.0.1.10")), 3389, WEB_1).await;
    assert_eq!(
        proxy.aws.ec2.calls_total(),
        cold,
        "warm connections made EC2 calls"
    );
    assert_eq!(
        proxy.aws.eice.stats().tunnels_opened,
        6,
        "but each opened its own tunnel"
    );
}

#[tokio::test]
async fn fifty_simultaneous_first_connections_make_one_describe_instances_call() {
    // Above the default 20 tunnels per endpoint (EICE's quota), which has its
    // own test: as if AWS had raised the quota.
    let proxy = Proxy::start(World::demo(), "[limits]\ntunnels_per_endpoint = 64\n").await;
    proxy.aws.eice.set_tunnels_per_endpoint(64);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let addr = proxy.addr;
        tasks.push(tokio::spawn(async move {
            let mut s = socks5(addr, Dest::Domain(DB_1), 22, None, CONNECT)
                .await
                .expect("connected");
            banner(&mut s).await
        }));
    }
    for task in tasks {
        assert!(
            timeout(PATIENCE, task)
                .await
                .unwrap()
                .unwrap()
                .contains(DB_1)
        );
    }
    assert_eq!(proxy.aws.ec2.calls(Action::DescribeInstances), 1);
    assert_eq!(
        proxy
            .aws
            .ec2
            .calls(Action::DescribeInstanceConnectEndpoints),
        1
    );
}

#[tokio::test]
async fn a_first_byte_that_is_no_known_protocol_is_closed_with_a_log_line() {
    let mut proxy = Proxy::start(World::demo(), "").await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0x04, 0x01, 0x00, 0x16]).await.unwrap();
    // Closed without an answer: EOF, or a reset since our bytes went unread.
    let mut rest = Vec::new();
    match timeout(PATIENCE, s.read_to_end(&mut rest)).await.unwrap() {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    assert!(rest.is_empty(), "no answer: {rest:?}");
    proxy.log_line("a SOCKS4 client").await;
    assert!(proxy.is_running());
}

#[tokio::test]
async fn an_unreachable_instance_is_refused_and_its_stale_cache_entry_dropped() {
    let proxy = Proxy::start(World::demo(), "").await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
    assert_eq!(proxy.aws.ec2.calls(Action::DescribeInstances), 1);

    // The instance stops behind the proxy's back: EC2 knows, the cache does not.
    use eice_sim::world::InstanceState;
    proxy
        .aws
        .ec2
        .set_instance_state(WEB_1, InstanceState::Stopped)
        .unwrap();
    proxy
        .aws
        .eice
        .remove_target("10.0.1.10:22".parse().unwrap());

    // The cached route fails at the service (close 1011): connection refused.
    assert_eq!(
        socks_reply(&proxy, Dest::Domain(WEB_1), 22).await,
        SocksFailure::Reply(0x05)
    );
    proxy.log_line("code 1011").await;
    assert_eq!(
        proxy.aws.ec2.calls(Action::DescribeInstances),
        1,
        "that answer came from the cache"
    );

    // The failure dropped the entry: the next attempt asks EC2 and learns why.
    assert_eq!(
        socks_reply(&proxy, Dest::Domain(WEB_1), 22).await,
        SocksFailure::Reply(0x04)
    );
    proxy.log_line("is stopped, not running").await;
    assert_eq!(proxy.aws.ec2.calls(Action::DescribeInstances), 2);
}

#[tokio::test]
async fn the_configured_tunnel_duration_is_sent_and_its_end_logged() {
    let proxy = Proxy::start(World::demo(), "max_tunnel_duration = 1\n").await;
    let mut s = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("connected");
    assert!(banner(&mut s).await.contains(WEB_1));
    // The service ends the tunnel at the duration the proxy asked for.
    let mut rest = Vec::new();
    timeout(PATIENCE, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    // Warned before the end: a minute before, or at once for a shorter duration.
    proxy
        .log_line("EICE will close this tunnel in 1s, when it reaches its maximum duration of 1s")
        .await;
    let line = proxy.log_line("tunnel ended with an error").await;
    assert!(
        line.contains("code 1008") && line.contains("maximum tunnel duration of 1 seconds"),
        "{line}"
    );
}

#[tokio::test]
async fn the_tunnels_per_endpoint_limit_refuses_clearly_and_frees_on_close() {
    let proxy = Proxy::start(
        World::demo(),
        "[limits]\ntunnels_per_endpoint = 2\nwhen_full = \"refuse\"\n",
    )
    .await;
    let mut first = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("first");
    let _second = socks5(proxy.addr, Dest::Domain(WEB_1), 22, None, CONNECT)
        .await
        .expect("second");
    assert!(banner(&mut first).await.contains(WEB_1));
    // The same endpoint is full; the service was not asked a third time.
    assert_eq!(
        socks_reply(&proxy, Dest::Domain("web-1"), 3389).await,
        SocksFailure::Reply(0x01)
    );
    proxy
        .log_line("already carries 2 tunnels from this proxy")
        .await;
    assert_eq!(proxy.aws.eice.stats().tunnels_opened, 2);
    // db-1 is behind the other endpoint: unaffected.
    reaches(proxy.addr, Dest::Domain(DB_1), 22, DB_1).await;
    // Closing a tunnel frees its slot.
    first.shutdown().await.unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).await.unwrap();
    // db-1's tunnel and the first one have both closed (and freed their slots).
    proxy.log_count("tunnel closed", 2).await;
    reaches(proxy.addr, Dest::Domain(WEB_1), 22, WEB_1).await;
}
