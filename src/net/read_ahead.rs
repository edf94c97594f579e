//! The socket under TLS, read in large gulps.
//!
//! rustls asks its transport for at most 4 KiB beyond what it already holds
//! (its deframer's read size), so a 16 KiB record takes four or five
//! `recv` calls and a 64 KiB WebSocket frame some twenty: on a tunnel
//! carrying bulk data, system calls were the largest cost in the proxy's
//! profile, above the decryption itself. Beneath rustls, this reads the
//! socket [`GULP`] bytes at a time and serves rustls's small reads from
//! memory: one copy of the ciphertext within user space instead of a dozen
//! kernel crossings.
//!
//! A gulp is taken only while data comes faster than the reader asks for
//! it: a read first goes straight into the reader's own buffer, and only
//! when that fills it whole does the next read take a gulp. The TLS
//! handshake, pings and keystrokes never allocate one, and a gulp buffer
//! is taken when the socket is readable (never while a read waits, which is
//! where an idle tunnel spends its life) and given back once drained:
//! memory per idle tunnel is one of the figures the bench watches, and
//! 80 KiB buffers taken and given back during every handshake left the
//! heap fragmented, +6 KiB per idle tunnel.
//! Writes pass straight through.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How much one read of the socket asks for: a whole 64 KiB frame's
/// records and their headers.
const GULP: usize = 80 * 1024;

/// A socket read [`GULP`] bytes at a time.
#[derive(Debug)]
pub struct ReadAhead {
    inner: TcpStream,
    /// Read from the socket, not yet handed on: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    /// The last read found more than the reader asked for: the next one
    /// takes a gulp.
    bulk: bool,
}

impl ReadAhead {
    pub fn new(inner: TcpStream) -> ReadAhead {
        ReadAhead {
            inner,
            buf: Vec::new(),
            start: 0,
            bulk: false,
        }
    }

    /// Bytes read from the socket and not yet handed on.
    fn held(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Hands on up to `out.len()` held bytes; the buffer goes back once
    /// drained.
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = self.held().len().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        if self.start == self.buf.len() {
            (self.buf, self.start) = (Vec::new(), 0);
        }
        n
    }

    /// A read now, without waiting and past tokio's readiness cache: held
    /// bytes first, else one system call on the socket (`WouldBlock` when it
    /// has nothing). For the pool's check of a connection it holds.
    pub fn read_now(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.held().is_empty() {
            return Ok(self.take(out));
        }
        let socket = socket2::SockRef::from(&self.inner);
        (&*socket).read(out)
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.held().is_empty() {
            ready!(this.inner.poll_read_ready(cx))?;
            let asked = out.remaining();
            let read = if this.bulk {
                let mut buf = Vec::with_capacity(GULP);
                let read = this.inner.try_read_buf(&mut buf);
                (this.buf, this.start) = (buf, 0);
                read.inspect(|&n| this.bulk = n > asked)
            } else {
                let read = this.inner.try_read(out.initialize_unfilled());
                read.inspect(|&n| {
                    out.advance(n);
                    this.bulk = n == asked;
                })
            };
            match read {
                // The reader has its bytes, or the stream ended (nothing
                // read, nothing held).
                Ok(_) if this.held().is_empty() => return Poll::Ready(Ok(())),
                Ok(_) => {}
                // tokio cleared the readiness: the next poll waits for more.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let n = this.take(out.initialize_unfilled());
        out.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback connection: the far end, and the near one read ahead.
    async fn pair() -> (TcpStream, ReadAhead) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let far = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (near, _) = listener.accept().await.unwrap();
        (far, ReadAhead::new(near))
    }

    #[tokio::test]
    async fn small_reads_are_served_in_order_from_large_reads_of_the_socket() {
        let (mut far, mut ahead) = pair().await;
        let sent: Vec<u8> = (0..4 * GULP as u32).map(|i| (i * 7 % 251) as u8).collect();
        let writer = tokio::spawn(async move {
            far.write_all(&sent).await.unwrap();
            sent
        });
        let mut got = vec![0; 4 * GULP];
        let mut gulps = 0;
        for chunk in got.chunks_mut(4096) {
            if ahead.held().is_empty() {
                gulps += 1;
            }
            ahead.read_exact(chunk).await.unwrap();
        }
        assert_eq!(got, writer.await.unwrap());
        // rustls's 4 KiB reads: 80 of them here, but far fewer of the socket.
        assert!(gulps < 40, "{gulps} reads of the socket");
    }

    #[tokio::test]
    async fn a_waiting_read_holds_no_buffer_and_eof_is_eof() {
        let (mut far, mut ahead) = pair().await;
        far.write_all(b"ping").await.unwrap();
        let mut eight = [0u8; 8];
        let n = ahead.read(&mut eight).await.unwrap();
        assert_eq!(&eight[..n], b"ping");
        assert_eq!(ahead.buf.capacity(), 0, "a small read takes no gulp");
        // Idle: a read waits, and holds no memory while it does.
        let mut byte = [0u8; 1];
        let waiting = poll_fn(|cx| {
            let mut out = ReadBuf::new(&mut byte);
            Poll::Ready(Pin::new(&mut ahead).poll_read(cx, &mut out).is_pending())
        })
        .await;
        assert!(waiting);
        assert_eq!(ahead.buf.capacity(), 0, "an idle stream holds no buffer");
        drop(far);
        assert_eq!(ahead.read(&mut eight).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn read_now_hands_on_held_bytes_before_the_socket() {
        let (mut far, mut ahead) = pair().await;
        far.write_all(b"abcd").await.unwrap();
        let mut one = [0u8; 1];
        ahead.read_exact(&mut one).await.unwrap();
        let mut rest = [0u8; 8];
        assert_eq!(ahead.read_now(&mut rest).unwrap(), 3);
        assert_eq!(&rest[..3], b"bcd");
        let err = ahead.read_now(&mut rest).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
