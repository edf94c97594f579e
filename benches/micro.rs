//! Micro-benchmarks of the per-connection steps that run before any byte is
//! spliced: presigning, target parsing, the SOCKS5 and HTTP CONNECT
//! handshakes, and a warm resolver lookup.
//!
//! Each measures the proxy's own code with its I/O replaced by an in-memory
//! `tokio::io::duplex` (handshakes) or a simulated EC2 API on 127.0.0.1 that a
//! warm cache never calls (resolver). Run with `cargo bench --bench micro`;
//! `-- --quick` gives a fast, rougher pass.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use criterion::{Criterion, criterion_group, criterion_main};
use eice_proxy::config::Config;
use eice_proxy::credentials::CredentialCache;
use eice_proxy::ec2::{ApiUrl, Ec2, Settings};
use eice_proxy::eice::sign::presign;
use eice_proxy::eice::target::WsTarget;
use eice_proxy::eice::{Endpoint, TunnelRequest};
use eice_proxy::inbound::http_connect::{self, Refusal, Upgraded};
use eice_proxy::inbound::socks5;
use eice_proxy::net::{self, Transport};
use eice_proxy::reply::Reply;
use eice_proxy::resolve::{Regional, Resolver, Scope};
use eice_proxy::target::{Host, Target};
use eice_sim::account::SimAws;
use eice_sim::eice::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY};
use eice_sim::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

/// The demo world's web-1 and the VPC its overlapping 10.0.0.0/16 is pinned to.
const INSTANCE_ID: &str = "i-0a1b2c3d4e5f60001";
const ROUTES: &str = "[[route]]\ncidr = \"10.0.0.0/16\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One `openTunnel` URL signed with fixed credentials at a fixed time.
fn bench_presign(c: &mut Criterion) {
    let dns = "eice-0123456789abcdef0.ec2-instance-connect-endpoint.us-east-1.amazonaws.com";
    let request = TunnelRequest {
        endpoint: Arc::new(Endpoint {
            id: "eice-0123456789abcdef0".into(),
            region: "us-east-1".into(),
            dns_name: dns.into(),
            fips_dns_name: None,
            dualstack_dns_name: None,
            dualstack_fips_dns_name: None,
            use_fips: false,
        }),
        private_ip: "10.0.1.10".parse().unwrap(),
        port: 22,
        max_tunnel_duration: Some(3600),
    };
    let target = WsTarget::new(true, dns.into(), 443);
    let credentials = Credentials::new(
        EXAMPLE_ACCESS_KEY_ID,
        EXAMPLE_SECRET_ACCESS_KEY,
        Some("session-token".into()),
        None,
        "bench",
    );
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    c.bench_function("presign/open_tunnel_url", |b| {
        b.iter(|| presign(black_box(&request), &target, &credentials, at).unwrap())
    });
}

/// Every textual form a client may name a host in.
fn bench_target_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("target_parse");
    for (form, text) in [
        ("instance_id", INSTANCE_ID),
        ("ipv4", "10.0.1.10"),
        ("ipv6", "fd00:10::20"),
        ("private_dns", "ip-10-0-1-10.ec2.internal"),
        ("name", "web-1"),
    ] {
        group.bench_function(form, |b| b.iter(|| Host::parse(black_box(text)).unwrap()));
    }
    group.finish();
}

/// A SOCKS5 greeting (no auth) and CONNECT to `i-…:22`, as one client write.
fn socks5_request() -> Vec<u8> {
    let mut bytes = vec![5, 1, 0, 5, 1, 0, 3, INSTANCE_ID.len() as u8];
    bytes.extend_from_slice(INSTANCE_ID.as_bytes());
    bytes.extend_from_slice(&22u16.to_be_bytes());
    bytes
}

/// `socks5::accept` over an in-memory stream holding a whole request
/// (the duplex's creation is included; it is a small allocation).
fn bench_socks5(c: &mut Criterion) {
    let rt = runtime();
    let request = socks5_request();
    c.bench_function("socks5/accept_connect_no_auth", |b| {
        b.to_async(&rt).iter(|| async {
            let (mut client, server) = tokio::io::duplex(1024);
            client.write_all(&request).await.unwrap();
            let accepted = socks5::accept(server, None).await.unwrap();
            black_box(accepted.target.port)
        })
    });
}

/// `http_connect::serve` answering one `CONNECT` whose open is refused at
/// once: request parsing, target parsing and the refusal response. The
/// request asks for `Connection: close`, so `serve` returns after answering.
fn bench_http_connect(c: &mut Criterion) {
    let rt = runtime();
    let request = format!(
        "CONNECT {INSTANCE_ID}:22 HTTP/1.1\r\nHost: {INSTANCE_ID}:22\r\n\
         User-Agent: curl/8.5.0\r\nConnection: close\r\n\r\n"
    );
    let refuse = |_target: Target| async {
        Err::<(), _>(Refusal {
            reply: Reply::HostUnreachable,
            message: "refused by the bench".into(),
        })
    };
    let join = |_io: Upgraded, _opened: ()| async {};
    c.bench_function("http_connect/serve_refused_connect", |b| {
        b.to_async(&rt).iter(|| async {
            let (mut client, server) = tokio::io::duplex(4096);
            client.write_all(request.as_bytes()).await.unwrap();
            http_connect::serve(server, None, Duration::from_secs(10), refuse, join)
                .await
                .unwrap();
            let mut response = Vec::new();
            client.read_to_end(&mut response).await.unwrap();
            assert!(response.starts_with(b"HTTP/1.1 404"), "{response:?}");
            black_box(response.len())
        })
    });
}

/// `Resolver::resolve` answered from its caches, after one cold call each
/// against the simulated EC2 API (the demo world).
fn bench_resolve_warm(c: &mut Criterion) {
    let rt = runtime();
    let aws = rt
        .block_on(SimAws::start(World::demo(), false))
        .expect("the simulated AWS starts");
    let credentials = Arc::new(CredentialCache::fixed(Credentials::new(
        EXAMPLE_ACCESS_KEY_ID,
        EXAMPLE_SECRET_ACCESS_KEY,
        None,
        None,
        "bench",
    )));
    let url = ApiUrl::parse(&aws.ec2.url()).expect("the simulator's URL");
    let tls = net::client_config(None).expect("TLS set-up");
    let ec2 = Ec2::new(
        Settings::new(url, "us-east-1"),
        Arc::clone(&credentials),
        Transport::new(tls),
    );
    let config = Config::parse(ROUTES).expect("the bench config parses");
    let regional = Regional::new(
        ec2,
        Scope {
            region: "us-east-1".into(),
            profile: None,
        },
        credentials,
        &config,
    );
    let resolver = Resolver::one_region(regional, &config);
    let mut group = c.benchmark_group("resolve_warm");
    for (form, host) in [("instance_id", INSTANCE_ID), ("pinned_ipv4", "10.0.1.10")] {
        let target = Target {
            host: Host::parse(host).unwrap(),
            port: 22,
        };
        rt.block_on(resolver.resolve(&target))
            .expect("the cold lookup succeeds");
        group.bench_function(form, |b| {
            b.to_async(&rt)
                .iter(|| async { resolver.resolve(black_box(&target)).await.unwrap() })
        });
    }
    group.finish();
    drop(aws);
}

criterion_group!(
    benches,
    bench_presign,
    bench_target_parse,
    bench_socks5,
    bench_http_connect,
    bench_resolve_warm
);
criterion_main!(benches);
