//! Minimal SOCKS5 and HTTP CONNECT clients written byte by byte, so tests
//! control exactly what goes on the wire (a BIND, a bad password) and see
//! exactly what comes back (the reply code, the status line).

use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::PATIENCE;

/// What a SOCKS5 request names.
pub enum Dest<'a> {
    Domain(&'a str),
    Ip(IpAddr),
}

/// The SOCKS5 CONNECT command; BIND is 0x02, UDP ASSOCIATE 0x03.
pub const CONNECT: u8 = 0x01;

/// Why a SOCKS5 exchange did not produce a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum SocksFailure {
    /// No acceptable method (0xFF) or RFC 1929 status other than 0.
    Auth,
    /// The reply field of a failed request.
    Reply(u8),
}

/// Runs a SOCKS5 exchange; on success the stream is positioned after the reply.
pub async fn socks5(
    proxy: SocketAddr,
    dest: Dest<'_>,
    port: u16,
    auth: Option<(&str, &str)>,
    command: u8,
) -> Result<TcpStream, SocksFailure> {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let method = if auth.is_some() { 0x02 } else { 0x00 };
    s.write_all(&[5, 1, method]).await.unwrap();
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await.unwrap();
    if choice[1] == 0xFF {
        return Err(SocksFailure::Auth);
    }
    if let Some((user, pass)) = auth {
        let mut msg = vec![1, user.len() as u8];
        msg.extend_from_slice(user.as_bytes());
        msg.push(pass.len() as u8);
        msg.extend_from_slice(pass.as_bytes());
        s.write_all(&msg).await.unwrap();
        let mut status = [0u8; 2];
        s.read_exact(&mut status).await.unwrap();
        if status[1] != 0 {
            return Err(SocksFailure::Auth);
        }
    }
    let mut req = vec![5, command, 0];
    match dest {
        Dest::Domain(name) => {
            req.extend_from_slice(&[3, name.len() as u8]);
            req.extend_from_slice(name.as_bytes());
        }
        Dest::Ip(IpAddr::V4(ip)) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Dest::Ip(IpAddr::V6(ip)) => {
            req.push(4);
            req.extend_from_slice(&ip.octets());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await.unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await.unwrap();
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await.unwrap();
            len[0] as usize + 2
        }
        other => panic!("bad ATYP {other} in reply {head:?}"),
    };
    let mut bound = vec![0u8; rest];
    s.read_exact(&mut bound).await.unwrap();
    if head[1] != 0 {
        return Err(SocksFailure::Reply(head[1]));
    }
    Ok(s)
}

/// The answer to an HTTP CONNECT.
pub struct HttpAnswer {
    pub status: u16,
    pub head: String,
    /// For a refusal, the body (the proxy's explanation).
    pub body: String,
    /// For a 200, the tunnelled stream.
    pub stream: Option<BufReader<TcpStream>>,
}

/// Sends `CONNECT authority` (with Basic credentials if given) and reads the answer.
pub async fn http_connect(
    proxy: SocketAddr,
    authority: &str,
    auth: Option<(&str, &str)>,
) -> HttpAnswer {
    use base64::Engine as _;
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((user, pass)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req += &format!("Proxy-Authorization: Basic {token}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    read_http_answer(BufReader::new(s)).await
}

/// Reads a response head and, unless it is a 200 to CONNECT, its body.
pub async fn read_http_answer(mut s: BufReader<TcpStream>) -> HttpAnswer {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        head += &line;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status == 200 {
        return HttpAnswer {
            status,
            head,
            body: String::new(),
            stream: Some(s),
        };
    }
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.unwrap();
    HttpAnswer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
        stream: None,
    }
}

/// Reads the simulated instance's banner line.
pub async fn banner<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// What a simulated instance says first on `port`: the banner line on 22, the
/// page of a GET on 3389 (where it plays a client-speaks-first service).
pub async fn hello<S>(s: &mut S, port: u16) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if port != 3389 {
        return banner(s).await;
    }
    s.write_all(b"GET / HTTP/1.1\r\nHost: instance\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).await.unwrap();
    page
}

/// SOCKS5 to `dest`, expecting the greeting of `instance` on `port` and, on
/// 22, a live echo: the proxy serves that target.
pub async fn reaches(proxy: SocketAddr, dest: Dest<'_>, port: u16, instance: &str) {
    let mut s = timeout(PATIENCE, socks5(proxy, dest, port, None, CONNECT))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{instance} should be reachable, got {e:?}"));
    let first = timeout(PATIENCE, hello(&mut s, port)).await.unwrap();
    assert!(
        first.contains(instance) && first.contains(&format!("port {port}")),
        "{first}"
    );
    if port == 22 {
        ping(&mut s).await;
    }
}

/// Proves a stream to a simulated instance is live both ways: it echoes.
pub async fn ping<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) {
    s.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    timeout(PATIENCE, s.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"ping");
}
