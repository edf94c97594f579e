//! The pool against real sockets on 127.0.0.1: plain TCP, and TLS with a
//! throwaway CA (rustls on both sides, session tickets and all).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use eice_sim::tls::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::*;

const PATIENCE: Duration = Duration::from_secs(30);

fn plain(port: u16) -> Destination {
    Destination {
        tls: false,
        host: "127.0.0.1".into(),
        port,
        addrs: Vec::new(),
    }
}

fn pool(tls: Arc<rustls::ClientConfig>, size: usize, idle: Duration) -> Pool {
    Pool::new(Transport::new(tls), PoolSettings { size, idle })
}

fn any_tls() -> Arc<rustls::ClientConfig> {
    crate::net::client_config(None).unwrap()
}

/// Waits, yielding, until `done` holds.
async fn until(mut done: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the condition came true");
}

#[tokio::test]
async fn a_used_destination_is_refilled_and_its_connections_taken() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = plain(listener.local_addr().unwrap().port());
    let pool = pool(any_tls(), 2, Duration::from_secs(60));
    assert!(pool.take(&dest).await.is_none(), "nothing before first use");
    pool.used(&dest);
    let (mut a, _) = listener.accept().await.unwrap();
    let (mut b, _) = listener.accept().await.unwrap();
    until(|| pool.ready() == 2).await;
    let mut io = pool.take(&dest).await.expect("a ready connection");
    io.write_all(b"x").await.unwrap();
    let (mut x, mut y) = ([0u8; 1], [0u8; 1]);
    tokio::select! {
        r = a.read(&mut x) => assert_eq!(r.unwrap(), 1),
        r = b.read(&mut y) => assert_eq!(r.unwrap(), 1),
    }
    assert_eq!(pool.counts().hits, 1);
    assert_eq!(pool.ready(), 1);
}

#[tokio::test]
async fn a_connection_is_never_taken_for_another_port_or_host() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let pool = pool(any_tls(), 1, Duration::from_secs(60));
    pool.used(&plain(port));
    let _held = listener.accept().await.unwrap();
    until(|| pool.ready() == 1).await;
    assert!(pool.take(&plain(port + 1)).await.is_none());
    let other_host = Destination {
        host: "localhost".into(),
        ..plain(port)
    };
    assert!(pool.take(&other_host).await.is_none());
    let pinned = Destination {
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        ..plain(port)
    };
    assert!(pool.take(&pinned).await.is_none());
    assert_eq!(
        pool.ready(),
        1,
        "the connection stays for its own destination"
    );
    assert!(pool.take(&plain(port)).await.is_some());
}

#[test]
fn the_proxy_is_part_of_what_a_connection_is_for() {
    let proxied = crate::net::proxy::Proxies::from_env(|name| {
        (name == "HTTPS_PROXY").then(|| "http://127.0.0.1:3128".to_owned())
    })
    .unwrap();
    let direct = Transport::new(any_tls());
    let through = Transport::new(any_tls()).with_proxies(proxied);
    let dest = Destination {
        tls: true,
        host: "eice.example".into(),
        port: 443,
        addrs: Vec::new(),
    };
    let direct = Pool::new(direct, PoolSettings::OFF).shared.key(&dest);
    let through = Pool::new(through, PoolSettings::OFF).shared.key(&dest);
    assert_eq!(direct.proxy, None);
    assert!(through.proxy.is_some());
    assert_ne!(direct, through);
}

#[tokio::test]
async fn an_off_pool_dials_nothing() {
    let pool = pool(any_tls(), 0, DEFAULT_IDLE);
    pool.used(&plain(9));
    assert_eq!(pool.pending(), 0);
    assert!(pool.take(&plain(9)).await.is_none());
}

#[tokio::test]
async fn a_connection_idle_too_long_is_closed_and_not_refilled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = plain(listener.local_addr().unwrap().port());
    let pool = pool(any_tls(), 1, Duration::from_millis(50));
    pool.used(&dest);
    let (mut server, _) = listener.accept().await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, server.read(&mut byte)).await;
    assert_eq!(read.unwrap().unwrap(), 0, "the pool closed it");
    until(|| pool.counts().expired == 1).await;
    assert_eq!(pool.pending(), 0, "not refilled without use");
}

#[tokio::test]
async fn a_plain_connection_the_server_closed_is_dropped_while_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = plain(listener.local_addr().unwrap().port());
    let pool = pool(any_tls(), 1, Duration::from_secs(60));
    pool.used(&dest);
    let (server, _) = listener.accept().await.unwrap();
    until(|| pool.ready() == 1).await;
    drop(server);
    until(|| pool.counts().closed_idle == 1).await;
    assert!(pool.take(&dest).await.is_none());
}

/// A TLS server on its own thread and runtime, so that it can act while
/// the test's single-threaded runtime is blocked and nothing of the pool runs.
struct TlsServer {
    port: u16,
    orders: mpsc::Sender<&'static str>,
    done: mpsc::Receiver<()>,
}

