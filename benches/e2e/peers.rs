//! The harness's own network peers, all on 127.0.0.1: the source/sink that
//! stands for the instance's port 22, the plain TCP relays of the baseline
//! chain, and a minimal SOCKS5 client. Clients reach the sink over TCP,
//! through SOCKS5, or through a unix socket (an `ssh -L` forward).
//!
//! The sink speaks first (a banner, as sshd does) because the proxy waits
//! for a port-22 server's first bytes before it answers SOCKS. After the
//! banner the client sends one 9-byte command: `U` + length (the client
//! sends that many bytes, the sink answers one byte when all arrived) or
//! `D` + length (the sink sends that many bytes). Then the client closes.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio_util::either::Either;

/// A client's connection to the sink, whichever way it goes.
pub type Stream = Either<TcpStream, UnixStream>;

/// The sink's greeting; the proxy answers SOCKS only after it arrived.
pub const BANNER: &[u8] = b"SSH-2.0-eice-proxy-e2e-bench\r\n";

/// One read or write of bulk data: large enough that syscalls are not the
/// limit, small enough to stay in cache.
const CHUNK: usize = 256 * 1024;

/// Bulk data (pseudo-random, so nothing on the path can shortcut it).
fn chunk() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..CHUNK / 8)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect()
    })
}

/// Which way bulk data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → server.
    Up,
    /// Server → client.
    Down,
}

impl Dir {
    pub const BOTH: [Dir; 2] = [Dir::Up, Dir::Down];

    /// The label used in the table and the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Dir::Up => "up",
            Dir::Down => "down",
        }
    }

    fn command(self) -> u8 {
        match self {
            Dir::Up => b'U',
            Dir::Down => b'D',
        }
    }
}

/// A background accept loop; dropping it stops accepting.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// A server for the accept loop `task`, listening at `addr`.
    pub fn new(addr: SocketAddr, task: JoinHandle<()>) -> Server {
        Server { addr, task }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The source/sink standing for the instance's port 22.
pub async fn start_sink() -> io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve_sink(socket));
        }
    });
    Ok(Server { addr, task })
}

async fn serve_sink(mut socket: TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)?;
    socket.write_all(BANNER).await?;
    let mut command = [0u8; 9];
    if socket.read_exact(&mut command).await.is_err() {
        // A first-byte probe or an idle tunnel: it leaves without a command.
        return Ok(());
    }
    let len = u64::from_be_bytes(command[1..].try_into().expect("8 bytes"));
    match command[0] {
        b'U' => {
            drain(&mut socket, len).await?;
            socket.write_all(b"K").await?;
        }
        b'D' => fill(&mut socket, len).await?,
        other => return Err(io::Error::other(format!("unknown command {other:#04x}"))),
    }
    // The client closes first, so its side holds TIME_WAIT, not the sink's.
    let mut rest = [0u8; 64];
    while socket.read(&mut rest).await? > 0 {}
    Ok(())
}

/// Reads and discards exactly `len` bytes.
async fn drain(socket: &mut (impl AsyncRead + Unpin), mut len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    while len > 0 {
        let want = buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        match socket.read(&mut buf[..want]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => len -= n as u64,
        }
    }
    Ok(())
}

/// Writes exactly `len` bytes of bulk data.
async fn fill(socket: &mut (impl AsyncWrite + Unpin), mut len: u64) -> io::Result<()> {
    let data = chunk();
    while len > 0 {
        let n = data.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        socket.write_all(&data[..n]).await?;
        len -= n as u64;
    }
    Ok(())
}

/// A plain TCP relay to `next`: one task per connection copying both ways
/// with `buffer`-byte buffers, the same user-space copy a proxy hop makes.
pub async fn start_relay(next: SocketAddr, buffer: usize) -> io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(next).await else {
                    return;
                };
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional_with_sizes(
                    &mut inbound,
                    &mut outbound,
                    buffer,
                    buffer,
                )
                .await;
            });
        }
    });
    Ok(Server { addr, task })
}

