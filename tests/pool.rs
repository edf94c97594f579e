//! The pool of ready connections to endpoints (`[network] pool`), against
//! the simulated EICE over wss: which TCP connection carried which upgrade
//! is read from the service's own counters (connections are numbered as
//! accepted), never guessed from timing.
//!
//! After the first tunnel to an endpoint, `serve` dials `pool` more
//! connections to it; the next tunnel rides one of them. A connection the
//! service closed is never handed out, however it was closed: while idle, a
//! moment before the tunnel, or as the request arrived.

mod common;

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use aws_credential_types::Credentials;
use common::clients::{self, CONNECT, Dest};
use common::request::tunnel_request;
use common::{PATIENCE, Proxy};
use eice_proxy::credentials::CredentialCache;
use eice_proxy::eice::{Connector, EndpointOverride, TunnelRequest, TunnelSettings};
use eice_proxy::net::pool::PoolSettings;
use eice_sim::account::SimAws;
use eice_sim::eice::EiceStats;
use eice_sim::world::World;
use tokio::net::TcpStream;

/// The proxy's log, with the pool's and the tunnel opener's debug lines.
const LOG: &str = "info,eice_proxy::net::pool=debug,eice_proxy::eice=debug";

/// What the pool logs once a dialled connection is ready in it.
const DIALLED: &str = "dialled a pool connection";

/// `serve` with `config` against the demo account over wss (or ws).
async fn start(config: &str, tls: bool) -> (Proxy, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let aws = SimAws::start(World::demo(), tls).await.unwrap();
    let ca = ca_file(&aws, dir.path());
    let mut env = vec![("RUST_LOG", LOG)];
    if let Some(ca) = &ca {
        env.push(("AWS_CA_BUNDLE", ca.as_str()));
    }
    (Proxy::start_with(aws, config, &env).await, dir)
}

fn ca_file(aws: &SimAws, dir: &Path) -> Option<String> {
    let pem = aws.eice.ca_pem()?;
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).unwrap();
    Some(path.display().to_string())
}

/// A live tunnel to `instance` port 22 through SOCKS5: banner and echo.
async fn tunnel(proxy: &Proxy, instance: &str) -> TcpStream {
    let s = clients::socks5(proxy.addr, Dest::Domain(instance), 22, None, CONNECT).await;
    let Ok(mut s) = s else {
        panic!("no tunnel to {instance}: {:?}", proxy.full_log());
    };
    assert!(clients::banner(&mut s).await.contains(instance));
    clients::ping(&mut s).await;
    s
}

async fn stats_until(proxy: &Proxy, done: impl Fn(&EiceStats) -> bool) -> EiceStats {
    tokio::time::timeout(PATIENCE, proxy.aws.eice.wait_for(done))
        .await
        .unwrap_or_else(|_| panic!("the service's counters: {:?}", proxy.aws.eice.stats()))
}

/// One tunnel, then its two pool connections dialled and ready: three
/// connections accepted, the tunnel on the first.
async fn warm(proxy: &Proxy) -> TcpStream {
    let first = tunnel(proxy, "web-1").await;
    proxy.log_count(DIALLED, 2).await;
    let stats = stats_until(proxy, |s| s.connections_accepted == 3).await;
    assert_eq!(stats.tunnel_connections, [1]);
    first
}

#[tokio::test]
async fn a_second_tunnel_rides_a_pooled_connection() {
    let (proxy, _dir) = start("", true).await;
    let _first = warm(&proxy).await;
    let _second = tunnel(&proxy, "web-1").await;
    let stats = proxy.aws.eice.stats();
    let carrier = stats.tunnel_connections[1];
    assert!(
        carrier == 2 || carrier == 3,
        "the second tunnel came on connection {carrier}, not a pooled one: {stats:?}"
    );
    proxy.log_line("using a pooled connection").await;
    // The pool is refilled after the take, up to two again.
    proxy.log_count(DIALLED, 3).await;
}