impl TlsServer {
    fn start(ca: &TestCa) -> TlsServer {
        let acceptor = TlsAcceptor::from(ca.server_config());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (orders, orders_rx) = mpsc::channel::<&'static str>();
        let (done_tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                let (tcp, _) = listener.accept().await.unwrap();
                // Or Nagle holds the data back until the client's delayed
                // ACK of the session tickets.
                tcp.set_nodelay(true).unwrap();
                let mut tls = acceptor.accept(tcp).await.unwrap();
                done_tx.send(()).unwrap();
                let order = tokio::task::spawn_blocking(move || orders_rx.recv().unwrap())
                    .await
                    .unwrap();
                match order {
                    "close_notify" => tls.shutdown().await.unwrap(),
                    "data" => {
                        tls.write_all(b"unexpected").await.unwrap();
                        tls.flush().await.unwrap();
                    }
                    _ => {}
                }
                done_tx.send(()).unwrap();
                // Keep the socket until the test ends.
                let _ = tls.read(&mut [0u8; 1]).await;
            });
        });
        TlsServer { port, orders, done }
    }

    /// Has the server do `order` and waits, blocking this thread (and so
    /// the test's runtime), until it has.
    fn order(&self, order: &'static str) {
        self.orders.send(order).unwrap();
        self.done.recv_timeout(PATIENCE).unwrap();
    }
}

async fn tls_pool(ca: &TestCa, server: &TlsServer) -> (Pool, Destination) {
    let pool = pool(ca.client_config().unwrap(), 1, Duration::from_secs(60));
    let dest = Destination {
        tls: true,
        host: "localhost".into(),
        port: server.port,
        addrs: Vec::new(),
    };
    pool.used(&dest);
    until(|| pool.ready() == 1).await;
    // Handshake done on the server too (its session tickets are on the way).
    server.done.recv_timeout(PATIENCE).unwrap();
    (pool, dest)
}

/// The server acts while the runtime is blocked, then a take follows at
/// once: the watch task cannot have run in between, so only the check made
/// at the moment of taking can see what the server did.
async fn take_right_after(order: &'static str) -> (Option<Io>, PoolCounts) {
    let ca = TestCa::generate().unwrap();
    let server = TlsServer::start(&ca);
    let (pool, dest) = tls_pool(&ca, &server).await;
    server.order(order);
    let taken = pool.take(&dest).await;
    (taken, pool.counts())
}

#[tokio::test(flavor = "current_thread")]
async fn a_live_tls_connection_with_session_tickets_is_handed_out() {
    let (taken, counts) = take_right_after("nothing").await;
    assert!(taken.is_some(), "{counts:?}");
    assert_eq!(counts.hits, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_close_notify_seen_only_at_take_time_is_never_handed_out() {
    let (taken, counts) = take_right_after("close_notify").await;
    assert!(taken.is_none());
    assert_eq!(counts.closed_at_take, 1, "{counts:?}");
    assert_eq!(counts.closed_idle, 0, "{counts:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn bytes_from_the_server_before_any_request_seen_at_take_time_are_refused() {
    let (taken, counts) = take_right_after("data").await;
    assert!(taken.is_none());
    assert_eq!(counts.closed_at_take, 1, "{counts:?}");
}

#[tokio::test]
async fn a_tls_close_while_idle_is_noticed_by_the_watch() {
    let ca = TestCa::generate().unwrap();
    let server = TlsServer::start(&ca);
    let (pool, dest) = tls_pool(&ca, &server).await;
    server.order("close_notify");
    until(|| pool.counts().closed_idle == 1).await;
    assert!(pool.take(&dest).await.is_none());
    assert_eq!(pool.counts().closed_at_take, 0);
}

#[tokio::test]
async fn a_reset_plain_connection_fails_the_check() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let mut io = Io::Plain(client);
    assert_eq!(check::still_open(&mut io), Ok(()));
    socket2::SockRef::from(&server)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(server);
    let Io::Plain(tcp) = &io else { unreachable!() };
    tokio::time::timeout(PATIENCE, tcp.readable())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(check::still_open(&mut io), Err(Closed::Failed(_))));
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_dial_leaves_nothing_pending_and_is_not_repeated() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = plain(listener.local_addr().unwrap().port());
    drop(listener); // nothing listens there now: every dial is refused
    let pool = pool(any_tls(), 2, Duration::from_secs(60));
    // Tunnels in quick succession each mark the destination used; the
    // dials of the first are still under way for the others.
    for _ in 0..5 {
        pool.used(&dest);
    }
    assert_eq!(pool.pending(), 2, "one pool's worth of dials, not five");
    until(|| pool.counts().dial_failures >= 2).await;
    let counts = pool.counts();
    assert_eq!((counts.dials, counts.dial_failures), (2, 2), "{counts:?}");
    assert_eq!(pool.pending(), 0, "nothing left pending: {counts:?}");
    assert_eq!(pool.ready(), 0);
    assert!(pool.take(&dest).await.is_none());
    // Nothing dials again until the next use, which dials one pool's worth.
    pool.used(&dest);
    until(|| pool.counts().dial_failures >= 4).await;
    let counts = pool.counts();
    assert_eq!((counts.dials, counts.dial_failures), (4, 4), "{counts:?}");
    assert_eq!(pool.pending(), 0);
}
