//! IPv6-only and dual-stack client networks: which of an endpoint's
//! published names a tunnel dials and signs, and Happy Eyeballs between the
//! families.
//!
//! The simulated EICE serves TLS with a certificate for every name its
//! endpoints publish, checks that the `Host` it is asked for is one of them
//! (and the signature covers it), and records that `Host`. The proxy is not
//! given `EICE_PROXY_ENDPOINT_URL` (which would replace the name) but
//! `EICE_PROXY_ENDPOINT_ADDRS`: the loopback addresses to dial for the
//! endpoint's own name, as a hosts file would give them.

mod common;

use std::path::Path;

use common::clients::{self, CONNECT, Dest};
use common::{Proxy, aws_command, run};
use eice_sim::account::SimAws;
use eice_sim::world::World;

const DUALSTACK: &str = "[network]\nendpoint_dns = \"dualstack\"\n";

/// The simulated account over TLS, and its CA in a file for `AWS_CA_BUNDLE`.
async fn tls_account(world: World, dir: &Path) -> (SimAws, String) {
    let aws = SimAws::start(world, true).await.unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, aws.eice.ca_pem().expect("a TLS simulator")).unwrap();
    (aws, ca.display().to_string())
}

/// The endpoint whose name `host` is, with the test's diagnosis if none is.
fn endpoint_named<'w>(world: &'w World, host: &str) -> &'w eice_sim::world::Endpoint {
    world
        .endpoint_by_dns_name(host)
        .unwrap_or_else(|| panic!("{host} is no endpoint's name"))
}

/// `serve` with `config`, its endpoint names dialled at `addrs`, and one
/// SOCKS5 tunnel to web-1 port 22; returns the `Host`s the simulated EICE
/// accepted, and the proxy (for its log).
async fn tunnel_to_web_1(config: &str, addrs: Option<&str>) -> (Vec<String>, Proxy, World) {
    let dir = tempfile::tempdir().unwrap();
    let (aws, ca) = tls_account(World::demo(), dir.path()).await;
    let world = (*aws.world).clone();
    let addrs = addrs.map_or_else(|| aws.eice.addr().to_string(), |a| a.to_owned());
    let env = [
        ("EICE_PROXY_ENDPOINT_ADDRS", addrs.as_str()),
        ("AWS_CA_BUNDLE", ca.as_str()),
        ("RUST_LOG", "info,eice_proxy::net=debug"),
    ];
    let proxy = Proxy::start_with_env(aws, config, &env, &["EICE_PROXY_ENDPOINT_URL"]).await;
    let s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel: {:?}", proxy.full_log());
    };
    assert!(clients::banner(&mut s).await.contains("web-1"));
    (proxy.aws.eice.stats().hosts, proxy, world)
}

#[tokio::test]
async fn the_dualstack_name_is_the_one_signed_and_dialled_when_chosen() {
    let (hosts, _proxy, world) = tunnel_to_web_1(DUALSTACK, None).await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let endpoint = endpoint_named(&world, &hosts[0]);
    let expected = endpoint.dualstack_dns_name(&world.region).unwrap();
    assert!(expected.ends_with(".api.aws"), "{expected}");
    assert_eq!(hosts, [expected]);
}

#[tokio::test]
async fn the_ipv4_name_is_dialled_by_default() {
    let (hosts, _proxy, world) = tunnel_to_web_1("", None).await;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let endpoint = endpoint_named(&world, &hosts[0]);
    assert_eq!(hosts, [endpoint.dns_name(&world.region)]);
}

/// `connect --endpoint-id` to web-1 through its endpoint with `aws_config`
/// as the AWS config file and `env` over the account's: the `Host`s EICE
/// accepted, and the command's stderr.
async fn connect_through_web_1s_endpoint(
    aws_config: &str,
    env: &[(&str, &str)],
) -> (Vec<String>, String, World) {
    let dir = tempfile::tempdir().unwrap();
    let (aws, ca) = tls_account(World::demo(), dir.path()).await;
    let world = (*aws.world).clone();
    let endpoint = world.endpoint("eice-0a1b2c3d4e5f60021").unwrap().clone();
    let (dns, fips) = (
        endpoint.dns_name(&world.region),
        endpoint.fips_dns_name(&world.region).unwrap(),
    );
    let args = [
        "connect",
        "--endpoint-id",
        &endpoint.id,
        "--dns-name",
        &dns,
        "--fips-dns-name",
        &fips,
        "10.0.1.10",
        "22",
    ];
    let (mut cmd, _d) = aws_command(&aws, &args);
    let profile = dir.path().join("aws-config");
    std::fs::write(&profile, aws_config).unwrap();
    cmd.env_remove("EICE_PROXY_ENDPOINT_URL")
        .env("EICE_PROXY_ENDPOINT_ADDRS", aws.eice.addr().to_string())
        .env("AWS_CA_BUNDLE", &ca)
        .env("AWS_CONFIG_FILE", &profile)
        .envs(env.iter().copied());
    let (_, stdout, stderr) = run(cmd).await;
    assert!(stdout.contains("web-1"), "no banner: {stderr}");
    (aws.eice.stats().hosts, stderr, world)
}