#[tokio::test]
async fn connections_the_service_closed_while_idle_are_never_handed_out() {
    for tls in [true, false] {
        let (proxy, _dir) = start("", tls).await;
        let _first = warm(&proxy).await;
        proxy.aws.eice.close_idle_connections();
        stats_until(&proxy, |s| s.idle_connections_closed == 2).await;
        proxy
            .log_count("pooled connection closed while idle", 2)
            .await;
        let _second = tunnel(&proxy, "web-1").await;
        let stats = proxy.aws.eice.stats();
        assert_eq!(stats.tunnels_opened, 2);
        assert!(
            stats.tunnel_connections[1] > 3,
            "tls {tls}: the tunnel must come on a connection accepted after the closes: {stats:?}"
        );
    }
}

/// The simulated account on a thread and runtime of its own, so that it can
/// act while the test's single-threaded runtime is blocked and nothing of
/// the pool (which runs on the test's runtime) can see it act.
struct AccountThread {
    aws: Arc<SimAws>,
    runtime: tokio::runtime::Handle,
    /// Dropped with the test: the thread's runtime then ends.
    _stop: mpsc::Sender<()>,
}

impl AccountThread {
    fn start() -> AccountThread {
        let (started, start) = mpsc::channel();
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let aws = SimAws::start(World::demo(), true).await.unwrap();
                let handle = tokio::runtime::Handle::current();
                started.send((Arc::new(aws), handle)).unwrap();
                let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
            });
        });
        let (aws, runtime) = start.recv_timeout(PATIENCE).expect("the account starts");
        AccountThread {
            aws,
            runtime,
            _stop: stop,
        }
    }

    /// Blocks this thread (and so the test's runtime) until the service's
    /// counters satisfy `done`.
    fn block_until(&self, done: impl Fn(&EiceStats) -> bool + Send + 'static) -> EiceStats {
        let (tx, rx) = mpsc::channel();
        let aws = Arc::clone(&self.aws);
        self.runtime.spawn(async move {
            let _ = tx.send(aws.eice.wait_for(done).await);
        });
        rx.recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("the service's counters: {:?}", self.aws.eice.stats()))
    }
}

/// A connector with a pool of two, trusting the account's CA, and the
/// request for web-1's port 22 through its endpoint.
fn connector(account: &AccountThread, dir: &Path) -> (Connector, TunnelRequest, CredentialCache) {
    let aws = &account.aws;
    let env: std::collections::HashMap<_, _> = aws.env().into_iter().collect();
    let settings = TunnelSettings {
        endpoint_override: Some(EndpointOverride::parse(&aws.eice.url()).unwrap()),
        ca_bundle: ca_file(aws, dir).map(Into::into),
        pool: PoolSettings {
            size: 2,
            idle: Duration::from_secs(600),
        },
        ..TunnelSettings::default()
    };
    let request = tunnel_request("eice-0a1b2c3d4e5f60021", "10.0.1.10");
    let credentials = CredentialCache::fixed(Credentials::new(
        &env["AWS_ACCESS_KEY_ID"],
        &env["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "test",
    ));
    (Connector::new(settings).unwrap(), request, credentials)
}

/// Waits, yielding to the pool's tasks, until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the condition came true");
}

