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
//! The buffer exists only while data comes in bulk: it is allocated by the
//! first read and given back once drained after a read that brought less
//! than [`KEEP_FROM`] bytes, so an idle or interactive tunnel holds none
//! (memory per idle tunnel is one of the figures the bench watches).
//! Writes pass straight through.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How much one read of the socket asks for: a whole 64 KiB frame's
/// records and their headers.
const GULP: usize = 80 * 1024;

/// A read that brought at least this much means data is flowing in bulk:
/// the buffer is kept for the next one.
const KEEP_FROM: usize = 16 * 1024;

/// A socket read [`GULP`] bytes at a time.
#[derive(Debug)]
pub struct ReadAhead<S = TcpStream> {
    inner: S,
    /// Read from the socket, not yet handed on: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S> ReadAhead<S> {
    pub fn new(inner: S) -> ReadAhead<S> {
        ReadAhead {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Bytes read from the socket and not yet handed on.
    fn held(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Hands on up to `out.len()` held bytes; the buffer goes back once
    /// drained unless the last read of the socket was a bulk one.
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = self.held().len().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        if self.start == self.end {
            if self.end < KEEP_FROM {
                self.buf = Vec::new();
            }
            (self.start, self.end) = (0, 0);
        }
        n
    }
}

impl ReadAhead<TcpStream> {
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

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.held().is_empty() {
            // A reader that asks for a gulp or more gets it directly.
            if out.remaining() >= GULP {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            if this.buf.is_empty() {
                this.buf = vec![0; GULP];
            }
            let mut fill = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut fill))?;
            this.end = fill.filled().len();
            if this.end == 0 {
                // The end of the stream: nothing to hand on.
                this.buf = Vec::new();
                return Poll::Ready(Ok(()));
            }
        }
        let n = this.take(out.initialize_unfilled());
        out.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    use super::*;

    /// Counts the reads that reach the transport.
    struct Counting<S> {
        inner: S,
        reads: usize,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
            if polled.is_ready() {
                self.reads += 1;
            }
            polled
        }
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_read_in_order() {
        let (mut far, near) = duplex(1 << 20);
        let sent: Vec<u8> = (0..GULP as u32).map(|i| (i * 7 % 251) as u8).collect();
        far.write_all(&sent).await.unwrap();
        let mut ahead = ReadAhead::new(Counting {
            inner: near,
            reads: 0,
        });
        let mut got = vec![0; sent.len()];
        for chunk in got.chunks_mut(4096) {
            ahead.read_exact(chunk).await.unwrap();
        }
        assert_eq!(got, sent);
        assert_eq!(ahead.inner.reads, 1, "one read of the transport");
        // Drained after a bulk read: the buffer is kept for the next.
        assert_eq!(ahead.buf.len(), GULP);
    }

    #[tokio::test]
    async fn a_small_read_gives_the_buffer_back_once_drained_and_eof_is_eof() {
        let (mut far, near) = duplex(1 << 16);
        far.write_all(b"ping").await.unwrap();
        let mut ahead = ReadAhead::new(near);
        let mut two = [0u8; 2];
        ahead.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"pi");
        assert_eq!(ahead.buf.len(), GULP, "held while bytes remain");
        ahead.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"ng");
        assert!(ahead.buf.is_empty(), "an idle stream holds no buffer");
        drop(far);
        assert_eq!(ahead.read(&mut two).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn read_now_hands_on_held_bytes_before_the_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut far = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (near, _) = listener.accept().await.unwrap();
        far.write_all(b"abcd").await.unwrap();
        let mut ahead = ReadAhead::new(near);
        let mut one = [0u8; 1];
        ahead.read_exact(&mut one).await.unwrap();
        let mut rest = [0u8; 8];
        assert_eq!(ahead.read_now(&mut rest).unwrap(), 3);
        assert_eq!(&rest[..3], b"bcd");
        let err = ahead.read_now(&mut rest).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