/// How a client reaches the sink.
#[derive(Debug, Clone)]
pub enum Route {
    /// Straight TCP to this address (the sink, or the first relay).
    Tcp(SocketAddr),
    /// SOCKS5 CONNECT through the proxy at `proxy`.
    Socks {
        proxy: SocketAddr,
        host: String,
        port: u16,
    },
    /// A unix socket a forwarder listens on (`ssh -L PATH:HOST:PORT`).
    #[allow(dead_code, reason = "only the hop bench measures ssh -L")]
    Unix(PathBuf),
}

impl Route {
    /// A connected stream, past the SOCKS5 exchange if any, before the banner.
    pub async fn connect(&self) -> io::Result<Stream> {
        let (addr, socks) = match self {
            Route::Tcp(addr) => (*addr, None),
            Route::Socks { proxy, host, port } => (*proxy, Some((host, *port))),
            Route::Unix(path) => return Ok(Either::Right(UnixStream::connect(path).await?)),
        };
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        if let Some((host, port)) = socks {
            socks5_connect(&mut stream, host, port).await?;
        }
        Ok(Either::Left(stream))
    }

    /// A stream positioned after the sink's banner.
    pub async fn open(&self) -> io::Result<Stream> {
        let mut stream = self.connect().await?;
        read_banner(&mut stream, 0).await?;
        Ok(stream)
    }

    /// Connect (+ SOCKS5) + the sink's first byte; the rest of the banner is
    /// read afterwards so the close is a clean FIN, not a reset.
    pub async fn time_to_first_byte(&self) -> io::Result<Duration> {
        let start = Instant::now();
        let mut stream = self.connect().await?;
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await?;
        let elapsed = start.elapsed();
        if first[0] != BANNER[0] {
            return Err(io::Error::other("the first byte is not the banner's"));
        }
        read_banner(&mut stream, 1).await?;
        stream.shutdown().await?;
        Ok(elapsed)
    }
}

/// Reads the rest of the banner, `seen` bytes of which were already read.
/// The sink sends nothing else before a command, so reads cannot overrun it.
async fn read_banner(stream: &mut Stream, seen: usize) -> io::Result<()> {
    let mut buf = [0u8; BANNER.len()];
    let mut have = seen;
    buf[..seen].copy_from_slice(&BANNER[..seen]);
    while have < BANNER.len() {
        match stream.read(&mut buf[have..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => have += n,
        }
    }
    if buf != BANNER {
        return Err(io::Error::other(format!(
            "unexpected banner {:?}",
            String::from_utf8_lossy(&buf)
        )));
    }
    Ok(())
}

/// Moves `len` bytes in `dir` over an opened stream; returns when the last
/// byte reached the other end (for uploads, when the sink acknowledged it).
pub async fn transfer(stream: &mut Stream, dir: Dir, len: u64) -> io::Result<()> {
    let mut command = [0u8; 9];
    command[0] = dir.command();
    command[1..].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&command).await?;
    match dir {
        Dir::Up => {
            fill(stream, len).await?;
            let mut ack = [0u8; 1];
            stream.read_exact(&mut ack).await?;
        }
        Dir::Down => drain(stream, len).await?,
    }
    Ok(())
}

/// The client side of RFC 1928: no authentication, CONNECT `host:port`
/// (an IP literal as such, anything else as a domain name).
async fn socks5_connect(stream: &mut TcpStream, host: &str, port: u16) -> io::Result<()> {
    stream.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await?;
    if choice != [5, 0] {
        return Err(io::Error::other(format!(
            "the proxy refused SOCKS5 without authentication: {choice:?}"
        )));
    }
    let mut request = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => {
            request.push(1);
            request.extend_from_slice(&ip.octets());
        }
        Ok(IpAddr::V6(ip)) => {
            request.push(4);
            request.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            let len = u8::try_from(host.len()).map_err(io::Error::other)?;
            request.extend_from_slice(&[3, len]);
            request.extend_from_slice(host.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&request).await?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await?;
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            usize::from(len[0]) + 2
        }
        other => return Err(io::Error::other(format!("bad ATYP {other} in the reply"))),
    };
    let mut bound = [0u8; 257];
    stream.read_exact(&mut bound[..rest]).await?;
    if head[1] != 0 {
        return Err(io::Error::other(format!(
            "SOCKS5 reply {:#04x} for {host}:{port}",
            head[1]
        )));
    }
    Ok(())
}