#[tokio::test]
async fn fips_in_the_profile_alone_makes_the_tunnel_dial_the_fips_name() {
    // No AWS_USE_FIPS_ENDPOINT: the profile is the one source, as it is
    // for the EC2 API's endpoint.
    let fips_profile = "[default]\nuse_fips_endpoint = true\n";
    let (hosts, _, world) = connect_through_web_1s_endpoint(fips_profile, &[]).await;
    let endpoint = endpoint_named(&world, &hosts[0]);
    assert_eq!(hosts, [endpoint.fips_dns_name(&world.region).unwrap()]);
    // The variable still wins over the profile, as in every SDK.
    let off = [("AWS_USE_FIPS_ENDPOINT", "false")];
    let (hosts, _, world) = connect_through_web_1s_endpoint(fips_profile, &off).await;
    assert_eq!(
        hosts,
        [endpoint_named(&world, &hosts[0]).dns_name(&world.region)]
    );
    let on = [("AWS_USE_FIPS_ENDPOINT", "true")];
    let (hosts, _, world) = connect_through_web_1s_endpoint("", &on).await;
    let endpoint = endpoint_named(&world, &hosts[0]);
    assert_eq!(hosts, [endpoint.fips_dns_name(&world.region).unwrap()]);
}

#[tokio::test]
async fn fips_with_a_custom_ec2_endpoint_url_is_refused_as_the_rule_set_says() {
    // The account's EC2 API is a custom URL (AWS_ENDPOINT_URL_EC2): FIPS
    // cannot be honoured there, and quietly dropping either is worse.
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    for (variable, words) in [
        (
            "AWS_USE_FIPS_ENDPOINT",
            "FIPS and custom endpoint are not supported",
        ),
        (
            "AWS_USE_DUALSTACK_ENDPOINT",
            "Dualstack and custom endpoint are not supported",
        ),
    ] {
        let (mut cmd, _d) = aws_command(&aws, &["resolve", "web-1"]);
        cmd.env(variable, "true");
        let (status, _, stderr) = run(cmd).await;
        assert!(!status.success());
        assert!(
            stderr.contains(&format!("Invalid Configuration: {words}")),
            "{stderr}"
        );
        assert!(stderr.contains("AWS_ENDPOINT_URL_EC2"), "{stderr}");
    }
    assert_eq!(aws.ec2.calls_total(), 0, "refused before any call");
}

#[tokio::test]
async fn the_race_connects_when_only_one_family_listens() {
    // The simulated EICE listens on 127.0.0.1 only; its port on ::1 is free
    // (checked by binding it), so the IPv6 attempt, tried first, is refused
    // and IPv4 answers. The debug log shows each attempt as it starts.
    let dir = tempfile::tempdir().unwrap();
    let (aws, ca) = tls_account(World::demo(), dir.path()).await;
    let port = aws.eice.addr().port();
    let v6_free = std::net::TcpListener::bind(("::1", port)).is_ok();
    assert!(v6_free, "something listens on [::1]:{port}");
    let addrs = format!("[::1]:{port},127.0.0.1:{port}");
    let env = [
        ("EICE_PROXY_ENDPOINT_ADDRS", addrs.as_str()),
        ("AWS_CA_BUNDLE", ca.as_str()),
        ("RUST_LOG", "info,eice_proxy::net=debug"),
    ];
    let world = (*aws.world).clone();
    let proxy = Proxy::start_with_env(aws, DUALSTACK, &env, &["EICE_PROXY_ENDPOINT_URL"]).await;
    let s = clients::socks5(proxy.addr, Dest::Domain("web-1"), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel: {:?}", proxy.full_log());
    };
    assert!(clients::banner(&mut s).await.contains("web-1"));
    let line = proxy.log_line("first address to answer").await;
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    // The first dial to the endpoint tried [::1] first, then 127.0.0.1.
    let (v6, v4) = (
        format!("addr=[::1]:{port}"),
        format!("addr=127.0.0.1:{port}"),
    );
    let tried: Vec<&str> = proxy
        .full_log()
        .iter()
        .filter(|l| l.contains("dialling"))
        .filter_map(|l| [&v6, &v4].into_iter().find(|a| l.contains(a.as_str())))
        .map(String::as_str)
        .take(2)
        .collect();
    assert_eq!(tried, [&v6, &v4], "{:?}", proxy.full_log());
    let hosts = proxy.aws.eice.stats().hosts;
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    let endpoint = endpoint_named(&world, &hosts[0]);
    assert_eq!(hosts, [endpoint.dualstack_dns_name(&world.region).unwrap()]);
}

#[tokio::test]
async fn an_endpoint_without_a_dualstack_name_is_a_clear_error() {
    let mut world = World::demo();
    for endpoint in &mut world.endpoints {
        endpoint.dualstack = false;
    }
    let dir = tempfile::tempdir().unwrap();
    let (aws, ca) = tls_account(world, dir.path()).await;
    let config = dir.path().join("config.toml");
    std::fs::write(&config, DUALSTACK).unwrap();
    let config = config.to_str().unwrap();
    let (mut cmd, _d) = aws_command(&aws, &["connect", "--config", config, "web-1", "22"]);
    cmd.env_remove("EICE_PROXY_ENDPOINT_URL")
        .env("EICE_PROXY_ENDPOINT_ADDRS", aws.eice.addr().to_string())
        .env("AWS_CA_BUNDLE", &ca);
    let (status, _, stderr) = run(cmd).await;
    assert!(!status.success());
    assert!(stderr.contains("has no dual-stack DnsName"), "{stderr}");
    assert!(stderr.contains("endpoint_dns = \"ipv4\""), "{stderr}");
    assert!(aws.eice.stats().hosts.is_empty());
}

#[tokio::test]
async fn doctor_says_which_name_tunnels_dial() {
    let aws = SimAws::start(World::demo(), false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("listen = \"127.0.0.1:0\"\n{DUALSTACK}")).unwrap();
    let config = config.to_str().unwrap();
    let (mut cmd, _d) = aws_command(&aws, &["doctor", "--config", config]);
    cmd.env_remove("EICE_PROXY_ENDPOINT_URL");
    let (_, stdout, stderr) = run(cmd).await;
    assert!(
        stdout.contains("tunnels dial each endpoint's dualstack name"),
        "{stdout}\n{stderr}"
    );
}