#[tokio::test(flavor = "current_thread")]
async fn connections_closed_just_before_a_tunnel_are_never_handed_out() {
    let account = AccountThread::start();
    let dir = tempfile::tempdir().unwrap();
    let (connector, request, credentials) = connector(&account, dir.path());
    let _first = connector.open(&request, &credentials).await.unwrap();
    until(|| connector.pool().ready() == 2).await;
    assert_eq!(account.aws.eice.stats().connections_accepted, 3);

    // The service closes both pooled connections (close_notify and FIN sent)
    // while the pool cannot run: the watch of neither can have seen it, so
    // only the check as a connection is taken can.
    account.aws.eice.close_idle_connections();
    account.block_until(|s| s.idle_connections_closed == 2);
    let _second = connector.open(&request, &credentials).await.unwrap();

    let counts = connector.pool().counts();
    assert_eq!(counts.hits, 0, "{counts:?}");
    assert!(counts.closed_at_take >= 1, "{counts:?}");
    assert_eq!(counts.closed_at_take + counts.closed_idle, 2, "{counts:?}");
    // No request went out on a closed connection to be sent again.
    assert_eq!(counts.resent, 0, "{counts:?}");
    let stats = account.aws.eice.stats();
    assert_eq!(stats.tunnel_connections, [1, 4], "{stats:?}");
}

#[tokio::test]
async fn a_request_lost_with_its_pooled_connection_is_sent_again_on_a_new_one() {
    let (proxy, _dir) = start("", true).await;
    let _first = warm(&proxy).await;
    // The service closes the connection the moment the request arrives,
    // as an idle limit striking just then would: after every check.
    proxy.aws.eice.drop_next_requests(1);
    let _second = tunnel(&proxy, "web-1").await;
    let stats = proxy.aws.eice.stats();
    assert_eq!(stats.requests_dropped, 1);
    assert_eq!(stats.tunnels_opened, 2);
    assert!(stats.tunnel_connections[1] > 3, "{stats:?}");
    proxy.log_line("failed before any answer").await;
}

#[tokio::test]
async fn with_the_pool_off_every_tunnel_dials_its_own_connection() {
    let (proxy, _dir) = start("[network]\npool = 0\n", true).await;
    for _ in 0..3 {
        let s = tunnel(&proxy, "web-1").await;
        drop(s);
    }
    let stats = proxy.aws.eice.stats();
    assert_eq!(stats.tunnel_connections, [1, 2, 3]);
    assert_eq!(stats.connections_accepted, 3);
    assert!(
        !proxy.full_log().iter().any(|l| l.contains(DIALLED)),
        "{:?}",
        proxy.full_log()
    );
}

#[tokio::test]
async fn a_connection_serves_only_the_endpoint_name_it_was_dialled_for() {
    // Both endpoints' own names dialled at the simulator's one address:
    // only the name (TLS's server name and `Host`) tells them apart.
    let dir = tempfile::tempdir().unwrap();
    let aws = SimAws::start(World::demo(), true).await.unwrap();
    let ca = ca_file(&aws, dir.path()).unwrap();
    let addrs = aws.eice.addr().to_string();
    let env = [
        ("EICE_PROXY_ENDPOINT_ADDRS", addrs.as_str()),
        ("AWS_CA_BUNDLE", ca.as_str()),
        ("RUST_LOG", LOG),
    ];
    let proxy = Proxy::start_with_env(aws, "", &env, &["EICE_PROXY_ENDPOINT_URL"]).await;
    let _first = warm(&proxy).await;
    // Another VPC, so another endpoint and name: a connection of its own.
    let _other = tunnel(&proxy, "other-vpc").await;
    let stats = proxy.aws.eice.stats();
    assert_ne!(stats.hosts[0], stats.hosts[1]);
    assert!(stats.tunnel_connections[1] > 3, "{stats:?}");
    // Its own pool fills, and the next tunnel to it rides that.
    proxy.log_count(DIALLED, 4).await;
    let _again = tunnel(&proxy, "other-vpc").await;
    let stats = proxy.aws.eice.stats();
    assert!(stats.tunnel_connections[2] > stats.tunnel_connections[1]);
    assert!(stats.tunnel_connections[2] <= 6, "{stats:?}");
    assert_eq!(stats.hosts[2], stats.hosts[1]);
    // Every upgrade went on a connection whose TLS name is its `Host`.
    let sni: Vec<String> = stats.tunnel_sni.iter().flatten().cloned().collect();
    assert_eq!(sni, stats.hosts);
}
