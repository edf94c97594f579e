//! Keeping idle tunnels alive: WebSocket pings on an interval, and a tunnel
//! whose pings go unanswered declared dead.
//!
//! Corporate NATs and firewalls drop connections that stay quiet for a few
//! minutes, and EICE has an idle limit of its own (undocumented; the AWS CLI
//! forces `ServerAliveInterval=5` on every `ssh` user for it). A client of the
//! proxy may send nothing for an hour — an idle psql, an RDP session left
//! open — so the proxy keeps each tunnel busy itself, whatever the client.
//!
//! [`Heartbeat`] wraps a tunnel's WebSocket and is both its `Stream` and its
//! `Sink`, so the splice and [`super::TunnelStream`] get the pings without a
//! line of their own. The work happens only when the WebSocket has nothing to
//! read: a frame that arrives costs one flag store, and the timer is looked at
//! only when the tunnel is quiet. Pongs (and every other frame) pass through to
//! the reader, which already ignores control frames.
//!
//! Any frame from the service after a ping counts as its answer. With none
//! for [`Keepalive::timeout`], the stream yields an error that
//! [`super::tunnel::classify`] turns into [`super::TunnelError::Unanswered`]:
//! the splice then closes the client's connection and the log says why,
//! instead of a tunnel that hangs until TCP gives up minutes later.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::{self, Message};

/// How often to ping and how long to wait for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between pings; `None` sends none (and so never declares a tunnel
    /// dead). Well under the shortest idle limit on the path.
    pub interval: Option<Duration>,
    /// How long after a ping the service may stay silent before the tunnel is
    /// closed as dead.
    pub timeout: Duration,
}

impl Default for Keepalive {
    /// A ping every 20 s, under the 30 s and more that NATs and firewalls
    /// allow idle connections, and dead after a minute of silence: three
    /// unanswered pings, like OpenSSH's `ServerAliveCountMax`.
    fn default() -> Self {
        Keepalive {
            interval: Some(Duration::from_secs(20)),
            timeout: Duration::from_secs(60),
        }
    }
}

/// The error a dead tunnel's stream yields, carried inside an I/O error so it
/// travels through `tungstenite::Error`.
#[derive(Debug, thiserror::Error)]
#[error("no answer to keepalive pings within {}s", after.as_secs_f32())]
pub(crate) struct Unanswered {
    pub(crate) after: Duration,
}

/// The [`Unanswered`] inside `error`, if that is what it is.
pub(crate) fn unanswered(error: &io::Error) -> Option<&Unanswered> {
    error.get_ref()?.downcast_ref()
}

/// A WebSocket that pings the service when the tunnel is quiet and fails
/// when the pings go unanswered. Reads and writes pass straight through.
#[derive(Debug)]
pub struct Heartbeat<S> {
    inner: S,
    /// `None` when keepalive is off, or once the tunnel was declared dead.
    beat: Option<Beat>,
}

#[derive(Debug)]
struct Beat {
    settings: Keepalive,
    interval: Duration,
    /// Fires at the next ping or at the answer's deadline, whichever is first.
    timer: Pin<Box<Sleep>>,
    next_ping: Instant,
    /// When the oldest ping still without an answer was due.
    unanswered_since: Option<Instant>,
    /// A frame arrived since the timer last fired.
    heard: bool,
    /// A ping is due but the WebSocket had no room for it yet.
    ping_owed: bool,
    /// A ping was queued and may sit in the WebSocket's write buffer.
    flush_owed: bool,
}

impl<S> Heartbeat<S> {
    /// Wraps `inner`, pinging as `settings` say from now on.
    pub fn new(inner: S, settings: Keepalive) -> Heartbeat<S> {
        let beat = settings.interval.map(|interval| {
            let next_ping = Instant::now() + interval;
            Beat {
                settings,
                interval,
                timer: Box::pin(tokio::time::sleep_until(next_ping)),
                next_ping,
                unanswered_since: None,
                heard: false,
                ping_owed: false,
                flush_owed: false,
            }
        });
        Heartbeat { inner, beat }
    }

    /// The WebSocket inside.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl Beat {
    /// Sends what is owed and advances the timer; `Err` once the service
    /// has been silent too long after a ping.
    fn poll<S>(&mut self, cx: &mut Context<'_>, ws: &mut S) -> Result<(), Unanswered>
    where
        S: Sink<Message, Error = tungstenite::Error> + Unpin,
    {
        loop {
            self.send_owed(cx, ws);
            if self.timer.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            self.on_timer(Instant::now())?;
        }
    }

    /// Queues and flushes an owed ping as far as the WebSocket lets it go now.
    /// A failing WebSocket is left for the reader to find.
    fn send_owed<S>(&mut self, cx: &mut Context<'_>, ws: &mut S)
    where
        S: Sink<Message, Error = tungstenite::Error> + Unpin,
    {
        if self.ping_owed {
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Pending => return,
                Poll::Ready(Ok(())) => {
                    self.flush_owed = Pin::new(&mut *ws)
                        .start_send(Message::Ping(Bytes::new()))
                        .is_ok();
                }
                Poll::Ready(Err(_)) => {}
            }
            self.ping_owed = false;
        }
        if self.flush_owed && Pin::new(&mut *ws).poll_flush(cx).is_ready() {
            self.flush_owed = false;
        }
    }

    /// The timer fired at `now`: judge the last ping, owe the next one, and
    /// set the timer for whatever comes first.
    fn on_timer(&mut self, now: Instant) -> Result<(), Unanswered> {
        if self.heard {
            self.heard = false;
            self.unanswered_since = None;
        }
        let timeout = self.settings.timeout;
        if self
            .unanswered_since
            .is_some_and(|since| now >= since + timeout)
        {
            return Err(Unanswered { after: timeout });
        }
        if now >= self.next_ping {
            self.ping_owed = true;
            self.unanswered_since.get_or_insert(now);
            self.next_ping = now + self.interval;
        }
        let deadline = self
            .unanswered_since
            .map_or(self.next_ping, |since| self.next_ping.min(since + timeout));
        self.timer.as_mut().reset(deadline);
        Ok(())
    }
}

impl<S> Stream for Heartbeat<S>
where
    S: Stream<Item = Result<Message, tungstenite::Error>>
        + Sink<Message, Error = tungstenite::Error>
        + Unpin,
{
    type Item = Result<Message, tungstenite::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            if let Some(beat) = &mut this.beat {
                beat.heard = true;
            }
            return Poll::Ready(item);
        }
        let Some(beat) = &mut this.beat else {
            return Poll::Pending;
        };
        match beat.poll(cx, &mut this.inner) {
            Ok(()) => Poll::Pending,
            Err(dead) => {
                this.beat = None;
                let error = io::Error::new(io::ErrorKind::TimedOut, dead);
                Poll::Ready(Some(Err(tungstenite::Error::Io(error))))
            }
        }
    }
}

impl<S> Sink<Message> for Heartbeat<S>
where
    S: Sink<Message, Error = tungstenite::Error> + Unpin,
{
    type Error = tungstenite::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        Pin::new(&mut self.get_mut().inner).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests;
