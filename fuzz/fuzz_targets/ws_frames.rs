//! Any bytes from the service side → the tunnel's WebSocket reader
//! (`eice::ws::WsStream`), delivered in chunks cut where the fuzzer says and
//! with a "not yet" between reads. It never panics nor spins, and the cuts
//! change nothing: the messages and the final error are those of the same
//! bytes read at once. A ping is answered and a close echoed (something is
//! written back), and nothing is read after the end.
//!
//! Input: `[tail, n, cut_1 … cut_n, service bytes…]`. The first `tail % 32`
//! service bytes are what the upgrade read past its 101 (the stream's
//! `tail`); the rest arrive in chunks of `cut_1`, `cut_2`, … bytes (cycled;
//! a cut of 0 counts as 1), each after a read that returns nothing yet.

#![no_main]

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use eice_proxy::eice::ws::WsStream;
use futures_util::Stream;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A frame limit small enough that the fuzzer reaches it.
const MAX_FRAME: usize = 1 << 16;

/// The service: hands out its bytes a chunk at a time, says "not yet"
/// before every chunk (waking at once), and takes whatever is written.
struct Service<'a> {
    bytes: &'a [u8],
    cuts: &'a [u8],
    next_cut: usize,
    ready: bool,
    /// Bytes written back (pongs, the close echo), kept outside the stream.
    written: Rc<Cell<usize>>,
}

impl AsyncRead for Service<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = self.cuts.is_empty();
        let cut = match self.cuts.get(self.next_cut % self.cuts.len().max(1)) {
            Some(&cut) => usize::from(cut).max(1),
            None => usize::MAX,
        };
        self.next_cut += 1;
        let n = cut.min(buf.remaining()).min(self.bytes.len());
        let (now, rest) = self.bytes.split_at(n);
        buf.put_slice(now);
        self.bytes = rest;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Service<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.written.set(self.written.get() + buf.len());
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What reading all of `bytes` gave: each message or error (Debug, since
/// tungstenite's error is not comparable), and how many bytes were written.
fn read_all(tail: &[u8], bytes: &[u8], cuts: &[u8]) -> (Vec<String>, usize) {
    let written = Rc::new(Cell::new(0));
    let service = Service {
        bytes,
        cuts,
        next_cut: 0,
        ready: cuts.is_empty(),
        written: written.clone(),
    };
    let mut ws = WsStream::client(service, tail.to_vec(), MAX_FRAME);
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = Vec::new();
    // Each poll either makes progress or is a "not yet" the next poll ends:
    // more polls than this is a spin.
    let budget = 4 * (tail.len() + bytes.len()) + 2 * bytes.len() * cuts.len() + 64;
    for _ in 0..budget {
        match Pin::new(&mut ws).poll_next(&mut cx) {
            Poll::Pending => continue,
            Poll::Ready(None) => {
                assert!(
                    matches!(Pin::new(&mut ws).poll_next(&mut cx), Poll::Ready(None)),
                    "read after the end"
                );
                return (seen, written.get());
            }
            Poll::Ready(Some(item)) => seen.push(format!("{item:?}")),
        }
    }
    panic!("no end after {budget} polls of {} bytes", bytes.len());
}

fuzz_target!(|data: &[u8]| {
    let [tail, n, rest @ ..] = data else {
        return;
    };
    let n = usize::from(*n % 16).min(rest.len());
    let (cuts, service) = rest.split_at(n);
    let t = usize::from(tail % 32).min(service.len());
    let (tail, bytes) = service.split_at(t);

    let (whole, _) = read_all(tail, bytes, &[]);
    let (cut, written) = read_all(tail, bytes, cuts);
    assert_eq!(cut, whole, "cuts {cuts:?} changed what was read");
    if cut
        .iter()
        .any(|m| m.starts_with("Ok(Ping") || m.starts_with("Ok(Close"))
    {
        assert!(written > 0, "a ping or a close went unanswered: {cut:?}");
    }
});
