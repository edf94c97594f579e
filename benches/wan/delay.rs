//! A wide-area link in user space: a TCP relay that delays every byte by
//! half the round-trip time in each direction, order kept.
//!
//! `tc netem` is not available on every kernel (nor to every user), so the
//! laptop↔AWS leg is stretched here instead. Besides the data, the relay
//! charges what TCP's own handshake costs over such a link: a client's
//! `connect` to the relay returns at once on loopback, but the far side
//! only sees the connection 1.5 round trips later (SYN out, SYN-ACK back,
//! ACK out), and nothing the client sends reaches it before then. A client
//! that writes right after `connect` (a TLS ClientHello, an SSH banner) thus
//! gets its first answer 2 round trips after it started, as over a real link.
//!
//! Every chunk delivered is recorded in a [`Trace`] when tracing is on, so a
//! login's round trips can be counted one by one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::peers::Server;

/// One chunk the relay delivered.
#[derive(Debug, Clone)]
pub struct Event {
    /// When it reached the far side.
    pub at: Instant,
    /// Which link: `eice`, `api`, `ssh`.
    pub link: &'static str,
    /// The link's connection, counted from 1.
    pub conn: u64,
    /// `true` from the laptop towards AWS.
    pub outbound: bool,
    /// Bytes delivered; 0 for the end of the stream.
    pub bytes: usize,
    /// `true` for the moment the far side first saw the connection.
    pub opened: bool,
}

/// What every relay delivered, while recording is on.
#[derive(Clone, Default)]
pub struct Trace {
    inner: Arc<Mutex<TraceState>>,
}

#[derive(Default)]
struct TraceState {
    on: bool,
    events: Vec<Event>,
}

impl Trace {
    /// Starts recording afresh.
    pub fn start(&self) {
        let mut state = self.lock();
        state.on = true;
        state.events.clear();
    }

    /// Stops recording and returns what was recorded, in time order.
    pub fn take(&self) -> Vec<Event> {
        let mut state = self.lock();
        state.on = false;
        let mut events = std::mem::take(&mut state.events);
        events.sort_by_key(|e| e.at);
        events
    }

    fn record(&self, event: Event) {
        let mut state = self.lock();
        if state.on {
            state.events.push(event);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TraceState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The link's parameters, shared by its connections.
#[derive(Clone)]
struct Link {
    name: &'static str,
    upstream: SocketAddr,
    one_way: Duration,
    trace: Trace,
}

/// Starts a relay on 127.0.0.1 in front of `upstream`, `rtt` round trip.
pub async fn start(
    name: &'static str,
    upstream: SocketAddr,
    rtt: Duration,
    trace: Trace,
) -> std::io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let link = Link {
        name,
        upstream,
        one_way: rtt / 2,
        trace,
    };
    let task = tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((client, _)) = listener.accept().await {
            conn += 1;
            tokio::spawn(relay(link.clone(), conn, client));
        }
    });
    Ok(Server::new(addr, task))
}

/// A chunk in flight: when it is due at the far side, and the bytes (`None`
/// for the end of the stream).
type InFlight = (Instant, Option<Bytes>);

async fn relay(link: Link, conn: u64, client: TcpStream) {
    let accepted = Instant::now();
    let _ = client.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (to_aws, to_aws_rx) = mpsc::unbounded_channel();
    tokio::spawn(carry(client_read, to_aws, link.one_way));
    // SYN there, SYN-ACK back, ACK there: the far side sees the connection
    // a round trip and a half after the client began.
    tokio::time::sleep_until(accepted + 3 * link.one_way).await;
    let Ok(upstream) = TcpStream::connect(link.upstream).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    link.trace.record(Event {
        at: Instant::now(),
        link: link.name,
        conn,
        outbound: true,
        bytes: 0,
        opened: true,
    });
    let (upstream_read, upstream_write) = upstream.into_split();
    let (to_laptop, to_laptop_rx) = mpsc::unbounded_channel();
    tokio::spawn(carry(upstream_read, to_laptop, link.one_way));
    let up = deliver(to_aws_rx, upstream_write, link.clone(), conn, true);
    let down = deliver(to_laptop_rx, client_write, link, conn, false);
    tokio::join!(up, down);
}

/// Reads as fast as the sender writes and stamps each chunk with the time
/// it is due at the far side: a link's capacity is not what is measured.
async fn carry(mut from: OwnedReadHalf, queue: mpsc::UnboundedSender<InFlight>, one_way: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        let due = Instant::now() + one_way;
        let chunk = (n > 0).then(|| Bytes::copy_from_slice(&buf[..n]));
        let end = chunk.is_none();
        if queue.send((due, chunk)).is_err() || end {
            return;
        }
    }
}

/// Writes each chunk when it is due, in order; the end of the stream
/// becomes a half-close.
async fn deliver(
    mut queue: mpsc::UnboundedReceiver<InFlight>,
    mut to: OwnedWriteHalf,
    link: Link,
    conn: u64,
    outbound: bool,
) {
    while let Some((due, chunk)) = queue.recv().await {
        tokio::time::sleep_until(due).await;
        let bytes = chunk.as_ref().map_or(0, Bytes::len);
        link.trace.record(Event {
            at: Instant::now(),
            link: link.name,
            conn,
            outbound,
            bytes,
            opened: false,
        });
        let written = match chunk {
            Some(chunk) => to.write_all(&chunk).await,
            None => to.shutdown().await,
        };
        if written.is_err() || bytes == 0 {
            return;
        }
    }
}
